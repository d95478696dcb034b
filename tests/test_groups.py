"""Per-parameter settings by path against torch.optim parameter groups, optax's masks and
multi_transform; checkpoints, strictness, and all-or-nothing updates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab import optim
from descentlab.errors import DescentlabError, InputError
from descentlab.optim.groups import Groups

STEPS = 30
SHAPES = {"layer0/W": (4, 3), "layer0/bias": (3,), "embed/table": (5, 2), "norm/scale": (3,)}


def params(seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.uniform(-1, 1, s) for k, s in SHAPES.items()}


def gradients(seed=1, steps=STEPS):
    rng = np.random.default_rng(seed)
    return [{k: rng.standard_normal(s) for k, s in SHAPES.items()} for _ in range(steps)]


def close(a, b, rtol=1e-12):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.max(np.abs(b)))


def run(opt, p0, gs):
    p = {k: v.copy() for k, v in p0.items()}
    for g in gs:
        opt.update(p, g)
    return p


def assert_torch_equal(ours, topt, tensors, gs):
    """Drive torch's optimizer over the same gradients and compare the final parameters."""
    for g in gs:
        for k, v in tensors.items():
            v.grad = torch.tensor(g[k])
        topt.step()
    for k in SHAPES:
        close(ours[k], tensors[k].detach().numpy())


RULES = {"*bias": {"weight_decay": 0.0}, "norm/*": {"weight_decay": 0.0},
         "embed/*": {"lr": 1e-3, "amsgrad": True}}


def test_equals_torch_param_groups():
    p0, gs = params(), gradients()
    ours = run(Groups(optim.AdamW(0.01, weight_decay=0.1), RULES), p0, gs)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in p0.items()}
    topt = torch.optim.AdamW([
        {"params": [t["layer0/bias"], t["norm/scale"]], "weight_decay": 0.0},
        {"params": [t["embed/table"]], "lr": 1e-3, "amsgrad": True},
        {"params": [t["layer0/W"]]},
    ], lr=0.01, weight_decay=0.1)
    assert_torch_equal(ours, topt, t, gs)
    # the groups matter: one optimizer for all gives other values
    plain = run(optim.AdamW(0.01, weight_decay=0.1), p0, gs)
    assert not np.allclose(plain["layer0/bias"], ours["layer0/bias"])
    assert not np.allclose(plain["embed/table"], ours["embed/table"])


def test_torch_groups_with_different_momentum():
    p0, gs = params(2), gradients(3)
    ours = run(Groups(optim.Momentum(0.05, 0.9), {"layer0/*": {"momentum": 0.5,
                                                               "nesterov": True}}), p0, gs)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in p0.items()}
    topt = torch.optim.SGD([
        {"params": [t["layer0/W"], t["layer0/bias"]], "momentum": 0.5, "nesterov": True},
        {"params": [t["embed/table"], t["norm/scale"]]}], lr=0.05, momentum=0.9)
    assert_torch_equal(ours, topt, t, gs)


def test_equals_optax_adamw_mask(oracle):
    o, p0, gs = oracle, params(4), gradients(5)
    mask = {k: not (k.endswith("bias") or k.startswith("norm")) for k in SHAPES}
    theirs = o.optax_run(o.optax.adamw(0.01, weight_decay=0.1, mask=mask), p0, gs)
    ours = Groups(optim.AdamW(0.01, weight_decay=0.1),
                  {"*bias": {"weight_decay": 0.0}, "norm/*": {"weight_decay": 0.0}})
    p = {k: v.copy() for k, v in p0.items()}
    for t, g in enumerate(gs):
        ours.update(p, g)
        for k in SHAPES:
            close(p[k], theirs[k][t])


