"""torch.optim's later additions against the real torch.optim 2.13: RAdam (and RAdamW), Rprop,
ASGD, Adafactor, Muon and L-BFGS — every option torch has, random shapes, hyperparameters and
gradients, 100 steps: float64 to 1e-12 relative, float32 to 1e-5. Plus what the shared API
tests cannot run on Muon (matrices only) and L-BFGS (a closure): dtypes, checkpoints and
bit-identical resume, bad input that changes nothing.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from helpers import assert_same

from descentlab import optim
from descentlab.errors import InputError, InputTypeError

torch.set_num_threads(1)


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def _bool(rng):
    return bool(rng.integers(2))


# Each case: rng → (ours, torch class, torch kwargs, allowed parameter ranks).
def case_radam(rng):
    lr, b1, b2 = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.5, 0.9999)
    eps, wd = 10 ** _u(rng, -10, -6), float(rng.choice([0.0, 0.05]))
    decoupled, maximize = _bool(rng), _bool(rng)
    ours = optim.RAdam(lr, b1, b2, eps, wd, decoupled, maximize=maximize)
    return ours, torch.optim.RAdam, dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd,
                                         decoupled_weight_decay=decoupled, maximize=maximize,
                                         foreach=False), (0, 1, 2)


def case_rprop(rng):
    lr, em, ep = _u(rng, 0.001, 0.1), _u(rng, 0.1, 0.9), _u(rng, 1.05, 2.0)
    lo, hi = 10 ** _u(rng, -7, -3), _u(rng, 0.01, 1.0)
    maximize = _bool(rng)
    ours = optim.Rprop(lr, (em, ep), (lo, hi), maximize=maximize)
    return ours, torch.optim.Rprop, dict(lr=lr, etas=(em, ep), step_sizes=(lo, hi),
                                         maximize=maximize, foreach=False), (0, 1, 2)


def case_asgd(rng):
    lr, lambd, alpha = _u(rng, 0.001, 0.1), 10 ** _u(rng, -5, -1), _u(rng, 0.5, 1.0)
    t0 = float(rng.choice([0.0, 10.0, 50.5, 1e6]))
    wd, maximize = float(rng.choice([0.0, 0.05])), _bool(rng)
    ours = optim.ASGD(lr, lambd, alpha, t0, wd, maximize=maximize)
    return ours, torch.optim.ASGD, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                                        weight_decay=wd, maximize=maximize,
                                        foreach=False), (0, 1, 2)


def case_adafactor(rng):
    lr, decay, d = _u(rng, 0.001, 0.05), _u(rng, -1.0, -0.5), _u(rng, 1.0, 2.0)
    eps = (None if _bool(rng) else 10 ** _u(rng, -30, -10), 10 ** _u(rng, -4, -2))
    wd, maximize = float(rng.choice([0.0, 0.05])), _bool(rng)
    ours = optim.Adafactor(lr, decay, eps, d, wd, maximize=maximize)
    return ours, torch.optim.Adafactor, dict(lr=lr, beta2_decay=decay, eps=eps, d=d,
                                             weight_decay=wd, maximize=maximize,
                                             foreach=False), (0, 1, 2, 3)


def case_muon(rng):
    lr, wd, mu = _u(rng, 0.001, 0.05), _u(rng, 0.0, 0.2), _u(rng, 0.5, 0.99)
    nesterov, steps = _bool(rng), int(rng.integers(1, 7))
    coefficients = tuple(c * _u(rng, 0.9, 1.1) for c in (3.4445, -4.7750, 2.0315))
    adjust = [None, "original", "match_rms_adamw"][int(rng.integers(3))]
    eps = 10 ** _u(rng, -9, -5)
    ours = optim.Muon(lr, wd, mu, nesterov, coefficients, eps, steps, adjust, ns_dtype="param")
    return ours, torch.optim.Muon, dict(lr=lr, weight_decay=wd, momentum=mu,
                                        nesterov=nesterov, ns_coefficients=coefficients,
                                        eps=eps, ns_steps=steps, adjust_lr_fn=adjust), (2,)


CASES = {"radam": case_radam, "rprop": case_rprop, "asgd": case_asgd,
         "adafactor": case_adafactor, "muon": case_muon}


@pytest.fixture
def torch_exact(monkeypatch):
    """torch with float64 scalar state (ASGD's η and μ; descentlab holds them in float64) and
    Muon's Newton–Schulz iteration without its cast to bfloat16 (torch's own code otherwise;
    our ``ns_dtype="param"``)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    monkeypatch.setattr(torch.Tensor, "bfloat16", lambda self, *a, **k: self.clone())
    yield
    torch.set_default_dtype(old)


