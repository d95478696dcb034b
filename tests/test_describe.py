"""optim.describe: optimizer metadata for user interfaces, read from the classes."""

from __future__ import annotations

import json

import pytest

from descentlab import optim
from descentlab.optim import hyperparams

# PyTorch 2.x defaults (torch.optim documentation), written out by hand.
TORCH_DEFAULTS = {
    "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
    "adamw": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2},
    "adagrad": {"lr": 1e-2, "eps": 1e-10, "lr_decay": 0.0, "weight_decay": 0.0},
    "rmsprop": {"lr": 1e-2, "rho": 0.99, "eps": 1e-8, "momentum": 0.0},
    "adadelta": {"lr": 1.0, "rho": 0.9, "eps": 1e-6},
    "adamax": {"lr": 2e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
}


@pytest.mark.parametrize("name", optim.available())
def test_every_optimizer_is_described_and_json_able(name):
    d = optim.describe(name)
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["hyperparameters"][0]["name"] == "lr"
    assert d["equations"] and all(isinstance(line, str) for line in d["equations"])
    opt = optim.create(name)
    # the defaults are what the constructor gives, and every one is in its range
    assert {h["name"]: h["default"] for h in d["hyperparameters"]} == opt.hyperparameters()
    for h in d["hyperparameters"]:
        if not h["settable"]:  # fixed by the class (Nesterov's dampening, L-BFGS's decay)
            with pytest.raises(TypeError, match=h["name"]):
                optim.create(name, **{h["name"]: h["default"]})
            continue
        for bad in (h["lo"], h["hi"]):
            closed = (bad == h["lo"] and not h["lo_open"]) or (bad == h["hi"] and not
                                                                h["hi_open"])
            if bad is not None and not closed:
                with pytest.raises(ValueError, match=h["name"]):
                    optim.create(name, **{h["name"]: bad})
        if h["lo"] is not None:
            with pytest.raises(ValueError, match=h["name"]):
                optim.create(name, **{h["name"]: h["lo"] - 1})
    # every allowed choice is accepted, and nothing else
    for o in d["options"]:
        if o["kind"] == "choice":
            for value in o["allowed"]:
                optim.create(name, **{o["name"]: value})
            with pytest.raises(ValueError, match=o["name"]):
                optim.create(name, **{o["name"]: "no-such-choice"})
        assert o["name"] in optim.accepted_arguments(type(opt))
    assert not {"backend", "nonfinite"} & {o["name"] for o in d["options"]}
    for h in d["hyperparameters"]:
        assert h["settable"] == (h["name"] in optim.accepted_arguments(type(opt)))


@pytest.mark.parametrize("name", sorted(TORCH_DEFAULTS))
def test_defaults_are_pytorchs(name):
    got = {h["name"]: h["default"] for h in optim.describe(name)["hyperparameters"]}
    for key, value in TORCH_DEFAULTS[name].items():
        assert got[key] == value, key


def test_ranges_log_hints_and_option_kinds():
    d = optim.describe("Adam")
    by = {h["name"]: h for h in d["hyperparameters"]}
    assert (by["beta2"]["lo"], by["beta2"]["hi"], by["beta2"]["hi_open"]) == (0.0, 1.0, True)
    assert by["eps"]["lo_open"] and by["eps"]["hi"] is None
    assert [h["name"] for h in d["hyperparameters"] if h["log"]] == ["lr", "eps"]
    assert by["beta1"]["doc"] == "decay β1 of the first moment"
    options = {o["name"]: o for o in d["options"]}
    assert options["amsgrad"]["kind"] == "bool" and not options["amsgrad"]["shared"]
    assert options["maximize"]["shared"] and options["clip_norm"]["nullable"]
    assert optim.describe("amsgrad")["options"][0] == {**options["amsgrad"], "default": True}
    ada = {o["name"]: o for o in optim.describe("adagrad")["options"]}
    assert ada["initial_accumulator_value"]["kind"] == "number"
    rms = optim.describe("rmsprop")["equations"]
    assert rms == list(optim.RMSprop.equations) if getattr(optim.RMSprop, "equations", None) \
        else rms[0].startswith("RMSprop")


