"""Strict checkpoints (issue 9): a bad state dict or a damaged file is one clear error naming
the culprit, and a failed load changes nothing."""

from __future__ import annotations

import copy
import json
import os
import stat
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from descentlab import optim, schedules
from descentlab.errors import DescentlabError, FileFormatError, InputError


def trained(name="nadam", **kwargs):
    opt = optim.create(name, **kwargs)
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}
    for _ in range(3):
        opt.update(params, {k: rng.standard_normal(v.shape) for k, v in params.items()})
    return opt, params


def snapshot(opt):
    return copy.deepcopy({k: v for k, v in vars(opt).items()})


def assert_unchanged(opt, before):
    after = snapshot(opt)
    assert after.keys() == before.keys()
    for k in before:
        assert repr(after[k]) == repr(before[k]), k


# Each damage: (edit of a state dict, a fragment the message must contain).
def _set(*keys_value):
    *keys, value = keys_value

    def edit(d):  # True if applied (an earlier damage may have removed the way there)
        target = d
        try:
            for k in keys[:-1]:
                target = target[k]
            target[keys[-1]] = value
        except (KeyError, TypeError):
            return False
        return True
    return edit


def _drop(*keys):
    def edit(d):
        target = d
        try:
            for k in keys[:-1]:
                target = target[k]
            del target[keys[-1]]
        except (KeyError, TypeError):
            return False
        return True
    return edit


DAMAGES = [
    *[(_set("state", "w", "m", np.zeros((2, 3), dtype)), f"'m' for parameter 'w' must be a "
       f"floating-point array, not {np.dtype(dtype)}")
      for dtype in (np.int64, np.complex128, np.bool_, "U3", "datetime64[s]", object)],
    (_set("state", "w", "m", [[0.0] * 3] * 2), "'m' for parameter 'w' must be a floating"),
    (_set("state", "w", "v", np.zeros(6)), "'v' for parameter 'w' has shape (6,)"),
    (_set("state", "b", "m", np.zeros((3, 1))), "'m' for parameter 'b' has shape (3, 1)"),
    (_set("state", "b", "x", np.zeros(3)), "unknown entry 'x'"),
    (_drop("state", "b", "v"), "state for parameter 'b' has no 'v'"),
    (_set("state", "b", [1.0, 2.0]), "state for parameter 'b' is a list"),
    (_set("state", [1]), "state is a list"),
    (_set("shapes", "b", (-3,)), "shape for parameter 'b' is (-3,)"),
    (_set("shapes", "b", "3"), "shape for parameter 'b' is '3'"),
    *[(_set(key, bad), key) for key in ("step", "skipped_steps")
      for bad in (-1, 1.5, "3", None, True, np.float64(2.0), [3])],
    (_drop("globals", "mu_product"), "globals have no 'mu_product'"),
    (_set("globals", "nu", 1.0), "globals have an unknown entry 'nu'"),
    (_set("globals", "mu_product", float("nan")), "global 'mu_product' is not finite"),
    (_set("globals", "mu_product", np.array([np.inf])), "global 'mu_product' is not finite"),
    (_set("globals", "mu_product", "0.5"), "global 'mu_product' must be a floating"),
    (_set("globals", []), "globals is a list"),
    (_drop("options", "maximize"), "no value for option 'maximize'"),
    (_set("options", "maximize", "no"), "maximize must be True or False, not 'no'"),
    (_set("options", "maximize", 1), "maximize must be True or False, not 1"),
    (_set("options", "nonfinite", "skip"), "written with nonfinite='skip'"),
    (_set("options", "colour", "red"), "unknown option 'colour'"),
    (_set("hyperparameters", "lr", np.ones((4, 1))), "lr has shape (4, 1), which does not "
                                                     "broadcast"),
    (_set("hyperparameters", "lr", None), "lr must be a number or an array, not None"),
    (_set("hyperparameters", "lr", 10**400), "lr must be finite"),
    (_set("hyperparameters", "eps", -1.0), "eps must be > 0, got -1.0 (in the checkpoint)"),
    (_set("hyperparameters", "gamma", 1.0), "unknown hyperparameter 'gamma'"),
    (_drop("hyperparameters", "beta2"), "no value for hyperparameter 'beta2'"),
    (_set("optimizer", "adam"), "checkpoint is for optimizer 'adam'"),
    (_set("extra", 1), "unknown entry 'extra'"),
    (_drop("step"), "no 'step' entry"),
    (_set("schedules", "lr", {"type": "StepDecay"}), "schedule state for 'lr'"),
]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(range(len(DAMAGES))), min_size=1, max_size=3, unique=True),
       st.booleans())
def test_a_damaged_state_dict_names_the_culprit_and_changes_nothing(which, fresh):
    """One to three damages at once: the error names one of them; nothing changes."""
    source, _ = trained()
    opt = optim.Nadam() if fresh else trained()[0]
    if not fresh:
        opt.lr = 0.5  # so that a half-applied load would show
    before = snapshot(opt)
    d = copy.deepcopy(source.state_dict())
    applied = [i for i in which if DAMAGES[i][0](d)]
    with pytest.raises(DescentlabError) as info:
        opt.load_state_dict(d)
    assert any(DAMAGES[i][1] in str(info.value) for i in applied), str(info.value)
    assert_unchanged(opt, before)


def test_every_damage_alone_is_refused():
    source, _ = trained()
    for edit, fragment in DAMAGES:
        d = copy.deepcopy(source.state_dict())
        edit(d)
        opt = trained()[0]
        before = snapshot(opt)
        with pytest.raises(DescentlabError) as info:
            opt.load_state_dict(d)
        assert fragment in str(info.value), (fragment, str(info.value))
        assert_unchanged(opt, before)


