"""A PyTorch optimizer (a reference package's) as a test oracle, in float64.

``torch_trajectory(make, params, grads, lr_at=...)`` builds ``make([tensors])`` on float64
copies of ``params``, feeds it ``grads`` (setting ``param_groups[0]["lr"] = lr_at(k)`` before
the k-th step, k = 0, 1, ..., when given) and returns the parameters after every step.
``run_ours`` runs one of ours on the same sequence and returns the worst relative difference
from those, step by step (asserting it stays within ``rtol``).

>>> import numpy as np, torch
>>> out = torch_trajectory(lambda ps: torch.optim.SGD(ps, lr=0.5), {"w": np.ones(2)},
...                        [{"w": np.ones(2)}] * 3)
>>> out[-1]["w"].tolist()
[-0.5, -0.5]
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from helpers import named_problem

Tree = dict[str, np.ndarray]


def torch_trajectory(make: Callable[[list[torch.Tensor]], Any], params: Tree,
                     grads: Sequence[Tree], *,
                     lr_at: Callable[[int], float] | None = None,
                     dtype: Any = np.float64) -> list[Tree]:
    """Parameters after each step of the torch optimizer ``make(tensors)`` (tensors, and the
    gradients given to them, of ``dtype``)."""
    tensors = {k: torch.tensor(np.asarray(v, dtype), requires_grad=True)
               for k, v in params.items()}
    opt = make(list(tensors.values()))
    out = []
    for k, g in enumerate(grads):
        if lr_at is not None:
            for group in opt.param_groups:
                group["lr"] = lr_at(k)
        for name, t in tensors.items():
            t.grad = torch.tensor(np.asarray(g[name], dtype))
        opt.step()
        out.append({name: t.detach().numpy().copy() for name, t in tensors.items()})
    return out


def problem(name: str, seed: int, steps: int = 100) -> tuple[np.random.Generator, Tree,
                                                             list[Tree]]:
    """Random shapes (0 to 2 dimensions, fixed per name), parameters and ``steps`` gradients
    (each array with its own scale) per seed."""
    return named_problem(name, seed, steps)


def run_ours(opt: Any, params: Tree, grads: Sequence[Tree], expected: Sequence[Tree],
             what: str, rtol: float = 1e-12) -> float:
    """Run ``opt`` on ``grads`` from ``params``; every step within ``rtol`` (relative, with an
    absolute floor of ``rtol/10``) of ``expected``; returns the worst array-wise relative
    difference ``‖ours − theirs‖ / ‖theirs‖`` seen (the number the docs quote)."""
    ours, worst, moved = copy.deepcopy(params), 0.0, False
    for step, g in enumerate(grads):
        opt.update(ours, g)
        for k in ours:
            a, b = np.asarray(ours[k]), np.asarray(expected[step][k])
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol / 10,
                                       err_msg=f"{what}: step {step + 1}, {k}")
            if a.size and np.any(b != 0):
                worst = max(worst, float(np.linalg.norm(a - b) / np.linalg.norm(b)))
            moved = moved or not np.array_equal(a, params[k])
    assert moved, what
    return worst


def documented_worst(name: str) -> float:
    """The worst relative difference docs/optimizers.md quotes for ``name`` (its table of
    references, column "worst measured")."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "optimizers.md").read_text()
    row = re.search(rf"^\| `{name}` \|[^\n]*\| ([0-9.e+-]+) \|$", text, re.M)
    assert row, f"docs/optimizers.md has no reference row for {name!r}"
    return float(row.group(1))


def timm_optim(module: str) -> Any:
    """``timm.optim.<module>`` without running ``timm/__init__.py`` (which imports the models,
    and they need torchvision, which the tests do not install): ``timm`` and ``timm.optim``
    become bare packages of their folders, so only the optimizer's own module and its
    helpers run."""
    import importlib
    import importlib.util
    import sys
    import types

    if "timm.optim" not in sys.modules:
        spec = importlib.util.find_spec("timm")
        assert spec is not None and spec.origin, "timm is not installed (pip install timm)"
        root = Path(spec.origin).parent
        for name, folder in (("timm", root), ("timm.optim", root / "optim")):
            package = types.ModuleType(name)
            package.__path__ = [str(folder)]
            sys.modules[name] = package
    return importlib.import_module(f"timm.optim.{module}")
