"""Parameter trees: the containers ``update(params, grads)`` accepts.

A tree is a single array, a dict, a list or tuple, or any nesting of those, whose leaves are
floating-point NumPy arrays or Python floats (the classic exercise code writes
``params = {'x': 1.0, 'y': 2.0}``). Every leaf has a *path*: its keys and indices joined by
``/`` (``"W1"``, ``"layers/0/W"``); the root array's path is ``""``. Optimizer state is keyed
by path, never by position.

Arrays are updated in place. Python floats cannot be, so their container entry is replaced:
that is why a float must sit in a dict or list (not a tuple, not at the root).
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, InputTypeError, MissingKeyError

ROOT = ""

#: How deep a tree may nest (a network is a few levels; this keeps clear of Python's
#: recursion limit, so an absurd container is an error naming it, not a RecursionError).
MAX_DEPTH = 64


def show(path: str) -> str:
    """How a path is named in error messages."""
    return "the parameter array" if path == ROOT else f"parameter {path!r}"


@dataclass
class Leaf:
    """One parameter: where it lives in the tree and the array the rule works on.

    ``array`` is the user's own array (updated in place) or, for a Python float, a 0-d float64
    array that :meth:`write_back` copies into ``container[key]`` after the update.
    """

    path: str
    array: np.ndarray
    container: Any = None
    key: Any = None
    scalar_type: type | None = None

    def write_back(self) -> None:
        if self.scalar_type is not None:
            self.container[self.key] = self.scalar_type(self.array[()])


def _join(prefix: str, key: Any) -> str:
    return f"{prefix}/{key}" if prefix else str(key)


def _short_path(path: str) -> str:
    return repr(path) if len(path) <= 60 else repr(f"{path[:28]}...{path[-28:]}")


def _enter(node: Any, path: str, depth: int, open_: set[int], what: str) -> None:
    """Refuse a container that contains itself or nests beyond :data:`MAX_DEPTH`."""
    if id(node) in open_:
        raise InputError(f"the {what} tree contains itself at {_short_path(path)} "
                         "(a self-referential container)")
    if depth > MAX_DEPTH:
        raise InputError(f"the {what} tree nests deeper than {MAX_DEPTH} levels "
                         f"(at {_short_path(path)})")


def _items(node: Any) -> list[tuple[Any, Any]] | None:
    if isinstance(node, Mapping):
        return list(node.items())
    if isinstance(node, (list, tuple)):
        return list(enumerate(node))
    return None


def _is_float_scalar(x: Any) -> bool:
    return isinstance(x, (float, np.floating)) and not isinstance(x, np.ndarray)


def _is_int_scalar(x: Any) -> bool:
    return isinstance(x, (numbers.Integral, np.integer)) and not isinstance(x, np.ndarray)


def flatten_params(tree: Any) -> list[Leaf]:
    """The leaves of a parameter tree, validated: floating dtype, writeable, updatable."""
    leaves: list[Leaf] = []
    seen: set[str] = set()
    open_: set[int] = set()

    def visit(node: Any, path: str, container: Any, key: Any, depth: int) -> None:
        children = _items(node)
        if children is not None:
            _enter(node, path, depth, open_, "parameter")
            open_.add(id(node))
            for k, child in children:
                visit(child, _join(path, k), node, k, depth + 1)
            open_.discard(id(node))
            return
        if path in seen:
            raise InputError(f"two parameters share the path {path!r}; use distinct keys")
        seen.add(path)
        if isinstance(node, np.ndarray):
            if not np.issubdtype(node.dtype, np.floating):
                raise InputTypeError(
                    f"{show(path)} has dtype {node.dtype}; optimizers update floating-point "
                    "arrays (float16, float32 or float64)"
                )
            if not node.flags.writeable:
                raise InputError(f"{show(path)} is a read-only array and cannot be updated")
            leaves.append(Leaf(path, node))
        elif _is_float_scalar(node):
            if container is None or isinstance(container, tuple):
                where = "at the root" if container is None else "inside a tuple"
                raise InputTypeError(
                    f"{show(path)} is a Python float {where} and cannot be replaced in place; "
                    "put it in a dict or list, or use a NumPy array"
                )
            leaves.append(
                Leaf(path, np.array(node, dtype=np.float64), container, key, type(node))
            )
        elif _is_int_scalar(node) or isinstance(node, bool):
            raise InputTypeError(
                f"{show(path)} is an integer ({node!r}); optimizers update floats: "
                f"write {float(node)!r} or use a float array"
            )
        else:
            raise InputTypeError(
                f"{show(path)} is a {type(node).__name__}, not a float or a floating-point "
                "NumPy array"
            )

    visit(tree, ROOT, None, None, 0)
    return leaves


def flatten_grads(tree: Any, leaves: list[Leaf]) -> list[np.ndarray]:
    """The gradients matching ``leaves`` path by path, as arrays of the parameters' shapes."""
    found = dict(leaves_of(tree))
    wanted = [leaf.path for leaf in leaves]
    missing = [p for p in wanted if p not in found]
    if missing:
        raise MissingKeyError(f"grads has no entry for {show(missing[0])}")
    extra = [p for p in found if p not in set(wanted)]
    if extra:
        raise MissingKeyError(f"grads has an entry {extra[0]!r} that matches no parameter")
    out = []
    for leaf in leaves:
        g = found[leaf.path]
        if not isinstance(g, np.ndarray):
            if isinstance(g, bool) or not isinstance(g, (numbers.Real, np.number)):
                raise InputTypeError(
                    f"the gradient of {show(leaf.path)} is a {type(g).__name__}, not a number "
                    "or an array"
                )
            g = np.asarray(g, dtype=np.float64)
        elif not (np.issubdtype(g.dtype, np.floating) or np.issubdtype(g.dtype, np.integer)):
            raise InputTypeError(f"the gradient of {show(leaf.path)} has dtype {g.dtype}")
        if g.shape != leaf.array.shape:
            raise InputError(
                f"the gradient of {show(leaf.path)} has shape {g.shape}, "
                f"the parameter has shape {leaf.array.shape}"
            )
        out.append(g)
    return out


