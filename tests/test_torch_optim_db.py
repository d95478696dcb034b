"""PyTorch's own optimizer test configurations, run against descentlab.

``torch.testing._internal.common_optimizers.optim_db`` lists, per ``torch.optim`` class, the
keyword sets PyTorch's test suite runs (``optim_inputs_func(device="cpu")``). Every one whose
class descentlab has is translated to descentlab's names (``to_descentlab``) and both libraries
take the same steps in float64 on a small least-squares problem with a quartic term, the
gradient coming from the parameters (so a difference feeds back). A configuration agrees when
the parameters end within 1e-10 of torch's, relative to the distance travelled. Muon runs its
Newton–Schulz iteration in bfloat16 as PyTorch does, where the float32 accumulation order of
matrix products differs (docs/optimizers.md): its configurations are held to the distance its
docs state (``MUON``), and so are the docs' other Muon numbers.
Classes descentlab does not have, and configurations it cannot express, are listed below with
the reason — none is skipped silently.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any

import numpy as np
import pytest
import torch
from torch.optim._muon import _zeropower_via_newtonschulz
from torch.testing._internal.common_optimizers import optim_db

from descentlab import optim
from descentlab.optim.muon import NS_COEFFICIENTS, NS_STEPS, newton_schulz

torch.set_num_threads(1)

#: torch.optim classes in optim_db that descentlab does not have, with the reason.
NOT_IN_DESCENTLAB = {"SparseAdam": "sparse gradients: descentlab's parameters are dense arrays"}

#: (torch class, configuration desc) descentlab cannot express, with the reason.
KNOWN_UNSUPPORTED: dict[tuple[str, str], str] = {}

#: The configurations that agreed when this test was written (torch 2.13: 87 configurations of
#: 14 classes descentlab has; the count may only grow).
AGREEING_AT_LEAST = 87

STEPS, LBFGS_STEPS = 50, 5
STRICT = 1e-10


def _float(v: Any) -> Any:
    return float(v) if isinstance(v, torch.Tensor) else v


def to_descentlab(cls_name: str, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(descentlab name, keyword arguments) of a torch.optim class and its keywords."""
    kw = {k: _float(v) for k, v in kwargs.items()}
    if "betas" in kw:
        kw["beta1"], kw["beta2"] = kw.pop("betas")
    if cls_name == "SGD":
        momentum, nesterov = kw.pop("momentum", 0.0), kw.pop("nesterov", False)
        if momentum == 0:
            assert kw.pop("dampening", 0.0) == 0 and not nesterov
            return "sgd", kw
        if nesterov:
            assert kw.pop("dampening", 0.0) == 0
            return "nesterov", {**kw, "momentum": momentum}
        return "momentum", {**kw, "momentum": momentum}
    if cls_name == "RMSprop" and "alpha" in kw:
        kw["rho"] = kw.pop("alpha")
    names = {"Adagrad": "adagrad", "NAdam": "nadam"}
    return names.get(cls_name, cls_name.lower()), kw


def configurations() -> list[tuple[str, str, dict[str, Any]]]:
    """(torch class name, desc, kwargs) of every CPU configuration in optim_db."""
    return [(info.optim_cls.__name__, case.desc, case.kwargs)
            for info in optim_db for case in info.optim_inputs_func(device="cpu")]