def run_both(case, dtype, seed, steps=100):
    rng = np.random.default_rng(seed)
    ours, torch_cls, torch_kw, ranks = case(rng)
    shapes = [tuple(int(n) for n in rng.integers(1, 7, size=rng.choice(ranks)))
              for _ in range(3)]
    params = {f"p{i}": rng.standard_normal(s).astype(dtype) for i, s in enumerate(shapes)}
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params.values()]
    topt = torch_cls(tparams, **torch_kw)
    for _ in range(steps):
        scale = 10.0 ** rng.integers(-2, 2)
        grads = {k: (scale * rng.standard_normal(p.shape)).astype(dtype)
                 for k, p in params.items()}
        ours.update(params, grads)
        for t, g in zip(tparams, grads.values()):
            t.grad = torch.tensor(g)
        topt.step()
    return ours, params, topt, tparams


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", list(CASES))
def test_float64_matches_torch(name, seed, torch_exact):
    ours, params, topt, tparams = run_both(CASES[name], np.float64, seed)
    for (key, a), t in zip(params.items(), tparams):
        np.testing.assert_allclose(a, t.detach().numpy(), rtol=1e-12, atol=1e-13,
                                   err_msg=f"{name} {key}")
    if name == "asgd":  # the average is state: compare it too
        for key, t in zip(params, tparams):
            np.testing.assert_allclose(ours.averages()[key], topt.state[t]["ax"].numpy(),
                                       rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", list(CASES))
def test_float32_matches_torch(name, torch_exact):
    ours, params, topt, tparams = run_both(CASES[name], np.float32, 11, steps=50)
    for (key, a), t in zip(params.items(), tparams):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, t.detach().numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=f"{name} {key}")


def test_every_torch_addition_is_covered():
    """Every later addition that declares a torch.optim reference (the classes'
    ``references``) has a case here (L-BFGS: its own tests below)."""
    from descentlab.optim.references import cells

    later = {name for name, ref in cells() if ref.column == "torch.optim"
             and optim.get_class(name).__module__.split(".")[-1] in (
                 "radam", "rprop", "asgd", "adafactor", "muon", "lbfgs")}
    assert later == {"radam", "rprop", "asgd", "adafactor", "muon", "lbfgs"}
    assert later <= {*CASES, "lbfgs"}


def test_nadamw_is_nadam_with_decoupled_weight_decay(torch_exact):
    """torch's NAdam(decoupled_weight_decay=True) ("NAdamW"): p ← p(1 − ηλ), then NAdam."""
    rng = np.random.default_rng(5)
    params = {"w": rng.standard_normal((4, 3))}
    ours = optim.Nadam(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)
    t = torch.tensor(params["w"].copy(), requires_grad=True)
    theirs = torch.optim.NAdam([t], lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)
    for _ in range(100):
        g = rng.standard_normal((4, 3))
        ours.update(params, {"w": g})
        t.grad = torch.tensor(g)
        theirs.step()
    np.testing.assert_allclose(params["w"], t.detach().numpy(), rtol=1e-12, atol=1e-13)


def test_muon_in_bfloat16_follows_torch_to_bfloat16_precision():
    """The default ns_dtype="bfloat16" rounds every intermediate as torch's bfloat16 iteration
    does; torch's matrix products accumulate differently, so the agreement is bfloat16's."""
    rng = np.random.default_rng(2)
    w = rng.standard_normal((6, 4))
    ours = optim.Muon(lr=0.02)
    t = torch.tensor(w.copy(), requires_grad=True)
    theirs = torch.optim.Muon([t], lr=0.02)
    for _ in range(10):
        g = rng.standard_normal((6, 4))
        before = w.copy()
        ours.update(w, g)
        t.grad = torch.tensor(g)
        t_before = t.detach().numpy().copy()
        theirs.step()
        step_ours, step_torch = w - before, t.detach().numpy() - t_before
        np.testing.assert_allclose(step_ours, step_torch, rtol=0, atol=0.02 * 0.02 * 1.5 * 2)
        w[...] = t.detach().numpy()  # follow torch, so that errors do not accumulate


