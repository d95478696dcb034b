"""Every optimizer's defaults against its reference's signature, read at test time.

The reference is ``torch.optim`` (2.13) for the torch rules and optax (0.2.8) for the optax
family. Each default the reference declares is compared with the value a descentlab optimizer
built without arguments holds; every reference parameter is either compared or listed here
as an implementation switch with no descentlab counterpart, and every deliberate difference is
listed with its reason (so a new reference default, or a changed one, fails this test).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import adam_mini
import dadaptation
import madgrad
import optax
import prodigyopt
import pytest
import pytorch_optimizer
import torch

from descentlab import optim

#: Reference parameters that choose an implementation, or a feature with no counterpart here
#: (optax's masks and state dtypes: docs/optimizers.md says so) — no number to compare.
IMPLEMENTATION = {"params", "foreach", "capturable", "differentiable", "fused", "mu_dtype",
                  "accumulator_dtype",
                  "mask", "weight_decay_mask", "trust_ratio_mask", "state_dtype",
                  # SAM: pmap's axis name
                  "batch_axis_name",
                  # Sophia: the estimator is Hutchinson's (optax's default), its probes
                  # from a seed (docs/optimizers.md)
                  "hessian_diagonal_fn",
                  "precondition_dtype",
                  "fsdp_in_use", "log_every",  # (prodigyopt's, dadaptation's)
                  # adam-mini's logging and sharding; its n_kv_heads does not enter the update
                  "verbose", "model_sharding", "n_kv_heads",
                  # noisy_sgd: optax's JAX key (seed: its deprecated name); descentlab's
                  # NumPy seed draws other numbers (tests/test_noisy_sgd.py)
                  "key", "seed"}

#: Reference name → descentlab name(s), where they differ (a tuple unpacks a tuple default).
RENAMES = {"betas": ("beta1", "beta2"), "b1": "beta1", "b2": "beta2", "b3": "beta3",
           "learning_rate": "lr", "etas": ("etaminus", "etaplus"),
           "step_sizes": ("step_size_min", "step_size_max"),
           "weight_dimension_numbers": "dimension_numbers", "base_optimizer": "base"}


def _yogi_reference(**_: Any) -> None:
    """optax.yogi's defaults plus scale_by_yogi's eps_root and initial_accumulator_value."""


_yogi_reference.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    list(inspect.signature(optax.yogi).parameters.values())
    + [p for n, p in inspect.signature(optax.scale_by_yogi).parameters.items()
       if n in ("eps_root", "initial_accumulator_value")])

def _captured(fn: Any, wanted: set[str]) -> dict[str, Any]:
    """The values named ``wanted`` that the function ``fn`` or a function it captures
    (at any depth) has captured from its enclosing scope."""
    out: dict[str, Any] = {}
    seen: set[int] = set()
    todo = [fn]
    while todo:
        f = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        f = getattr(f, "func", f)  # (functools.partial)
        for name, cell in zip(getattr(f, "__code__", None) and f.__code__.co_freevars or (),
                              getattr(f, "__closure__", None) or ()):
            value = cell.cell_contents
            if name in wanted:
                out.setdefault(name, value)
            if callable(value):
                todo.append(value)
    return out


def _lbfgs_reference(**_: Any) -> None:
    """optax.lbfgs's defaults, its default line search's settings read off that line search
    itself (the values its functions captured), as keyword defaults."""


_ZOOM = inspect.signature(optax.scale_by_zoom_linesearch).parameters
_LBFGS_SEARCH = _captured(
    inspect.signature(optax.lbfgs).parameters["linesearch"].default.update,
    set(_ZOOM) | {"max_stepsize", "interval_threshold"})
_LBFGS_SEARCH["max_learning_rate"] = _LBFGS_SEARCH.pop("max_stepsize")
_LBFGS_SEARCH["stepsize_precision"] = _LBFGS_SEARCH.pop("interval_threshold")
_lbfgs_reference.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [p for n, p in inspect.signature(optax.lbfgs).parameters.items() if n != "linesearch"]
    + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=_LBFGS_SEARCH[n])
       for n in _ZOOM if n != "verbose"])


def _lbfgs_backtracking_reference(**_: Any) -> None:
    """optax.lbfgs's defaults with scale_by_backtracking_linesearch's as keyword defaults
    (its max_backtracking_steps has none)."""


_lbfgs_backtracking_reference.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [p for n, p in inspect.signature(optax.lbfgs).parameters.items() if n != "linesearch"]
    + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for n, p in
       inspect.signature(optax.scale_by_backtracking_linesearch).parameters.items()
       if n != "verbose"])


#: descentlab name → (reference, per-name renames beyond RENAMES).
REFERENCES: dict[str, tuple[Callable, dict[str, Any]]] = {
    "sgd": (torch.optim.SGD, {}),
    "momentum": (torch.optim.SGD, {}),
    "nesterov": (torch.optim.SGD, {}),
    "adagrad": (torch.optim.Adagrad, {}),
    "adagrad_full": (torch.optim.Adagrad, {}),  # no torch class: AdaGrad's defaults
    "rmsprop": (torch.optim.RMSprop, {"alpha": "rho"}),
    "adadelta": (torch.optim.Adadelta, {}),
    "adam": (torch.optim.Adam, {}),
    "amsgrad": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
    "nadam": (torch.optim.NAdam, {}),
    "adamax": (torch.optim.Adamax, {}),
    "radam": (torch.optim.RAdam, {}),
    "rprop": (torch.optim.Rprop, {}),
    "asgd": (torch.optim.ASGD, {}),
    "adafactor": (torch.optim.Adafactor, {"eps": ("eps1", "eps2")}),
    "muon": (torch.optim.Muon, {}),
    "lbfgs": (torch.optim.LBFGS, {}),
    "lion": (optax.lion, {}),
    "lars": (optax.lars, {}),
    "lamb": (optax.lamb, {}),
    "adabelief": (optax.adabelief, {}),
    "yogi": (_yogi_reference, {}),
    "adan": (optax.adan, {}),
    "adopt": (optax.contrib.adopt, {"clip_value_fn": "clip_exponent"}),
    "ademamix": (optax.contrib.ademamix, {}),
    "schedule_free_sgd": (optax.contrib.schedule_free_sgd, {}),
    "schedule_free_adamw": (optax.contrib.schedule_free_adamw, {}),
    # the catalogue (issue 19): optax's, the authors' or pytorch-optimizer's
    "sign_sgd": (optax.sign_sgd, {}),
    "signum": (optax.signum, {}),
    "adamaxw": (optax.adamaxw, {}),
    "novograd": (optax.novograd, {}),
    "optimistic_gradient_descent": (optax.optimistic_gradient_descent, {}),
    "optimistic_adam": (optax.optimistic_adam_v2, {}),
    "fromage": (optax.fromage, {}),
    "sm3": (optax.sm3, {}),
    "acprop": (optax.contrib.acprop, {}),
    "cocob": (optax.contrib.cocob, {}),
    "simplified_ademamix": (optax.contrib.simplified_ademamix, {}),
    "madgrad": (madgrad.MADGRAD, {"decouple_decay": "decoupled_weight_decay"}),
    "laprop": (pytorch_optimizer.LaProp, {}),
    "clion": (pytorch_optimizer.Lion, {"weight_decouple": "decoupled_weight_decay"}),
    "cadamw": (torch.optim.AdamW, {}),  # C-AdamW is AdamW with the cautious mask
    "polyak_sgd": (optax.polyak_sgd, {"scaling": "lr"}),
    "momo": (optax.contrib.momo, {}),
    "momo_adam": (optax.contrib.momo_adam, {}),
    "sam": (optax.contrib.sam, {}),
    "sophia": (optax.contrib.sophia, {}),
    "sgd_backtracking": (optax.scale_by_backtracking_linesearch, {}),  # (after optax.sgd(1.0))
    "sgd_zoom": (optax.scale_by_zoom_linesearch, {}),  # (after optax.sgd(1.0))
    "lbfgs_optax": (_lbfgs_reference, {}),
    "lbfgs_backtracking": (_lbfgs_backtracking_reference, {}),
    "soap": (pytorch_optimizer.SOAP, {}),
    "shampoo": (pytorch_optimizer.Shampoo, {"weight_decouple": "decoupled_weight_decay"}),
    "psgd_kron": (pytorch_optimizer.Kron, {
        "weight_decouple": "decoupled_weight_decay",
        "pre_conditioner_update_probability": "update_probability"}),
    "galore": (optax.contrib.galore, {}),
    # the learning-rate-free rules: optax's, or the authors' where they are the default
    "dog": (optax.contrib.dog, {"init_step": ("init_step", "init_value")}),
    "dowg": (optax.contrib.dowg, {}),
    "prodigy": (prodigyopt.Prodigy, {"decouple": "decoupled_weight_decay"}),
    "dadapt_adamw": (dadaptation.DAdaptAdam, {"decouple": "decoupled_weight_decay"}),
    "mechanize": (optax.contrib.mechanize, {}),
    "mars": (pytorch_optimizer.MARS, {"weight_decouple": "decoupled_weight_decay",
                                      "betas_1d": ("beta1_1d", "beta2_1d"),
                                      "lr_1d": "lr_1d_factor"}),
    "adam_mini": (adam_mini.Adam_mini, {}),
    "noisy_sgd": (optax.noisy_sgd, {}),
    "scion": (pytorch_optimizer.SCION, {"weight_decouple": "decoupled_weight_decay",
                                        "norm_type": "norm"}),
}

#: (descentlab name, descentlab setting) → (descentlab's default, why it differs).
DIFFERENCES = {
    ("momentum", "momentum"): (0.9, "the class is momentum: torch's SGD default 0 is plain "
                                    "SGD; 0.9 is the textbook's"),
    ("nesterov", "momentum"): (0.9, "Nesterov needs momentum > 0 (torch refuses nesterov=True "
                                    "at its default 0); 0.9 is the textbook's"),
    ("nesterov", "nesterov"): (True, "the class is Nesterov's step"),
    ("amsgrad", "amsgrad"): (True, "the alias is Adam(amsgrad=True)"),
    ("clion", "weight_decay"): (1e-3, "Lion's default here is optax's (lion's too); "
                                      "pytorch-optimizer's is 0"),
    ("sam", "opaque_mode"): (True, "one update per outer step from a closure, as SAM here "
                                   "has always been; optax's transparent default is "
                                   "opaque_mode=False"),
    ("dadapt_adamw", "decoupled_weight_decay"): (True, "the name is AdamW: optax's "
                                                       "dadapt_adamw and the authors' "
                                                       "DAdaptAdam(decouple=True) decay so"),
    ("galore", "base"): ("adam", "optax's base_optimizer=None is scale_by_adam(): galore's "
                                 "base 'adam'"),
}

#: (descentlab name, reference setting) → (the reference's default, why descentlab's class
#: always does what that default does, with no setting of its own).
ALWAYS = {
    ("laprop", "weight_decouple"): (True, "LaProp decays after its step, decoupled"),
    ("soap", "data_format"): ("channels_first", "every axis is its own factor, in its own "
                              "order (the layout matters only to merge_dims)"),
    ("scion", "norm_kwargs"): (None, "each norm's options at their defaults: Scion's "
                                     "normalized, transpose, max_scale and ns_steps"),
}

#: References with no default to compare (a rule optax defines by its required arguments).
NO_DEFAULTS = {"sign_sgd": "optax.sign_sgd(learning_rate) has no default; 1e-4 is signum's "
                           "order of magnitude (docs/optimizers.md)"}

#: (descentlab name, reference setting) → why it has no counterpart; the reference's default
#: must be the setting's "off" value (0 or False), which is what descentlab's class does.
ELSEWHERE = {
    ("sgd", "momentum"): "torch's SGD with momentum > 0 is Momentum",
    ("sgd", "dampening"): "dampening belongs to Momentum",
    ("sgd", "nesterov"): "torch's SGD with nesterov=True is Nesterov",
    ("nesterov", "dampening"): "Nesterov's step has no dampening (torch requires 0)",
    ("soap", "merge_dims"): "every axis is its own factor (merging small axes is not offered)",
    ("clion", "fixed_decay"): "Lion's decay is 1 − ηλ (pytorch-optimizer's default); "
                              "the 1 − λ form is not offered",
    ("sophia", "verbose"): "Sophia prints nothing (the win rate is optax's diagnostic)",
    ("sophia", "print_win_rate_every_n_steps"): "no printing (optax's diagnostic)",
    ("sgd_backtracking", "store_grad"): "optax keeps the last trial's gradient for "
                                        "value_and_grad_from_state; the steps are the same "
                                        "(tests/test_optim_closure.py runs optax both ways)",
    ("lbfgs_backtracking", "store_grad"): "as sgd_backtracking's (tests/test_optim_closure.py "
                                          "runs optax both ways)",
}

#: Reference defaults that mean the same as descentlab's differently spelt ones.
SAME_MEANING = {
    ("muon", "adjust_lr_fn"): (None, "original"),  # torch: None is "original"
    ("schedule_free_sgd", "weight_decay"): (None, 0.0),  # optax: None adds no decay
    ("schedule_free_sgd", "warmup_steps"): (None, 0),  # optax: None is no warm-up
    ("schedule_free_adamw", "warmup_steps"): (None, 0),
    ("soap", "shampoo_beta"): (None, 0.95),  # pytorch-optimizer: None is β2 (0.95)
    ("dog", "weight_decay"): (None, 0.0),  # optax: None adds no decay
    ("dowg", "weight_decay"): (None, 0.0),
    ("prodigy", "growth_rate"): (math.inf, None),  # None: no bound
    ("dadapt_adamw", "growth_rate"): (math.inf, None),
    ("scion", "norm"): (1, "auto"),  # pytorch-optimizer's LMONorm.AUTO
    ("mars", "lr_1d_factor"): (3e-3, 1.0),  # its lr_1d = lr·lr_1d_factor, lr = 3e-3
    ("lbfgs_optax", "lr"): (None, 1.0),  # optax: None is scale(−1.0), the same as 1.0
    ("lbfgs_backtracking", "lr"): (None, 1.0),
}


def _reference_defaults(name: str) -> dict[str, Any]:
    """descentlab setting → the reference's default, for every reference default."""
    ref, renames = REFERENCES[name]
    out: dict[str, Any] = {}
    for pname, p in inspect.signature(ref).parameters.items():
        if pname in IMPLEMENTATION or p.default is inspect.Parameter.empty:
            continue
        target = renames.get(pname, RENAMES.get(pname, pname))
        value = p.default
        if pname == "clip_value_fn":  # optax's x ↦ x**a: read a off the function
            value = math.log(float(value(16.0))) / math.log(16.0)
        if isinstance(target, tuple):
            out.update(zip(target, value))
        else:
            out[target] = value
    return out