def _problem(matrix_only: bool) -> tuple[dict[str, np.ndarray], Any]:
    """Start parameters and p ↦ (loss, grads) of Σ log cosh(XW + b − Y)/n + 0.1·Σ sin W: the
    parameters interact through X, and the gradient is bounded, so maximizing runs too."""
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((8, 5)), rng.standard_normal((8, 3))
    start = {"w": rng.standard_normal((5, 3)) * 0.5}
    if not matrix_only:
        start["b"] = rng.standard_normal(3) * 0.5

    def loss_and_grads(p: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
        r = x @ p["w"] + p.get("b", 0.0) - y
        a = np.abs(r)  # log cosh r = |r| + log(1 + e^(−2|r|)) − log 2, without overflow
        loss = (a + np.log1p(np.exp(-2 * a)) - np.log(2)).sum() / len(x)
        grads = {"w": x.T @ np.tanh(r) / len(x) + 0.1 * np.cos(p["w"])}
        if "b" in p:
            grads["b"] = np.tanh(r).sum(axis=0) / len(x)
        return float(loss + 0.1 * np.sin(p["w"]).sum()), grads

    return start, loss_and_grads


def run_both(cls_name: str, kwargs: dict[str, Any]) -> float:
    """max|ours − torch| / max|torch − start| after the configuration's steps (torch is given
    the same gradient formula, evaluated at its own parameters)."""
    name, ours_kw = to_descentlab(cls_name, kwargs)
    start, loss_and_grads = _problem(matrix_only=cls_name == "Muon")
    ours = {k: v.copy() for k, v in start.items()}
    theirs = {k: torch.tensor(v.copy()) for k, v in start.items()}
    opt = optim.create(name, **ours_kw)
    topt = getattr(torch.optim, cls_name)(list(theirs.values()), **kwargs)

    def torch_closure() -> torch.Tensor:
        loss, grads = loss_and_grads({k: v.numpy() for k, v in theirs.items()})
        for k, v in theirs.items():
            v.grad = torch.from_numpy(grads[k])
        return torch.tensor(loss)

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # torch's scalar state (NAdam's μ product)
    try:
        if cls_name == "LBFGS":
            for _ in range(LBFGS_STEPS):
                opt.update(ours, closure=lambda: loss_and_grads(ours))
                topt.step(torch_closure)
        else:
            for _ in range(STEPS):
                opt.update(ours, loss_and_grads(ours)[1])
                torch_closure()
                topt.step()
    finally:
        torch.set_default_dtype(previous)
    diff = max(float(np.max(np.abs(ours[k] - theirs[k].numpy()))) for k in ours)
    travelled = max(float(np.max(np.abs(theirs[k].numpy() - start[k]))) for k in ours)
    assert travelled > 0, (cls_name, kwargs)
    return diff / travelled


CONFIGURATIONS = configurations()


def _stated(pattern: str, text: str) -> str:
    found = re.search(pattern, " ".join(text.split()))
    assert found, f"no {pattern!r} in the text"
    return found.group(1)


DOCS = (pathlib.Path(__file__).parents[1] / "docs" / "optimizers.md").read_text()
#: What Muon's docs state: its configurations' distance from torch's, and how many of the 7
#: are within 1e-10 (the docstring and docs/optimizers.md say the same).
MUON = float(_stated(r"within (\S+) of torch's, relative", optim.Muon.__doc__))
MUON_STRICT = int(_stated(r"(\d) of the 7 within 1e-10", optim.Muon.__doc__))


@pytest.fixture(scope="module")
def results() -> dict[tuple[str, str], float]:
    out = {}
    for cls_name, desc, kwargs in CONFIGURATIONS:
        if cls_name in NOT_IN_DESCENTLAB or (cls_name, desc) in KNOWN_UNSUPPORTED:
            continue
        out[cls_name, desc] = run_both(cls_name, kwargs)
    return out


def test_every_configuration_is_run_or_listed(results: dict) -> None:
    classes = {c for c, _, _ in CONFIGURATIONS}
    assert set(NOT_IN_DESCENTLAB) <= classes
    assert not set(optim.available()) & {c.lower() for c in NOT_IN_DESCENTLAB}
    listed = {(c, d) for c, d, _ in CONFIGURATIONS
              if c in NOT_IN_DESCENTLAB or (c, d) in KNOWN_UNSUPPORTED}
    assert len(results) + len(listed) == len(CONFIGURATIONS)


def test_optim_db_configurations_agree(results: dict) -> None:
    strict = {key for key, rel in results.items() if rel <= STRICT}
    agree = strict | {key for key, rel in results.items() if key[0] == "Muon" and rel <= MUON}
    disagree = {key: rel for key, rel in results.items() if key not in agree}
    print(f"\noptim_db: {len(agree)} of {len(results)} configurations agree, {len(strict)} "
          f"within {STRICT}; {len(CONFIGURATIONS) - len(results)} listed as not in descentlab")
    assert not disagree, disagree
    assert len(agree) >= AGREEING_AT_LEAST
    assert sum(key[0] == "Muon" for key in strict) >= MUON_STRICT


def test_muon_numbers_in_the_docs() -> None:
    """The numbers Muon's docstrings and docs/optimizers.md state are this file's."""
    assert float(_stated(r"within (\S+) of torch's, relative", DOCS)) == MUON
    assert int(_stated(r"\((\d) of the 7 within 1e-10\)", DOCS)) == MUON_STRICT
    stated = int(_stated(r"(\d+) differ from torch", newton_schulz.__doc__))
    assert int(_stated(r"(\d+) of 200 random matrices get a different", DOCS)) == stated
    rng = np.random.default_rng(0)
    differ = 0
    for _ in range(200):
        shape = tuple(rng.integers(2, 49, size=2))
        x = (rng.standard_normal(shape) * 10 ** rng.uniform(-3, 3)).astype(np.float32)
        theirs = _zeropower_via_newtonschulz(torch.from_numpy(x), NS_COEFFICIENTS, NS_STEPS,
                                             1e-7).float().numpy()
        differ += not np.array_equal(newton_schulz(x, bfloat16=True), theirs)
    print(f"\nNewton–Schulz in bfloat16: {differ} of 200 random matrices differ from torch's")
    assert differ <= stated
