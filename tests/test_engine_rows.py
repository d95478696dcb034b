"""The engine never lets K runs of a rule that is not element-wise mix through the array."""

import numpy as np

from descentlab import optim, problems
from descentlab.lab.engine import run_batch


class NormalisedSGD(optim.Optimizer):
    """p ← p − η·g/‖g‖: the norm is taken over the whole array, so it is not element-wise."""

    name = "normalised_sgd"

    def __init__(self, lr=0.1, **options):
        super().__init__(lr, **options)

    def rule(self, p, g, state, h):
        p -= h.lr * g / np.linalg.norm(g)


def test_rows_of_a_non_elementwise_rule_run_as_separate_runs():
    bowl = problems.get("bowl")
    starts = np.array([[-7.0, 2.0], [3.0, -1.0], [0.5, 0.25]])
    rates = np.array([[0.1], [0.3], [0.05]])
    together = run_batch(bowl, NormalisedSGD(lr=rates), starts, 20)
    for i in range(3):
        alone = run_batch(bowl, NormalisedSGD(lr=float(rates[i, 0])), starts[i:i + 1], 20)
        np.testing.assert_array_equal(together.path[:, i], alone.path[:, 0])
    # By hand, the first step of run 1: g = (x/10, 2y) = (0.3, -2), ‖g‖ = √4.09.
    g = np.array([0.3, -2.0])
    np.testing.assert_allclose(together.path[1, 1], starts[1] - 0.3 * g / np.sqrt(4.09),
                               rtol=1e-15)


def test_elementwise_rules_still_run_as_one_array():
    assert optim.Adam.elementwise and not NormalisedSGD.elementwise
