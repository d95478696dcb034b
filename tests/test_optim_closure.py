"""The rules that need more than the gradient (Polyak SGD, MoMo, MoMo-Adam, SAM, Sophia)
against real optax 0.2.8 in float64, every option; and the closure API's guarantees.

The loss changes every step, as a mini-batch's would: with per-step data (a, b, c, s),

    f_t(p) = Σ ½a(p − c)² + Σ b·sin p + ½(Σ s·p)² + C,  C = 1 + Σ|b|,

over three parameter arrays of random shapes (the last term couples them all, so the
Hessian is not diagonal). Its gradient and Hessian-vector product are written out for
descentlab's closure in tests/closure_loss.py; optax differentiates the same formula with
JAX. The parameters after every one of 100 steps agree to 1e-12 relative.
"""

from __future__ import annotations

import copy
import math
import zlib

import numpy as np
import optax
import pytest
from closure_loss import jax_loss, np_grad, np_hvp, np_loss, run_closure, step_data
from optax import contrib
from optax_oracle import (
    lbfgs_of,
    optax_closure_trajectory,
    sam_of,
    sgd_backtracking_of,
    sgd_zoom_of,
    sophia_of,
)

from descentlab import optim
from descentlab.errors import DescentlabError, InputError, InputTypeError, NonFiniteError

STEPS = 100


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


#: The cases on one loss for all steps (L-BFGS's setting: its pairs of parameter and
#: gradient differences are of one function).
FIXED_LOSS = ("lbfgs_optax", "lbfgs_backtracking")


def problem(name, seed):
    """Shapes fixed per case (one compilation), parameters and data per seed."""
    shape_rng = np.random.default_rng(zlib.crc32(name.encode()))
    shapes = [tuple(int(n) for n in shape_rng.integers(1, 5, size=shape_rng.integers(0, 3)))
              for _ in range(3)]
    rng = np.random.default_rng(seed)
    params = {f"p{i}": rng.standard_normal(s) for i, s in enumerate(shapes)}
    data = [step_data(rng, params) for _ in range(STEPS)]
    if name.startswith(FIXED_LOSS):
        data = [zero_floor(data[0]) if name.startswith(ZERO_FLOOR) else data[0]] * STEPS
    return rng, params, data


#: The cases on a loss whose minimum is 0 (see :func:`zero_floor`).
ZERO_FLOOR = ("lbfgs_backtracking",)


def zero_floor(d):
    """Step data whose loss is 0 at its minimum p = c: b = 0, C = 0 and c orthogonal to s
    (then a(p − c) + s·⟨s, p⟩ vanishes at p = c), f = Σ ½a(p − c)² + ½⟨s, p⟩², its Hessian
    diag(a) + ssᵀ. The backtracking search compares losses only: at a minimum f* of order 1,
    f(w + ηu) − f(w) is a few ulps of f* once ‖w − w*‖ ~ √ε, so which trial passes is
    decided by the last bits of the two implementations' losses (optax's defaults, tried:
    past 1e-12 at steps 14 to 17, in 2 of 8 seeds, on the loss above); with f* = 0 the losses
    there are of order ‖w − w*‖², exact to their own last bits, and w agrees to ε."""
    d = dict(d)
    keys = sorted(k[1:] for k in d if k.startswith("a"))
    sc = sum(float(np.sum(d["s" + k] * d["c" + k])) for k in keys)
    ss = sum(float(np.sum(d["s" + k] ** 2)) for k in keys)
    for k in keys:
        d["b" + k] = np.zeros_like(d["b" + k])
        d["c" + k] = d["c" + k] - d["s" + k] * (sc / ss)
    d["C"] = np.array(0.0)
    return d


# ------------------------------------------------------------------ cases
def warmup(count):  # a rational warm-up that runs on ints and on JAX tracers alike
    return 1.5 * count / (count + 10.0) + 0.05


# Each: rng -> (ours, optax constructor, traced hyper, static, extra).
def case_polyak(variant):
    def case(rng):
        s, gmax, f_min, eps = _u(rng, 0.3, 2.0), _u(rng, 0.05, 2.0), _u(rng, -1.0, 4.0), \
            _u(rng, 0.0, 1e-3)
        ours = optim.PolyakSGD(s, gmax, f_min, eps, variant)
        return ours, optax.polyak_sgd, dict(max_learning_rate=gmax, scaling=s, f_min=f_min,
                                            eps=eps), {"variant": variant}, "value"
    return case


def case_polyak_scheduled(rng):
    gmax, f_min = _u(rng, 0.05, 2.0), _u(rng, -1.0, 4.0)
    return optim.PolyakSGD(warmup, gmax, f_min), optax.polyak_sgd, dict(
        max_learning_rate=gmax, f_min=f_min), {"scaling": warmup}, "value"


def case_momo(adapt, scheduled=False):
    def case(rng):
        lr, beta, lb, wd = _u(rng, 0.1, 2.0), _u(rng, 0.5, 0.99), _u(rng, 0.0, 1.0), \
            _u(rng, 0.0, 0.1)
        hyper = dict(learning_rate=lr, beta=beta, lower_bound=lb, weight_decay=wd)
        static = {"adapt_lower_bound": adapt}
        if scheduled:
            lr = static["learning_rate"] = warmup
            del hyper["learning_rate"]
        return optim.Momo(lr, beta, lb, wd, adapt), contrib.momo, hyper, static, "value"
    return case


def case_momo_adam(adapt):
    def case(rng):
        lr, b1, b2 = _u(rng, 0.01, 1.0), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999)
        eps, lb, wd = 10 ** _u(rng, -10, -6), _u(rng, 0.0, 1.0), _u(rng, 0.0, 0.1)
        ours = optim.MomoAdam(lr, b1, b2, eps, lb, wd, adapt)
        return ours, contrib.momo_adam, dict(learning_rate=lr, b1=b1, b2=b2, eps=eps,
                                             lower_bound=lb, weight_decay=wd), \
            {"adapt_lower_bound": adapt}, "value"
    return case


def case_sam(sync_period, momentum, nesterov=False, opaque_mode=True):
    def case(rng):
        lr, rho, mu = _u(rng, 0.01, 0.3), _u(rng, 0.01, 0.5), _u(rng, 0.1, 0.9)
        ours = optim.SAM(lr, rho, mu if momentum else 0.0, nesterov, sync_period,
                         opaque_mode=opaque_mode)
        hyper = dict(learning_rate=lr, rho=rho)
        if momentum:
            hyper["momentum"] = mu
        return ours, sam_of, hyper, {"sync_period": sync_period, "nesterov": nesterov,
                                     "opaque_mode": opaque_mode}, "grad_fn"
    return case


