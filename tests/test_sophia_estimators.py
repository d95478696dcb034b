"""Sophia's estimators of the Hessian's diagonal besides optax's Hutchinson: a caller's
``estimator(oracle, rng)`` and Sophia-G's Gauss-Newton-Bartlett (``gauss_newton_bartlett``).

(Hutchinson with the paper's N(0, 1) probes, ``probes="gaussian"``, is checked against optax
in tests/test_optim_closure.py and tests/test_reference_cells.py.) No library has the
Gauss-Newton-Bartlett estimator to compare with, so its expectation is checked against the
Gauss-Newton diagonal of a softmax regression, written out below.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from descentlab import optim
from descentlab.errors import InputError, InputTypeError, MissingKeyError, NonFiniteError
from descentlab.optim.closure import Oracle
from descentlab.optim.sophia import gauss_newton_bartlett
from descentlab.optim.tree import flatten_params

C, D, B = 3, 4, 5  # classes, features, batch size


def softmax_regression(seed=0):
    """Parameters {"W": (C, D), "b": (C,)}, a batch (X, y), the closure (mean cross-entropy
    on the data's labels and its gradient) and sampled_grad (the gradient of the mean
    cross-entropy on labels drawn from the model's own softmax)."""
    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal((C, D)), "b": 0.5 * rng.standard_normal(C)}
    X, y = rng.standard_normal((B, D)), rng.integers(0, C, size=B)

    def probabilities():
        z = X @ params["W"].T + params["b"]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def grad_for(labels):
        r = probabilities() - np.eye(C)[labels]  # ∂ℓ/∂z per example
        return {"W": r.T @ X / B, "b": r.sum(axis=0) / B}

    def closure():
        p = probabilities()
        return float(-np.mean(np.log(p[np.arange(B), y]))), grad_for(y)

    def sampled_grad(g):
        p = probabilities()
        labels = np.array([g.choice(C, p=row) for row in p])
        return grad_for(labels)

    return params, X, probabilities, closure, sampled_grad


def test_its_expectation_is_the_gauss_newton_diagonal():
    """E[B·ĝ ⊙ ĝ] over the sampled labels is diag of the Gauss-Newton matrix; for the mean
    cross-entropy of a softmax regression, (1/B) Σ_b p_bc (1 − p_bc) x_bj² for W[c, j] and
    (1/B) Σ_b p_bc (1 − p_bc) for b[c] (the cross terms vanish: E[p − e_ŷ] = 0). Averaged
    over 6,000 draws: within 5 standard errors of it."""
    params, X, probabilities, closure, sampled_grad = softmax_regression()
    p = probabilities()
    expected = {"W": (p * (1 - p)).T @ X**2 / B, "b": (p * (1 - p)).sum(axis=0) / B}
    # ... which is also the Hessian's diagonal here: a central difference of the gradient
    h = 1e-5
    for k in params:
        for i in np.ndindex(params[k].shape):
            saved = params[k][i]
            params[k][i] = saved + h
            up = closure()[1][k][i]
            params[k][i] = saved - h
            down = closure()[1][k][i]
            params[k][i] = saved
            assert abs((up - down) / (2 * h) - expected[k][i]) < 1e-8, (k, i)
    oracle = Oracle(optim.Sophia(), params, flatten_params(params), lambda: None, None)
    estimator = gauss_newton_bartlett(sampled_grad, B)
    rng = np.random.default_rng(1)
    draws = [estimator(oracle, rng) for _ in range(6000)]
    for k in params:
        samples = np.stack([d[k] for d in draws])
        mean, se = samples.mean(axis=0), samples.std(axis=0) / np.sqrt(len(samples))
        assert np.all(np.abs(mean - expected[k]) <= 5 * se + 1e-12), k
        assert np.all(se < 0.05 * np.abs(expected[k]) + 1e-12), k  # (the test can fail)


def test_sophia_takes_the_estimators_diagonal():
    """Sophia-G: at updates 1 and 3 (update_interval=2) the state's estimate is B·ĝ ⊙ ĝ
    with ĝ drawn from np.random.default_rng([seed, t]) at the parameters before the step."""
    params, _, _, closure, sampled_grad = softmax_regression()
    opt = optim.Sophia(0.05, gamma=1.0, update_interval=2, seed=4,
                       estimator=gauss_newton_bartlett(sampled_grad, B))
    for t in (1, 2, 3):
        before = copy.deepcopy(params)
        opt.update(params, closure=closure)
        if t != 2:
            now = copy.deepcopy(params)
            params.update(copy.deepcopy(before))
            g = sampled_grad(np.random.default_rng([4, t]))
            params.update(now)
            for k in params:
                np.testing.assert_array_equal(opt.state[k]["estimate"], B * g[k] ** 2)
        assert not np.array_equal(params["W"], before["W"])