def leaves_of(tree: Any, what: str = "gradient") -> list[tuple[str, Any]]:
    """(path, leaf) pairs of any tree, without validation (for clipping and reporting)."""
    out: list[tuple[str, Any]] = []
    open_: set[int] = set()

    def visit(node: Any, path: str, depth: int) -> None:
        children = _items(node)
        if children is not None:
            _enter(node, path, depth, open_, what)
            open_.add(id(node))
            for k, child in children:
                visit(child, _join(path, k), depth + 1)
            open_.discard(id(node))
        else:
            out.append((path, node))

    visit(tree, ROOT, 0)
    return out



def rebuild(tree: Any, arrays: list[Any]) -> Any:
    """A tree of ``tree``'s containers (dicts, lists, tuples) holding ``arrays`` in the order
    :func:`flatten_params` visits its leaves (what a rule hands a user's function that takes
    a tree like the parameters: a Hessian-vector product's vector).

    >>> rebuild({"a": 1.0, "b": [2.0, 3.0]}, [10, 20, 30])
    {'a': 10, 'b': [20, 30]}
    """
    left = iter(arrays)

    def visit(node: Any) -> Any:
        children = _items(node)
        if children is None:
            return next(left)
        if isinstance(node, Mapping):
            return {k: visit(child) for k, child in children}
        rebuilt = [visit(child) for _, child in children]
        return tuple(rebuilt) if isinstance(node, tuple) else rebuilt

    return visit(tree)

# ---------------------------------------------------------------- structure, for cached plans
#: ``structure(tree)``: the containers of a tree in the order :func:`flatten_params` visits
#: them, ``(parent, key, type, keys)`` each (``keys``: a dict's keys, or a sequence's length),
#: and the ``(parent, key)`` of every leaf in order (parent −1: the root itself).
Structure = tuple[tuple[tuple[int, Any, type, Any], ...], tuple[tuple[int, Any], ...]]


def _plain_dict(kind: type) -> bool:
    """A dict (or a subclass such as FlatParams) whose iteration and lookup are dict's own."""
    return issubclass(kind, dict) and kind.__iter__ is dict.__iter__ and (
        kind.__getitem__ is dict.__getitem__) and kind.items is dict.items and (
        kind.__len__ is dict.__len__) and kind.values is dict.values


def _plain_sequence(kind: type) -> bool:
    """A list or tuple (or a subclass, a namedtuple) with the base's indexing and length."""
    for base in (list, tuple):
        if issubclass(kind, base):
            return kind.__getitem__ is base.__getitem__ and kind.__len__ is base.__len__ and (
                kind.__iter__ is base.__iter__)
    return False


def structure(tree: Any) -> Structure | None:
    """The shape of a tree that :func:`match` can verify cheaply, or ``None`` when it cannot
    be verified exactly (a mapping with its own lookup, keys other than strings, whose text
    is the path). Call it on a tree :func:`flatten_params` or :func:`leaves_of` accepted."""
    containers: list[tuple[int, Any, type, Any]] = []
    leaves: list[tuple[int, Any]] = []

    def visit(node: Any, parent: int, key: Any) -> bool:
        kind = type(node)
        if isinstance(node, Mapping):
            if not _plain_dict(kind) or any(type(k) is not str for k in node):
                return False
            containers.append((parent, key, kind, tuple(node)))
            here = len(containers) - 1
            return all(visit(child, here, k) for k, child in node.items())
        if isinstance(node, (list, tuple)):
            if not _plain_sequence(kind):
                return False
            containers.append((parent, key, kind, len(node)))
            here = len(containers) - 1
            return all(visit(child, here, i) for i, child in enumerate(node))
        leaves.append((parent, key))
        return True

    return (tuple(containers), tuple(leaves)) if visit(tree, -1, None) else None


def match(shape: Structure, tree: Any) -> tuple[list[Any], list[Any]] | None:
    """``tree``'s leaves and their containers when its containers are those of ``shape``
    (same types, the same string keys in the same order, the same lengths), else ``None``.
    The leaves are not checked: that is the caller's part. (A tree that matches a finite
    shape cannot contain itself.)"""
    containers, slots = shape
    nodes: list[Any] = []
    for parent, key, kind, keys in containers:
        node = tree if parent < 0 else nodes[parent][key]
        if type(node) is not kind:
            return None
        if type(keys) is int:
            if len(node) != keys:
                return None
        else:
            got = tuple(node)  # the same key objects, or equal keys that are strings
            if not (len(got) == len(keys) and all(map(operator.is_, got, keys))) and (
                    got != keys or any(type(k) is not str for k in got)):
                return None
        nodes.append(node)
    if not nodes:
        return [tree], [None]
    if len(nodes) == 1:  # one container holding every leaf (its items are in key order)
        node = nodes[0]
        values = list(node.values()) if type(keys) is not int else list(node)
        return values, [node] * len(values)
    holders = [nodes[parent] for parent, _ in slots]
    return [c[k] for c, (_, k) in zip(holders, slots)], holders