def case_sam_pair(outer, inner, sync_period=2, reset_state=True, opaque_mode=True):
    """SAM with descentlab optimizers as the outer (``"adam"``: Adam; ``"sgd"``: Momentum)
    and the adversarial one (``"normalize"``: SAM's own ascent; ``"sgd"``: Momentum;
    ``"adam"``: Adam), optax's twins inside optax's sam (tests/optax_oracle.py sam_of); in
    transparent mode (``opaque_mode=False``) the closure is called once per update."""
    def case(rng):
        static = {"sync_period": sync_period, "optimizer": outer, "adv_optimizer": inner,
                  "reset_state": reset_state, "opaque_mode": opaque_mode}
        if outer == "adam":
            lr, b1, b2, eps = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999), \
                10 ** _u(rng, -10, -6)
            hyper = dict(learning_rate=lr, b1=b1, b2=b2, eps=eps)
            opt = optim.Adam(lr, b1, b2, eps)
        else:
            lr, mu = _u(rng, 0.01, 0.3), _u(rng, 0.1, 0.9)
            hyper = dict(learning_rate=lr, momentum=mu)
            opt = optim.Momentum(lr, mu)
        own = {}
        if inner == "normalize":
            own["rho"] = hyper["rho"] = _u(rng, 0.01, 0.5)
            adv = None
        elif inner == "sgd":
            alr, amu = _u(rng, 0.01, 0.3), _u(rng, 0.1, 0.9)
            hyper.update(adv_learning_rate=alr, adv_momentum=amu)
            adv = optim.Momentum(alr, amu)
        else:
            alr = hyper["adv_learning_rate"] = _u(rng, 0.01, 0.2)
            adv = optim.Adam(alr)
        ours = optim.SAM(sync_period=sync_period, opt=opt, adv_opt=adv, reset_state=reset_state,
                         opaque_mode=opaque_mode, **own)
        return ours, sam_of, hyper, static, "grad_fn"
    return case


def sophia_masked_of(learning_rate, decayed=(), form="tree", **options):
    """optax's Sophia (:func:`sophia_of`) with ``weight_decay_mask`` decaying the parameters
    named in ``decayed`` (of the cases' p0, p1, p2): a tree of bools, or (``form=
    "callable"``) optax's other form, a function of the parameters returning that tree."""
    tree = {k: k in decayed for k in ("p0", "p1", "p2")}
    mask = tree if form == "tree" else (lambda params: {k: k in decayed for k in params})
    return sophia_of(learning_rate, weight_decay_mask=mask, **options)


#: Our weight_decay_mask forms decaying p0 and p2 (not p1), with optax's form for each.
SOPHIA_MASKS = {"callable": (lambda path: path != "p1", "callable"),
                "patterns": (["p[02]"], "tree")}


def case_sophia(clip, interval, probes="rademacher", mu_dtype="param", mask=None):
    def case(rng):
        lr, b1, b2 = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.99), _u(rng, 0.9, 0.999)
        eps, wd, gamma = 10 ** _u(rng, -10, -6), _u(rng, 0.0, 0.1), 10 ** _u(rng, -2, 0)
        c = _u(rng, 0.2, 2.0)
        if not clip:  # unclipped, a small or negative estimate makes steps of 1/ε: a floor
            eps = _u(rng, 0.1, 1.0)
        ours = optim.Sophia(lr, b1, b2, eps, wd, gamma, c if clip else None, interval,
                            seed=int(rng.integers(0, 1000)), probes=probes, mu_dtype=mu_dtype,
                            weight_decay_mask=None if mask is None else SOPHIA_MASKS[mask][0])
        hyper = dict(learning_rate=lr, b1=b1, b2=b2, eps=eps, weight_decay=wd, gamma=gamma)
        if clip:
            hyper["clip_threshold"] = c
        static = {"update_interval": interval} | ({} if clip else {"clip_threshold": None})
        if mu_dtype == "float32":
            static["mu_dtype"] = "float32"
        if mask is not None:
            static |= {"decayed": ("p0", "p2"), "form": SOPHIA_MASKS[mask][1]}
            return ours, sophia_masked_of, hyper, static, "obj_fn"
        return ours, sophia_of, hyper, static, "obj_fn"
    return case


def case_backtracking(store_grad=False, steps=None):
    def case(rng):
        lr, c, down = _u(rng, 0.3, 2.0), 10 ** _u(rng, -4, -0.3), _u(rng, 0.2, 0.9)
        up, top, atol, rtol = _u(rng, 1.0, 3.0), _u(rng, 0.5, 4.0), _u(rng, 0.0, 0.05), \
            _u(rng, 0.0, 0.01)
        k = int(rng.integers(0, 9)) if steps is None else steps
        ours = optim.SGDBacktracking(lr, k, c, down, up, top, atol, rtol)
        hyper = dict(learning_rate=lr, slope_rtol=c, decrease_factor=down,
                     increase_factor=up, max_learning_rate=top, atol=atol, rtol=rtol)
        return ours, sgd_backtracking_of, hyper, \
            {"max_backtracking_steps": k, "store_grad": store_grad}, "value_fn"
    return case


def zoom_settings(rng, steps=None, approx=True, top=False, keep=None):
    """Random settings of the zoom line search: (ours, optax's traced, optax's static)."""
    k = int(rng.integers(1, 16)) if steps is None else steps
    hyper = dict(tol=_u(rng, 0.0, 1e-3) * float(rng.integers(0, 2)),
                 increase_factor=_u(rng, 1.2, 3.0), slope_rtol=10 ** _u(rng, -4, -0.7),
                 curv_rtol=_u(rng, 0.1, 0.95), stepsize_precision=10 ** _u(rng, -7, -2))
    static = {"max_linesearch_steps": k}
    ours = dict(hyper, max_linesearch_steps=k)
    if approx:
        ours["approx_dec_rtol"] = hyper["approx_dec_rtol"] = 10 ** _u(rng, -8, -2)
    else:
        ours["approx_dec_rtol"] = static["approx_dec_rtol"] = None
    if top:
        ours["max_learning_rate"] = hyper["max_learning_rate"] = _u(rng, 0.3, 2.0)
    if keep is not None:
        ours["initial_guess_strategy"] = static["initial_guess_strategy"] = \
            "keep" if keep else "one"
    return ours, hyper, static


def case_sgd_zoom(approx=True, top=False, keep=True, no_curvature=False):
    def case(rng):
        lr = _u(rng, 0.3, 2.0)
        ours, hyper, static = zoom_settings(rng, approx=approx, top=top, keep=keep)
        if no_curvature:  # optax's curv_rtol=inf: any very large number here
            ours["curv_rtol"], hyper["curv_rtol"] = 1e300, math.inf
        hyper["learning_rate"] = lr
        return optim.SGDZoom(lr, **ours), sgd_zoom_of, hyper, static, "value_fn"
    return case


def case_lbfgs(lr="none", memory=None, scale=True, search=True, **zoom):
    def case(rng):
        m = int(rng.integers(1, 8)) if memory is None else memory
        ours: dict = {"memory_size": m, "scale_init_precond": scale}
        hyper: dict = {}
        static: dict = {"memory_size": m, "scale_init_precond": scale}
        if search:
            more, hyper, extra = zoom_settings(rng, **zoom)
            ours.update(more)
            static.update(extra)
        else:
            ours["linesearch"] = static["linesearch"] = None
        if lr == "float":
            ours["lr"] = hyper["learning_rate"] = _u(rng, 0.2, 1.5)
        elif lr == "schedule":
            ours["lr"] = static["learning_rate"] = warmup
        return optim.LBFGSOptax(**ours), lbfgs_of, hyper, static, "value_fn"
    return case


def case_lbfgs_backtracking(lr="none", memory=None, scale=True, store_grad=False,
                            steps=None):
    """Random settings of the search as sgd_backtracking's cases draw them, but atol = 0: on
    one loss L-BFGS reaches the minimum, where its pairs are rounding noise; a slack ε > 0
    then accepts the wild steps they give while f ≤ f* + ε, and the iterate wanders there,
    amplifying last bits (tried: past 1e-12 from step 47 with ε from 1e-6 to 0.03). atol is
    the shared search's, tested on SGD's direction above and shown to change these steps
    below; with atol = 0 the converged search rejects them and stays."""
    def case(rng):
        m = int(rng.integers(1, 8)) if memory is None else memory
        k = int(rng.integers(0, 9)) if steps is None else steps
        hyper = dict(slope_rtol=10 ** _u(rng, -4, -0.3), decrease_factor=_u(rng, 0.2, 0.9),
                     increase_factor=_u(rng, 1.0, 3.0), max_learning_rate=_u(rng, 0.5, 4.0),
                     atol=0.0, rtol=_u(rng, 0.0, 0.01))
        ours = dict(hyper, memory_size=m, scale_init_precond=scale, max_backtracking_steps=k)
        static = dict(memory_size=m, scale_init_precond=scale, linesearch="backtracking",
                      max_backtracking_steps=k, store_grad=store_grad)
        if lr == "float":
            ours["lr"] = hyper["learning_rate"] = _u(rng, 0.2, 1.5)
        elif lr == "schedule":
            ours["lr"] = static["learning_rate"] = warmup
        return optim.LBFGSBacktracking(**ours), lbfgs_of, hyper, static, "value_fn"
    return case