# ------------------------------------------------------------------ L-BFGS
def quartic(n, seed):
    """f(x) = ½xᵀAx − bᵀx + 0.1·Σx⁴ and its gradient (A ill-conditioned, positive definite)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = q @ np.diag(np.logspace(0, 1, n)) @ q.T
    b = rng.standard_normal(n)
    return lambda x: (0.5 * x @ a @ x - b @ x + 0.1 * np.sum(x**4), a @ x - b + 0.4 * x**3)


def lbfgs_pair(seed, **kw):
    """Ours and torch's L-BFGS on the same problem, split over two parameters. Both closures
    evaluate f and its gradient with the same NumPy code, so only the optimizers differ."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 9))
    f = quartic(n, seed)
    x0 = 3 * rng.standard_normal(n)
    split = int(rng.integers(1, n))
    params = {"a": x0[:split].copy(), "b": x0[split:].reshape(-1, 1).copy()}
    tparams = [torch.tensor(v.copy(), requires_grad=True) for v in params.values()]
    topt = torch.optim.LBFGS(tparams, **kw)

    def closure():
        value, grad = f(np.concatenate([params["a"], params["b"].ravel()]))
        return value, {"a": grad[:split], "b": grad[split:].reshape(-1, 1)}

    def tclosure():
        x = np.concatenate([tparams[0].detach().numpy(), tparams[1].detach().numpy().ravel()])
        value, grad = f(x)
        tparams[0].grad = torch.tensor(grad[:split])
        tparams[1].grad = torch.tensor(grad[split:].reshape(-1, 1))
        return torch.tensor(value)
    return params, closure, tparams, topt, tclosure


@pytest.mark.parametrize("seed", range(6))
def test_lbfgs_matches_torch(seed, torch_exact):
    rng = np.random.default_rng(100 + seed)
    kw = dict(lr=_u(rng, 0.1, 1.0), max_iter=int(rng.integers(1, 6)),
              history_size=int(rng.integers(1, 8)), tolerance_grad=1e-8,
              tolerance_change=1e-11,
              line_search_fn=None if seed % 2 else "strong_wolfe")
    if seed == 4:
        kw["max_eval"] = 3
    params, closure, tparams, topt, tclosure = lbfgs_pair(seed, **kw)
    opt = optim.create("lbfgs", **kw)
    for _ in range(100):
        loss = opt.update(params, closure=closure)
        tloss = topt.step(tclosure)
        assert loss == pytest.approx(float(tloss), rel=1e-12, abs=1e-13)
    for a, t in zip(params.values(), tparams):
        np.testing.assert_allclose(a, t.detach().numpy(), rtol=1e-12, atol=1e-13)
    state = topt.state[tparams[0]]
    assert opt.globals["n_iter"] == state["n_iter"] and \
        opt.globals["func_evals"] == state["func_evals"]


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
@pytest.mark.parametrize("x0", [2.5, -3.1, 0.7])
def test_lbfgs_in_one_dimension_agrees_to_the_last_bits(x0, line_search, torch_exact):
    """One dimension: dot products are single products, so the only differences left are
    torch's fused multiply-adds in x + t·d — the algorithm itself is the same, step by step."""
    def f(x):
        return (float(np.sum(0.25 * x**4 - x**2 + 0.3 * x + np.cos(3 * x))),
                x**3 - 2 * x + 0.3 - 3 * np.sin(3 * x))

    kw = dict(lr=0.7, max_iter=5, history_size=3, line_search_fn=line_search,
              tolerance_grad=1e-9, tolerance_change=1e-12)
    x, opt = np.array([x0]), optim.LBFGS(**kw)
    t = torch.tensor([x0], requires_grad=True)
    topt = torch.optim.LBFGS([t], **kw)

    def tclosure():
        value, grad = f(t.detach().numpy())
        t.grad = torch.tensor(grad)
        return torch.tensor(value)

    for _ in range(30):
        opt.update(x, closure=lambda: f(x))
        topt.step(tclosure)
        np.testing.assert_allclose(x, t.detach().numpy(), rtol=4e-15, atol=0)
    assert opt.globals["func_evals"] == topt.state[t]["func_evals"] > 30


@pytest.mark.parametrize("via_file", [False, True])
def test_lbfgs_resume_is_bit_identical(via_file, tmp_path):
    kw = dict(max_iter=3, history_size=4, line_search_fn="strong_wolfe",
              tolerance_grad=1e-14, tolerance_change=1e-16)
    params, closure, *_ = lbfgs_pair(1, **kw)
    straight = optim.LBFGS(**kw)
    p2, closure2, *_ = lbfgs_pair(1, **kw)
    for _ in range(6):
        straight.update(params, closure=closure)
    first = optim.LBFGS(**kw)
    for _ in range(3):
        first.update(p2, closure=closure2)
    second = optim.LBFGS(**kw)
    if via_file:
        first.save(tmp_path / "l.npz")
        second.load(tmp_path / "l.npz")
    else:
        second.load_state_dict(first.state_dict())
    for _ in range(3):
        second.update(p2, closure=closure2)
    assert_same(p2, params, "params")
    assert second.step == 6


