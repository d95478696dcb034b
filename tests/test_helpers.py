"""The shared test helper's semantics (tests/helpers.py): what counts as the same state."""

import numpy as np
import pytest
from helpers import assert_same

NAN = float("nan")


@pytest.mark.parametrize(("a", "b"), [
    (1.0, 1.0), (1, 1.0), (np.float64(0.5), 0.5), (NAN, NAN), (NAN, -NAN), ("x", "x"),
    (None, None), (True, np.bool_(True)), (1 + 2j, 1 + 2j),
    (np.array([1.0, NAN, -0.0]), np.array([1.0, NAN, -0.0])),
    (np.array([NAN]), -np.array([NAN])),            # NaN is NaN whatever its sign
    (np.array([1, 2], np.int32), np.array([1, 2], np.int32)),
    ({"w": {"m": np.zeros(2)}, "step": 3}, {"step": 3, "w": {"m": np.zeros(2)}}),
    ([1.0, (2, NAN)], [1.0, (2, NAN)]),
])
def test_the_same(a, b):
    assert_same(a, b)
    assert_same(b, a)


@pytest.mark.parametrize(("a", "b", "fragment"), [
    (1.0, 1.5, "1.0 vs 1.5"),
    (NAN, 1.0, "nan vs 1.0"),                     # NaN is never a number
    (0.0, -0.0, "0.0 vs -0.0"),                   # the sign of a zero counts
    (True, 1, "a boolean is not a number"),
    (np.array([1.0, NAN]), np.array([1.0, 2.0]), "1 of 2 elements differ; first at value[1]"),
    (np.array([0.0]), np.array([-0.0]), "1 of 1 elements differ"),
    (np.zeros(2), np.zeros(2, np.float32), "dtype float64 vs float32"),
    (np.zeros(2), np.zeros((2, 1)), "shape (2,) vs (2, 1)"),
    (np.ones(2), 1.0, "an array is not a scalar"),  # no broadcasting
    (np.ones(2), [1.0, 1.0], "ndarray vs list"),
    ([1.0], (1.0,), "list vs tuple"),
    ({"a": 1}, {"b": 1}, "only in the first ['a'], only in the second ['b']"),
    ({"w": {"m": np.array([1.0, 2.0])}}, {"w": {"m": np.array([1.0, 3.0])}},
     "value['w']['m']: 1 of 2 elements differ; first at value['w']['m'][1]: "
     "np.float64(2.0) vs np.float64(3.0)"),
])
def test_not_the_same_names_the_place(a, b, fragment):
    with pytest.raises(AssertionError) as info:
        assert_same(a, b)
    assert fragment in str(info.value)
    with pytest.raises(AssertionError):
        assert_same(b, a)