CASES = {
    "polyak_sgd": case_polyak("sps"),
    "polyak_sgd(variant=sps+)": case_polyak("sps+"),
    "momo": case_momo(False),
    "momo(adapt_lower_bound)": case_momo(True),
    "momo(scheduled lr)": case_momo(True, True),
    "polyak_sgd(scheduled lr)": case_polyak_scheduled,
    "momo_adam": case_momo_adam(False),
    "momo_adam(adapt_lower_bound)": case_momo_adam(True),
    "sam": case_sam(2, False),
    "sam(sync_period=3)": case_sam(3, False),
    "sam(sync_period=1)": case_sam(1, False),
    "sam(momentum)": case_sam(2, True),
    "sam(momentum, nesterov)": case_sam(2, True, True),
    "sam(opaque_mode=False)": case_sam(2, False, opaque_mode=False),
    "sam(opaque_mode=False, sync_period=3, momentum, nesterov)": case_sam(3, True, True, False),
    "sam(opt=adam)": case_sam_pair("adam", "normalize"),
    "sam(opt=adam, sync_period=3, opaque_mode=False)": case_sam_pair(
        "adam", "normalize", 3, opaque_mode=False),
    "sam(opt=momentum, adv_opt=adam)": case_sam_pair("sgd", "adam"),
    "sam(opt=momentum, adv_opt=adam, reset_state=False)": case_sam_pair(
        "sgd", "adam", reset_state=False),
    "sam(opt=adam, adv_opt=momentum, sync_period=3, reset_state=False)": case_sam_pair(
        "adam", "sgd", 3, False),
    "sam(opt=adam, adv_opt=adam, opaque_mode=False)": case_sam_pair(
        "adam", "adam", opaque_mode=False),
    "sam(opt=momentum, adv_opt=momentum, sync_period=3, reset_state=False, "
    "opaque_mode=False)": case_sam_pair("sgd", "sgd", 3, False, False),
    "sgd_backtracking": case_backtracking(),
    "sgd_backtracking(store_grad=True in optax)": case_backtracking(True),
    "sgd_backtracking(max_backtracking_steps=0)": case_backtracking(steps=0),
    "sgd_zoom": case_sgd_zoom(),
    "sgd_zoom(initial_guess_strategy=one, max_learning_rate)": case_sgd_zoom(top=True,
                                                                             keep=False),
    "sgd_zoom(approx_dec_rtol=None)": case_sgd_zoom(approx=False),
    "sgd_zoom(curv_rtol=1e300: optax's inf)": case_sgd_zoom(no_curvature=True),
    "lbfgs_optax(learning_rate=None)": case_lbfgs(),
    "lbfgs_optax(lr, memory_size=1)": case_lbfgs("float", memory=1),
    "lbfgs_optax(scheduled lr)": case_lbfgs("schedule"),
    "lbfgs_optax(scale_init_precond=False)": case_lbfgs(scale=False),
    "lbfgs_optax(linesearch=None)": case_lbfgs("float", search=False),
    "lbfgs_optax(linesearch=None, scale_init_precond=False)": case_lbfgs(
        "float", search=False, scale=False),
    "lbfgs_optax(keep, max_learning_rate, approx_dec_rtol=None)": case_lbfgs(
        keep=True, top=True, approx=False),
    "lbfgs_optax(max_linesearch_steps=0)": case_lbfgs(steps=0),
    "lbfgs_backtracking(learning_rate=None)": case_lbfgs_backtracking(),
    "lbfgs_backtracking(store_grad=True in optax)": case_lbfgs_backtracking(store_grad=True),
    "lbfgs_backtracking(lr, memory_size=1, scale_init_precond=False)": case_lbfgs_backtracking(
        "float", memory=1, scale=False),
    "lbfgs_backtracking(scheduled lr)": case_lbfgs_backtracking("schedule"),
    "lbfgs_backtracking(max_backtracking_steps=0)": case_lbfgs_backtracking(steps=0),
    "sophia": case_sophia(True, 10),
    "sophia(update_interval=3)": case_sophia(True, 3),
    "sophia(clip_threshold=None, update_interval=1)": case_sophia(False, 1),
    # the paper's N(0, 1) probes, handed to optax's hessian_diagonal_fn as ours are
    "sophia(probes=gaussian, update_interval=2)": case_sophia(True, 2, "gaussian"),
    "sophia(mu_dtype=float32, update_interval=2)": case_sophia(True, 2, mu_dtype="float32"),
    # p1 not decayed: our callable vs optax's callable, our patterns vs optax's tree
    "sophia(weight_decay_mask=callable, update_interval=2)": case_sophia(True, 2,
                                                                         mask="callable"),
    "sophia(weight_decay_mask=patterns, update_interval=3)": case_sophia(True, 3,
                                                                         mask="patterns"),
}


def trajectories(name, seed):
    """(ours, optax's): the parameters after every step of case ``name``."""
    rng, params, data = problem(name, seed)
    opt, make, hyper, static, extra = CASES[name](rng)
    probes = None
    if extra == "obj_fn":
        shapes = [params[k].shape for k in params]
        probes = [dict(zip(params, opt.probe_vectors(t, shapes)))
                  for t in range(1, STEPS + 1)]
    expected = optax_closure_trajectory(make, params, jax_loss, data, extra=extra,
                                        hyper=hyper, static=static, probes=probes)
    return run_closure(opt, params, data, hvp=extra == "obj_fn"), expected, params


@pytest.mark.parametrize("name", list(CASES))
def test_float64_matches_optax(name):
    for seed in range(2):
        ours, expected, start = trajectories(name, seed)
        for step, (a, b) in enumerate(zip(ours, expected)):
            for k in a:
                np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-13,
                                           err_msg=f"{name} seed {seed} step {step + 1}")
        assert any(not np.allclose(ours[-1][k], start[k]) for k in start)


def test_the_cases_cover_every_rule_that_needs_a_closure():
    names = {case.split("(")[0] for case in CASES}
    assert names == {n for n in optim.available()
                     if getattr(optim.get_class(n), "needs_closure", False)} - {"lbfgs"}


