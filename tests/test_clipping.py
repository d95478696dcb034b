"""Gradient clipping against torch.nn.utils.clip_grad_norm_ / clip_grad_value_, standalone and
as optimizer options (clipping happens before weight decay and the rule)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from descentlab import optim
from descentlab.optim import clip_grad_norm, clip_grad_norm_each, clip_grad_value

torch.set_num_threads(1)


def random_grads(rng, dtype=np.float64, scale=1.0):
    shapes = [(3, 4), (5,), (2, 2, 3), ()]
    return {f"g{i}": np.asarray(rng.normal(size=s) * scale, dtype=dtype)
            for i, s in enumerate(shapes)}


def torch_params(grads):
    out = []
    for g in grads.values():
        p = torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype))
        p.grad = torch.tensor(g.copy())
        out.append(p)
    return out


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-14), (np.float32, 2e-7)])
@pytest.mark.parametrize("max_norm", [0.1, 1.0, 3.0, 100.0])
def test_clip_grad_norm_matches_torch(dtype, rtol, max_norm):
    rng = np.random.default_rng(int(max_norm * 10))
    grads = random_grads(rng, dtype)
    params = torch_params(grads)
    expected_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    norm = clip_grad_norm(grads, max_norm)
    assert norm == pytest.approx(expected_norm, rel=rtol)
    for g, p in zip(grads.values(), params):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=rtol, atol=0)
    if max_norm < expected_norm:
        assert np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads.values())) == \
            pytest.approx(max_norm, rel=1e-5)


@pytest.mark.parametrize("clip", [0.05, 0.5, 2.0])
def test_clip_grad_value_matches_torch_exactly(clip):
    rng = np.random.default_rng(5)
    grads = random_grads(rng)
    before = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
    params = torch_params(grads)
    torch.nn.utils.clip_grad_value_(params, clip)
    norm = clip_grad_value(grads, clip)
    assert norm == pytest.approx(before, rel=1e-14)  # the norm before clipping
    for g, p in zip(grads.values(), params):
        assert np.array_equal(g, p.grad.numpy())


def test_clip_grad_norm_each_is_torch_per_array():
    rng = np.random.default_rng(9)
    grads = random_grads(rng, scale=2.0)
    params = torch_params(grads)
    expected = {}
    for key, p in zip(grads, params):
        expected[key] = float(torch.nn.utils.clip_grad_norm_([p], 1.5))
    norms = clip_grad_norm_each(grads, 1.5)
    assert norms == pytest.approx(expected, rel=1e-14)
    for g, p in zip(grads.values(), params):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-14)


def test_float16_norm_does_not_overflow():
    # Σg² = 360000 overflows float16; torch accumulates in float32 and so do we (float64).
    grads = {"x": np.full(4, 300.0, np.float16)}
    p = torch_params(grads)
    expected = float(torch.nn.utils.clip_grad_norm_(p, 1.0))
    assert clip_grad_norm(grads, 1.0) == expected == 600.0
    assert grads["x"].dtype == np.float16
    assert np.array_equal(grads["x"], p[0].grad.numpy())


def test_float32_norm_overflow_still_clips():
    # Σg² = 4e40 overflows float32: torch reports inf and zeroes the gradient; we keep the
    # direction (documented difference).
    grads = {"x": np.full(4, 1e20, np.float32)}
    with np.errstate(all="raise"):
        norm = clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(2e20, rel=1e-7)
    np.testing.assert_allclose(grads["x"], 0.5, rtol=1e-6)


def test_python_float_leaves_and_awkward_keys():
    grads = {"a/b": 3.0, "c": [np.float32(4.0)]}
    norm = clip_grad_norm(grads, 1.0)
    assert norm == 5.0
    assert grads["a/b"] == pytest.approx(0.6, rel=1e-6) and type(grads["a/b"]) is float
    assert type(grads["c"][0]) is np.float32 and grads["c"][0] == pytest.approx(0.8, rel=1e-6)


@pytest.mark.parametrize("grads, error, match", [
    ({"x": np.array([3, 4])}, TypeError, "dtype int"),
    ({"x": (3.0, 4.0)}, TypeError, "inside a tuple"),
    (3.0, TypeError, "at the root"),
    ({"x": "3"}, TypeError, "is a str"),
])
def test_unclippable_gradients_raise(grads, error, match):
    with pytest.raises(error, match=match):
        clip_grad_norm(grads, 1.0)


@pytest.mark.parametrize("fn, arg", [(clip_grad_norm, "max_norm"),
                                     (clip_grad_norm_each, "max_norm"),
                                     (clip_grad_value, "clip_value")])
def test_nonpositive_limits_are_refused(fn, arg):
    with pytest.raises(ValueError, match=f"{arg} must be > 0, got -1.0"):
        fn({"x": np.ones(2)}, -1.0)
    with pytest.raises(ValueError, match=f"{arg} must be > 0, got 0.0"):
        fn({"x": np.ones(2)}, 0.0)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=6),
                  elements=st.floats(-1e6, 1e6)),
       st.floats(1e-3, 1e3))
def test_clipped_norm_never_exceeds_the_limit_and_keeps_direction(g, max_norm):
    grads = {"g": g.copy()}
    norm = clip_grad_norm(grads, max_norm)
    assert norm == pytest.approx(np.sqrt(np.sum(g ** 2)), rel=1e-12, abs=1e-300)
    after = np.sqrt(np.sum(grads["g"] ** 2))
    assert after <= max_norm * (1 + 1e-12)
    if norm + 1e-6 <= max_norm:  # coef = max_norm / (norm + 1e-6) >= 1: untouched
        assert np.array_equal(grads["g"], g)
    else:
        np.testing.assert_allclose(grads["g"] * norm, g * after, rtol=1e-9, atol=1e-300)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=6),
                  elements=st.floats(-1e3, 1e3)),
       st.floats(1e-3, 1e3))
def test_value_clipping_bounds_every_entry(g, clip):
    grads = [g.copy()]
    clip_grad_value(grads, clip)
    assert np.all(np.abs(grads[0]) <= clip)
    inside = np.abs(g) <= clip
    assert np.array_equal(grads[0][inside], g[inside])


# ------------------------------------------------------------------ as optimizer options
@pytest.mark.parametrize("option", ["clip_global_norm", "clip_norm", "clip_value",
                                    "value+global"])
@pytest.mark.parametrize("kind", ["momentum", "adam"])
def test_optimizer_clipping_options_match_torch(option, kind):
    """torch: clip the .grad, then step (which adds L2 weight decay): clip before decay."""
    rng = np.random.default_rng(21)
    w0 = {"a": rng.normal(size=(4, 3)), "b": rng.normal(size=5)}
    grads = [{k: rng.normal(size=v.shape) * 3 for k, v in w0.items()} for _ in range(40)]
    limits = {"clip_global_norm": 2.0, "clip_norm": 1.5, "clip_value": 0.7}
    if option == "value+global":
        kwargs = {"clip_value": 0.7, "clip_global_norm": 2.0}
    else:
        kwargs = {option: limits[option]}
    if kind == "momentum":
        opt = optim.Momentum(0.05, 0.9, weight_decay=0.1, **kwargs)
        make = lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.1)  # noqa: E731
    else:
        opt = optim.Adam(0.05, weight_decay=0.1, **kwargs)
        make = lambda ps: torch.optim.Adam(ps, lr=0.05, weight_decay=0.1)  # noqa: E731
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in w0.items()}
    topt = make(list(tparams.values()))
    params = {k: v.copy() for k, v in w0.items()}
    for g in grads:
        supplied = {k: v.copy() for k, v in g.items()}
        opt.update(params, supplied)
        assert all(np.array_equal(supplied[k], g[k]) for k in g)  # the caller's grads untouched
        for k, p in tparams.items():
            p.grad = torch.tensor(g[k])
        ps = list(tparams.values())
        if "clip_value" in kwargs:
            torch.nn.utils.clip_grad_value_(ps, kwargs["clip_value"])
        if "clip_norm" in kwargs:
            for p in ps:
                torch.nn.utils.clip_grad_norm_([p], kwargs["clip_norm"])
        if "clip_global_norm" in kwargs:
            torch.nn.utils.clip_grad_norm_(ps, kwargs["clip_global_norm"])
        topt.step()
    for k, p in tparams.items():
        np.testing.assert_allclose(params[k], p.detach().numpy(), rtol=1e-11, atol=1e-13)
