"""Optimizer metadata for user interfaces: ``describe(name)`` → a JSON-able dict.

Everything is read from the registry and the classes themselves, so an optimizer added to
:func:`descentlab.optim.register` (or an option added to a class) is described without
any change here:

* ``hyperparameters`` — one entry per :class:`~.hyperparams.Hyper` descriptor: its default
  (what a default-constructed optimizer has, an alias's preset applied), ``settable``
  (False for one the constructor fixes, e.g. Nesterov's dampening), its range (from the
  descriptor's check: ``lo``/``hi``, ``None`` for unbounded, and whether each end is open),
  its doc string, ``log`` — a hint that a slider should move on a log scale (rates and
  ε values, which span decades) — and ``search``/``tunable``, what ``compare`` tunes by default
  (``[low, high, log]`` or ``None``);
* ``options`` — the other constructor arguments (only those the class takes: L-BFGS has
  none of the shared ones): ``kind`` ``"bool"``, ``"choice"`` (with its ``allowed`` values;
  ``nullable`` when ``None`` is one), ``"number"`` (``nullable`` when the default is
  ``None``), ``"count"`` (a whole number, its ``range``), ``"numbers"`` (``count`` of
  them) or an option's own kind for a structured value set from Python
  (``"dimension_numbers"``, ``"settings"``: a base rule's settings), their default —
  what a default-constructed optimizer has — doc and whether the option is ``shared``
  by every optimizer (maximize, clipping, ...) rather than the rule's own. Declarative
  ``Flag``/``Choice``/``Number`` descriptors in :mod:`.hyperparams` are read when a class
  has them; otherwise the kind comes from the type of the default and a string option's
  allowed values from the error the class gives for a value it does not accept;
* ``equations`` — the class attribute ``equations`` when it has one, else the first
  paragraph of its docstring;
* ``summary`` — one whole sentence (:func:`.registry.summary`);
* ``max_parameters`` — the most parameters one update takes (``adagrad_full``'s n × n
  matrix: 1,000), ``None`` for no limit.

>>> d = describe("adam")
>>> d["class"], [h["name"] for h in d["hyperparameters"]]
('Adam', ['lr', 'weight_decay', 'beta1', 'beta2', 'eps', 'eps_root'])
>>> lr = d["hyperparameters"][0]
>>> lr["default"], lr["lo"], lr["hi"], lr["log"]
(0.001, 0.0, None, True)
>>> eps_mode = next(o for o in d["options"] if o["name"] == "eps_mode")
>>> eps_mode["kind"], eps_mode["allowed"], eps_mode["default"]
('choice', ['outside', 'uncorrected', 'inside'], 'outside')
>>> describe("amsgrad")["options"][0]["default"]   # the alias's preset
True
"""

from __future__ import annotations

import ast
import inspect
import math
import re
from typing import Any

import numpy as np

from . import hyperparams
from .base import Optimizer
from .hyperparams import Hyper
from .registry import resolve, summary

#: The option kinds an interface offers as controls; any other (Muon's and GaLore's
#: ``dimension_numbers``, GaLore's ``base_settings``) is a structured value, set from Python.
_PLAIN_KINDS = ("option", "bool", "choice", "number", "count", "numbers")
#: Constructor arguments no interface should offer (how to compute, not what).
HIDDEN_OPTIONS = ("backend", "nonfinite")
#: Hyperparameters whose useful values span decades: a slider moves on a log scale.
_LOG_NAMES = re.compile(r"^(lr|eps\w*|.*_lr)$")
_ALLOWED = re.compile(r"must be one of (.+?), got ")
_PROBE = "\x00not-a-choice"


def _jsonable_number(x: Any) -> Any:
    """A default as JSON: a finite float, None, or a list of them (Rprop's ``etas`` pair,
    Adafactor's ``eps``)."""
    if x is None:
        return None
    if isinstance(x, (tuple, list)):
        return [_jsonable_number(v) for v in x]
    try:
        x = float(x)
    except (TypeError, ValueError):  # a sentinel such as Adafactor's "from eps"
        return None
    return x if math.isfinite(x) else None