# ------------------------------------------------------------------ every option changes the steps
@pytest.mark.parametrize("make, changed", [
    (lambda: optim.PolyakSGD(f_min=50.0), {"variant": "sps+"}),
    (lambda: optim.PolyakSGD(eps=0.0), {"eps": 1.0}),
    (lambda: optim.Momo(lr=0.5), {"adapt_lower_bound": True}),
    (lambda: optim.MomoAdam(lr=0.5), {"adapt_lower_bound": True}),
    (lambda: optim.SAM(0.1, 0.3, 0.5), {"nesterov": True}),
    (lambda: optim.SAM(0.1, 0.3), {"sync_period": 3}),
    (lambda: optim.SAM(0.1, 0.3), {"opaque_mode": False}),
    (lambda: optim.SAM(opt=optim.Momentum(0.1, 0.5), adv_opt=optim.Adam(0.05)),
     {"reset_state": False}),
    (lambda: optim.Sophia(0.01, gamma=1.0), {"clip_threshold": None}),
    (lambda: optim.Sophia(0.01, gamma=1.0), {"update_interval": 2}),
    (lambda: optim.Sophia(0.01, gamma=1.0), {"seed": 7}),
    (lambda: optim.Sophia(0.01, gamma=1.0), {"probes": "gaussian"}),
    (lambda: optim.Sophia(0.01, gamma=1.0), {"mu_dtype": "float32"}),
    (lambda: optim.Sophia(0.01, gamma=1.0), {"weight_decay_mask": "p[01]"}),
    (lambda: optim.Sophia(0.01, gamma=1.0), {"weight_decay_mask": lambda path: path != "p2"}),
    (lambda: optim.SGDBacktracking(2.0, 1), {"max_backtracking_steps": 4}),
    (lambda: optim.SGDBacktracking(2.0), {"slope_rtol": 0.4}),
    (lambda: optim.SGDBacktracking(2.0), {"decrease_factor": 0.5}),
    (lambda: optim.SGDBacktracking(2.0), {"increase_factor": 1.0}),
    (lambda: optim.SGDBacktracking(2.0), {"max_learning_rate": 0.5}),
    (lambda: optim.SGDBacktracking(2.0), {"atol": 5.0}),
    (lambda: optim.SGDBacktracking(2.0), {"rtol": 0.1}),
    (lambda: optim.SGDZoom(2.0, 2, curv_rtol=0.01), {"max_linesearch_steps": 6}),
    (lambda: optim.SGDZoom(2.0), {"max_learning_rate": 0.5}),
    (lambda: optim.SGDZoom(0.05), {"tol": 5.0}),
    (lambda: optim.SGDZoom(0.05), {"increase_factor": 1.2}),
    (lambda: optim.SGDZoom(2.0), {"slope_rtol": 0.4}),
    (lambda: optim.SGDZoom(2.0), {"curv_rtol": 0.1}),
    (lambda: optim.SGDZoom(2.0, curv_rtol=0.01), {"stepsize_precision": 0.5}),
    (lambda: optim.SGDZoom(2.0), {"initial_guess_strategy": "one"}),
    (lambda: optim.LBFGSOptax(0.5), {"memory_size": 2}),
    (lambda: optim.LBFGSOptax(0.5), {"scale_init_precond": False}),
    (lambda: optim.LBFGSOptax(0.5), {"linesearch": None}),
    (lambda: optim.LBFGSBacktracking(0.5), {"memory_size": 2}),
    (lambda: optim.LBFGSBacktracking(0.5), {"scale_init_precond": False}),
    (lambda: optim.LBFGSBacktracking(2.0, max_backtracking_steps=1),
     {"max_backtracking_steps": 4}),
    (lambda: optim.LBFGSBacktracking(2.0), {"slope_rtol": 0.4}),
    (lambda: optim.LBFGSBacktracking(2.0), {"decrease_factor": 0.5}),
    (lambda: optim.LBFGSBacktracking(2.0), {"increase_factor": 1.0}),
    (lambda: optim.LBFGSBacktracking(2.0), {"max_learning_rate": 0.5}),
    (lambda: optim.LBFGSBacktracking(2.0), {"atol": 5.0}),
    (lambda: optim.LBFGSBacktracking(2.0), {"rtol": 0.1}),
])
def test_each_option_changes_the_steps_on_the_test_loss(make, changed):
    """The optax cases draw these options' regimes at random; here each one is shown to
    matter on the loss the cases use (so a case that agrees with optax tests something)."""
    _, params, data = problem("options", 0)
    base = make()
    other = make()
    for k, v in changed.items():
        setattr(other, k, v)
    hvp = isinstance(base, optim.Sophia)
    a = run_closure(base, params, data[:30], hvp=hvp)
    b = run_closure(other, params, data[:30], hvp=hvp)
    assert any(not np.array_equal(a[-1][k], b[-1][k]) for k in params)


# ------------------------------------------------------------------ checkpoints and resume
CLOSURE_RULES = sorted(n for n in optim.available()
                       if getattr(optim.get_class(n), "needs_closure", False) and n != "lbfgs")


def tree_problem(seed):
    """Parameters {"w": (3, 2) array, "b": Python float} and 8 steps of data for them."""
    rng = np.random.default_rng(seed)
    params = {"w": rng.standard_normal((3, 2)), "b": float(rng.normal())}
    data = []
    for _ in range(8):
        d = {}
        for k in params:
            shape = np.shape(params[k])
            d.update({"a" + k: rng.uniform(0.5, 2.0, shape),
                      "b" + k: rng.uniform(-0.5, 0.5, shape),
                      "c" + k: rng.standard_normal(shape),
                      "s" + k: 0.3 * rng.standard_normal(shape)})
        d["C"] = np.array(3.0)
        data.append(d)
    return params, data


def closure_step(opt, params, d, hvp=True):
    """One update of ``params`` (a dict of arrays and floats) on the test loss with data ``d``."""
    def grads():
        g = np_grad({k: np.asarray(v, dtype=np.float64) for k, v in params.items()}, d)
        return {k: float(g[k]) if isinstance(params[k], float) else g[k].astype(params[k].dtype)
                for k in params}

    def closure():
        return np_loss({k: np.asarray(v, dtype=np.float64) for k, v in params.items()}, d), grads()

    kwargs = {}
    if hvp and "hvp" in opt.needs:
        kwargs["hvp"] = lambda v: np_hvp({k: np.asarray(x, np.float64) for k, x in params.items()},
                                          {k: np.asarray(x, np.float64) for k, x in v.items()}, d)
    return opt.update(params, closure=closure, **kwargs)


def default(name):
    """The rule with its options on (SAM: Nesterov momentum; Sophia: an estimate every 3)."""
    return optim.create(name, **{"sam": {"momentum": 0.5, "nesterov": True},
                                 "sophia": {"update_interval": 3}}.get(name, {}))


@pytest.mark.parametrize("name", CLOSURE_RULES)
def test_resume_is_bit_identical(name, tmp_path):
    params, data = tree_problem(1)
    straight, first = default(name), default(name)
    a, b = copy.deepcopy(params), copy.deepcopy(params)
    for d in data:
        closure_step(straight, a, d)
    for d in data[:4]:
        closure_step(first, b, d)
    first.save(tmp_path / "opt.npz")
    resumed = default(name)
    resumed.load(tmp_path / "opt.npz")
    assert repr(resumed.state_dict()) == repr(first.state_dict())  # the round trip
    for d in data[4:]:
        closure_step(resumed, b, d)
    np.testing.assert_array_equal(a["w"], b["w"])
    assert a["b"] == b["b"] and a["w"] is not params["w"]
    assert not np.array_equal(a["w"], params["w"])


@pytest.mark.parametrize("name", CLOSURE_RULES)
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_dtypes_are_kept(name, dtype):
    params, data = tree_problem(2)
    x = {"w": params["w"].astype(dtype)}
    opt = default(name)
    for d in data[:3]:
        closure_step(opt, x, d)
    assert x["w"].dtype == dtype and np.isfinite(x["w"]).all()
    work = np.float32
    assert all(a.dtype == work for a in opt.state["w"].values())


# ------------------------------------------------------------------ bad input, nothing changed
def started(name):
    """An optimizer after three updates, its parameters, and one step's data (Sophia's next
    update estimates the Hessian)."""
    params, data = tree_problem(3)
    opt = default(name)
    for d in data[:3]:
        closure_step(opt, params, d)
    return opt, params, data[2]


