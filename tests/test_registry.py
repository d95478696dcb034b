"""The public registry (descentlab/optim/registry.py): a user's class registers exactly as the
package's own do, and the registry's mistakes are errors naming the culprit."""

from __future__ import annotations

import ast
import inspect
import re

import pytest

from descentlab import optim
from descentlab.errors import InputError, InputTypeError


class Halve(optim.Optimizer):
    """Halve: p ← p − η·g/2 (a test double)."""

    def __init__(self, lr=0.2, **options):
        super().__init__(lr, **options)

    def rule(self, p, g, state, h):
        p -= 0.5 * h.lr * g


def test_every_builtin_name_is_registered_by_the_decorator():
    names = optim.available()
    assert len(names) == 65 and names == sorted(names)
    assert all(optim.entry(n).builtin for n in names)
    assert set(optim.OPTIMIZERS) | set(optim.ALIASES) == set(names)
    assert optim.ALIASES["amsgrad"] == (optim.Adam, {"amsgrad": True})
    assert optim.get_class("Nesterov") is optim.Nesterov
    assert optim.create("AMSGrad").amsgrad is True
    assert optim.create("amsgrad", amsgrad=False).amsgrad is False  # kwargs override


def test_a_users_class_is_created_by_name_then_unregistered():
    assert optim.register(Halve) is Halve  # returns the class
    try:
        assert Halve.name == "halve" and not optim.entry("halve").builtin
        opt = optim.create("HALVE", lr=1.0)
        params = {"x": 1.0}
        opt.update(params, {"x": 1.0})
        assert params == {"x": 0.5}  # 1 − 1·1/2
        optim.register(Halve)  # the same class again: nothing happens
        assert optim.available().count("halve") == 1 and "halve" in optim.OPTIMIZERS
    finally:
        optim.unregister("halve")
    assert "halve" not in optim.available()
    with pytest.raises(InputError, match="no optimizer 'halve' is registered"):
        optim.unregister("halve")


def test_a_taken_name_is_refused_naming_it_and_nothing_is_registered():
    class Other(Halve):
        name = "adam"

    before = optim.available()
    with pytest.raises(InputError, match=r"'adam' is already registered to Adam"):
        optim.register(Other)
    with pytest.raises(InputError, match=r"'amsgrad' is already registered to alias of Adam"):
        optim.register(Halve, name="mine", aliases={"amsgrad": {"lr": 1.0}})
    assert optim.available() == before  # neither 'mine' nor anything else


def test_bad_registrations_name_the_culprit():
    with pytest.raises(InputTypeError, match="takes an Optimizer subclass"):
        optim.register(dict)
    with pytest.raises(InputError, match="name 'two words' must be a letter followed by"):
        optim.register(Halve, name="two words")
    with pytest.raises(InputTypeError, match="Halve has no argument 'beta1'"):
        optim.register(Halve, name="halve2", aliases={"fast": {"beta1": 0.5}})
    assert "halve2" not in optim.available() and "fast" not in optim.available()


def test_aliases_and_their_removal(registered):
    registered(Halve, name="halfstep", aliases={"bighalf": {"lr": 2.0}})
    assert optim.create("bighalf").lr == 2.0 and optim.get_class("bighalf") is Halve
    assert optim.ALIASES["bighalf"] == (Halve, {"lr": 2.0})
    optim.unregister("halfstep")  # the class's name takes its aliases with it
    assert "bighalf" not in optim.available()
    optim.register(Halve, name="halfstep")  # for the fixture's unregister


def test_unknown_names_get_did_you_mean_and_the_views_are_read_only():
    with pytest.raises(InputError, match=r"unknown optimizer 'adamm' \(did you mean 'adam'\?\)"):
        optim.create("adamm")
    with pytest.raises(InputError, match="unknown optimizer 'nope'"):
        optim.get_class("nope")
    with pytest.raises(InputTypeError, match="must be a string"):
        optim.create(3)
    with pytest.raises(TypeError):
        optim.OPTIMIZERS["x"] = Halve  # a view: register() is the one way in


# -- defaults written once ------------------------------------------------------------------

_DEFAULTS_LINE = re.compile(r"Defaults:\s*``([^`]*)``")