def _signature_defaults(cls: type[Optimizer]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for klass in (Optimizer, cls):  # the class's own defaults win
        for p in inspect.signature(klass.__init__).parameters.values():
            if p.name in ("self", "options") or p.kind is p.VAR_KEYWORD:
                continue
            if p.default is not inspect.Parameter.empty:
                out[p.name] = p.default
            else:
                out.setdefault(p.name, None)
    return out


def _class_descriptors(cls: type, kind: type | None) -> dict[str, Any]:
    if kind is None:
        return {}
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for key, value in vars(klass).items():
            if isinstance(value, kind):
                found[key] = value
    return found


def _doc_of(descriptor: Any) -> str:
    return str(getattr(descriptor, "doc", None) or descriptor.__doc__ or "").strip()


def _probe_allowed(cls: type[Optimizer], preset: dict[str, Any], name: str) -> list[str] | None:
    """A string option's allowed values, from the message the class raises for a value it
    cannot accept (``choice()`` lists them)."""
    try:
        cls(**{**preset, name: _PROBE})
    except (ValueError, TypeError) as e:
        match = _ALLOWED.search(str(e))
        if match:
            try:
                values = ast.literal_eval("(" + match.group(1) + ",)")
            except (ValueError, SyntaxError):
                return None
            return [str(v) for v in values]
    return None


def _hyperparameter(cls: type[Optimizer], name: str, default: Any,
                    settable: bool) -> dict[str, Any]:
    descriptor: Hyper = getattr(cls, name)
    check = descriptor.check
    return {
        "name": name,
        "default": _jsonable_number(default),
        "settable": settable,
        "lo": _jsonable_number(check.lo), "hi": _jsonable_number(check.hi),
        "lo_open": bool(check.lo_open), "hi_open": bool(check.hi_open),
        "range": check.text(),
        "doc": _doc_of(descriptor),
        # (a log scale cannot show 0: not for a default of 0, such as Adam's eps_root)
        "log": bool(_LOG_NAMES.match(name)) and _positive(default),
        # what compare tunes by default: [low, high, log] (None: no declared range)
        "search": None if descriptor.search is None else [*descriptor.search,
                                                          bool(descriptor.log)],
        "tunable": descriptor.tunable,
    }


def _positive(x: Any) -> bool:
    try:
        return bool(np.all(np.asarray(x, dtype=np.float64) > 0))
    except (TypeError, ValueError):
        return False


def _option(cls: type[Optimizer], preset: dict[str, Any], name: str, default: Any,
            declared: dict[str, dict[str, Any]], shared: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "default": default, "shared": shared, "doc": ""}
    flags, choices, numbers = declared["Flag"], declared["Choice"], declared["Number"]
    descriptor = cls.option_descriptors().get(name)
    if isinstance(descriptor, hyperparams.Count):
        entry.update(kind="count", nullable=descriptor.optional, range=descriptor.text(),
                     doc=_doc_of(descriptor))
    elif isinstance(descriptor, hyperparams.Numbers):
        entry.update(kind="numbers", count=descriptor.count, default=_jsonable_number(default),
                     doc=_doc_of(descriptor))
    elif isinstance(descriptor, hyperparams.Option) and descriptor.kind not in _PLAIN_KINDS:
        entry.update(kind=descriptor.kind, doc=_doc_of(descriptor))  # set from Python
    elif name in numbers:
        number = numbers[name]
        entry.update(kind="number", nullable=bool(getattr(number, "optional", False)),
                     default=_jsonable_number(default), doc=_doc_of(number))
        if getattr(number, "check", None) is not None:
            entry["range"] = number.check.text()
    elif name in flags:
        entry.update(kind="bool", doc=_doc_of(flags[name]))
    elif name in choices:
        entry.update(kind="choice", allowed=[str(v) for v in choices[name].allowed],
                     doc=_doc_of(choices[name]))
        if getattr(choices[name], "optional", False):
            entry["nullable"] = True  # None (off) is a value too: L-BFGS's line_search_fn
    elif isinstance(default, bool):
        entry["kind"] = "bool"
    elif isinstance(default, str):
        allowed = _probe_allowed(cls, preset, name)
        entry.update(kind="choice", allowed=allowed if allowed else [default])
    else:
        entry.update(kind="number", nullable=default is None,
                     default=_jsonable_number(default))
    return entry


def _equations(cls: type[Optimizer]) -> list[str]:
    lines = getattr(cls, "equations", None)
    if lines:
        return [str(line) for line in lines]
    doc = inspect.cleandoc(cls.__doc__ or "")
    return [" ".join(doc.split("\n\n")[0].split())] if doc else []


def describe(name: str) -> dict[str, Any]:
    """Everything an interface needs to offer optimizer ``name``: its class, hyperparameters
    (default, range, doc, log-scale hint), options (kind, allowed values, default) and
    update equations. See the module docstring; raises InputError for an unknown name."""
    cls, preset = resolve(name)
    defaults = {**_signature_defaults(cls), **preset}
    hypers = cls.hyperparameter_names()
    from . import accepted_arguments

    accepted = set(accepted_arguments(cls))
    try:  # the values a default-constructed optimizer has (inherited ones included; options
        # a constructor sets itself, as Muon's decoupled decay or adjust_lr_fn=None)
        built = cls(**preset)
    except (TypeError, ValueError):  # a class with required arguments: the signature's
        built = None
    if built is not None:
        defaults.update(built.hyperparameters())
        for key in defaults:
            if key in accepted and key not in hypers and key not in HIDDEN_OPTIONS:
                try:
                    defaults[key] = getattr(built, key)
                except AttributeError:
                    pass
    # only what the constructor takes (L-BFGS has none of the shared options)
    defaults = {k: v for k, v in defaults.items() if k in accepted or k in hypers}
    declared = {kind: _class_descriptors(cls, getattr(hyperparams, kind, None))
                for kind in ("Flag", "Choice", "Number")}
    base_names = set(inspect.signature(Optimizer.__init__).parameters)
    options = []
    for key, default in defaults.items():
        if key in hypers or key in HIDDEN_OPTIONS:
            continue
        shared = key in base_names and key not in cls.option_names
        options.append(_option(cls, preset, key, default, declared, shared))
    options.sort(key=lambda o: o["shared"])  # the rule's own first, in signature order
    return {
        "name": str(name).strip().lower(),
        "class": cls.__name__,
        "summary": summary(name),
        "hyperparameters": [_hyperparameter(cls, h, defaults.get(h), h in accepted)
                            for h in hypers],
        "options": options,
        "equations": _equations(cls),
        # the most parameters one update takes (full-matrix AdaGrad's n × n G), or None
        "max_parameters": getattr(cls, "max_parameters", None),
    }


__all__ = ["describe", "resolve", "HIDDEN_OPTIONS"]
