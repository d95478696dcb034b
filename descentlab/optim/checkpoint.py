"""Checkpoints, written once: the state dict of an optimizer checked before anything changes
(:func:`checked`), and one ``.npz`` format for optimizers, groups and wrappers
(:func:`write`, :func:`read`).

The file: a ``meta`` member holding the state dict as JSON, in which every array is
``{"__array__": name}``, and one stored (uncompressed) ``.npy`` member per array, named by
where it sits (``state/w/m``, ``inner/state/w/m``, ``groups/0/hyperparameters/lr``). Reading
never unpickles, is bounded by the file's size, and turns every damage into one
:class:`~descentlab.errors.FileFormatError` naming the file; files written by the earlier
optimizer layout (members ``hyper/…``, ``global/…``, ``state/<path>/<slot>``, no references
in ``meta``) still load.

>>> import os, tempfile
>>> import numpy as np
>>> from descentlab import optim
>>> opt = optim.Adam(0.1)
>>> opt.update({"w": np.ones(2)}, {"w": np.ones(2)})
>>> path = os.path.join(tempfile.mkdtemp(), "adam.npz")
>>> opt.save(path)
>>> sorted(read_arrays(path))
['meta', 'state/w/m', 'state/w/v']
>>> fresh = optim.Adam(0.1); fresh.load(path); fresh.step
1
"""

from __future__ import annotations

import copy
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import DescentlabError, FileFormatError, InputError, InputTypeError, MissingKeyError
from ..files import atomic_path
from .hyperparams import check_value, is_schedule
from .tree import show

#: The entries of an optimizer's state dict.
KEYS = ("optimizer", "step", "skipped_steps", "options", "hyperparameters", "schedules",
        "globals", "shapes", "state")
_ARRAY = "__array__"


class Checkpointed:
    """``save(path)`` / ``load(path)`` on top of ``state_dict()`` / ``load_state_dict()``:
    the optimizers, groups and wrappers share this one file format."""

    def state_dict(self) -> dict[str, Any]:  # pragma: no cover - every subclass has one
        raise NotImplementedError

    def load_state_dict(self, d: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def save(self, path: str | os.PathLike) -> None:
        """Write the state to an ``.npz`` file atomically (a temp file, then a rename).

        An existing file keeps its permission bits. Saving through a symbolic link writes
        the file the link points to (the link stays a link). Parameter paths that a zip
        member name cannot hold (a NUL character, text that is not valid Unicode) are
        refused here, before anything is written, rather than at load.
        """
        write(path, self.state_dict())

    def load(self, path: str | os.PathLike) -> None:
        """Restore from a file written by :meth:`save` (strict, like ``load_state_dict``).

        A damaged file (truncated, empty, not a zip, a ``.npy`` or JSON file, a changed byte,
        a member declaring more data than the file holds) is one ``FileFormatError`` naming
        the file and what is wrong; nothing is read beyond what the file holds; a refused
        content is an error naming the file and the entry, and changes nothing.
        """
        name = os.fspath(path)
        d = read(name)
        try:
            self.load_state_dict(d)
        except DescentlabError as e:
            raise type(e)(f"{name}: {e}") from None


# ---------------------------------------------------------------- the kind of checkpoint
def _saver(d: Mapping[str, Any]) -> str:
    """What saved a state dict: a Groups, a wrapper or an optimizer (its name)."""
    if "groups" in d:
        return "a Groups"
    return f"a {d['optimizer']!r} {'wrapper' if 'inner' in d else 'optimizer'}"


def check_kind(d: Any, name: str, kind: str = "an optimizer") -> None:
    """Refuse a state dict that is not a dict, or that another kind of object saved — in one
    line saying what saved it (``kind``: what the loading object is: "an optimizer",
    "a wrapper", "a Groups")."""
    if not isinstance(d, Mapping):
        raise InputTypeError(f"a state dict is a dict, not a {type(d).__name__}")
    if "optimizer" not in d:
        raise MissingKeyError("state dict has no 'optimizer' entry")
    if d["optimizer"] != name:
        saver = _saver(d)
        why = "" if saver.endswith("optimizer") and kind == "an optimizer" else (
            f" (it was saved by {saver}; load it into one)")
        raise InputError(f"the checkpoint is for optimizer {d['optimizer']!r}, this is "
                         f"{name!r}{why}")


def require(d: Any, keys: tuple[str, ...], what: str = "state dict") -> None:
    """Strict loading: ``d`` is a dict with exactly these keys."""
    if not isinstance(d, Mapping):
        raise InputTypeError(f"the {what} must be a dict, not {type(d).__name__}")
    for k in keys:
        if k not in d:
            raise MissingKeyError(f"the {what} has no {k!r} entry")
    for k in d:
        if k not in keys:
            raise MissingKeyError(f"the {what} has an unknown entry {k!r}")


# ---------------------------------------------------------------- values
def mapping(what: str, value: Any) -> Mapping[str, Any]:
    """A checkpoint's entry that must be a dict."""
    if not isinstance(value, Mapping):
        raise InputTypeError(f"the checkpoint's {what} is a {type(value).__name__}, not a dict")
    return value


def same_names(what: str, names: set[Any], expected: set[Any]) -> None:
    """Refuse a set of names other than ``expected``, naming one that differs."""
    if names != expected:
        missing = sorted(expected - names, key=str)
        which = f"no {missing[0]!r}" if missing else \
            f"an unknown entry {sorted(names - expected, key=str)[0]!r}"
        raise MissingKeyError(f"{what} {which}")


def is_count(n: Any) -> bool:
    """Whether ``n`` is a non-negative integer (never a bool)."""
    return isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) and n >= 0