def test_fixed_hyperparameter_is_not_settable():
    by = {h["name"]: h for h in optim.describe("nesterov")["hyperparameters"]}
    assert by["dampening"]["default"] == 0.0 and not by["dampening"]["settable"]
    assert by["momentum"]["settable"]
    with pytest.raises(TypeError, match="dampening"):
        optim.create("nesterov", dampening=0.1)


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'"):
        optim.describe("adamm")


def test_new_optimizer_and_declared_options_appear(monkeypatch, registered):
    # The trust-optim branch declares options as class-level Flag/Choice descriptors; a class
    # that has them is described from them (here with stand-in descriptor classes).
    class Flag:
        def __init__(self, doc=""):
            self.doc = doc

    class Choice:
        def __init__(self, allowed, doc=""):
            self.allowed, self.doc = tuple(allowed), doc

    class Number:
        def __init__(self, check, doc="", optional=False):
            self.check, self.doc, self.optional = check, doc, optional

    monkeypatch.setattr(hyperparams, "Number", Number, raising=False)
    monkeypatch.setattr(hyperparams, "Flag", Flag, raising=False)
    monkeypatch.setattr(hyperparams, "Choice", Choice, raising=False)

    class Slow(optim.SGD):
        """Slow: SGD at a tenth of the rate (a test double)."""

        name = "slow"
        option_names = ("careful", "mode", "cap")
        equations = ("p ← p − η·g/10",)
        careful = Flag("take care")
        mode = Choice(("a", "b"), "which way")
        cap = Number(hyperparams.POSITIVE, "a cap", optional=True)
        decay = hyperparams.Hyper(hyperparams.UNIT, "a decay")

        def __init__(self, lr=0.5, decay=0.25, careful=True, mode="b", cap=None, **kw):
            super().__init__(lr, **kw)
            self.decay = decay
            self.__dict__.update(careful=careful, mode=mode, cap=cap)

    registered(Slow)
    d = optim.describe("slow")
    assert d["equations"] == ["p ← p − η·g/10"]
    by = {h["name"]: h for h in d["hyperparameters"]}
    assert by["decay"]["default"] == 0.25 and by["decay"]["hi"] == 1.0
    options = {o["name"]: o for o in d["options"]}
    assert options["careful"] == {"name": "careful", "default": True, "shared": False,
                                  "doc": "take care", "kind": "bool"}
    assert options["mode"]["kind"] == "choice" and options["mode"]["allowed"] == ["a", "b"]
    assert options["mode"]["doc"] == "which way"
    assert options["cap"] == {"name": "cap", "default": None, "shared": False, "doc": "a cap",
                              "kind": "number", "nullable": True, "range": "> 0"}


def test_summary_is_a_whole_sentence_and_family_docs_are_the_members_own():
    """The issue's two cases: the playground showed AdaBelief's summary cut at the end of the
    docstring's first line, and Adam's β2 text mentioned Adamax."""
    s = optim.describe("adabelief")["summary"]
    assert s == ('AdaBelief (Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the '
                 'Belief in Observed Gradients", NeurIPS 2020; arXiv:2010.07468), optax\'s '
                 'optax.adabelief.')
    for name in optim.available():
        text = optim.describe(name)["summary"]
        assert text.endswith((".", ")")) and "\n" not in text and "``" not in text, name
    doc = {n: {h["name"]: h["doc"] for h in optim.describe(n)["hyperparameters"]}
           for n in ("adam", "adamax", "radam")}
    assert "Adamax" not in doc["adam"]["beta2"] and "Adamax" not in doc["radam"]["beta2"]
    assert doc["adamax"]["beta2"] == "decay β2 of the infinity norm u"


def test_search_ranges_are_described():
    by = {h["name"]: h for h in optim.describe("lion")["hyperparameters"]}
    assert by["beta1"]["search"] == [0.8, 0.99, False] and by["beta1"]["tunable"]
    assert by["lr"]["search"] == [1e-5, 1.0, True]
    assert by["weight_decay"]["tunable"] is False
