"""The checks every update shares, written once: the plain optimizers' pipeline
(:mod:`.pipeline`), groups, wrappers, L-BFGS and AdaGradFull all call these.

* :func:`check_structure` — the parameters are those the state was made for (paths, shapes,
  dtypes);
* :func:`check_no_overlap` — no two parameters share memory;
* :func:`work_dtype` — float16 parameters work (and keep state) in float32;
* :func:`first_nonfinite` and :func:`nonfinite_policy` — a gradient holding inf or nan raises,
  skips the update with a warning, or is ignored (the ``nonfinite`` option).

>>> import numpy as np
>>> work_dtype(np.dtype(np.float16)), work_dtype(np.dtype(np.float64))
(dtype('float32'), dtype('float64'))
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import InputError, InputTypeError, MissingKeyError, NonFiniteError
from . import fused as fused_path
from .tree import Leaf, show

#: The shapes and dtypes of the parameters an optimizer has state for, by path (a dtype of
#: ``None``: not known, after a load).
Seen = dict[str, tuple[tuple[int, ...], Any]]


_FLOAT16, _FLOAT32 = np.dtype(np.float16), np.dtype(np.float32)


def work_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype a rule works and keeps its state in: the parameter's, but float32 for
    float16 (which cannot hold ε = 1e-8 or small squared gradients)."""
    return _FLOAT32 if dtype == _FLOAT16 else dtype


def check_structure(seen: Seen | None, leaves: list[Leaf]) -> None:
    """Refuse parameters other than those the state is for: a new or missing path, another
    shape, another dtype (``seen``: what was first seen or loaded; ``None``: anything goes)."""
    if seen is None:
        return
    paths = [leaf.path for leaf in leaves]
    for path in paths:
        if path not in seen:
            raise MissingKeyError(
                f"{show(path)} was not among the parameters this optimizer was first used "
                "with (its state is keyed by path); use a new optimizer for new parameters")
    if len(seen) != len(paths):
        present = set(paths)
        for path in seen:
            if path not in present:
                raise MissingKeyError(f"{show(path)} is missing: the optimizer has state for it")
    for leaf in leaves:
        shape, dtype = seen[leaf.path]
        if leaf.array.shape != shape:
            raise InputError(f"{show(leaf.path)} has shape {leaf.array.shape}, but the "
                             f"optimizer's state for it has shape {shape}")
        if dtype is not None and leaf.array.dtype != dtype:
            raise InputTypeError(f"{show(leaf.path)} has dtype {leaf.array.dtype}, but it was "
                                 f"{dtype} when the optimizer first saw it")


def seen_of(leaves: list[Leaf]) -> Seen:
    """What :func:`check_structure` checks later calls against."""
    return {leaf.path: (leaf.array.shape, leaf.array.dtype) for leaf in leaves}


def root(a: np.ndarray) -> Any:
    """The object that owns an array's memory (the end of its ``.base`` chain)."""
    while a.base is not None:
        a = a.base
        if not isinstance(a, np.ndarray):
            break
    return a


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    try:
        return bool(np.shares_memory(a, b, max_work=10**6))
    except np.exceptions.TooHardError:  # too costly to be sure: assume they do
        return True


def check_no_overlap(leaves: list[Leaf]) -> None:
    """Two parameters that share memory are refused: both updates would land on the same
    numbers."""
    by_owner: dict[int, list[Leaf]] = {}
    for leaf in leaves:
        by_owner.setdefault(id(root(leaf.array)), []).append(leaf)
    for group in by_owner.values():
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                if np.may_share_memory(a.array, b.array) and _overlap(a.array, b.array):
                    raise InputError(f"{show(a.path)} and {show(b.path)} share memory (the same "
                                     "array under two keys?): each update would apply twice")