def _value(opt: optim.Optimizer, key: str) -> Any:
    value = getattr(opt, key)
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_defaults_are_the_references(name: str) -> None:
    opt = optim.create(name)
    reference = _reference_defaults(name)
    assert bool(reference) != (name in NO_DEFAULTS), f"{name}: reference defaults {reference}"
    for key, ref_value in reference.items():
        if (name, key) in ALWAYS:
            assert ref_value == ALWAYS[name, key][0], (name, key, ref_value)
            continue
        if (name, key) in ELSEWHERE:
            assert ref_value in (0, False), (name, key, ref_value)
            assert getattr(opt, key, ref_value) == ref_value, (name, key)
            continue
        assert hasattr(opt, key), f"{name}: the reference's {key!r} has no counterpart"
        ours = _value(opt, key)
        if (name, key) in DIFFERENCES:
            expected, _why = DIFFERENCES[name, key]
            assert ours == expected and ours != ref_value, (name, key, ours, ref_value)
            continue
        if (name, key) in SAME_MEANING:
            theirs, ours_for_it = SAME_MEANING[name, key]
            assert ref_value == theirs and ours == ours_for_it, (name, key, ours, ref_value)
            continue
        if isinstance(ref_value, tuple):
            ref_value = list(ref_value)
        assert ours == ref_value, f"{name}.{key}: ours {ours!r}, reference {ref_value!r}"


def test_every_registered_optimizer_has_a_reference() -> None:
    assert sorted(REFERENCES) == optim.available()


def test_listed_differences_are_still_differences() -> None:
    for (name, key) in DIFFERENCES:
        assert key in _reference_defaults(name), (name, key)


def test_sgd_default_lr_is_torch_and_the_textbook_rate_is_explicit() -> None:
    """PyTorch 2.13's SGD default is 1e-3 (read from its signature); E5's classic race passes
    the textbook's 0.01 explicitly."""
    from descentlab.lab.mnist_race import CLASSIC_OPTIMIZERS
    from descentlab.lab.spec import build_optimizer

    torch_lr = inspect.signature(torch.optim.SGD).parameters["lr"].default
    for name in ("sgd", "momentum", "nesterov"):
        assert optim.create(name).lr == torch_lr
    rates = {type(o).__name__: o.lr for o in map(build_optimizer, CLASSIC_OPTIMIZERS)}
    assert rates == {"SGD": 0.01, "Momentum": 0.01, "Nesterov": 0.01, "AdaGrad": 0.01,
                     "RMSprop": 0.01, "Adam": 0.001}