def _same(a, b):
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)) and len(a) == len(
            b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (bool, str)) or isinstance(b, (bool, str)) or a is None or b is None:
        return a == b
    return float(a) == float(b)


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_signature_construction_and_docstring_defaults_agree(name):
    """Each default is written in the signature; the optimizer built with no arguments holds
    it (nothing overrides it on the way), and the docstring's ``Defaults:`` line says the
    same. A signature default of None, or a sentinel, means "the constructor decides"
    (Muon's adjust_lr_fn, schedule-free's warm-up, Adafactor's ε pair) and is not compared."""
    cls = optim.get_class(name)
    signature = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
                 if p.default is not p.empty}
    built = cls()
    held = dict(built.hyperparameters())
    for key in signature:
        if key not in held and key in cls.option_descriptors():
            held[key] = getattr(built, key)
    stated = {k: v for k, v in signature.items()
              if v is not None and (isinstance(v, (bool, int, float, str, tuple)))}
    for key, default in stated.items():
        if key in held:
            assert _same(held[key], default), (name, key, default, held[key])
    line = _DEFAULTS_LINE.search(" ".join((cls.__doc__ or "").split()))
    assert line, f"{cls.__name__}'s docstring has no Defaults: ``...`` line"
    for part in re.split(r",\s*(?![^()]*\))", line.group(1)):
        key, _, value = part.partition("=")
        key = key.strip()
        assert key in signature, f"{cls.__name__} docstring names {key!r}, not an argument"
        expected = held.get(key, signature[key]) if key in stated else signature[key]
        assert _same(ast.literal_eval(value.strip()), expected), (name, key, value, expected)


@pytest.mark.parametrize("name", optim.available())
def test_the_library_default_lies_in_the_declared_search_range(name):
    """compare's space includes the default (the one-shot configuration is in the space)."""
    held = optim.create(name).hyperparameters()
    for key, (low, high, _) in optim.search_space(name).items():
        assert low <= held[key] <= high, (name, key, held[key], (low, high))


# -- declarations read off the class ---------------------------------------------------------

def test_summary_comes_from_the_alias_the_class_attribute_or_the_docstring(registered):
    class Said(Halve):
        """Said: a first sentence
        over two lines. A second sentence."""

        name = "said"

    class Told(Halve):
        """Told: not this."""

        name = "told"
        summary = "Told: this one,   declared."

    registered(Said)
    registered(Told, aliases={"told_fast": optim.Alias({"lr": 1.0}, summary="Fast told.")})
    assert optim.summary("said") == "Said: a first sentence over two lines."
    assert optim.summary("told") == "Told: this one, declared."
    assert optim.summary("told_fast") == "Fast told."
    assert optim.summary("amsgrad").startswith("AMSGrad (Reddi, Kale & Kumar, ICLR 2018)")
    assert optim.colour("amsgrad") == "#bcbd22" and optim.colour("told") is None


def test_hyper_declarations_are_checked_where_they_are_written():
    from descentlab.optim.hyperparams import NONNEGATIVE, UNIT, Hyper

    with pytest.raises(InputError, match=r"search range \(0.5, 1.5\) of β: its ends must be"):
        Hyper(UNIT, "β", search=(0.5, 1.5))
    with pytest.raises(InputError, match="need low < high"):
        Hyper(UNIT, "β", search=(0.9, 0.5))
    with pytest.raises(InputError, match="a log scale needs low > 0"):
        Hyper(NONNEGATIVE, "rate", search=(0.0, 1.0), search_log=True)
    with pytest.raises(InputTypeError, match="Hyper.replace takes"):
        optim.Adam.beta1.replace(serach=(0.1, 0.2))
    narrowed = optim.Nesterov.momentum
    assert narrowed.search == (0.01, 0.99) and optim.Momentum.momentum.search == (0.0, 0.99)
    assert narrowed.__doc__ == optim.Momentum.momentum.__doc__  # replace keeps the rest
    # the scale: declared, else log for a positive range of two decades or more
    assert Hyper(NONNEGATIVE, "r", search=(1e-3, 1e-1)).log is True
    assert Hyper(NONNEGATIVE, "r", search=(1e-3, 9e-2)).log is False
    assert Hyper(NONNEGATIVE, "r", search=(1e-3, 1e-1), search_log=False).log is False


def test_the_hand_written_signatures_in_the_docs_are_the_classes():
    """docs/optimizers.md's update-rule table writes each signature and the optax table each
    default by hand (next to prose no generator writes): every ``key=value`` there is an
    argument of the class with that default."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "optimizers.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| `\((.*?)\)`", text, re.M)  # | `Adam` | `(lr=...)` |
    rows += re.findall(r"^\| `\"\w+\"` \| `(\w+)` \([\w.]+\) \| `([^`]*)`", text, re.M)
    assert len(rows) >= 27, len(rows)
    for cls_name, args in rows:
        cls = getattr(optim, cls_name)
        signature = {p.name: p.default
                     for p in inspect.signature(cls.__init__).parameters.values()}
        for part in re.split(r",\s*(?![^()]*\))", args):
            key, eq, value = part.strip().partition("=")
            if not eq:
                continue  # "*"
            assert key in signature, f"docs: {cls_name} has no argument {key!r}"
            assert _same(ast.literal_eval(value), signature[key]), (cls_name, key, value)