def test_lbfgs_bad_input_changes_nothing():
    params, closure, *_ = lbfgs_pair(0)
    opt = optim.LBFGS(max_iter=3)
    opt.update(params, closure=closure)
    before = copy.deepcopy((params, opt.state_dict()))
    with pytest.raises(InputTypeError, match="closure"):
        opt.update(params)
    with pytest.raises(InputError, match="takes no grads"):
        opt.update(params, {"a": 1.0}, closure=closure)

    calls = []

    def failing():
        calls.append(1)
        if len(calls) == 2:  # after the parameters have moved
            raise RuntimeError("model blew up")
        return closure()

    with pytest.raises(RuntimeError, match="blew up"):
        opt.update(params, closure=failing)
    with pytest.raises(KeyError, match="no entry"):
        opt.update(params, closure=lambda: (1.0, {"a": params["a"]}))
    assert_same((params, opt.state_dict()), before, "(params, state_dict)")
    for bad, match in [({"max_iter": 0}, "max_iter"), ({"history_size": 1.5}, "history_size"),
                       ({"line_search_fn": "armijo"}, "line_search_fn"), ({"lr": -1}, "lr")]:
        with pytest.raises(ValueError, match=match):
            optim.LBFGS(**bad)
    with pytest.raises(TypeError, match="maximize"):
        optim.create("lbfgs", maximize=True)


def test_lbfgs_on_a_python_float_and_a_schedule():
    x = {"x": 4.0}
    opt = optim.LBFGS(lr=lambda n: 1.0, line_search_fn="strong_wolfe")
    opt.update(x, closure=lambda: ((x["x"] - 1) ** 2, {"x": 2 * (x["x"] - 1)}))
    assert isinstance(x["x"], float) and x["x"] == pytest.approx(1.0, abs=1e-9)


# ------------------------------------------------------------------ Muon's matrices only
def test_muon_refuses_non_matrix_leaves_before_changing_anything():
    params = {"w": np.ones((3, 2)), "b": np.ones(3)}
    opt = optim.Muon()
    with pytest.raises(InputError, match=r"2-D parameters only, and parameter 'b' has shape"):
        opt.update(params, {"w": np.ones((3, 2)), "b": np.ones(3)})
    assert opt.step == 0 and opt.state == {}
    np.testing.assert_array_equal(params["w"], 1.0)
    for bad, match in [({"ns_steps": 100}, "ns_steps"), ({"ns_coefficients": (1, 2)},
                                                        "ns_coefficients"),
                       ({"adjust_lr_fn": "rms"}, "adjust_lr_fn"), ({"momentum": -1}, "momentum"),
                       ({"ns_dtype": "half"}, "ns_dtype")]:
        with pytest.raises(ValueError, match=match):
            optim.Muon(**bad)


@pytest.mark.parametrize("name", ["muon"])  # (the others: tests/test_optim_api.py)
@pytest.mark.parametrize("via_file", [False, True])
def test_resume_is_bit_identical(name, via_file, tmp_path):
    rng = np.random.default_rng(3)
    params = {"w": rng.standard_normal((3, 2)).astype(np.float32),
              "v": rng.standard_normal((2, 4))}
    grads = [{"w": rng.standard_normal((3, 2)).astype(np.float32),
              "v": rng.standard_normal((2, 4))} for _ in range(10)]

    def run(opt, p, gs):
        for g in gs:
            opt.update(p, g)
        return p

    straight = run(optim.create(name, lr=0.01), copy.deepcopy(params), grads)
    first = optim.create(name, lr=0.01)
    half = run(first, copy.deepcopy(params), grads[:5])
    second = optim.create(name, lr=0.01)
    if via_file:
        first.save(tmp_path / "o.npz")
        second.load(tmp_path / "o.npz")
    else:
        second.load_state_dict(first.state_dict())
    resumed = run(second, half, grads[5:])
    assert_same(resumed, straight, "params")  # values and dtypes
    assert all(resumed[k].dtype == params[k].dtype for k in params)
    assert second.step == 10