def unchanged(opt, params, before_opt, before_params):
    assert repr(opt.state_dict()) == before_opt
    np.testing.assert_array_equal(params["w"], before_params["w"])
    assert params["b"] == before_params["b"]


def snapshot(opt, params):
    return repr(opt.state_dict()), copy.deepcopy(params)


class Boom(Exception):
    pass


@pytest.mark.parametrize("name", CLOSURE_RULES)
@pytest.mark.parametrize("at", [1, 2])
def test_a_closure_that_raises_changes_nothing(name, at):
    """Raising at the first evaluation, or at the second (SAM's adversarial point, Sophia's
    central difference): the parameters are back where they were, the state untouched."""
    opt, params, d = started(name)
    before = snapshot(opt, params)
    calls = [0]

    def closure():
        calls[0] += 1
        if calls[0] == at:
            raise Boom
        return 1.0, {"w": np.ones((3, 2)), "b": 1.0}

    if at == 2 and name not in ("sam", "sophia", "sgd_backtracking", "sgd_zoom", "lbfgs_optax",
                                "lbfgs_backtracking"):
        return  # one evaluation per update
    with pytest.raises(Boom):
        opt.update(params, closure=closure)  # Sophia without hvp: a central difference
    unchanged(opt, params, *before)


BAD_ANSWERS = [
    (lambda p: 3.0, "the closure must return \\(loss, grads\\), got float"),
    (lambda p: ("low", {"w": np.ones((3, 2)), "b": 1.0}), "the closure's loss must be a number"),
    (lambda p: (np.ones(2), {"w": np.ones((3, 2)), "b": 1.0}),
     "the closure's loss must be a number"),
    (lambda p: (1.0, {"w": np.ones((2, 3)), "b": 1.0}), "gradient of parameter 'w' has shape"),
    (lambda p: (1.0, {"w": np.ones((3, 2))}), "grads has no entry for parameter 'b'"),
    (lambda p: (1.0, {"w": np.ones((3, 2)), "b": "x"}), "gradient of parameter 'b' is a str"),
]


@pytest.mark.parametrize("name", CLOSURE_RULES)
@pytest.mark.parametrize("answer, fragment", BAD_ANSWERS)
def test_a_wrong_answer_is_refused_naming_it_and_changes_nothing(name, answer, fragment):
    opt, params, d = started(name)
    before = snapshot(opt, params)
    with pytest.raises(DescentlabError, match=fragment):
        opt.update(params, closure=lambda: answer(params))
    unchanged(opt, params, *before)


@pytest.mark.parametrize("name", CLOSURE_RULES)
@pytest.mark.parametrize("where", ["loss", "gradient"])
def test_a_non_finite_answer_follows_the_nonfinite_policy(name, where):
    def closure():
        loss = math.nan if where == "loss" else 1.0
        g = np.ones((3, 2))
        if where == "gradient":
            g[1, 0] = math.inf
        return loss, {"w": g, "b": 1.0}

    opt, params, d = started(name)
    before = snapshot(opt, params)
    what = "the closure's loss \\(nan\\)" if where == "loss" else "gradient of parameter 'w'"
    with pytest.raises(NonFiniteError, match=f"{what} is not finite at step 4"):
        opt.update(params, closure=closure)
    unchanged(opt, params, *before)
    opt.nonfinite = "skip"
    before = snapshot(opt, params)
    with pytest.warns(RuntimeWarning, match="update skipped"):
        opt.update(params, closure=closure)
    assert opt.skipped_steps == 1 and opt.step == 3
    np.testing.assert_array_equal(params["w"], before[1]["w"])


def test_wrong_calls_are_refused_naming_what_is_wrong():
    opt, params, d = started("sophia")
    before = snapshot(opt, params)
    closure = lambda: (1.0, {"w": np.ones((3, 2)), "b": 1.0})  # noqa: E731
    with pytest.raises(InputTypeError, match="Sophia needs the loss: call update\\(params, "
                                             "closure=closure\\)"):
        opt.update(params, {"w": np.ones((3, 2)), "b": 1.0})
    with pytest.raises(InputError, match="Sophia takes no grads"):
        opt.update(params, {"w": np.ones((3, 2)), "b": 1.0}, closure=closure)
    with pytest.raises(InputTypeError, match="hvp must be a function"):
        opt.update(params, closure=closure, hvp=3)
    with pytest.raises(InputError, match="hvp's answer: the gradient of parameter 'w' has shape"):
        opt.update(params, closure=closure, hvp=lambda v: {"w": np.ones(6), "b": 1.0})
    with pytest.raises(InputTypeError, match="Momo takes no hvp"):
        optim.Momo().update(params, closure=closure, hvp=lambda v: v)
    with pytest.raises(DescentlabError, match="was not among the parameters"):
        opt.update({"v": np.ones(2)}, closure=closure)
    unchanged(opt, params, *before)
    opt.lr = np.array([0.1])
    with pytest.raises(InputError, match="Sophia needs a number for lr, not an array"):
        opt.update(params, closure=closure)


def test_sophia_refuses_a_bad_weight_decay_mask_changing_nothing(tmp_path):
    """A mask of the wrong type is refused when set (the old one kept); a pattern matching
    no parameter, or a callable answering other than a bool, at the update, before the
    closure is called; the mask is no state: a checkpoint round trip with it continues bit
    for bit."""
    for bad in (3, ["w", 3], {"w": True}, b"w"):
        with pytest.raises(InputTypeError, match="weight_decay_mask must be None, a function"):
            optim.Sophia(weight_decay_mask=bad)
    opt, params, d = started("sophia")
    opt.weight_decay_mask = ("w",)
    with pytest.raises(InputTypeError, match="weight_decay_mask must be None"):
        opt.weight_decay_mask = 0.5
    assert opt.weight_decay_mask == ("w",)
    before = snapshot(opt, params)
    calls = []

    def closure():
        calls.append(1)
        return 1.0, {"w": np.ones((3, 2)), "b": 1.0}

    opt.weight_decay_mask = ["w", "bias"]
    with pytest.raises(InputError, match="weight_decay_mask's pattern 'bias' matches no "
                                         "parameter \\(the paths are \\['b', 'w'\\]\\)"):
        opt.update(params, closure=closure)
    opt.weight_decay_mask = lambda path: 1 if path == "w" else 0
    with pytest.raises(InputTypeError, match="weight_decay_mask\\('w'\\) must return True "
                                             "\\(decayed\\) or False"):
        opt.update(params, closure=closure)
    assert calls == []
    unchanged(opt, params, *before)

    straight = copy.deepcopy(opt)
    straight.weight_decay_mask = "w"
    a = copy.deepcopy(params)
    _, data = tree_problem(3)
    for step in data[3:]:
        closure_step(straight, a, step)
    opt.weight_decay_mask = "w"
    closure_step(opt, params, data[3])
    opt.save(tmp_path / "opt.npz")
    resumed = optim.Sophia(update_interval=3, weight_decay_mask="w")
    resumed.load(tmp_path / "opt.npz")
    assert repr(resumed.state_dict()) == repr(opt.state_dict())
    for step in data[4:]:
        closure_step(resumed, params, step)
    np.testing.assert_array_equal(a["w"], params["w"])
    assert a["b"] == params["b"]