def counter(name: str, value: Any) -> int:
    """A checkpoint's counter: a non-negative integer (or a 0-d integer array)."""
    if not is_count(value) and not (isinstance(value, np.ndarray) and value.shape == ()
                                    and is_count(value[()])):
        raise InputError(f"the checkpoint's {name} must be a non-negative integer, "
                         f"got {value!r}")
    return int(value)


def broadcasts(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(shape, to) == to
    except ValueError:
        return False


def float_array(where: str, value: Any, *, finite: bool = False) -> np.ndarray:
    """A copy of a checkpoint's number or array, refusing anything but real floats of at
    least single precision (float16 state would round what the rule keeps in float32) and,
    with ``finite=True``, inf and nan."""
    if isinstance(value, (float, np.floating)) and not isinstance(value, np.ndarray):
        value = np.array(value, dtype=np.float64 if isinstance(value, float) else value.dtype)
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        kind = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
        raise InputTypeError(f"{where} must be a floating-point array, not {kind}")
    if value.dtype.itemsize < 4:
        raise InputTypeError(f"{where} is {value.dtype}: optimizer state is float32 or "
                             "float64 (float16 state would have lost what the rule keeps)")
    if finite and not np.isfinite(value).all():
        raise InputError(f"{where} is not finite (a run that diverged?)")
    return np.array(value, copy=True)


def slot_arrays(d: Any, shapes: dict[str, tuple[int, ...]], slot: str, *,
                finite: bool = True) -> dict[str, np.ndarray]:
    """A wrapper's ``{path: array}`` for one slot, checked against the inner optimizer's
    shapes: float32/float64 arrays, finite unless ``finite=False`` (the parameters would
    turn to nan at the next synchronisation)."""
    if not isinstance(d, Mapping):
        raise InputError(f"the state dict's {slot!r} must be a dict of arrays by path")
    if shapes and set(d) != set(shapes):
        odd = sorted(set(d) ^ set(shapes))[0]
        raise MissingKeyError(f"the state dict's {slot!r} and the inner optimizer's state "
                              f"disagree about {show(odd)}")
    out = {}
    for path, a in d.items():
        a = float_array(f"the state dict's {slot!r} for {show(path)}", a, finite=finite)
        if shapes and a.shape != tuple(shapes[path]):
            raise InputError(f"the state dict's {slot!r} for {show(path)} has shape {a.shape}, "
                             f"the parameter has shape {tuple(shapes[path])}")
        out[path] = a
    return out


# ---------------------------------------------------------------- an optimizer's state dict
def state_dict(opt: Any) -> dict[str, Any]:
    """A plain dict of NumPy arrays and numbers: everything needed to resume exactly."""
    hyper, schedules = {}, {}
    for name, value in opt.hyperparameters().items():
        if is_schedule(value):
            if hasattr(value, "state_dict"):
                schedules[name] = value.state_dict()
        else:
            hyper[name] = value.copy() if isinstance(value, np.ndarray) else value
    return {
        "optimizer": opt.name,
        "step": opt.step,
        "skipped_steps": opt.skipped_steps,
        "options": opt.options(),
        "hyperparameters": hyper,
        "schedules": schedules,
        "globals": {k: np.copy(v) if isinstance(v, np.ndarray) else v
                    for k, v in opt.globals.items()},
        "shapes": {path: shape for path, (shape, _) in (opt._shapes or {}).items()},
        "state": {path: {s: a.copy() for s, a in slots.items()}
                  for path, slots in opt.state.items()},
    }


def checked(opt: Any, d: Any) -> Callable[[], None]:
    """Check an optimizer's state dict; return the function that applies it (which cannot
    fail)."""
    check_kind(d, opt.name)
    for key in ("step", "options", "hyperparameters", "state"):
        if key not in d:
            raise MissingKeyError(f"state dict has no {key!r} entry")
    extra = sorted(set(d) - set(KEYS), key=str)
    if extra:
        raise MissingKeyError(f"state dict has an unknown entry {extra[0]!r}")
    mapping("state", d["state"])
    step = counter("step", d["step"])
    skipped = counter("skipped_steps", d.get("skipped_steps", 0))
    check_options(opt, mapping("options", d["options"]))
    hyper, schedules = checked_hyper(opt, d)
    shapes = checked_shapes(opt, d)
    for k, v in hyper.items():
        for path, shape in shapes.items():
            if isinstance(v, np.ndarray) and not broadcasts(v.shape, shape):
                raise InputError(f"the checkpoint's {k} has shape {v.shape}, which does not "
                                 f"broadcast to {show(path)} of shape {shape}")
    probe = copy.copy(opt)  # this optimizer with the checkpoint's hyperparameters
    object.__setattr__(probe, "_hyper", {**opt._hyper, **hyper})
    opt.check_settings(probe.settings())
    state = checked_state(opt, mapping("state", d["state"]), shapes, probe)
    globals_ = opt.checked_globals(d.get("globals", {}), step)

    def apply() -> None:
        opt._hyper.update(hyper)
        for k, sd in schedules.items():
            opt._hyper[k].load_state_dict(sd)
        opt.step = step
        opt.skipped_steps = skipped
        opt.globals = globals_
        opt.state = state
        opt._shapes = {p: (shape, None) for p, shape in shapes.items()} if shapes else None
        opt.settings_changed("state")
    return apply


def check_options(opt: Any, options: Mapping[str, Any]) -> None:
    """The checkpoint's options are this optimizer's, valued alike."""
    mine = opt.options()
    described = opt.option_descriptors()
    for k, v in options.items():
        if k not in mine:
            raise MissingKeyError(f"the checkpoint has an unknown option {k!r}")
        if k in described:
            try:
                v = described[k].validate(v)
            except DescentlabError as e:
                raise type(e)(f"the checkpoint's option: {e}") from None
        elif isinstance(v, np.ndarray):
            raise InputTypeError(f"the checkpoint's option {k} is an array")
        if mine[k] != v:
            raise InputError(
                f"the checkpoint was written with {k}={v!r}, this optimizer has "
                f"{k}={mine[k]!r}")
    for k in mine:
        if k not in options:
            raise MissingKeyError(f"the checkpoint has no value for option {k!r}")


def checked_hyper(opt: Any, d: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The checkpoint's hyperparameters (validated) and schedule states (tried on copies)."""
    cls, mine = type(opt), opt._hyper
    hyper: dict[str, Any] = {}
    for k, v in mapping("hyperparameters", d["hyperparameters"]).items():
        if k not in mine:
            raise MissingKeyError(f"the checkpoint has an unknown hyperparameter {k!r}")
        hyper[k] = check_value(k, v, getattr(cls, k).check, " (in the checkpoint)")
    schedules = dict(mapping("schedules", d.get("schedules", {})))
    for k in opt.hyperparameter_names():
        if k not in hyper and not is_schedule(mine[k]):
            raise MissingKeyError(f"the checkpoint has no value for hyperparameter {k!r}")
    for k, sd in schedules.items():
        if k not in mine:
            raise MissingKeyError(f"the checkpoint has schedule state for {k!r}, which is "
                                  "not a hyperparameter")
        if k in hyper or not hasattr(mine[k], "load_state_dict"):
            raise InputError(f"the checkpoint holds schedule state for {k!r}, but {k} is "
                             "not a schedule with load_state_dict here")
        try:  # on a copy: a schedule that refuses half-way must not change the real one
            copy.deepcopy(mine[k]).load_state_dict(sd)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
            raise InputError(f"the checkpoint's schedule state for {k} is not valid: "
                             f"{e}") from None
    return hyper, schedules


def checked_shapes(opt: Any, d: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """The checkpoint's parameter shapes: lists of counts, for the state's paths, and for
    this optimizer's parameters if it has seen some."""
    shapes: dict[str, tuple[int, ...]] = {}
    for p, shape in mapping("shapes", d.get("shapes", {})).items():
        if not isinstance(p, str):
            raise InputTypeError(f"the checkpoint's shapes have a key {p!r} that is not a "
                                 "path (a string)")
        if not isinstance(shape, (list, tuple)) or not all(is_count(n) for n in shape):
            raise InputError(f"the checkpoint's shape for {show(p)} is {shape!r}, not a "
                             "list of non-negative integers")
        shapes[p] = tuple(int(n) for n in shape)
    state = d["state"]
    if set(shapes) != set(state):
        extra = sorted(set(state) ^ set(shapes), key=str)[0]
        raise MissingKeyError(f"the checkpoint's shapes and state disagree about "
                              f"{show(extra)}")
    seen = opt._shapes
    if seen is not None:
        for path in seen:
            if path not in shapes:
                raise MissingKeyError(f"the checkpoint has no state for {show(path)}")
        for path, shape in shapes.items():
            if path not in seen:
                raise MissingKeyError(f"the checkpoint has state for {show(path)}, which "
                                      "this optimizer's parameters do not have")
            if seen[path][0] != shape:
                raise InputError(f"the checkpoint's state for {show(path)} has shape {shape}, "
                                 f"the parameter has shape {seen[path][0]}")
    return shapes


def checked_state(opt: Any, state: Mapping[str, Any], shapes: dict[str, tuple[int, ...]],
                  probe: Any) -> dict[str, dict[str, np.ndarray]]:
    """The checkpoint's per-parameter state: the slots the rule has, float arrays of their
    shapes, finite (unless ``nonfinite='ignore'``), non-negative where they must be."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for path, entry in state.items():
        expected = probe.slot_shapes_at(path, shapes[path])
        same_names(f"the checkpoint's state for {show(path)} has",
                   set(mapping(f"state for {show(path)}", entry)), set(expected))
        arrays = {}
        for s, a in entry.items():
            where = f"the checkpoint's {s!r} for {show(path)}"
            arrays[s] = float_array(where, a)
            if arrays[s].shape != expected[s]:
                raise InputError(f"{where} has shape {arrays[s].shape}, expected "
                                 f"{expected[s]} for the parameter of shape {shapes[path]}")
            if opt.nonfinite != "ignore" and not np.isfinite(arrays[s]).all():
                raise InputError(f"{where} is not finite (a run that diverged; an "
                                 "optimizer with nonfinite='ignore' may load it)")
            if s in opt.nonnegative_slots and np.any(arrays[s] < 0):
                raise InputError(f"{where} has negative entries, which it cannot hold "
                                 "(a sum or average of squares)")
        out[path] = arrays
    return out


def checked_globals(opt: Any, globals_: Any, step: int) -> dict[str, float | np.ndarray]:
    """The checkpoint's rule-wide state: the names the rule has, counters or floats — finite,
    but for the globals the class declares may not be (``nonfinite_globals``:
    sgd_backtracking's ``decrease_error`` is ∞ after a search none of whose trials passed),
    or any with ``nonfinite='ignore'`` (as for the state)."""
    globals_ = mapping("globals", globals_)
    free = getattr(opt, "nonfinite", "raise") == "ignore"
    may = tuple(getattr(opt, "nonfinite_globals", ()))
    forms = opt.global_name_sets()
    names = set(globals_)
    if (globals_ or step > 0) and names not in forms:  # a fresh optimizer's are made later
        same_names("the checkpoint's globals have", names, forms[-1])
    out: dict[str, float | np.ndarray] = {}
    for k, v in globals_.items():
        if np.ndim(v) == 0 and np.asarray(v).dtype.kind in "iu" and int(v) >= 0:
            out[k] = int(v)  # a counter (L-BFGS's n_iter, func_evals)
            continue
        a = float_array(f"the checkpoint's global {k!r}", v)
        if not (free or k in may or np.all(np.isfinite(a))):
            raise InputError(f"the checkpoint's global {k!r} is not finite (a run that "
                             f"diverged; {type(opt).__name__}'s globals that may be: "
                             f"{list(may)}; an optimizer with nonfinite='ignore' may load it)")
        out[k] = a if a.ndim else float(a)
    return out


# ---------------------------------------------------------------- the .npz file
def _check_storable(key: str) -> None:
    if "\0" in key:
        raise InputError(f"{show(key)} contains a NUL character, which a checkpoint member "
                         "name cannot hold; rename the key")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{show(key)} is not valid Unicode text (a lone surrogate?); a "
                         "checkpoint cannot store it; rename the key") from None


def _encode(obj: Any, where: tuple[str, ...], arrays: dict[str, np.ndarray]) -> Any:
    """The JSON-able form of a state dict; arrays go to ``arrays`` under their place."""
    if isinstance(obj, np.ndarray):
        name = "/".join(where)
        if name in arrays or name == "meta":
            name = f"{name}#{len(arrays)}"
        arrays[name] = obj
        return {_ARRAY: name}
    if isinstance(obj, Mapping):
        for k in obj:
            _check_storable(str(k))
        return {str(k): _encode(v, (*where, str(k)), arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encode(v, (*where, str(i)), arrays) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def write(path: str | os.PathLike, d: Mapping[str, Any]) -> None:
    """Write a (nested) state dict to ``.npz`` atomically: arrays as members, the rest as
    JSON in ``meta``."""
    arrays: dict[str, np.ndarray] = {}
    meta = json.dumps(_encode(d, (), arrays), allow_nan=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, meta=np.array(meta), **arrays)
        f.flush()
        os.fsync(f.fileno())


def _damaged(name: str) -> Callable[[str], FileFormatError]:
    def damaged(why: str) -> FileFormatError:
        return FileFormatError(f"{name} is not a readable descentlab optimizer checkpoint: "
                               f"{why}")
    return damaged


def read(name: str) -> dict[str, Any]:
    """The state dict stored in a checkpoint file, checked as a file: every damage is one
    :class:`FileFormatError` naming the file (the content is checked by what loads it)."""
    damaged = _damaged(name)
    arrays = read_arrays(name)
    if "meta" not in arrays:
        raise damaged("it has no 'meta' member")
    try:
        meta = arrays.pop("meta")
        d = json.loads(str(meta[()] if meta.shape == () else meta))
    except (ValueError, TypeError, RecursionError) as e:
        raise damaged(f"its 'meta' member is not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise damaged("its 'meta' member is not a JSON object")
    used: set[str] = set()
    try:
        d = _decode(d, arrays, used, damaged)
    except RecursionError:
        raise damaged("its 'meta' member nests too deeply") from None
    left = [key for key in arrays if key not in used]
    if not used and not {"state", "inner", "groups"} & set(d):
        return _legacy(d, arrays, damaged)
    if left:
        raise damaged(f"it has an unexpected member {left[0]!r}")
    return d


def _decode(obj: Any, arrays: dict[str, np.ndarray], used: set[str],
            damaged: Callable[[str], FileFormatError]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_ARRAY}:
            name = obj[_ARRAY]
            if not isinstance(name, str) or name not in arrays or name in used:
                raise damaged(f"its 'meta' refers to a member {name!r} it does not hold")
            used.add(name)
            return arrays[name]
        return {k: _decode(v, arrays, used, damaged) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays, used, damaged) for v in obj]
    return obj


def _legacy(d: dict[str, Any], arrays: dict[str, np.ndarray],
            damaged: Callable[[str], FileFormatError]) -> dict[str, Any]:
    """A file of the earlier optimizer layout: arrays placed by their member names."""
    for key in ("shapes", "hyperparameters", "globals"):
        if not isinstance(d.setdefault(key, {}), dict):
            raise damaged(f"its meta {key!r} is not a JSON object")
    state: dict[str, dict[str, np.ndarray]] = {p: {} for p in d["shapes"]}
    for key, a in arrays.items():
        section, _, rest = key.partition("/")
        if section == "hyper":
            d["hyperparameters"][rest] = a
        elif section == "global":
            d["globals"][rest] = a
        elif section == "state" and "/" in rest:
            p, s = rest.rsplit("/", 1)
            state.setdefault(p, {})[s] = a
        else:
            raise damaged(f"it has an unexpected member {key!r}")
    d["state"] = state
    return d


#: What zipfile and numpy raise on damaged bytes (a flipped bit can reach any of them).
_ZIP_DAMAGE = (zipfile.BadZipFile, EOFError, ValueError, OSError, zlib.error, struct.error,
               NotImplementedError, KeyError, OverflowError)


def read_arrays(name: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` checkpoint, read within what the file holds — a member
    declaring more data than the file is refused before anything is allocated; every damage
    is one :class:`FileFormatError` naming the file."""
    name = os.fspath(name)
    damaged = _damaged(name)
    size = os.path.getsize(name)
    if size == 0:
        raise damaged("the file is empty")
    try:
        archive = zipfile.ZipFile(name)
    except _ZIP_DAMAGE:
        with open(name, "rb") as f:
            head = f.read(8)
        if head.startswith(b"\x93NUMPY"):
            raise damaged("it is a single .npy array, not an .npz checkpoint") from None
        if head.lstrip()[:1] in (b"{", b"["):
            raise damaged("it is JSON text, not an .npz checkpoint") from None
        raise damaged("not a zip archive (truncated or not an .npz file)") from None
    arrays: dict[str, np.ndarray] = {}
    with archive:
        try:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    raise damaged(f"member {info.filename!r} is not an array (.npy)")
                arrays[info.filename[:-4]] = _read_member(archive, info, size, damaged)
        except _ZIP_DAMAGE as e:
            raise damaged(f"{e}") from None
    return arrays


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, size: int,
                 damaged: Callable[[str], FileFormatError]) -> np.ndarray:
    """One member, after checking that its header declares no more data than it holds."""
    if info.compress_type != zipfile.ZIP_STORED:
        raise damaged(f"member {info.filename!r} is compressed (checkpoints are stored)")
    if info.file_size > size:
        raise damaged(f"member {info.filename!r} declares {info.file_size} bytes, more than "
                      f"the file's {size}")
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise damaged(f"member {info.filename!r} is a .npy of version {version}")
        if dtype.hasobject:
            raise damaged(f"member {info.filename!r} holds Python objects")
        need = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if need > info.file_size - f.tell():
            raise damaged(f"member {info.filename!r} declares shape {shape} of {dtype} "
                          f"({need} bytes), more than its {info.file_size} bytes hold")
        data = f.read(need)
        if len(data) != need:
            raise damaged(f"member {info.filename!r} is truncated")
        if f.read(1):  # (reading to the end also makes zipfile check the CRC)
            raise damaged(f"member {info.filename!r} has bytes after its array")
    order = "F" if fortran else "C"
    return np.frombuffer(data, dtype=dtype).reshape(shape, order=order).copy(order="K")


__all__ = ["Checkpointed", "KEYS", "check_kind", "require", "mapping", "same_names",
           "is_count", "counter", "broadcasts", "float_array", "slot_arrays", "state_dict",
           "checked", "check_options", "checked_hyper", "checked_shapes", "checked_state",
           "checked_globals", "write", "read", "read_arrays"]