def test_adafactor_state_is_factored_and_checked_on_loading():
    opt = optim.Adafactor()
    params = {"m": np.ones((2, 5, 3)), "v": np.ones(4), "s": 1.0}
    opt.update(params, {"m": np.ones((2, 5, 3)), "v": np.ones(4), "s": 1.0})
    assert {k: a.shape for k, a in opt.state["m"].items()} == {
        "row_var": (2, 5, 1), "col_var": (2, 1, 3)}
    assert opt.state["v"]["variance"].shape == (4,) and opt.state["s"]["variance"].shape == ()
    d = opt.state_dict()
    d["state"]["m"]["row_var"] = np.ones((2, 5, 3))
    with pytest.raises(ValueError, match=r"'row_var' for parameter 'm' has shape \(2, 5, 3\), "
                                         r"expected \(2, 5, 1\)"):
        optim.Adafactor().load_state_dict(d)
    for bad, match in [({"beta2_decay": 0.5}, "beta2_decay must be <= 0"),
                       ({"d": 0.5}, "d must be >= 1"), ({"eps": (None,)}, "eps must be a pair"),
                       ({"eps": (-1, 1e-3)}, "eps1")]:
        with pytest.raises(ValueError, match=match):
            optim.Adafactor(**bad)


def test_rprop_and_asgd_bad_hyperparameters():
    for bad, match in [({"etas": (1.5, 1.2)}, "etaminus"), ({"etas": (0.5, 0.9)}, "etaplus"),
                       ({"etas": 0.5}, "etas must be a pair"),
                       ({"step_sizes": (-1, 1)}, "step_size_min")]:
        with pytest.raises(ValueError, match=match):
            optim.Rprop(**bad)
    assert optim.create("rprop", etaplus=1.1).etaplus == 1.1
    with pytest.raises(ValueError, match="lambd"):
        optim.ASGD(lambd=-1.0)


def test_radam_rectification_turns_on_when_rho_exceeds_5():
    """Hand computation, β2 = 0.999: ρ∞ = 1999, ρₜ = ρ∞ − 2t·β2ᵗ/(1 − β2ᵗ) ≈ t − 1 early:
    t ≤ 5 plain momentum steps, rectified from t = 6 (ρ₆ ≈ 5.994)."""
    rho = [optim.RAdam.rectification(0.999, t)[0] for t in range(1, 8)]
    assert [r > 5 for r in rho] == [False] * 5 + [True, True]
    rho_6 = 1999 - 12 * 0.999**6 / (1 - 0.999**6)
    assert rho[5] == pytest.approx(rho_6, rel=1e-9)  # (a cancellation: 1999 − 1993)


# ------------------------------------------------------------------ L-BFGS in the lab
@pytest.mark.parametrize("spec", ["lbfgs", "lbfgs:line_search_fn=strong_wolfe,max_iter=4"])
@pytest.mark.parametrize("surface", ["bowl", "booth", "two_basin", "rosenbrock"])
def test_lbfgs_races_on_a_surface_as_torch_does(spec, surface, torch_exact):
    """The race gives L-BFGS a closure (f and grad at the current point); its path is torch's
    ``step(closure)`` path. (Rosenbrock's valley amplifies the last-bit differences of torch's
    fused multiply-adds — MKL's dot products, ``add_`` with alpha — to 1e-7 within three
    updates: there only the outcome and the first update are compared.)"""
    from descentlab import problems
    from descentlab.lab.race import race
    from descentlab.lab.spec import parse_optimizer_spec

    problem = problems.get(surface)
    entry = race(problem, [spec], steps=12).entries[0]
    kw = parse_optimizer_spec(spec)[1]
    x = torch.tensor(np.asarray(entry.path[0], dtype=np.float64), requires_grad=True)
    topt = torch.optim.LBFGS([x], **kw)

    def closure():
        point = x.detach().numpy()[None, :]
        x.grad = torch.tensor(np.asarray(problem.grad(point), dtype=np.float64)[0])
        return torch.tensor(float(problem.f(point)[0]))

    compared = 1 if surface == "rosenbrock" else len(entry.path) - 1
    for k in range(1, compared + 1):
        topt.step(closure)
        np.testing.assert_allclose(entry.path[k], x.detach().numpy(), rtol=1e-12, atol=1e-13,
                                   err_msg=f"update {k}")
    if surface == "rosenbrock":
        assert entry.outcome == "global"


@pytest.mark.parametrize("name", ["lbfgs", "adafactor", "muon"])
def test_whole_array_rules_run_stacked_runs_one_by_one(name):
    """A sweep stacks K runs as the rows of one array; rules that read norms, matrices or the
    loss (Adafactor, Muon, L-BFGS) get one copy per run, so each row equals its own run."""
    from descentlab import problems
    from descentlab.lab.engine import run_batch

    problem = problems.get("two_basin")
    starts = np.array([[1.8, 1.2], [-0.5, 0.3], [0.2, -1.0]])
    together = run_batch(problem, optim.create(name), starts, 6)
    for i in range(3):
        alone = run_batch(problem, optim.create(name), starts[i:i + 1], 6)
        np.testing.assert_array_equal(together.path[:, i], alone.path[:, 0])
