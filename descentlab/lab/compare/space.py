"""Search spaces: what each optimizer may tune, written ``NAME[:key=value|LOW..HIGH,...]``.

Every optimizer's default space is read from its class (:func:`descentlab.optim.search_space`:
each tunable hyperparameter declares its range where it is declared): the learning rate
log-uniform over a wide range, the β's and momentum uniform over their usual ranges; the
others (ε, weight decay, ...) stay at the library default. In a spec each key either *fixes* a
value (``momentum:momentum=0.9``: not tuned) or gives a *range* ``LOW..HIGH`` (tuned; on the
scale the key declares, else log when 0 < LOW and HIGH/LOW >= 100, or forced with a ``/log``
or ``/lin`` suffix)::

    adam                              lr, beta1, beta2 over their default ranges
    adam:lr=1e-3..1e-1,beta1=0.9      lr narrowed, beta1 fixed, beta2 default range
    sgd:lr=1e-6..100                  lr widened
    rmsprop:rho=0.9..0.999/log        a range on a log scale

Random search draws the whole plan — ``budget`` configurations per optimizer — up front from
``numpy.random.default_rng([seed, index of the optimizer's name])`` (:func:`plan`), so the
trials are the same whoever runs them, in whatever order.

>>> s = parse_space("adam:lr=1e-3..1e-1,beta1=0.9")
>>> s.name, s.fixed, [(d.key, d.low, d.high, d.log) for d in s.dims]
('adam', {'beta1': 0.9}, [('lr', 0.001, 0.1, True), ('beta2', 0.9, 0.9999, False)])
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ... import optim
from ...errors import InputError
from ...optim.base import did_you_mean
from ...optim.hyperparams import default_log
from ..spec import parse_value


@dataclass(frozen=True)
class Dim:
    """One tuned hyperparameter: uniform on [low, high], or log-uniform if ``log``."""

    key: str
    low: float
    high: float
    log: bool

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class Space:
    """An optimizer's search space: the tuned dims and the fixed settings."""

    name: str
    spec: str  #: the text it was parsed from
    dims: tuple[Dim, ...]
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.spec.strip().lower()

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dims": [d.as_dict() for d in self.dims],
                "fixed": dict(self.fixed)}

    def distributions(self) -> dict[str, Any]:
        """The Optuna distributions of the tuned dims."""
        import optuna

        return {d.key: optuna.distributions.FloatDistribution(d.low, d.high, log=d.log)
                for d in self.dims}

    def draw(self, rng: np.random.Generator, n: int) -> list[dict[str, float]]:
        """``n`` random configurations, one after the other (so a smaller budget gets a
        prefix of a larger one's plan): u ~ U[0, 1) per dim, mapped to low + u·(high − low),
        or exp of that on the logs for a log dim."""
        u = rng.random((n, len(self.dims)))
        out: list[dict[str, float]] = [{} for _ in range(n)]
        for j, d in enumerate(self.dims):
            if d.log:
                lo, hi = math.log(d.low), math.log(d.high)
                col = np.exp(lo + u[:, j] * (hi - lo))
            else:
                col = d.low + u[:, j] * (d.high - d.low)
            for i in range(n):
                out[i][d.key] = float(col[i])
        return out


def _parse_range(name: str, key: str, raw: str, spec: str) -> Dim:
    text, slash, scale_text = raw.strip().partition("/")
    scale = scale_text.strip() if slash else None
    if scale not in (None, "log", "lin"):
        raise InputError(f"optimizer spec {spec!r}: range {key}={raw!r}: the scale after "
                         f"'/' is {scale_text!r}; give one of /log or /lin, once")
    lo_text, _, hi_text = text.partition("..")
    try:
        lo, hi = float(lo_text), float(hi_text)
    except ValueError:
        raise InputError(f"optimizer spec {spec!r}: range {key}={raw!r} must be LOW..HIGH with "
                         "two numbers, e.g. lr=1e-4..1") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError(f"optimizer spec {spec!r}: range {key}={raw!r} must be finite")
    if not lo < hi:
        raise InputError(f"optimizer spec {spec!r}: range {key}={raw!r} is "
                         f"{'empty' if lo == hi else 'inverted'} (need LOW < HIGH)")
    if scale is not None:
        log = scale == "log"
    else:
        declared = getattr(optim.get_class(name), key, None)
        log = declared.log if getattr(declared, "log", None) is not None else default_log(lo, hi)
    if log and lo <= 0:
        raise InputError(f"optimizer spec {spec!r}: log range {key}={raw!r} needs LOW > 0")
    return Dim(key, lo, hi, log)


