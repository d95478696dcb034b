"""Every optimizer and every option with a PyTorch counterpart, against torch.optim.

Random shapes, random hyperparameters, 100 steps of random gradients: float64 to 1e-12
relative, float32 to 1e-5.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from descentlab import optim

torch.set_num_threads(1)

# (our class, our kwargs, torch class, torch kwargs) builders from a random generator.


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def case_sgd(rng, wd, maximize):
    lr = _u(rng, 0.001, 0.1)
    return optim.SGD(lr, weight_decay=wd, maximize=maximize), (
        torch.optim.SGD, dict(lr=lr, weight_decay=wd, maximize=maximize))


def case_momentum(rng, wd, maximize):
    lr, mu, d = _u(rng, 0.001, 0.1), _u(rng, 0.1, 0.95), _u(rng, 0.0, 0.5)
    return optim.Momentum(lr, mu, d, weight_decay=wd, maximize=maximize), (
        torch.optim.SGD, dict(lr=lr, momentum=mu, dampening=d, weight_decay=wd,
                              maximize=maximize))


def case_nesterov(rng, wd, maximize):
    lr, mu = _u(rng, 0.001, 0.1), _u(rng, 0.1, 0.95)
    return optim.Nesterov(lr, mu, weight_decay=wd, maximize=maximize), (
        torch.optim.SGD, dict(lr=lr, momentum=mu, nesterov=True, weight_decay=wd,
                              maximize=maximize))


def case_momentum_nesterov_flag(rng, wd, maximize):
    lr, mu = _u(rng, 0.001, 0.1), _u(rng, 0.1, 0.95)
    return optim.Momentum(lr, mu, nesterov=True, weight_decay=wd, maximize=maximize), (
        torch.optim.SGD, dict(lr=lr, momentum=mu, nesterov=True, weight_decay=wd,
                              maximize=maximize))


def case_adagrad(rng, wd, maximize):
    lr, decay, init = _u(rng, 0.01, 0.5), _u(rng, 0.0, 0.1), _u(rng, 0.0, 0.5)
    eps = 10 ** _u(rng, -10, -6)
    return optim.AdaGrad(lr, eps, init, decay, weight_decay=wd, maximize=maximize), (
        torch.optim.Adagrad, dict(lr=lr, lr_decay=decay, initial_accumulator_value=init,
                                  eps=eps, weight_decay=wd, maximize=maximize))


def _rmsprop(centered, momentum):
    def case(rng, wd, maximize):
        lr, rho, eps = _u(rng, 0.001, 0.05), _u(rng, 0.8, 0.999), 10 ** _u(rng, -8, -5)
        mu = _u(rng, 0.1, 0.9) if momentum else 0.0
        ours = optim.RMSprop(lr, rho, eps, mu, centered, weight_decay=wd, maximize=maximize)
        return ours, (torch.optim.RMSprop, dict(lr=lr, alpha=rho, eps=eps, momentum=mu,
                                                centered=centered, weight_decay=wd,
                                                maximize=maximize))
    return case


def case_adadelta(rng, wd, maximize):
    lr, rho, eps = _u(rng, 0.5, 1.5), _u(rng, 0.8, 0.99), 10 ** _u(rng, -7, -5)
    return optim.Adadelta(lr, rho, eps, weight_decay=wd, maximize=maximize), (
        torch.optim.Adadelta, dict(lr=lr, rho=rho, eps=eps, weight_decay=wd,
                                   maximize=maximize))


def _adam(cls, torch_cls, amsgrad, decoupled=None):
    def case(rng, wd, maximize):
        lr, b1, b2 = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999)
        eps = 10 ** _u(rng, -10, -6)
        kw = {} if decoupled is None else {"decoupled_weight_decay": decoupled}
        ours = cls(lr, b1, b2, eps, wd, amsgrad, maximize=maximize, **kw)
        return ours, (torch_cls, dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd,
                                      amsgrad=amsgrad, maximize=maximize, **kw))
    return case


def _nadam(decoupled):
    def case(rng, wd, maximize):
        lr, b1, b2 = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999)
        eps, psi = 10 ** _u(rng, -10, -6), _u(rng, 0.001, 0.1)
        ours = optim.Nadam(lr, b1, b2, eps, psi, wd, decoupled_weight_decay=decoupled,
                           maximize=maximize)
        return ours, (torch.optim.NAdam, dict(lr=lr, betas=(b1, b2), eps=eps,
                                              momentum_decay=psi, weight_decay=wd,
                                              decoupled_weight_decay=decoupled,
                                              maximize=maximize))
    return case


def case_adamax(rng, wd, maximize):
    lr, b1, b2 = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999)
    eps = 10 ** _u(rng, -10, -6)
    return optim.Adamax(lr, b1, b2, eps, wd, maximize=maximize), (
        torch.optim.Adamax, dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd,
                                 maximize=maximize))


CASES = {
    "sgd": case_sgd,
    "momentum": case_momentum,
    "nesterov": case_nesterov,
    "momentum(nesterov=True)": case_momentum_nesterov_flag,
    "adagrad": case_adagrad,
    "rmsprop": _rmsprop(False, False),
    "rmsprop(centered)": _rmsprop(True, False),
    "rmsprop(momentum)": _rmsprop(False, True),
    "rmsprop(centered, momentum)": _rmsprop(True, True),
    "adadelta": case_adadelta,
    "adam": _adam(optim.Adam, torch.optim.Adam, False),
    "adam(amsgrad)": _adam(optim.Adam, torch.optim.Adam, True),
    "adam(decoupled)": _adam(optim.Adam, torch.optim.Adam, False, decoupled=True),
    "adamw": _adam(optim.AdamW, torch.optim.AdamW, False),
    "adamw(amsgrad)": _adam(optim.AdamW, torch.optim.AdamW, True),
    "nadam": _nadam(False),
    "nadam(decoupled)": _nadam(True),
    "adamax": case_adamax,
}


def run_both(case, dtype, seed, wd, maximize, steps=100):
    rng = np.random.default_rng(seed)
    shapes = [tuple(rng.integers(1, 6, size=rng.integers(0, 3))) for _ in range(3)]
    params = {f"p{i}": rng.standard_normal(s).astype(dtype) for i, s in enumerate(shapes)}
    ours, (torch_cls, torch_kw) = case(rng, wd, maximize)
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params.values()]
    topt = torch_cls(tparams, foreach=False, **torch_kw)
    for _ in range(steps):
        grads = {k: rng.standard_normal(p.shape).astype(dtype) for k, p in params.items()}
        ours.update(params, grads)
        for t, g in zip(tparams, grads.values()):
            t.grad = torch.tensor(g)
        topt.step()
    return params, [t.detach().numpy() for t in tparams]


@pytest.fixture
def torch_float64_scalars():
    """PyTorch keeps scalar state such as NAdam's product of μ in its default dtype (float32);
    descentlab keeps it in float64, so float64 comparisons run torch with float64 defaults."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("wd,maximize", [(0.0, False), (0.05, False), (0.0, True)])
def test_float64_matches_torch(name, wd, maximize, torch_float64_scalars):
    for seed in range(3):
        ours, theirs = run_both(CASES[name], np.float64, seed, wd, maximize)
        for (key, a), b in zip(ours.items(), theirs):
            assert a.dtype == np.float64
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13, err_msg=f"{name} {key}")


@pytest.mark.parametrize("name", list(CASES))
def test_float32_matches_torch(name):
    ours, theirs = run_both(CASES[name], np.float32, 7, 0.01, False)
    for (key, a), b in zip(ours.items(), theirs):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"{name} {key}")


def test_cases_cover_every_optimizer():
    """Every classic optimizer that declares a torch.optim reference (the classes'
    ``references``; torch.optim's later additions: tests/test_optim_torch_more.py)."""
    from descentlab.optim.references import cells

    covered = {case.split("(")[0] for case in CASES} | {"amsgrad"}  # adam(amsgrad)
    classic = {name for name, ref in cells() if ref.column == "torch.optim"
               and optim.get_class(name).__module__.split(".")[-1] in (
                   "sgd", "adagrad", "rmsprop", "adadelta", "adam", "nadam", "adamax")}
    assert {"sgd", "adam", "amsgrad", "adamax"} <= classic and covered >= classic
