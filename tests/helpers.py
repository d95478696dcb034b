"""Helpers shared by the tests (importable: tests/conftest.py puts this folder on sys.path).

``assert_same(a, b)`` is the one comparison of "the same state" the tests use (parameters
before and after a refused update, a resumed optimizer against an uninterrupted one, the
packed path against the separate one, a fused kernel against the NumPy rule). Its semantics,
the same at every depth and for scalars and arrays alike:

- dicts: the same keys; lists and tuples: the same type and length; then item by item;
- arrays: the same dtype and shape, and every element the same;
- floating-point values (array elements, Python floats, NumPy scalars) are the same when
  their values are equal *and* their signs are (``-0.0`` is not ``0.0``: a rule that flips
  the sign of a zero is not bit-identical, and ``1/x`` tells them apart), except that
  **NaN is the same as NaN** in the same place (whatever its sign or payload: a NaN the
  state holds by design, or one both runs produced, is the same state) and never the same
  as a number;
- an array is never the same as a scalar or a list (no broadcasting); numbers of different
  types compare by value (``1`` is ``1.0``, ``np.float64(0.5)`` is ``0.5``), but a boolean
  is not a number (``True`` is not ``1``); anything else by ``==``.

The failure names the path to the first difference (``state['w']['exp_avg'][3]``).
"""

from __future__ import annotations

import math
import numbers
import zlib
from typing import Any

import numpy as np


def _is_number(x: Any) -> bool:
    return isinstance(x, (numbers.Number, np.generic)) and not isinstance(x, (bool, np.bool_))


def _same_float(x: float, y: float) -> bool:
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y and math.copysign(1.0, x) == math.copysign(1.0, y)


def assert_same(a: Any, b: Any, where: str = "value") -> None:
    """Assert ``a`` and ``b`` are the same (see the module docstring for the rules)."""
    if isinstance(a, dict) or isinstance(b, dict):
        assert isinstance(a, dict) and isinstance(b, dict), \
            f"{where}: {type(a).__name__} vs {type(b).__name__}"
        assert a.keys() == b.keys(), (f"{where}: keys differ: only in the first "
                                      f"{sorted(map(str, a.keys() - b.keys()))}, only in the "
                                      f"second {sorted(map(str, b.keys() - a.keys()))}")
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
        assert len(a) == len(b), f"{where}: lengths {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), \
            f"{where}: {type(a).__name__} vs {type(b).__name__} (an array is not a scalar)"
        assert a.dtype == b.dtype, f"{where}: dtype {a.dtype} vs {b.dtype}"
        assert a.shape == b.shape, f"{where}: shape {a.shape} vs {b.shape}"
        if a.dtype.kind in "fc":
            nan_a, nan_b = np.isnan(a), np.isnan(b)
            both = ~nan_a & ~nan_b
            differ = (nan_a != nan_b) | (both & ((a != b) | (np.signbit(a.real)
                                                            != np.signbit(b.real))))
        else:
            differ = a != b
        if np.any(differ):
            first = tuple(int(i) for i in np.argwhere(differ)[0])
            raise AssertionError(f"{where}: {int(np.sum(differ))} of {a.size} elements "
                                 f"differ; first at {where}[{', '.join(map(str, first))}]: "
                                 f"{a[first]!r} vs {b[first]!r}")
    elif _is_number(a) and _is_number(b):
        if isinstance(a, (complex, np.complexfloating)) or \
                isinstance(b, (complex, np.complexfloating)):
            x, y = complex(a), complex(b)
            assert _same_float(x.real, y.real) and _same_float(x.imag, y.imag), \
                f"{where}: {a!r} vs {b!r}"
        elif isinstance(a, (float, np.floating)) or isinstance(b, (float, np.floating)):
            assert _same_float(float(a), float(b)), f"{where}: {a!r} vs {b!r}"
        else:
            assert a == b, f"{where}: {a!r} vs {b!r}"
    else:
        boolean = (bool, np.bool_)
        assert isinstance(a, boolean) == isinstance(b, boolean), \
            f"{where}: {a!r} vs {b!r} (a boolean is not a number)"
        assert a == b, f"{where}: {a!r} vs {b!r}"


def assert_resume_is_bit_identical(make: Any, path: Any, seed: int) -> None:
    """Eight updates straight through, and four, a checkpoint saved to ``path`` and loaded into
    a fresh optimizer, then the other four: the same bits (``make()`` builds the optimizer;
    parameters are a (3, 2) array and a Python float)."""
    import copy

    rng = np.random.default_rng(seed)
    params = {"w": rng.standard_normal((3, 2)), "b": float(rng.normal())}
    grads = [{"w": rng.standard_normal((3, 2)), "b": float(rng.normal())} for _ in range(8)]
    straight, first = make(), make()
    a, b = copy.deepcopy(params), copy.deepcopy(params)
    for g in grads:
        straight.update(a, g)
    for g in grads[:4]:
        first.update(b, g)
    first.save(path)
    resumed = make()
    resumed.load(path)
    for g in grads[4:]:
        resumed.update(b, g)
    np.testing.assert_array_equal(a["w"], b["w"])
    assert a["b"] == b["b"]


def case_rng(options: dict[str, Any], seed: int) -> np.random.Generator:
    """A generator seeded by a test case's options and seed (the same case, the same draws)."""
    return np.random.default_rng([seed, zlib.crc32(repr(sorted(options.items())).encode())])


def any_shapes(rng: np.random.Generator) -> list[tuple[int, ...]]:
    """A scalar, a vector, a matrix and a 3-D or 4-D array, of random sizes."""
    return [(), (int(rng.integers(1, 7)),), tuple(int(n) for n in rng.integers(1, 6, 2)),
            tuple(int(n) for n in rng.integers(1, 5, rng.integers(3, 5)))]


def random_steps(rng: np.random.Generator, shapes: list[tuple[int, ...]], steps: int
                 ) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
    """Start parameters ``p0, p1, ...`` of these shapes and ``steps`` gradients, each array's
    gradients with their own scale in [0.1, 3.2]."""
    params = {f"p{i}": rng.standard_normal(s) for i, s in enumerate(shapes)}
    scales = {k: 10.0 ** rng.uniform(-1, 0.5) for k in params}
    grads = [{k: scales[k] * rng.standard_normal(p.shape) for k, p in params.items()}
             for _ in range(steps)]
    return params, grads


def named_problem(name: str, seed: int, steps: int = 100
                  ) -> tuple[np.random.Generator, dict[str, np.ndarray],
                             list[dict[str, np.ndarray]]]:
    """Random shapes (0 to 2 dimensions, fixed per name: one compilation per case), then per
    seed the parameters and ``steps`` gradients of :func:`random_steps`, and the generator."""
    shape_rng = np.random.default_rng(zlib.crc32(name.encode()))
    shapes = [tuple(int(n) for n in shape_rng.integers(1, 6, size=shape_rng.integers(0, 3)))
              for _ in range(3)]
    rng = np.random.default_rng(seed)
    params, grads = random_steps(rng, shapes, steps)
    return rng, params, grads