def test_equals_optax_multi_transform(oracle):
    """A different optimizer per group: SGD with momentum for the embedding, Adam elsewhere."""
    o, p0, gs = oracle, params(6), gradients(7)
    labels = {k: "sgd" if k.startswith("embed") else "adam" for k in SHAPES}
    tx = o.optax.multi_transform({"sgd": o.optax.sgd(0.1, momentum=0.9),
                                  "adam": o.optax.adam(0.01)}, labels)
    theirs = o.optax_run(tx, p0, gs)
    ours = run(Groups(optim.Adam(0.01), {"embed/*": optim.Momentum(0.1, 0.9)}), p0, gs)
    for k in SHAPES:
        close(ours[k], theirs[k][-1])


def test_state_keyed_by_full_path_and_resume(tmp_path):
    p0, gs = params(8), gradients(9)
    make = lambda: Groups(optim.Adam(0.01, weight_decay=0.01), RULES)  # noqa: E731
    straight = run(make(), p0, gs)
    first = make()
    p = run(first, p0, gs[:13])
    assert set(first.state_for("embed/table")) == {"m", "v", "v_max"}
    assert first.optimizer_for("layer0/W") is first.optimizers[-1]
    first.save(tmp_path / "g.npz")
    again = make()
    again.load(tmp_path / "g.npz")
    for g in gs[13:]:
        again.update(p, g)
    for k in SHAPES:
        assert np.array_equal(p[k], straight[k])
    assert again.step == STEPS


def test_strict_loading_changes_nothing():
    p0, gs = params(10), gradients(11, 5)
    opt = Groups(optim.Adam(0.01), RULES)
    run(opt, p0, gs)
    d = opt.state_dict()
    other = Groups(optim.Adam(0.01), {"*bias": {"weight_decay": 0.0}})
    with pytest.raises(InputError, match="patterns"):
        other.load_state_dict(d)
    target = Groups(optim.Adam(0.01), RULES)
    moved = {**d, "assignment": {**d["assignment"], "layer0/W": 0}}
    with pytest.raises(InputError, match="layer0/W"):
        target.load_state_dict(moved)
    broken = {**d, "groups": [*d["groups"][:-1], {**d["groups"][-1], "optimizer": "sgd"}]}
    with pytest.raises(ValueError, match="sgd"):  # the last group fails after others loaded
        target.load_state_dict(broken)
    assert target.step == 0 and all(o.step == 0 and not o.state for o in target.optimizers)


def test_failed_update_changes_nothing():
    p0, gs = params(12), gradients(13, 4)
    opt = Groups(optim.Momentum(0.1), {"layer0/*": {}, "embed/*": {}})
    fresh = {k: v.copy() for k, v in p0.items()}
    opt.optimizers[-1].lr = np.full((7,), 0.1)  # fails at the very first update, last group
    with pytest.raises(ValueError, match="lr has shape"):
        opt.update(fresh, gs[0])
    assert all(np.array_equal(fresh[k], p0[k]) for k in SHAPES)
    assert all(o.step == 0 and not o.state for o in opt.optimizers) and opt.step == 0
    opt.optimizers[-1].lr = 0.1
    p = run(opt, p0, gs)
    before_p = {k: v.copy() for k, v in p.items()}
    before = [o.state_dict() for o in opt.optimizers]
    bad = {**gs[0], "norm/scale": np.array([1.0, np.nan, 0.0])}
    with pytest.raises(FloatingPointError, match="norm/scale"):
        opt.update(p, bad)
    # the last group fails inside its own update (an lr array that does not broadcast) after
    # the first two were updated: they are rolled back
    opt.optimizers[-1].lr = np.full((7,), 0.1)
    with pytest.raises(ValueError, match="lr has shape"):
        opt.update(p, gs[0])
    for k in SHAPES:
        assert np.array_equal(p[k], before_p[k])
    for o, sd in zip(opt.optimizers, before):
        now = o.state_dict()
        assert now["step"] == sd["step"]
        for path in sd["state"]:
            for slot, a in sd["state"][path].items():
                assert np.array_equal(now["state"][path][slot], a)
    with pytest.raises(KeyError, match="embed/table"):
        opt.update({k: v for k, v in p.items() if k != "embed/table"},
                   {k: v for k, v in gs[0].items() if k != "embed/table"})