def owners(leaves: list[Leaf]) -> dict[int, list[np.ndarray]]:
    """The parameters' arrays by the object owning their memory (Python floats left out:
    their 0-d arrays are new each call)."""
    out: dict[int, list[np.ndarray]] = {}
    for leaf in leaves:
        if leaf.scalar_type is None:
            out.setdefault(id(root(leaf.array)), []).append(leaf.array)
    return out


def working_grad(g: np.ndarray, work: np.dtype,
                 by_owner: dict[int, list[np.ndarray]]) -> np.ndarray:
    """A gradient as the rule will read it: in the parameter's working dtype, and copied
    where it shares memory with a parameter (``update(x, x)``: the rule would otherwise read
    a gradient it is overwriting)."""
    if g.dtype != work:
        with np.errstate(over="ignore"):
            return g.astype(work)
    if by_owner:
        mine = by_owner.get(id(root(g)))
        if mine and any(np.may_share_memory(g, p) for p in mine):
            return g.copy()
    return g


def working_grads(leaves: list[Leaf], grads: list[np.ndarray]) -> list[np.ndarray]:
    """The gradients as the rule will read them (:func:`working_grad`, leaf by leaf)."""
    by_owner = owners(leaves)
    return [working_grad(g, work_dtype(leaf.array.dtype), by_owner)
            for leaf, g in zip(leaves, grads)]


def finite(g: np.ndarray, one_pass: bool = False) -> bool:
    """Whether a gradient holds no inf or nan (call it with NumPy's overflow and invalid
    warnings off). One cheap pass (a sum); only a non-finite sum (which finite values can
    also overflow to) is checked element-wise. An array the fused path will update is
    probed by a parallel kernel, to keep up with it."""
    if g.dtype.kind != "f":
        return True
    if one_pass:
        return fused_path.all_finite(g)
    return bool(np.isfinite(g.sum()) or np.isfinite(g).all())


def first_nonfinite(leaves: list[Leaf], grads: list[np.ndarray],
                    fused: list[bool] | None = None) -> str | None:
    """The path of the first gradient holding inf or nan (:func:`finite`), or ``None``."""
    one_pass = fused or [False] * len(leaves)
    with np.errstate(over="ignore", invalid="ignore"):
        for leaf, g, fast in zip(leaves, grads, one_pass):
            if not finite(np.asarray(g), fast):
                return leaf.path
    return None


def nonfinite_policy(policy: str, what: str, step: int, *, detail: str = "", hint: str = "",
                     stacklevel: int = 3) -> bool:
    """Apply a ``nonfinite`` policy to ``what`` (e.g. "the gradient of parameter 'w'"),
    found not finite at ``step`` (``detail``: where, more precisely): ``'raise'`` raises
    :class:`NonFiniteError`, ``'skip'`` warns and returns True (skip the update); ``hint``
    names where to pass ``'skip'``."""
    message = f"{what} is not finite at step {step}{detail}"
    if policy == "raise":
        raise NonFiniteError(f"{message} (pass nonfinite='skip'{hint} to skip such updates "
                             "instead)")
    warnings.warn(message + "; update skipped", RuntimeWarning, stacklevel=stacklevel + 1)
    return True


def skip_nonfinite(policy: str, leaves: list[Leaf], grads: list[np.ndarray], step: int, *,
                   hint: str = "", stacklevel: int = 3) -> bool:
    """The ``nonfinite`` policy on a call's gradients (:func:`first_nonfinite`, then
    :func:`nonfinite_policy`): True when the update is to be skipped."""
    if policy == "ignore":
        return False
    bad = first_nonfinite(leaves, grads)
    if bad is None:
        return False
    return nonfinite_policy(policy, f"the gradient of {show(bad)}", step, hint=hint,
                            stacklevel=stacklevel + 1)


__all__ = ["Seen", "work_dtype", "check_structure", "seen_of", "check_no_overlap", "owners",
           "working_grad", "working_grads", "finite", "first_nonfinite", "nonfinite_policy",
           "skip_nonfinite", "root"]