def parse_space(spec: str) -> Space:
    """Parse ``NAME[:key=value|LOW..HIGH[/log|/lin],...]`` and check it against the optimizer
    (unknown keys, values it rejects, the ends of every range) before anything runs."""
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"empty optimizer spec {spec!r}")
    name_part, sep, rest = spec.partition(":")
    name = name_part.strip().lower()
    if name not in optim.available():
        error = optim.unknown_optimizer(name_part)
        raise (InputError(f"optimizer spec {spec!r}: {error}") if sep else error)
    known = optim.create(name).hyperparameters()
    ranges: dict[str, Dim] = {}
    fixed: dict[str, Any] = {}
    for item in rest.split(",") if sep else []:
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or not key or not raw.strip():
            raise InputError(f"optimizer spec {spec!r}: {item.strip()!r} is not key=value or "
                             "key=LOW..HIGH")
        if key in ranges or key in fixed:
            raise InputError(f"optimizer spec {spec!r}: {key!r} given twice")
        if key != "lr" and key not in known:
            raise InputError(f"optimizer spec {spec!r}: {name} has no hyperparameter {key!r}"
                             f"{did_you_mean(key, ['lr', *known])}; it has {', '.join(known)}")
        if ".." in raw:
            if key not in known:
                raise InputError(f"optimizer spec {spec!r}: {key!r} cannot be tuned")
            ranges[key] = _parse_range(name, key, raw, spec)
        else:
            try:
                fixed[key] = parse_value(raw)
            except InputError as e:  # a value thousands of characters long
                short = spec if len(spec) <= 80 else spec[:77] + "..."
                raise InputError(f"optimizer spec {short!r}: the value of {key!r}: {e}") \
                    from None
    dims = []
    cls = optim.get_class(name)  # fixed keys, and ranged keys that declare no range, are
    skip = [*fixed, *(k for k in ranges if getattr(cls, k).search is None)]  # the spec's own
    try:
        default = optim.search_space(name, skip=skip)
    except InputError as e:  # a user's class with a tunable hyperparameter and no range
        raise InputError(f"optimizer spec {spec!r}: {e}") from None
    for key, (lo, hi, log) in default.items():
        dims.append(ranges.pop(key, Dim(key, lo, hi, log)))
    dims.extend(ranges.values())
    space = Space(name, spec, tuple(dims), fixed)
    for corner in ("low", "high"):  # the optimizer must accept both ends of every range
        values = {d.key: getattr(d, corner) for d in dims}
        try:
            optim.create(name, **{**fixed, **values})
        except (TypeError, ValueError) as e:
            raise InputError(f"optimizer spec {spec!r}: {e}") from None
    return space


def stream_key(name: str) -> int:
    """A stable integer for a name (CRC-32), to derive per-optimizer random streams."""
    return zlib.crc32(name.encode())


def plan(space: Space, budget: int, seed: int) -> list[dict[str, float]]:
    """The ``budget`` configurations random search tries for this space, drawn up front from
    ``default_rng([seed, stream_key(label)])``: the same plan for any number of workers.

    >>> a = plan(parse_space("sgd"), 3, seed=0)
    >>> a == plan(parse_space("sgd"), 3, seed=0), len(a), sorted(a[0])
    (True, 3, ['lr'])
    """
    rng = np.random.default_rng([int(seed), stream_key(space.label)])
    return space.draw(rng, budget)


def config_kwargs(space: Space, config: dict[str, float]) -> dict[str, Any]:
    """The optimizer's keyword arguments for one configuration: fixed settings + the draw."""
    return {**space.fixed, **config}


def default_config(space: Space) -> dict[str, float]:
    """The library defaults of the tuned dims (Crowded Valley's one-shot budget)."""
    hyper = optim.create(space.name, **space.fixed).hyperparameters()
    return {d.key: float(hyper[d.key]) for d in space.dims}


__all__ = ["Dim", "Space", "parse_space", "plan",
           "config_kwargs", "default_config"]