@pytest.mark.parametrize("build, words", [
    (lambda: Groups(optim.Adam(), {"*bias": {"wieght_decay": 0.0}}), "did you mean"),
    (lambda: Groups(optim.Adam(), {"*bias": {"lr": -1.0}}), "lr must be"),
    (lambda: Groups(optim.Adam(), {"*bias": 0.0}), "settings must be"),
    (lambda: Groups(optim.Adam(), {3: {}}), "pattern"),
    (lambda: Groups("adam", {}), "base"),
])
def test_bad_groups_are_refused_by_name(build, words):
    with pytest.raises(DescentlabError, match=words):
        build()


def test_used_optimizers_are_refused():
    used = optim.Adam()
    used.update(np.zeros(2), np.ones(2))
    with pytest.raises(InputError, match="fresh"):
        Groups(used, {})
    shared = optim.SGD()
    with pytest.raises(InputError, match="two groups"):
        Groups(optim.Adam(), {"a": shared, "b": shared})


# Muon updates matrices only (these parameters include vectors) and L-BFGS needs a closure:
# tests/test_optim_torch_more.py covers both (Groups refuse every rule that needs a closure:
# tests/test_optim_closure.py). adagrad_full preconditions all of its parameters with one
# matrix, so groups make it block-diagonal: tests/test_adagrad_full.py. PSGD Kron draws its
# probes per optimizer, in parameter order: a group draws its own. A rule with a rule-wide
# pre-pass (DoG, Prodigy, ...) takes its norms per group, as the DoG authors' param groups
# do: tests/test_lrfree.py.
@pytest.mark.parametrize("name", [n for n in optim.available()
                                  if n not in ("muon", "lbfgs", "adagrad_full", "psgd_kron")
                                  and not getattr(optim.get_class(n), "needs_closure", False)
                                  and not optim.get_class(n).overrides("prepass")])
def test_every_optimizer_clones_into_groups(name):
    """A group of a dict of overrides is the base rebuilt with them: same numbers as the base
    when nothing is overridden, for every registered optimizer."""
    p0, gs = params(14), gradients(15, 4)
    grouped = run(Groups(optim.create(name), {"*bias": {}}), p0, gs)
    alone = run(optim.create(name), p0, gs)
    for k in SHAPES:
        assert np.array_equal(grouped[k], alone[k])


def test_callable_pattern_and_floats():
    opt = Groups(optim.SGD(1.0), {lambda path: path.startswith("x"): {"lr": 0.5}})
    p = {"x": 1.0, "y": 1.0}
    opt.update(p, {"x": 1.0, "y": 1.0})
    assert p == {"x": 0.5, "y": 0.0}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "base"]), min_size=4, max_size=4),
       st.floats(0.001, 0.5), st.floats(0.0, 0.3), st.integers(0, 2**31 - 1))
def test_groups_equal_separate_optimizers(which, lr, wd, seed):
    """Any assignment of paths to groups: bit-identical to one optimizer per subset."""
    paths = list(SHAPES)
    names = {p: f"{w}/{p}" for p, w in zip(paths, which)}
    rng = np.random.default_rng(seed)
    p0 = {names[p]: rng.standard_normal(SHAPES[p]) for p in paths}
    gs = [{k: rng.standard_normal(v.shape) for k, v in p0.items()} for _ in range(5)]
    settings_of = {"a": {"lr": lr}, "b": {"weight_decay": wd, "amsgrad": True}, "base": {}}
    opt = Groups(optim.Adam(0.01), {"a/*": settings_of["a"], "b/*": settings_of["b"]})
    ours = run(opt, p0, gs)
    for w, kw in settings_of.items():
        keys = [k for k in p0 if k.startswith(w + "/")]
        if not keys:
            continue
        alone = run(optim.Adam(**{"lr": 0.01, **kw}), {k: p0[k] for k in keys},
                    [{k: g[k] for k in keys} for g in gs])
        for k in keys:
            assert np.array_equal(ours[k], alone[k])