@pytest.mark.parametrize("make, fragment", [
    (lambda: optim.PolyakSGD(weight_decay=0.1), "PolyakSGD has no weight_decay"),
    (lambda: optim.PolyakSGD(maximize=True), "PolyakSGD has no maximize"),
    (lambda: optim.Momo(clip_norm=1.0), "Momo has no clip_norm"),
    (lambda: optim.MomoAdam(decoupled_weight_decay=True), "MomoAdam has no decoupled_weight_decay"),
    (lambda: optim.Sophia(clip_global_norm=1.0), "Sophia has no clip_global_norm"),
    (lambda: optim.SAM(maximize=True), "SAM has no maximize"),
    (lambda: optim.SAM(nesterov=True), "SAM's nesterov needs momentum > 0"),
    (lambda: optim.PolyakSGD(variant="spsplus"), "variant"),
    (lambda: optim.SAM(sync_period=0), "sync_period"),
    (lambda: optim.Sophia(update_interval=0), "update_interval"),
    (lambda: optim.SGDBacktracking(weight_decay=0.1), "SGDBacktracking has no weight_decay"),
    (lambda: optim.SGDBacktracking(clip_norm=1.0), "SGDBacktracking has no clip_norm"),
    (lambda: optim.SGDBacktracking(max_backtracking_steps=-1), "max_backtracking_steps"),
    (lambda: optim.SGDBacktracking(max_backtracking_steps=2.0), "max_backtracking_steps"),
    (lambda: optim.SGDBacktracking(decrease_factor=1.5), "decrease_factor"),
    (lambda: optim.SGDBacktracking(decrease_factor=0.0), "decrease_factor"),
    (lambda: optim.SGDBacktracking(increase_factor=0.5), "increase_factor"),
    (lambda: optim.SGDBacktracking(max_learning_rate=0.0), "max_learning_rate"),
    (lambda: optim.SGDBacktracking(atol=-1.0), "atol"),
    (lambda: optim.SGDZoom(weight_decay=0.1), "SGDZoom has no weight_decay"),
    (lambda: optim.LBFGSOptax(maximize=True), "LBFGSOptax has no maximize"),
    (lambda: optim.SGDZoom(max_linesearch_steps=-1), "max_linesearch_steps"),
    (lambda: optim.SGDZoom(max_learning_rate=0.0), "max_learning_rate"),
    (lambda: optim.SGDZoom(increase_factor=0.5), "increase_factor"),
    (lambda: optim.SGDZoom(curv_rtol=-0.1), "curv_rtol"),
    (lambda: optim.SGDZoom(approx_dec_rtol=-1.0), "approx_dec_rtol"),
    (lambda: optim.SGDZoom(initial_guess_strategy="last"), "initial_guess_strategy"),
    (lambda: optim.LBFGSOptax(memory_size=0), "memory_size"),
    (lambda: optim.LBFGSOptax(linesearch="backtracking"), "linesearch"),
    (lambda: optim.LBFGSOptax(linesearch=None, curv_rtol=0.5),
     "curv_rtol is a setting of the line search, and linesearch=None has none"),
    (lambda: optim.LBFGSBacktracking(weight_decay=0.1), "LBFGSBacktracking has no weight_decay"),
    (lambda: optim.LBFGSBacktracking(maximize=True), "LBFGSBacktracking has no maximize"),
    (lambda: optim.LBFGSBacktracking(clip_global_norm=1.0),
     "LBFGSBacktracking has no clip_global_norm"),
    (lambda: optim.LBFGSBacktracking(memory_size=0), "memory_size"),
    (lambda: optim.LBFGSBacktracking(decrease_factor=1.5), "decrease_factor"),
    (lambda: optim.LBFGSBacktracking(max_backtracking_steps=-1), "max_backtracking_steps"),
])
def test_settings_the_rules_cannot_take_are_refused(make, fragment):
    with pytest.raises(InputError, match=fragment):
        make()


def test_lbfgs_backtracking_has_no_linesearch_choice():
    """The backtracking search is its own name, not lbfgs_optax's third linesearch= value
    (the docstring says why): each refuses the other's spelling, naming it."""
    with pytest.raises(InputTypeError, match="LBFGSBacktracking has no argument 'linesearch'"):
        optim.LBFGSBacktracking(linesearch="zoom")
    with pytest.raises(InputError, match="linesearch"):
        optim.LBFGSOptax(linesearch="backtracking")


def test_composites_refuse_the_closure_rules():
    for name in CLOSURE_RULES:
        with pytest.raises(InputTypeError, match="needs a closure"):
            optim.Lookahead(optim.create(name))
        with pytest.raises(InputTypeError, match="needs a closure"):
            optim.Groups(optim.create(name), {})


def test_the_central_difference_hvp_approximates_the_exact_one():
    """Without hvp=, Sophia's Hessian-vector product is a central difference of the closure's
    gradient (two more evaluations): within 1e-7 of the exact one here."""
    params, data = tree_problem(4)
    exact, approx = optim.Sophia(0.01), optim.Sophia(0.01)
    a, b = copy.deepcopy(params), copy.deepcopy(params)
    closure_step(exact, a, data[0])
    closure_step(approx, b, data[0], hvp=False)
    for k in ("w", "b"):
        np.testing.assert_allclose(approx.state[k]["estimate"], exact.state[k]["estimate"],
                                   rtol=1e-7, atol=1e-7)
        assert not np.array_equal(approx.state[k]["estimate"], 0 * exact.state[k]["estimate"])


# ------------------------------------------------------------------ the surface lab
def test_the_surface_lab_races_them(tmp_path, capsys):
    from descentlab.cli import main

    specs = ["polyak_sgd", "momo", "momo_adam:lr=0.5", "sam:lr=0.1", "sophia:lr=0.05",
             "sgd_backtracking", "sgd_zoom", "lbfgs_optax", "lbfgs_backtracking", "lbfgs",
             "adam:lr=0.3"]
    assert main(["race", "--problem", "bowl", "--steps", "15", "--optimizers",
                 "polyak_sgd,momo", *specs[2:], "--out", str(tmp_path)]) == 0
    rows = (tmp_path / "trajectories.csv").read_text().splitlines()
    for spec in specs:
        name = spec.split(":")[0]
        mine = [r.split(",") for r in rows[1:] if r.split(",")[0] == name]
        assert len(mine) == 16 and mine[0][2:4] != mine[-1][2:4], name  # it moved


def test_a_race_of_one_equals_the_optimizer_run_by_hand():
    from descentlab import problems
    from descentlab.lab.engine import run_batch

    bowl = problems.get("bowl")
    for name in CLOSURE_RULES:
        batch = run_batch(bowl, default(name), np.array([[-7.0, 2.0]]), 5)
        x, opt = np.array([[-7.0, 2.0]]), default(name)
        # Sophia: the bowl's exact H·v, H = diag(1/10, 2) (tests/test_problems_hessian.py)
        hvp = {"hvp": lambda v: np.array([0.1, 2.0]) * v} if "hvp" in opt.needs else {}
        for k in range(5):
            opt.update(x, closure=lambda x=x: (float(bowl.f(x).sum()), bowl.grad(x)), **hvp)
            np.testing.assert_array_equal(batch.path[k + 1, 0], x[0], err_msg=name)


def test_sweep_runs_them_and_noise_is_refused(tmp_path):
    from descentlab import problems
    from descentlab.lab.engine import run_batch

    bowl = problems.get("bowl")
    lrs = np.array([[0.1], [0.5]])
    batch = run_batch(bowl, optim.SAM(lr=lrs), np.array([[-7.0, 2.0]] * 2), 5)
    alone = run_batch(bowl, optim.SAM(lr=0.5), np.array([[-7.0, 2.0]]), 5)
    np.testing.assert_array_equal(batch.path[:, 1], alone.path[:, 0])
    with pytest.raises(InputError, match="gradient noise .* SAM evaluates its closure"):
        run_batch(bowl, optim.SAM(), np.array([[-7.0, 2.0]]), 5, noise=0.1, seeds=[1])


