"""The cached update plan (issue 12, "the cost of one call") changes no result and no error.

A successful ``update`` leaves a plan; the next update whose structure matches it skips the
checks it already made. The reference here is the full path itself: the same optimizer with
its plan dropped before every call (``plan_less``), which is how every update ran before the
plan existed (and what the oracle tests against PyTorch, optax and Keras check). Every test
runs the same calls on a planned optimizer and on a plan-less one and compares, bit for bit,
the parameters, the state dict, and every error (type and message) or warning.
"""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab import optim
from descentlab.errors import DescentlabError, InputError, NonFiniteError
from descentlab.optim.flat import FlatParams

RULES = [("adam", {}), ("momentum", {"momentum": 0.9}), ("nadam", {}), ("rmsprop", {}),
         ("adamw", {"amsgrad": True}), ("adagrad", {"weight_decay": 0.1})]


# ---------------------------------------------------------------- helpers
def bits(x):
    """A value as exact bits (arrays, floats, containers)."""
    if isinstance(x, dict):
        return {k: bits(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [bits(v) for v in x]
    if isinstance(x, np.ndarray):
        return (x.dtype.str, x.shape, x.tobytes())
    if isinstance(x, (float, np.floating)):
        return (type(x).__name__, np.float64(x).tobytes())
    return x


def outcome(opt, params, call):
    """What a call did: its error or warnings, then the parameters and the whole state."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
            result = "ok"
        except (DescentlabError, ValueError, TypeError, KeyError) as e:
            result = (type(e).__name__, str(e))
    sd = opt.state_dict()
    sd.pop("schedules")
    return result, [str(w.message) for w in caught], bits(params), bits(sd)


def planned_calls(opt):
    """Counts updates that went along the plan (to show the tests exercise it): an update
    that leaves the plan it found (the full path makes a new one) and counts a step."""
    counter = {"planned": 0}
    original = opt.update

    def counting(params, grads):
        plan, step = opt.update_plan, opt.step
        original(params, grads)
        counter["planned"] += plan is not None and opt.update_plan is plan and (
            opt.step == step + 1)

    object.__setattr__(opt, "update", counting)
    return counter


class PlanLess:
    """Drops the optimizer's plan before each of its updates: always the full path."""

    def __init__(self, opt):
        self.opt = opt

    def __call__(self, params, grads):
        self.opt.forget_plan()
        self.opt.update(params, grads)


# ---------------------------------------------------------------- worlds
def make_world(kind, rng):
    if kind == "floats":
        return {"x": float(rng.standard_normal()), "y": float(rng.standard_normal())}
    if kind == "arrays":
        return {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    if kind == "flat":
        return FlatParams.from_dict({"W": rng.standard_normal((3, 4)),
                                     "b": rng.standard_normal(4)}, np.float32)
    if kind == "mixed":
        return {"a": float(rng.standard_normal()), "w": rng.standard_normal(3),
                "s": [float(rng.standard_normal()), float(rng.standard_normal())]}
    if kind == "nested":
        return {"layer": {"w": rng.standard_normal((2, 2)).astype(np.float32),
                          "b": rng.standard_normal(2).astype(np.float32)},
                "head": [rng.standard_normal(3)]}
    assert kind == "array"
    return rng.standard_normal((4, 2))


def leaf_items(tree, prefix=""):
    """(container, key, value) of every leaf of a world."""
    out = []
    items = tree.items() if isinstance(tree, dict) else enumerate(tree)
    for k, v in items:
        if isinstance(v, (dict, list)):
            out += leaf_items(v, f"{prefix}{k}/")
        else:
            out.append((tree, k, v))
    return out


def grads_like(tree, rng, dtype=None):
    """Random finite gradients of the world's structure (plain containers)."""
    if isinstance(tree, np.ndarray):
        return rng.standard_normal(tree.shape).astype(dtype or tree.dtype)
    if isinstance(tree, FlatParams):
        g = tree.zeros_like()
        g.flat[:] = rng.standard_normal(g.flat.size)
        return g if dtype is None else {k: v.astype(dtype) for k, v in g.items()}
    if isinstance(tree, dict):
        return {k: grads_like(v, rng, dtype) for k, v in tree.items()}
    if isinstance(tree, list):
        return [grads_like(v, rng, dtype) for v in tree]
    return float(rng.standard_normal())


KINDS = ["floats", "arrays", "flat", "mixed", "nested", "array"]
OPS = ["update", "update", "update", "same_grads", "nan", "wrong_shape", "missing_key",
       "extra_key", "grads_dtype", "new_array", "param_dtype", "lr", "lr_array", "schedule",
       "maximize", "clip", "skip", "load", "state_poke", "alias", "read_only", "refused",
       "int_grad", "reorder"]


def linear_schedule(lr):
    """A schedule (a plain callable of the update count)."""
    return lambda t: lr / (1 + 0.1 * t)


def apply(op, opt, world, rng, update):
    """One call of a scenario; returns the parameters to compare (the world may change)."""
    params = world["params"]
    if op == "update":
        world["grads"] = grads_like(params, rng)
        update(params, world["grads"])
    elif op == "same_grads":  # the very same gradient objects again
        update(params, world.setdefault("grads", grads_like(params, rng)))
    elif op == "nan":
        g = grads_like(params, rng)
        if isinstance(g, np.ndarray):
            g[0, 0] = np.nan
        elif isinstance(g, FlatParams):
            g.flat[-1] = np.inf
        else:
            holder, key, value = leaf_items(g)[-1]
            holder[key] = np.nan if not isinstance(value, np.ndarray) else np.full_like(
                value, np.nan)
        update(params, g)
    elif op == "wrong_shape":
        g = grads_like(params, rng)
        if isinstance(g, np.ndarray):
            g = g[:-1]
        else:
            holder, key, _ = leaf_items(g if not isinstance(g, FlatParams) else dict(g))[0]
            if isinstance(g, FlatParams):
                g = dict(g)
                holder = g
            holder[key] = np.ones(7)
        update(params, g)
    elif op == "missing_key":
        g = grads_like(params, rng)
        if isinstance(g, dict):
            g = dict(g)
            g.pop(next(iter(g)))
        update(params, g)
    elif op == "extra_key":
        g = grads_like(params, rng)
        if isinstance(g, dict):
            g = {**g, "zzz": 1.0}
        update(params, g)
    elif op == "grads_dtype":
        update(params, grads_like(params, rng, np.float16))
    elif op == "new_array":  # the same values in a new array object
        if isinstance(params, np.ndarray):
            world["params"] = params = params.copy()
        elif not isinstance(params, FlatParams):
            for holder, key, value in leaf_items(params):
                if isinstance(value, np.ndarray):
                    holder[key] = value.copy()
                    break
        update(params, grads_like(params, rng))
    elif op == "param_dtype":
        if isinstance(params, np.ndarray):
            world["params"] = params = params.astype(np.float32)
        elif not isinstance(params, FlatParams):
            holder, key, value = leaf_items(params)[0]
            holder[key] = (np.float32(value) if not isinstance(value, np.ndarray)
                           else value.astype(np.float16))
        update(params, grads_like(params, rng))
    elif op == "lr":
        opt.lr = float(rng.uniform(0.001, 0.1))
    elif op == "lr_array":
        opt.lr = np.full((4, 1) if isinstance(params, np.ndarray) else (1,), 0.01)
    elif op == "schedule":
        opt.lr = linear_schedule(float(rng.uniform(0.01, 0.1)))
    elif op == "maximize":
        opt.maximize = not opt.maximize
    elif op == "clip":
        opt.clip_norm = None if opt.clip_norm is not None else 0.5
    elif op == "skip":
        opt.nonfinite = "skip" if opt.nonfinite == "raise" else "raise"
    elif op == "load":
        opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    elif op == "state_poke":  # someone writes the state between calls
        for slots in opt.state.values():
            for s in slots:
                slots[s] = slots[s] * 0.5
            break
    elif op == "alias":  # update(x, x): the gradient is the parameter itself
        update(params, params)
    elif op == "read_only":
        arrays = [v for _, _, v in leaf_items(params)] if isinstance(params, dict) and not (
            isinstance(params, FlatParams)) else [params.flat if isinstance(
                params, FlatParams) else params]
        arrays = [a for a in arrays if isinstance(a, np.ndarray)]
        if arrays:
            arrays[0].flags.writeable = False
            try:
                update(params, grads_like(params, rng))
            finally:
                arrays[0].flags.writeable = True
    elif op == "refused":  # an option the class refuses mid-run (fixed once started)
        if "amsgrad_on" in type(opt).option_descriptors():
            opt.amsgrad_on = "v_hat" if opt.amsgrad_on == "v" else "v"
        else:
            opt.nonfinite = "bogus"
    elif op == "int_grad":
        g = grads_like(params, rng)
        if isinstance(g, dict) and not isinstance(g, FlatParams):
            holder, key, value = leaf_items(g)[0]
            holder[key] = 1 if not isinstance(value, np.ndarray) else value.astype(np.int64)
        update(params, g)
    elif op == "reorder":  # the same keys in another order
        if isinstance(params, dict) and not isinstance(params, FlatParams):
            world["params"] = params = dict(reversed(list(params.items())))
        update(params, grads_like(params, rng))
    return world["params"]


def run(kind, name, options, ops, seed, planned):
    rng = np.random.default_rng(seed)
    world = {"params": make_world(kind, rng)}
    opt = optim.create(name, **options)
    counter = planned_calls(opt)
    update = opt.update if planned else PlanLess(opt)
    log = []
    for op in ops:
        log.append(outcome(opt, world["params"],
                           lambda op=op: apply(op, opt, world, rng, update)))
    return log, counter["planned"]


# ---------------------------------------------------------------- the property
@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(KINDS), rule=st.sampled_from(RULES),
       ops=st.lists(st.sampled_from(OPS), min_size=1, max_size=14),
       seed=st.integers(0, 2**32 - 1))
def test_any_sequence_of_calls_gives_the_bits_and_errors_of_the_full_path(kind, rule, ops,
                                                                            seed):
    name, options = rule
    planned, _ = run(kind, name, options, ops, seed, planned=True)
    plan_less, used = run(kind, name, options, ops, seed, planned=False)
    assert used == 0
    for op, a, b in zip(ops, planned, plan_less):
        assert a == b, op


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name, options", RULES)
def test_the_plan_is_used_and_every_change_between_calls_is_seen(kind, name, options):
    """A fixed sequence through every kind of change: the planned optimizer takes its plan
    for most updates (so the property above exercises it) and agrees bit for bit."""
    ops = ["update"] * 3 + [op for o in OPS[3:] for op in (o, "update", "update")]
    planned, used = run(kind, name, options, ops, 1, planned=True)
    plan_less, _ = run(kind, name, options, ops, 1, planned=False)
    for op, a, b in zip(ops, planned, plan_less):
        assert a == b, op
    assert used >= 10


# ---------------------------------------------------------------- named guarantees
def test_a_failed_planned_update_changes_nothing_and_says_what_the_full_path_says():
    opt = optim.Adam(lr=0.1)
    params = {"w": np.ones((2, 3)), "x": 1.0}
    for _ in range(3):
        opt.update(params, {"w": np.ones((2, 3)), "x": 0.5})
    assert opt.update_plan is not None
    before = (bits(params), bits(opt.state_dict()))
    with pytest.raises(NonFiniteError, match=r"parameter 'x' is not finite at step 4"):
        opt.update(params, {"w": np.ones((2, 3)), "x": float("inf")})
    with pytest.raises(NonFiniteError, match=r"parameter 'w' is not finite"):
        opt.update(params, {"w": np.full((2, 3), np.nan), "x": 0.5})
    with pytest.raises(InputError, match="shape"):
        opt.update(params, {"w": np.ones((3, 2)), "x": 0.5})
    with pytest.raises(KeyError, match="'x'"):
        opt.update(params, {"w": np.ones((2, 3))})
    opt.nesterov = True  # accepted (drops the plan), then a refused combination:
    with pytest.raises(InputError, match="nesterov"):
        opt.amsgrad = True
    opt.nesterov = False
    with pytest.raises(InputError, match="cannot change once the optimizer has state"):
        opt.amsgrad_on = "v_hat"
    assert (bits(params), bits(opt.state_dict())) == before
    assert opt.step == 3


def test_a_new_array_under_a_planned_key_is_the_one_updated():
    opt = optim.SGD(lr=1.0)
    old = np.ones(3)
    params = {"w": old}
    opt.update(params, {"w": np.ones(3)})
    opt.update(params, {"w": np.ones(3)})  # planned from here on
    params["w"] = new = np.full(3, 5.0)
    opt.update(params, {"w": np.ones(3)})
    np.testing.assert_array_equal(new, np.full(3, 4.0))
    np.testing.assert_array_equal(old, np.full(3, -1.0))


def test_a_gradient_that_is_the_parameter_is_copied_on_the_planned_path():
    """update(x, x) after a plan made with separate gradients: the rule must read the
    gradient as it was, not the parameter it is overwriting."""
    a, b = optim.Adam(lr=0.1), optim.Adam(lr=0.1)
    pa, pb = np.linspace(1, 2, 5), np.linspace(1, 2, 5)
    for _ in range(2):
        a.update(pa, np.ones(5))
        PlanLess(b)(pb, np.ones(5))
    a.update(pa, pa)
    PlanLess(b)(pb, pb)
    assert bits(pa) == bits(pb) and bits(a.state_dict()) == bits(b.state_dict())


def test_assignments_drop_the_plan_and_take_effect():
    opt = optim.Adam()
    params = {"x": 1.0, "y": 2.0}
    opt.update(params, {"x": 1.0, "y": 1.0})
    opt.update(params, {"x": 1.0, "y": 1.0})
    for assign in (lambda: setattr(opt, "lr", 0.5), lambda: setattr(opt, "amsgrad", True),
                   lambda: opt.load_state_dict(opt.state_dict())):
        assert opt.update_plan is not None
        assign()
        assert opt.update_plan is None
        opt.update(params, {"x": 1.0, "y": 1.0})


def test_copies_and_pickles_start_without_a_plan_and_agree():
    opt = optim.Adam(lr=0.1)
    params = {"w": np.ones(4)}
    for _ in range(2):
        opt.update(params, {"w": np.ones(4)})
    for other in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        assert other.update_plan is None
        mine, theirs = {"w": params["w"].copy()}, {"w": params["w"].copy()}
        clone = copy.deepcopy(opt)
        clone.update(mine, {"w": np.ones(4)})
        other.update(theirs, {"w": np.ones(4)})
        assert bits(mine) == bits(theirs)


@pytest.mark.parametrize("backend", ["auto", "fused", "numpy"])
def test_a_big_flat_buffer_on_the_planned_path_matches_the_full_path(backend):
    """The FlatParams path with arrays big enough for the kernel (one finiteness probe of
    the flat gradient instead of one per array): same bits, same refusal."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(3)
    shapes = {"W": (200, 180), "b": (180,), "c": (5,)}
    runs = []
    for planned in (True, False):
        p = FlatParams.zeros(shapes, np.float32)
        p.flat[:] = rng.standard_normal(p.flat.size) if planned else runs[0][2]
        start = p.flat.copy()
        g = p.zeros_like()
        opt = optim.Adam(lr=0.01, backend=backend)
        update = opt.update if planned else PlanLess(opt)
        log = []
        for t in range(4):
            g.flat[:] = np.sin(np.arange(g.flat.size) * (t + 1.0))
            if t == 2:
                g["c"][1] = np.nan
            log.append(outcome(opt, p, lambda u=update, p=p, g=g: u(p, g)))
        runs.append((log, opt, start))
    assert runs[0][0] == runs[1][0]
    assert runs[0][0][2][0] == ("NonFiniteError", "the gradient of parameter 'c' is not "
                                "finite at step 3 (pass nonfinite='skip' to skip such "
                                "updates instead)")


def test_names_rebound_behind_a_flat_buffer_are_not_updated_as_the_buffer():
    """A FlatParams whose name was rebound with dict.__setitem__ is no longer its buffer:
    the named arrays are updated (one by one), not the flat buffer."""
    p = FlatParams.from_dict({"a": np.ones(3), "b": np.ones(2)})
    g = p.zeros_like()
    g.flat[:] = 1.0
    dict.__setitem__(p, "a", alone := np.ones(3))
    optim.SGD(lr=1.0).update(p, g)
    np.testing.assert_array_equal(alone, np.zeros(3))
    np.testing.assert_array_equal(p.flat, [1, 1, 1, 0, 0])


@pytest.mark.parametrize("layout", ["floats", "flat"])
def test_a_state_slot_replaced_between_calls_is_the_one_the_rule_reads(layout):
    """Floats and FlatParams run on packed state; a slot array replaced by the user takes
    effect (it did not, on either path, before the plan: the packed state was compared with
    itself). Momentum, μ = 0.5, η = 0.5, g = 1 (PyTorch's form, b₁ = g₁), by hand:
    t=1: b = 1, p = 0.5; t=2: b = 1.5, p = −0.25; then b of the first parameter set to 4;
    t=3: b = 0.5·4 + 1 = 3, p = −0.25 − 1.5 = −1.75; the other b = 1.75, p = −1.125."""
    opt = optim.Momentum(lr=0.5, momentum=0.5)
    if layout == "floats":
        params, grads, poked = {"x": 1.0, "y": 1.0}, {"x": 1.0, "y": 1.0}, "x"
    else:
        params = FlatParams.from_dict({"a": np.ones(2), "b": np.ones(1)})
        grads, poked = params.zeros_like(), "a"
        grads.flat[:] = 1.0
    opt.update(params, grads)
    opt.update(params, grads)  # along the plan
    opt.state[poked]["buffer"] = np.full_like(opt.state[poked]["buffer"], 4.0)
    opt.update(params, grads)
    values = [float(v) for v in np.concatenate([np.ravel(v) for v in params.values()])]
    assert values == ([-1.75, -1.125] if layout == "floats" else [-1.75, -1.75, -1.125])
    assert np.all(opt.state[poked]["buffer"] == 3.0)
    other = "y" if layout == "floats" else "b"
    assert np.all(opt.state[other]["buffer"] == 1.75)
