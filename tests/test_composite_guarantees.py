"""Composites keep the optimizer's guarantees (issue 21, item 7) and checkpoint state is
float32 or float64 for every optimizer (item 8): settings checked or refused, non-finite
wrapper state refused on load, cross-loads explained in one line, classes refused where an
optimizer object belongs."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from descentlab import optim
from descentlab.errors import DescentlabError, InputError, InputTypeError
from descentlab.optim import EMA, Accumulate, Groups, Lookahead


def params():
    return {"w": np.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": np.array([0.5, -0.5, 0.25])}


def grads(seed):
    rng = np.random.default_rng(seed)
    return {"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}


def trained(opt, steps=3):
    p = params()
    for i in range(steps):
        opt.update(p, grads(i))
    return opt, p


def bits(d):
    """A state dict as exact bits (for "nothing changed")."""
    if isinstance(d, dict):
        return {k: bits(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [bits(v) for v in d]
    if isinstance(d, np.ndarray):
        return (d.dtype.str, d.shape, d.tobytes())
    return repr(d)


# ------------------------------------------------------------------ Groups' patterns
def test_groups_patterns_and_optimizers_cannot_be_changed_in_place():
    opt, p = trained(Groups(optim.SGD(0.1), {"b": {"lr": 0.5}}))
    with pytest.raises(TypeError):  # a tuple: item assignment is refused by Python
        opt.patterns[0] = "w"
    with pytest.raises(TypeError):
        opt.optimizers[0] = optim.SGD(0.2)
    with pytest.raises(InputError, match="patterns are fixed at construction"):
        opt.patterns = ["w"]
    with pytest.raises(InputError, match="optimizers are fixed at construction"):
        opt.optimizers = [optim.SGD(0.2), optim.SGD(0.3)]
    assert opt.patterns == ("b",) and opt.group_of("b") == 0 and opt.group_of("w") == 1
    # the checkpoint still loads into a Groups of the same patterns
    again = Groups(optim.SGD(0.1), {"b": {"lr": 0.5}})
    again.load_state_dict(opt.state_dict())
    assert again.step == opt.step == 3


# ------------------------------------------------------------------ non-finite wrapper state
@pytest.mark.parametrize("make, slot", [
    (lambda inner: Lookahead(inner, sync_period=2), "slow"),
    (lambda inner: EMA(inner, momentum=0.5), "average"),
    (lambda inner: Accumulate(inner, steps=2), "accumulated"),
])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_wrapper_state_is_refused_on_load(make, slot, bad, tmp_path):
    source, _ = trained(make(optim.Adam(0.1)))
    d = copy.deepcopy(source.state_dict())
    d["slots"][slot]["w"][0, 1] = bad
    target, _ = trained(make(optim.Adam(0.1)), steps=1)
    before = bits(target.state_dict())
    with pytest.raises(InputError, match=rf"'{slot}' for parameter 'w' is not finite"):
        target.load_state_dict(d)
    assert bits(target.state_dict()) == before
    # the same through a file: the error names the file
    poisoned = make(optim.Adam(0.1))
    poisoned.load_state_dict(source.state_dict())
    poisoned.buffers[slot]["w"][0, 1] = bad
    poisoned.save(tmp_path / "bad.npz")
    with pytest.raises(InputError, match="bad.npz"):
        target.load(tmp_path / "bad.npz")
    assert bits(target.state_dict()) == before


def test_an_inner_optimizer_that_ignores_non_finite_values_may_load_them():
    """nonfinite='ignore' (PyTorch's behaviour) loads a diverged run, as plain optimizers do."""
    source, _ = trained(Lookahead(optim.Adam(0.1, nonfinite="ignore"), sync_period=2))
    d = copy.deepcopy(source.state_dict())
    d["slots"]["slow"]["w"][:] = np.nan
    target = Lookahead(optim.Adam(0.1, nonfinite="ignore"), sync_period=2)
    target.load_state_dict(d)
    assert np.isnan(target.slow()["w"]).all()


# ------------------------------------------------------------------ cross-loads
def _kinds():
    return {
        "adam": lambda: optim.Adam(0.1),
        "lookahead": lambda: Lookahead(optim.Adam(0.1)),
        "ema": lambda: EMA(optim.Adam(0.1)),
        "accumulate": lambda: Accumulate(optim.Adam(0.1)),
        "groups": lambda: Groups(optim.Adam(0.1), {"b": {"lr": 0.5}}),
    }


@pytest.mark.parametrize("writer", sorted(_kinds()))
@pytest.mark.parametrize("reader", sorted(_kinds()))
def test_a_cross_load_says_in_one_line_what_wrote_the_file(writer, reader, tmp_path):
    if writer == reader:
        return
    source, _ = trained(_kinds()[writer]())
    source.save(tmp_path / f"{writer}.npz")
    target = _kinds()[reader]()
    for load in (lambda: target.load_state_dict(source.state_dict()),
                 lambda: target.load(tmp_path / f"{writer}.npz")):
        with pytest.raises(InputError) as info:
            load()
        message = str(info.value)
        assert "\n" not in message
        assert f"the checkpoint is for optimizer {writer!r}, this is {reader!r}" in message
        assert "unexpected member" not in message and "no 'settings'" not in message
        saver = "a Groups" if writer == "groups" else (
            f"a {writer!r} {'optimizer' if writer == 'adam' else 'wrapper'}")
        assert message.endswith(f"(it was saved by {saver}; load it into one)")
    assert target.step == 0


# ------------------------------------------------------------------ classes for instances
@pytest.mark.parametrize("build", [
    lambda: Lookahead(optim.Adam),
    lambda: EMA(optim.SGD),
    lambda: Accumulate(optim.Momentum, 2),
    lambda: Groups(optim.Adam, {}),
    lambda: Groups(optim.Adam(), {"b": optim.SGD}),
    lambda: Lookahead(Lookahead),
])
def test_a_class_where_an_optimizer_object_belongs_is_refused(build):
    with pytest.raises(InputTypeError, match=r"not the class \w+: pass \w+\(\.\.\.\)"):
        build()


# ------------------------------------------------------------------ float16 state
def _trained_optimizer(name):
    opt = optim.create(name)
    p = {"w": np.linspace(0.5, 1.5, 6).reshape(2, 3)}
    for i in range(3):
        g = {"w": np.random.default_rng(i).standard_normal((2, 3))}
        if getattr(opt, "needs_closure", False):
            opt.update(p, closure=lambda: (float((p["w"] ** 2).sum()), {"w": 2 * p["w"]}))
        else:
            opt.update(p, g)
    return opt


@pytest.mark.parametrize("name", optim.available())
def test_float16_checkpoint_state_is_refused_for_every_optimizer(name, tmp_path):
    """float16 cannot hold what the rules keep (ε = 1e-8, small squared gradients): a
    checkpoint whose state or rule-wide arrays are float16 is refused, naming the entry."""
    opt = _trained_optimizer(name)
    d = opt.state_dict()
    halves = copy.deepcopy(d)
    changed = 0
    for slots in halves["state"].values():
        for s in slots:
            slots[s] = slots[s].astype(np.float16)
            changed += 1
    for k, v in halves["globals"].items():
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            halves["globals"][k] = v.astype(np.float16)
            changed += 1
    if not changed:  # no float state at all (plain SGD): a float16 slot is still refused
        assert not any(halves["state"].values())
        return
    target = _trained_optimizer(name)
    before = bits(target.state_dict())
    with pytest.raises(DescentlabError, match="float16"):
        target.load_state_dict(halves)
    assert bits(target.state_dict()) == before
    target.load_state_dict(d)  # the float32/float64 original loads


# ------------------------------------------------------------------ one file format
def _references(x):
    """The member names a ``meta`` JSON refers to (``{"__array__": name}``)."""
    if isinstance(x, dict):
        if set(x) == {"__array__"}:
            return {x["__array__"]}
        return set().union(*map(_references, x.values())) if x else set()
    if isinstance(x, list):
        return set().union(*map(_references, x)) if x else set()
    return set()


def test_every_kind_writes_one_format_and_the_earlier_optimizer_layout_still_loads(tmp_path):
    """Optimizers, groups and wrappers write the same layout (``meta`` JSON referring to its
    array members by name); a file of the earlier optimizer layout (members ``hyper/...``,
    ``global/...``, ``state/<path>/<slot>``, no references in ``meta``), written here by hand,
    loads and resumes as the optimizer it was saved from."""
    import json
    import zipfile

    for opt in (optim.Adam(0.1), Lookahead(optim.Adam(0.1)), Groups(optim.SGD(0.1), {})):
        trained(opt)
        opt.save(tmp_path / "new.npz")
        with zipfile.ZipFile(tmp_path / "new.npz") as z:
            meta = json.loads(str(np.load(z.open("meta.npy"))[()]))
            members = {n[:-4] for n in z.namelist()} - {"meta"}
        assert _references(meta) == members and meta["optimizer"] == opt.name
    reference, p = trained(optim.Nadam(0.1))
    sd = reference.state_dict()
    meta = {k: sd[k] for k in ("optimizer", "step", "skipped_steps", "options", "schedules",
                               "hyperparameters")}
    meta["shapes"] = {k: list(v) for k, v in sd["shapes"].items()}
    meta["globals"] = {k: v for k, v in sd["globals"].items()}
    arrays = {f"state/{path}/{slot}": a for path, slots in sd["state"].items()
              for slot, a in slots.items()}
    np.savez(tmp_path / "old.npz", meta=np.array(json.dumps(meta)), **arrays)
    resumed = optim.Nadam(0.1)
    resumed.load(tmp_path / "old.npz")
    assert bits(resumed.state_dict()) == bits(sd)
    q = {k: v.copy() for k, v in p.items()}
    reference.update(p, grads(9))
    resumed.update(q, grads(9))
    assert bits(p) == bits(q)