def test_hutchinson_written_as_an_estimator_is_sophias_own():
    """The estimator is given np.random.default_rng([seed, t]): ξ ⊙ Hξ drawn from it as
    Sophia draws its probes is Sophia's default, bit for bit, over 7 updates."""
    a, _, _, closure_a, _ = softmax_regression(2)
    b, _, _, closure_b, _ = softmax_regression(2)  # the same, with its own parameters
    H = np.random.default_rng(9).standard_normal((15, 15))
    H = H @ H.T  # a fixed symmetric "Hessian" over the 15 parameters, W then b

    def hvp(v):
        hv = H @ np.concatenate([v["W"].ravel(), v["b"]])
        return {"W": hv[:12].reshape(C, D), "b": hv[12:]}

    def mine(oracle, rng):
        xi = {k: rng.integers(0, 2, size=np.shape(v)).astype(np.float64) * 2 - 1
              for k, v in oracle.params.items()}
        return {k: xi[k] * hv for k, hv in hvp(xi).items()}

    own = optim.Sophia(0.05, gamma=1.0, update_interval=3, seed=2)
    custom = optim.Sophia(0.05, gamma=1.0, update_interval=3, seed=2, estimator=mine)
    for _ in range(7):
        own.update(a, closure=closure_a, hvp=hvp)
        custom.update(b, closure=closure_b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        assert np.any(own.state[k]["estimate"] != 0)


def test_a_run_with_a_custom_estimator_resumes_bit_identically(tmp_path):
    a, _, _, closure_a, sampled_a = softmax_regression(3)
    b, _, _, closure_b, sampled_b = softmax_regression(3)  # the same, its own parameters

    def make(sampled_grad):
        return optim.Sophia(0.05, gamma=1.0, update_interval=2,
                            estimator=gauss_newton_bartlett(sampled_grad, B))

    straight, first = make(sampled_a), make(sampled_b)
    for _ in range(6):
        straight.update(a, closure=closure_a)
    for _ in range(3):
        first.update(b, closure=closure_b)
    first.save(tmp_path / "sophia.npz")
    resumed = make(sampled_b)  # (the estimator is given again)
    resumed.load(tmp_path / "sophia.npz")
    for _ in range(3):
        resumed.update(b, closure=closure_b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["W"], softmax_regression(3)[0]["W"])


def test_bad_estimators_are_refused_with_nothing_changed():
    params, _, _, closure, sampled_grad = softmax_regression(4)
    with pytest.raises(InputTypeError, match="estimator must be a function"):
        optim.Sophia(estimator="gnb")
    with pytest.raises(InputError, match="probes chooses the draws of Sophia's own"):
        optim.Sophia(probes="gaussian", estimator=lambda oracle, rng: None)
    opt = optim.Sophia(probes="gaussian")
    with pytest.raises(InputError, match="probes chooses the draws of Sophia's own"):
        opt.estimator = lambda oracle, rng: None
    assert opt.estimator is None
    opt = optim.Sophia(estimator=lambda oracle, rng: None)
    with pytest.raises(InputError, match="probes chooses the draws of Sophia's own"):
        opt.probes = "gaussian"
    assert opt.probes == "rademacher"
    with pytest.raises(InputError, match="batch_size must be a whole number >= 1"):
        gauss_newton_bartlett(sampled_grad, 0)
    with pytest.raises(InputTypeError, match="sampled_grad must be a function"):
        gauss_newton_bartlett(None, 2)

    answers = {
        "shape": ({"W": np.ones((C, D)), "b": np.ones(C + 1)},
                  InputError, "Sophia's estimator's answer: the gradient of parameter 'b' "
                              "has shape"),
        "key": ({"W": np.ones((C, D))}, MissingKeyError, "Sophia's estimator's answer: grads has "
                                                    "no entry for parameter 'b'"),
        "nan": ({"W": np.full((C, D), np.nan), "b": np.ones(C)}, NonFiniteError,
                "the estimate of the Hessian's diagonal of parameter 'W'"),
    }
    for answer, error, message in answers.values():
        opt = optim.Sophia(0.05, estimator=lambda oracle, rng, a=answer: a)
        before_state, before = repr(opt.state_dict()), copy.deepcopy(params)
        with pytest.raises(error, match=message):
            opt.update(params, closure=closure)
        assert repr(opt.state_dict()) == before_state
        for k in params:
            np.testing.assert_array_equal(params[k], before[k])
    sampled = gauss_newton_bartlett(lambda rng: {"W": np.ones(2), "b": np.ones(C)}, B)
    with pytest.raises(InputError, match="sampled_grad's answer: the gradient of parameter "
                                         "'W' has shape"):
        optim.Sophia(estimator=sampled).update(params, closure=closure)
