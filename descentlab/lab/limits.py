"""The documented limits on the work one lab command may ask for, checked before any work.

Every limit names the flag that raises it, so a request beyond it is an instant one-line
error (:class:`~descentlab.errors.LimitError`) instead of a MemoryError after minutes:

=====================  ===================  ==============================================
limit                  value                raised by
=====================  ===================  ==============================================
``MAX_STEPS``          1,000,000            ``--steps`` (race, sweep, schedules, compare)
``MAX_RACERS``        100                  ``race --optimizers`` (one panel each)
``MAX_RUNS``           4,000,000            ``--lr`` × ``--grid`` / ``--starts`` (sweep)
``MAX_GRID_VALUES``    1,000,000            one ``--lr`` / ``--grid`` list or range
``MAX_WORK``           2·10⁹ run-steps      runs × ``--steps`` (sweep, race, compare)
``MAX_TRACE_ROWS``     10,000               ``trace --steps``; ``--exact``: 200
``MAX_ITERATIONS``     1,000,000            ``--iterations`` (mnist, init)
``MAX_MEMORY``         4 GiB (estimated)    what a command will hold at once (e.g. a race's
                                            paths, (steps + 1) × racers × dim floats; a
                                            compare batch, trials × ``--seeds`` runs)
``MAX_WORKERS``        4 × the CPU cores    ``compare --workers`` (local processes)
``MAX_BUDGET``         100,000              ``compare --budget`` (trials per optimizer)
``MAX_SEEDS``          999,999              ``compare --seeds`` / ``--test-seeds``
=====================  ===================  ==============================================

>>> check("--steps", 10**12, MAX_STEPS, "steps")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
descentlab.errors.LimitError: --steps 1000000000000: more than the limit of 1,000,000 steps ...
"""

from __future__ import annotations

import os

from ..errors import LimitError

MAX_STEPS = 1_000_000
MAX_RACERS = 100
MAX_RUNS = 4_000_000
MAX_GRID_VALUES = 1_000_000
MAX_WORK = 2_000_000_000
MAX_TRACE_ROWS = 10_000
MAX_EXACT_TRACE_ROWS = 200
MAX_ITERATIONS = 1_000_000
MAX_MEMORY = 4 << 30
#: Local worker processes of one ``compare``: more than a few per core only adds switching.
MAX_WORKERS = 4 * (os.cpu_count() or 1)
MAX_BUDGET = 100_000
MAX_SEEDS = 999_999

#: Bytes a sweep holds per run and coordinate (benchmarks/sweep_memory.py measured 694 for a
#: 1-D Adam sweep: point, gradient, f, checks, per-run hyperparameters, state, outcomes),
#: rounded up.
SWEEP_BYTES_PER_RUN = 700


def check(flag: str, value: int | float, limit: int | float, what: str) -> None:
    """Refuse ``value`` above ``limit``; the message names the flag and the limit."""
    if value > limit:
        raise LimitError(f"{flag} {value}: more than the limit of {limit:,} {what} "
                         "(descentlab.lab.limits; see docs/lab.md)")


def check_memory(flag: str, nbytes: float, what: str, hint: str = "") -> None:
    """Refuse a command whose estimated memory ``nbytes`` exceeds :data:`MAX_MEMORY`;
    ``hint`` (``"; use ..."``) follows the estimate and the limit."""
    if nbytes > MAX_MEMORY:
        raise LimitError(f"{flag}: {what} would need about {nbytes / 2**30:.1f} GiB, more than "
                         f"the limit of {MAX_MEMORY / 2**30:g} GiB{hint} "
                         "(descentlab.lab.limits; see docs/lab.md)")


def check_work(flag: str, runs: int, steps: int) -> None:
    """Refuse runs × steps above :data:`MAX_WORK`."""
    if runs * steps > MAX_WORK:
        raise LimitError(f"{flag}: {runs:,} runs × {steps:,} steps = {runs * steps:,} "
                         f"run-steps, more than the limit of {MAX_WORK:,} "
                         "(descentlab.lab.limits; see docs/lab.md)")
