"""Rules that are not element-wise — the matrix preconditioners (Muon, MARS's and Scion's
Newton–Schulz steps, ...), norms over an array, full-matrix AdaGrad, L-BFGS — in ``sweep`` and
``compare``: every grid point of a sweep, and every configuration × seed of a compare batch,
equals its run alone (a solo race, a batch of one) bit for bit. A class that ``stacks_runs``
(Muon, Scion, MARS) runs the K runs as one stack of matrices (batched products); the others
one copy per run. The list is every registered optimizer whose class is not element-wise, so a class
added later is covered without an edit here."""

from __future__ import annotations

import numpy as np
import pytest

from descentlab import optim, problems
from descentlab.lab.compare.space import parse_space, plan
from descentlab.lab.compare.tasks import SurfaceTask
from descentlab.lab.engine import _one_update
from descentlab.lab.race import race
from descentlab.lab.sweep import sweep

NAMES = [n for n in optim.available()
         if n in optim.OPTIMIZERS and not optim.OPTIMIZERS[n].elementwise]



def takes_closure(name: str) -> bool:
    """Rules that take a closure refuse gradient noise (a closure's f is exact)."""
    return getattr(optim.OPTIMIZERS[name], "needs_closure", False)


def second_axis(name):
    """The first tuned hyperparameter besides lr, and two values in its search range."""
    for key, (low, high, _) in optim.search_space(name).items():
        if key != "lr":
            return key, [low, (low + high) / 2]
    return None, None


def test_the_matrix_rules_are_among_them_and_stack_their_runs():
    assert {"muon", "mars", "scion"} <= set(NAMES)
    assert {"muon", "scion", "mars"} <= {n for n in NAMES if optim.OPTIMIZERS[n].stacks_runs}


@pytest.mark.parametrize("spec", ["scion:norm=sign", "scion:norm=col,transpose=True",
                                  "scion:norm=row", "scion:norm=bias_rms",
                                  "scion:norm=spectral_conv", "scion:norm=identity",
                                  "scion:constraint=True,weight_decay=0.1",
                                  "muon:ns_dtype=param,nesterov=False",
                                  "muon:preconditioning=spectral,adaptive=True",
                                  "muon:form=optax",
                                  "mars:mars_type=shampoo,cautious=True",
                                  "mars:mars_type=lion,weight_decay=0.1",
                                  "mars:ams_bound=True,cautious=True,gamma=0.5",
                                  "cadamw:amsgrad=True", "clion:mask_scale=mean"])
def test_each_stacked_form_equals_its_solo_race(spec):
    """Scion's oracles along a run's own axes in a stack (each norm), Muon's options,
    MARS's per-run norms, masks and Newton–Schulz, the cautious rules' per-run masks."""
    problem = problems.get("two_basin")
    rates = [0.01, 0.1, 0.5]
    s = sweep(problem, spec, rates, steps=12, noise=0.5)
    name, _, settings = spec.partition(":")
    for i, lr in enumerate(rates):
        entry = race(problem, [f"{spec},lr={lr!r}"], steps=12, noise=0.5).entries[0]
        np.testing.assert_array_equal(s.final[0, i], entry.path[-1], err_msg=f"{spec} {lr}")


@pytest.mark.parametrize("name", NAMES)
def test_every_sweep_point_equals_its_solo_race_bit_for_bit(name):
    problem = problems.get("two_basin")
    axis, values = second_axis(name)
    rates = [0.003, 0.03, 0.3]
    noise = 0.0 if takes_closure(name) else 0.5
    s = sweep(problem, name, rates, axis=axis, axis_values=values, steps=12, noise=noise)
    for j, value in enumerate(values if axis else [None]):
        for i, lr in enumerate(rates):
            settings = {"lr": lr} if axis is None else {"lr": lr, axis: value}
            alone = race(problem, [optim.create(name, **settings)], steps=12, noise=noise)
            entry = alone.entries[0]
            where = f"{name} {settings}"
            np.testing.assert_array_equal(s.final[j, i], entry.path[-1], err_msg=where)
            assert s.outcome[j, i] == entry.outcome, where
            assert (s.diverged_at[j, i] < 0) == (entry.diverged_at is None), where


@pytest.mark.parametrize("name", NAMES)
def test_every_compare_run_equals_its_batch_of_one_bit_for_bit(name):
    noise = 0.0 if takes_closure(name) else 0.3
    task = SurfaceTask(problems.get("two_basin"), steps=10, spread=0.5, noise=noise)
    space = parse_space(name)
    configs, seeds = plan(space, 3, 0), [0, 1]
    together = task.evaluate(space, configs, seeds, curves=True)
    for m, config in enumerate(configs):
        for s, seed in enumerate(seeds):
            alone = task.evaluate(space, [config], [seed], curves=True)
            np.testing.assert_array_equal(together.values[m, s], alone.values[0, 0])
            np.testing.assert_array_equal(together.curves[m, s], alone.curves[0, 0])


def test_muon_runs_a_stack_in_one_call_not_copies():
    """The stacked path: one optimizer whose state holds all K runs, (K, 1, dim)."""
    problem = problems.get("two_basin")
    opt = optim.Muon(lr=np.array([[0.01], [0.1], [0.2]]), ns_dtype="bfloat16")
    update, _ = _one_update(opt, 3, problem)
    X = np.array([[1.0, 0.5], [-0.3, 0.2], [0.4, -0.9]])
    G = np.asarray(problem.grad(X), dtype=np.float64)
    update(X, G)
    stacked = update.__closure__  # the one copy the update holds
    states = [c.cell_contents for c in stacked if isinstance(c.cell_contents, optim.Muon)]
    assert len(states) == 1 and states[0].leading_runs
    assert states[0].state[optim.tree.ROOT]["buffer"].shape == (3, 1, 2)


@pytest.mark.parametrize("name", ["cadamw", "clion"])
def test_a_stack_too_big_for_the_rule_path_still_keeps_its_runs_apart(name):
    """The cautious rules have fused kernels, whose mask mean is over the whole array: a stack
    of 20,000 runs (a start map's size, above the kernels' minimum) must not take them. Each
    run equals its own optimizer's step, bit for bit."""
    problem = problems.get("two_basin")
    rng = np.random.default_rng(0)
    K = 20_000
    X = rng.normal(size=(K, 2))
    update, _ = _one_update(optim.create(name, lr=0.1), K, problem)
    Xs = X.copy()
    for _ in range(2):
        update(Xs, np.asarray(problem.grad(Xs), dtype=np.float64))
    for k in rng.choice(K, 25, replace=False):
        alone = optim.create(name, lr=0.1)
        x = X[k:k + 1].copy()
        for _ in range(2):
            alone.update(x, np.asarray(problem.grad(x), dtype=np.float64))
        np.testing.assert_array_equal(Xs[k], x[0], err_msg=f"{name} run {k}")