def test_trace_runs_them_in_floating_point_and_exact_says_why_not():
    from descentlab import problems
    from descentlab.lab.trace import trace

    t = trace(problems.get("bowl"), "momo", (-7, 2), 3)
    assert len(t.steps) == 3 and "exp_avg" in t.steps[0].values
    with pytest.raises(InputError, match="--exact cannot trace sam: its step is computed"):
        trace(problems.get("bowl"), "sam", (-7, 2), 1, exact=True)


@pytest.mark.parametrize("name", [*CLOSURE_RULES, "lbfgs"])
def test_network_races_and_workloads_refuse_them_naming_the_optimizer(name):
    """The network race and the workloads give each optimizer a mini-batch's gradient only:
    a rule that needs a closure is refused before its first update, with what to do."""
    from descentlab.lab import workloads
    from descentlab.lab.mnist_race import train_together

    opt = optim.create(name)
    cls = type(opt).__name__
    with pytest.raises(InputError, match=f"{cls} needs a closure .* a workload gives each "
                                         "optimizer a mini-batch's gradient only"):
        workloads.make("nqm").run(opt, seed=0, steps=2)
    with pytest.raises(InputError, match=f"{cls} needs a closure .* the network race"):
        train_together({"a": None}, {"a": opt}, np.zeros((4, 2)), np.zeros(4, dtype=int),
                       iterations=1, log=None, progress=False)
    assert opt.step == 0


def test_a_rule_asking_for_what_it_did_not_declare_is_a_bug_named():
    """``needs`` is what the rule may ask the oracle (a plugin's class too)."""
    class Sneaky(optim.PolyakSGD):
        def evaluate(self, oracle, h):
            oracle.hvp([np.ones(2)])

    opt, x = Sneaky(), np.array([1.0, 2.0])
    with pytest.raises(TypeError, match="Sneaky asks for 'hvp' without declaring it"):
        opt.update(x, closure=lambda: (1.0, x.copy()))
    np.testing.assert_array_equal(x, [1.0, 2.0])
    assert opt.step == 0


def test_a_closure_returning_the_parameters_own_memory_gives_the_same_steps():
    """f = ½‖x‖² has ∇f = x: a closure may return the parameter array itself. SAM moves the
    parameters to its adversarial point and back, so it keeps a copy of what it got there."""
    a, b = np.array([3.0, -1.0, 2.0]), np.array([3.0, -1.0, 2.0])
    same, copied = optim.SAM(0.1, 0.5, sync_period=3), optim.SAM(0.1, 0.5, sync_period=3)
    for _ in range(4):
        same.update(a, closure=lambda: (0.5 * float(a @ a), a))
        copied.update(b, closure=lambda: (0.5 * float(b @ b), b.copy()))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, [3.0, -1.0, 2.0])


def test_the_line_search_steps_back_from_a_non_finite_trial_and_takes_no_step_if_all_are():
    """f = ½x² for x ≥ 1, nan below (hand computation): from x = 3, u = −3; η = min(1.5·1, 1)
    = 1 tries x = 0 (nan: e = ∞), η = ½ tries 1.5 (f = 1.125 ≤ 4.5 − ½·10⁻⁴·9): x = 1.5.
    With no reduction allowed (K = 0) the only trial is nan, so η = 0, as in optax."""
    def closure_at(x):
        return lambda: (0.5 * float(x[0]) ** 2 if x[0] >= 1.0 else math.nan, x.copy())

    x = np.array([3.0])
    opt = optim.SGDBacktracking(decrease_factor=0.5)
    assert opt.update(x, closure=closure_at(x)) == 4.5
    np.testing.assert_array_equal(x, [1.5])
    assert opt.globals["learning_rate"] == 0.5 and opt.globals["searched"] == 2
    x = np.array([3.0])
    opt = optim.SGDBacktracking(max_backtracking_steps=0)
    opt.update(x, closure=closure_at(x))
    np.testing.assert_array_equal(x, [3.0])
    assert opt.globals["learning_rate"] == 0.0 and opt.step == 1


@pytest.mark.parametrize("make", [optim.SGDZoom, optim.LBFGSOptax])
def test_the_approximate_decrease_matters_near_a_minimum(make):
    """Hager & Zhang's approximate decrease (``approx_dec_rtol``) differs from Armijo's only
    where the loss is nearly flat along the step: on one loss for every step (the minimum
    approached), not in the 30 steps of a changing loss the test above takes."""
    _, params, data = problem("options", 0)
    fixed = [data[0]] * 60
    a = run_closure(make(), params, fixed)
    b = run_closure(make(approx_dec_rtol=None), params, fixed)
    assert any(not np.array_equal(a[-1][k], b[-1][k]) for k in params)


def test_the_zoom_search_interpolates_and_steps_back_from_a_non_finite_trial():
    """Hand computations. f = 2x² from x = 1 (u = −g = −4): φ(η) = 2(1 − 4η)², φ(1) = 18
    has no sufficient decrease, so [0, 1] brackets; the cubic is undefined (its third point
    is 0 again), the parabola through φ(0) = 2, φ'(0) = −16 and φ(1) = 18 is φ itself: its
    minimiser η = ¼ puts x at 0, where both conditions hold (2 trials). f = ½x² for x ≥ 1,
    nan below, from x = 3 (u = −3): η = 1 gives nan, no interpolation is finite, the midpoint
    η = ½ gives x = 1.5 (f = 1.125 ≤ 4.5 − ½·10⁻⁴·9, |f'·u| = 4.5 ≤ 0.9·9). With one trial
    allowed the nan point is all there is: no step, as in optax."""
    x = np.array([1.0])
    opt = optim.SGDZoom()
    assert opt.update(x, closure=lambda: (2.0 * float(x[0]) ** 2, 4.0 * x.copy())) == 2.0
    np.testing.assert_array_equal(x, [0.0])
    assert opt.globals["learning_rate"] == 0.25 and opt.globals["searched"] == 2

    def closure_at(x):
        return lambda: (0.5 * float(x[0]) ** 2 if x[0] >= 1.0 else math.nan, x.copy())

    x = np.array([3.0])
    opt = optim.SGDZoom()
    assert opt.update(x, closure=closure_at(x)) == 4.5
    np.testing.assert_array_equal(x, [1.5])
    assert opt.globals["learning_rate"] == 0.5 and opt.globals["searched"] == 2
    assert opt.search_errors == (0.0, 0.0)
    x = np.array([3.0])
    opt = optim.SGDZoom(max_linesearch_steps=1)
    opt.update(x, closure=closure_at(x))
    np.testing.assert_array_equal(x, [3.0])
    assert opt.globals["learning_rate"] == 0.0 and opt.step == 1