def test_schedule_state_out_of_range_is_refused_before_anything_changes():
    sched = schedules.ReduceOnPlateau(0.1)
    opt = optim.SGD(lr=sched)
    opt.update({"x": 1.0}, {"x": 1.0})
    d = opt.state_dict()
    d["schedules"]["lr"]["num_bad"] = -2
    d["step"] = 7
    before = snapshot(opt)
    with pytest.raises(InputError, match="schedule state for lr"):
        opt.load_state_dict(d)
    assert_unchanged(opt, before)
    assert opt.step == 1


def test_a_good_checkpoint_still_round_trips(tmp_path):
    opt, params = trained()
    opt.save(tmp_path / "c.npz")
    fresh = optim.Nadam()
    fresh.load(tmp_path / "c.npz")
    assert fresh.step == opt.step and fresh.globals == opt.globals
    for p in opt.state:
        for s in opt.state[p]:
            np.testing.assert_array_equal(fresh.state[p][s], opt.state[p][s])


# ------------------------------------------------------------------ damaged files
def _good_file(tmp_path):
    opt, _ = trained()
    path = tmp_path / "good.npz"
    opt.save(path)
    return path


def _damage(kind, good, path):
    data = good.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "random":
        path.write_bytes(np.random.default_rng(1).bytes(2000))
    elif kind == "npy":
        np.save(path.with_suffix(".npy"), np.ones(3))
        os.replace(path.with_suffix(".npy"), path)
    elif kind == "json":
        path.write_text(json.dumps({"optimizer": "nadam"}))
    elif kind == "no meta":
        np.savez(path, x=np.ones(2))
    elif kind == "meta not json":
        np.savez(path, meta=np.array("{not json"))
    elif kind == "pickle":
        np.savez(path, meta=np.array([{"a": 1}], dtype=object))
    elif kind == "compressed":
        with zipfile.ZipFile(good) as z, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
            for name in z.namelist():
                out.writestr(name, z.read(name))
    elif kind == "absurd shape":
        header = {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
        body = b"\x93NUMPY\x01\x00"
        text = repr(header).encode()
        text += b" " * (118 - len(text)) + b"\n"
        body += len(text).to_bytes(2, "little") + text + b"\0" * 64
        with zipfile.ZipFile(good) as z, zipfile.ZipFile(path, "w") as out:
            for name in z.namelist():
                out.writestr(name, z.read(name))
            out.writestr("state/b/huge.npy", body)
    return path


KINDS = ["empty", "truncated", "random", "npy", "json", "no meta", "meta not json", "pickle",
         "compressed", "absurd shape"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_file_is_one_error_naming_the_file(kind, tmp_path):
    path = _damage(kind, _good_file(tmp_path), tmp_path / "bad.npz")
    opt, _ = trained()
    before = snapshot(opt)
    with pytest.raises(FileFormatError) as info:
        opt.load(path)
    assert str(path) in str(info.value)
    assert_unchanged(opt, before)


def test_every_flipped_byte_is_refused_or_harmless(tmp_path):
    """Flip each byte of a small checkpoint in turn (a stride through the file): the load is
    either a FileFormatError (or another library error) naming the file, or it succeeds;
    never another exception, and a failed load changes nothing."""
    good = _good_file(tmp_path)
    reference = optim.Nadam()
    reference.load(good)
    data = bytearray(good.read_bytes())
    path = tmp_path / "flipped.npz"
    refused = 0
    for i in range(0, len(data), 7):
        flipped = bytearray(data)
        flipped[i] ^= 0xFF
        path.write_bytes(flipped)
        opt = optim.Nadam()
        before = snapshot(opt)
        try:
            opt.load(path)
        except DescentlabError as e:
            refused += 1
            assert str(path) in str(e)
            assert_unchanged(opt, before)
        else:  # a byte nobody reads (a zip timestamp, header padding): the same checkpoint
            assert repr(opt.state_dict()) == repr(reference.state_dict()), i
    assert refused > 0.5 * len(range(0, len(data), 7))


# ------------------------------------------------------------------ saving
@pytest.mark.parametrize("key", ["a\0b", "\ud800"])
def test_keys_that_cannot_round_trip_are_refused_at_save(key, tmp_path):
    opt = optim.SGD()
    opt.update({key: np.ones(2)}, {key: np.ones(2)})
    with pytest.raises(InputError, match="rename the key"):
        opt.save(tmp_path / "c.npz")
    assert list(tmp_path.iterdir()) == []


def test_unusual_keys_round_trip(tmp_path):
    params = {"a/b": {"c.npy": np.ones(2)}, "": np.ones(1), "é ü": np.ones(3)}
    grads = copy.deepcopy(params)
    opt = optim.Adam()
    opt.update(params, grads)
    opt.save(tmp_path / "c.npz")
    fresh = optim.Adam()
    fresh.load(tmp_path / "c.npz")
    assert set(fresh.state) == set(opt.state)


def test_re_saving_keeps_the_mode_and_a_symlink_writes_its_target(tmp_path):
    opt, _ = trained()
    path = tmp_path / "c.npz"
    opt.save(path)
    os.chmod(path, 0o640)
    opt.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    link = tmp_path / "link.npz"
    link.symlink_to(path)
    opt.update({"w": np.zeros((2, 3)), "b": np.zeros(3)},
               {"w": np.ones((2, 3)), "b": np.ones(3)})
    opt.save(link)
    assert link.is_symlink() and os.readlink(link) == str(path)
    fresh = optim.Nadam()
    fresh.load(path)
    assert fresh.step == opt.step == 4
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