def test_lbfgs_optax_steps_by_the_bfgs_matrix_of_its_pair():
    """f = ½xᵀAx, A = diag(1, 4), from x₀ = (1, 1) (hand computation): the first direction
    is g/‖g‖ (γ = min(1, 1/‖g‖)), and η = 1 meets both conditions there (φ'(1) ≈ −0.30 ≥
    −0.9·√17), so x₁ = x₀ − g₀/√17. The second direction is the BFGS matrix of the pair
    s = x₁ − x₀, y = A·s built on γI, γ = sᵀy/yᵀy, times g₁ — written out here as a matrix:
    H = (I − ρsyᵀ)γ(I − ρysᵀ) + ρssᵀ, ρ = 1/yᵀs."""
    a = np.array([1.0, 4.0])
    x = np.array([1.0, 1.0])
    opt = optim.LBFGSOptax()
    closure = lambda: (0.5 * float(x @ (a * x)), a * x)  # noqa: E731
    opt.update(x, closure=closure)
    x1 = np.array([1.0, 1.0]) - np.array([1.0, 4.0]) / math.sqrt(17.0)
    np.testing.assert_allclose(x, x1, rtol=1e-15)
    assert opt.globals["searched"] == 1
    opt.update(x, closure=closure)
    s, y = x1 - 1.0, a * (x1 - 1.0)
    rho, gamma, eye = 1.0 / (y @ s), (s @ y) / (y @ y), np.eye(2)
    h = (eye - rho * np.outer(s, y)) @ (gamma * eye) @ (eye - rho * np.outer(y, s)) \
        + rho * np.outer(s, s)
    np.testing.assert_allclose(x, x1 - opt.globals["learning_rate"] * (h @ (a * x1)),
                               rtol=1e-14)
    assert opt.state[""]["diff_params"].shape == (10, 2)
    assert np.abs(x).max() < np.abs(x1).max()


def test_lbfgs_backtracking_shrinks_the_bfgs_step_and_keeps_its_length():
    """f = ½xᵀAx, A = diag(1, 4), from x₀ = (1, 1), s = lr = 4 (hand computation). The
    first direction is −4·g/‖g‖ (γ = 1/‖g‖ = 1/√17); from η = min(1.5·1, 1) = 1 the trials
    η = 1, 0.8, 0.64 give f = 16.6, 8.88, 4.47 > f(x₀) = 2.5, and η = 0.512 gives 2.07 ≤
    2.5 − 10⁻⁴·0.512·4√17 (4 trials). The second direction is −4·H·g₁, H the BFGS matrix of
    the pair s = x₁ − x₀, y = A·s built on γI, γ = sᵀy/yᵀy (written out as a matrix), and
    its first trial is η = min(1.5·0.512, 1) = 0.768, shrunk by 0.8 until the Armijo test
    (written out here) holds."""
    a = np.array([1.0, 4.0])

    def f(z):
        return 0.5 * float(z @ (a * z))

    x = np.array([1.0, 1.0])
    opt = optim.LBFGSBacktracking(lr=4.0)
    closure = lambda: (f(x), a * x)  # noqa: E731
    opt.update(x, closure=closure)
    x1 = np.array([1.0, 1.0]) - 0.512 * 4.0 * np.array([1.0, 4.0]) / math.sqrt(17.0)
    np.testing.assert_allclose(x, x1, rtol=1e-14)
    assert opt.globals["searched"] == 4 and opt.globals["learning_rate"] == 0.8 ** 3
    opt.update(x, closure=closure)
    s, y = x1 - 1.0, a * (x1 - 1.0)
    rho, gamma, eye = 1.0 / (y @ s), (s @ y) / (y @ y), np.eye(2)
    h = (eye - rho * np.outer(s, y)) @ (gamma * eye) @ (eye - rho * np.outer(y, s)) \
        + rho * np.outer(s, s)
    g1 = a * x1
    u = -4.0 * (h @ g1)
    eta, trials = min(1.5 * 0.512, 1.0), 1
    while f(x1 + eta * u) > f(x1) + 1e-4 * eta * (u @ g1):
        eta, trials = 0.8 * eta, trials + 1
    assert trials > 1  # (the hand computation shrinks here too)
    np.testing.assert_allclose(opt.globals["learning_rate"], eta, rtol=1e-14)
    assert opt.globals["searched"] == trials
    np.testing.assert_allclose(x, x1 + eta * u, rtol=1e-14)
    assert f(x) < f(x1)


def test_a_global_the_rule_keeps_infinite_round_trips_and_a_corrupt_one_is_refused(tmp_path):
    """sgd_backtracking keeps the last trial's decrease error e; when every trial's loss is
    nan, e = ∞ (optax's state holds the same). The checkpoint — state dict and .npz — loads
    with e = ∞ exactly, and the resumed run takes the same steps; a non-finite global the
    rule never keeps so is refused naming it, with nothing changed, unless the optimizer
    ignores non-finite values (as for the state)."""
    def closure_at(x, bad):  # f = ½x², nan away from x = 3 while ``bad``
        return lambda: (0.5 * float(x[0]) ** 2 if x[0] == 3.0 or not bad[0] else math.nan,
                        x.copy())

    x, bad = np.array([3.0]), [True]
    opt = optim.SGDBacktracking(max_backtracking_steps=2, decrease_factor=0.1)
    opt.update(x, closure=closure_at(x, bad))  # trials at 0, 2.7, 2.97: all nan, η = 0
    assert opt.globals["decrease_error"] == math.inf and opt.globals["learning_rate"] == 0.0
    bad[0] = False
    from_dict = optim.SGDBacktracking(max_backtracking_steps=2)
    from_dict.load_state_dict(copy.deepcopy(opt.state_dict()))
    opt.save(tmp_path / "opt.npz")
    from_file = optim.SGDBacktracking(max_backtracking_steps=2)
    from_file.load(tmp_path / "opt.npz")
    for other in (from_dict, from_file):
        assert repr(other.state_dict()) == repr(opt.state_dict())
        assert other.globals["decrease_error"] == math.inf
    for o in (opt, from_dict, from_file):  # (η stays 0 from here, as optax's does)
        y = x.copy()
        o.update(y, closure=closure_at(y, bad))
        assert o.globals["decrease_error"] == 0.0 and o.step == 2
        assert repr(o.state_dict()) == repr(opt.state_dict())
    corrupt = copy.deepcopy(opt.state_dict())
    corrupt["globals"]["learning_rate"] = math.nan
    fresh = optim.SGDBacktracking(max_backtracking_steps=2)
    with pytest.raises(InputError, match="global 'learning_rate' is not finite"):
        fresh.load_state_dict(corrupt)
    assert fresh.step == 0 and not fresh.globals and not fresh.state
    corrupt["options"]["nonfinite"] = "ignore"  # (as a run that ignores them writes it)
    ignoring = optim.SGDBacktracking(max_backtracking_steps=2, nonfinite="ignore")
    ignoring.load_state_dict(corrupt)
    assert math.isnan(ignoring.globals["learning_rate"])


def test_the_globals_declared_non_finite_are_globals_of_their_rule():
    """Every registered class's ``nonfinite_globals`` names globals its rule has (a typo
    would let nothing through); so far only the backtracking search's rules declare one."""
    declared = {}
    for name in optim.available():
        cls = optim.get_class(name)
        if cls.nonfinite_globals:
            declared[name] = cls.nonfinite_globals
            names = set().union(*optim.create(name).global_name_sets())
            assert set(cls.nonfinite_globals) <= names, name
    assert declared == {"sgd_backtracking": ("decrease_error",),
                        "lbfgs_backtracking": ("decrease_error",)}


@pytest.mark.parametrize("name", ["sgd_backtracking", "sgd_zoom", "lbfgs_optax",
                                  "lbfgs_backtracking"])
def test_the_line_searches_refuse_weight_decay_by_name(name):
    """Their trials compare the closure's losses, so a decay belongs in the loss: assigning
    one is refused naming it, and the setting stays 0 (ClosureRule.weight_decay_in_loss)."""
    opt = optim.create(name)
    with pytest.raises(InputError, match=r"has no weight_decay \(add it to the closure's "
                                         r"loss\); weight_decay=0.1 is refused"):
        opt.weight_decay = 0.1
    assert opt.weight_decay == 0.0
