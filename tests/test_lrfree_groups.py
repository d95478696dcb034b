"""Prodigy's and D-Adaptation's d shared across the param groups of a ``Groups``.

The authors' packages (``prodigyopt`` 1.1.2 ``Prodigy``, ``dadaptation`` 3.2 ``DAdaptAdam``)
take their sums over every param group and keep one d; ``Groups`` does the same for a base
whose class declares ``shared_globals`` (``Groups(..., share=False)``: a d per group, and
DoG's groups stay per group, as the DoG authors' are). Against those packages in float64 with
three torch param groups of different settings (each group's own ε, weight decay,
``safeguard_warmup``, a group at lr 0), random shapes and 100 steps of drifting gradients,
then: the per-group form, the settings that must agree, checkpoints and resume.
"""

from __future__ import annotations

import copy

import dadaptation
import numpy as np
import prodigyopt
import pytest
from helpers import assert_resume_is_bit_identical
from test_lrfree import _u, drifting, idle_start
from torch_trajectory import run_ours, torch_trajectory

from descentlab import optim
from descentlab.errors import InputError
from descentlab.optim.pipeline import update_together


def _torch_groups(cls, groups, **common):
    """``make(tensors)`` for torch_trajectory: tensor k in param group k, with its settings."""
    return lambda ts: cls([{"params": [t], **g} for t, g in zip(ts, groups)], **common)


def _per_group(rng, options, names):
    """Each group's own settings: ε and weight decay drawn per group; the group of the
    second parameter at lr 0 with ``frozen``."""
    out = []
    for k in range(len(names)):
        g = {"eps": 10 ** _u(rng, -8, -4)}
        if options.get("decay"):
            g["weight_decay"] = _u(rng, 0.0, 0.02)
        if options.get("frozen") and k == 1:
            g["lr"] = 0.0
        out.append(g)
    return out


def _groups(base, names, settings):
    """Our Groups: the first parameters by exact path with their settings, the last the base
    (whose own settings the last torch group has)."""
    return optim.Groups(base, {names[k]: settings[k] for k in range(len(names) - 1)})


def prodigy_groups_case(options, seed):
    rng, params, grads = drifting(f"prodigy groups{sorted(options)}", seed)
    names = list(params)
    lr, b1, b2 = _u(rng, 0.5, 1.5), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.999)
    b1 = 0.0 if options.get("beta1=0") else b1
    b3 = _u(rng, 0.5, 0.99) if options.get("beta3") else None
    d0, coef = 10 ** _u(rng, -6, -3), _u(rng, 0.5, 2.0)
    growth = _u(rng, 1.01, 1.1) if options.get("growth_rate") else None
    decoupled = not options.get("l2")
    bc = bool(options.get("use_bias_correction"))
    groups = _per_group(rng, options, names)
    groups[0]["safeguard_warmup"] = True  # the authors read it per group
    if options.get("slice_p"):  # so is slice_p: a different one per group
        for g, cut in zip(groups, (3, 2, 11)):
            g["slice_p"] = cut
    grads, lr_at = idle_start(options, grads, lr)
    make = _torch_groups(prodigyopt.Prodigy, groups, lr=lr, betas=(b1, b2), beta3=b3,
                         decouple=decoupled, d0=d0, d_coef=coef,
                         growth_rate=growth or float("inf"), use_bias_correction=bc)
    expected = torch_trajectory(make, params, grads, lr_at=lr_at)
    base = optim.Prodigy(lr_at or lr, b1, b2, b3, d0=d0, d_coef=coef, growth_rate=growth,
                         use_bias_correction=bc, decoupled_weight_decay=decoupled,
                         **groups[-1])
    return _groups(base, names, groups), params, grads, expected


def dadapt_groups_case(options, seed):
    rng, params, grads = drifting(f"dadapt groups{sorted(options)}", seed)
    names = list(params)
    lr, b1, b2 = _u(rng, 0.5, 1.5), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.999)
    d0 = 10 ** _u(rng, -6, -3)
    growth = _u(rng, 1.01, 1.1) if options.get("growth_rate") else None
    decoupled = not options.get("l2")
    bc = bool(options.get("use_bias_correction"))
    groups = _per_group(rng, options, names)
    if options.get("layer_scale"):  # the authors' per-group factor
        for g in groups:
            g["layer_scale"] = _u(rng, 0.2, 1.5)
    grads, lr_at = idle_start(options, grads, lr)
    make = _torch_groups(dadaptation.DAdaptAdam, groups, lr=lr, betas=(b1, b2),
                         decouple=decoupled, use_bias_correction=bc, d0=d0,
                         growth_rate=growth or float("inf"))
    expected = torch_trajectory(make, params, grads, lr_at=lr_at)
    base = optim.DAdaptAdamW(lr_at or lr, b1, b2, d0=d0, growth_rate=growth,
                             use_bias_correction=bc, decoupled_weight_decay=decoupled,
                             **groups[-1])
    return _groups(base, names, groups), params, grads, expected


IDLE = {"idle": True, "decay": True, "use_bias_correction": True}
CASES = [(prodigy_groups_case, o) for o in (
    {}, {"decay": True}, {"decay": True, "l2": True}, {"beta1=0": True, "decay": True},
    {"use_bias_correction": True, "beta3": True}, {"growth_rate": True, "decay": True},
    {"schedule": True}, {"frozen": True, "decay": True}, {"frozen": True, "beta1=0": True},
    IDLE, {"slice_p": True, "decay": True, "l2": True},
    {"slice_p": True, "growth_rate": True, "decay": True}, {"slice_p": True, "frozen": True})] + [
    (dadapt_groups_case, o) for o in (
    {}, {"decay": True}, {"decay": True, "l2": True}, {"use_bias_correction": True},
    {"growth_rate": True}, {"schedule": True}, {"frozen": True, "decay": True}, IDLE,
    {"layer_scale": True, "decay": True})]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("case, options", CASES,
                         ids=[f"{c.__name__.split('_')[0]}-{sorted(o)}" for c, o in CASES])
def test_groups_share_d_exactly_as_the_authors_packages(case, options):
    for seed in range(2):
        ours, params, grads, expected = case(options, seed)
        assert len(params) == 3 and ours.shared == (0, 1, 2)
        worst = run_ours(ours, params, grads, expected, f"{case.__name__} {options} {seed}")
        assert worst <= 1e-12
        d = [opt.globals["d"] for opt in ours.optimizers]
        assert d[0] == d[1] == d[2] > 10 * ours.optimizers[0].d0  # one d, and it grew


def test_a_frozen_group_adds_nothing_and_keeps_its_moments():
    ours, params, grads, _ = prodigy_groups_case({"frozen": True}, 0)
    p = copy.deepcopy(params)
    for g in grads[:5]:
        ours.update(p, g)
    name = list(params)[1]
    for slot in ("m", "v", "s"):
        assert not np.any(ours.state_for(name)[slot])
    np.testing.assert_array_equal(p[name], params[name])  # no decay: it did not move


def _three_groups(cls, share=True, **settings):
    return optim.Groups(cls(**settings), {"a": {"eps": 1e-6}, "b": {"weight_decay": 0.1}},
                        share=share)


def _run(opt, steps=6, seed=0):
    rng = np.random.default_rng(seed)
    params = {"a": rng.standard_normal(3), "b": rng.standard_normal((2, 2)),
              "c": float(rng.normal())}
    drift = {k: rng.standard_normal(np.shape(v)) for k, v in params.items()}
    for _ in range(steps):
        opt.update(params, {k: drift[k] + 0.3 * rng.standard_normal(np.shape(v))
                            for k, v in params.items()})
    return params


@pytest.mark.parametrize("cls", [optim.Prodigy, optim.DAdaptAdamW])
def test_share_false_is_one_optimizer_per_group(cls):
    """``share=False``: each group is the rule alone on its own parameters (checked against
    separate optimizers, bit for bit); the shared form differs from it."""
    apart = _run(_three_groups(cls, share=False))
    together = _run(_three_groups(cls))
    alone = {"a": cls(eps=1e-6), "b": cls(weight_decay=0.1), "c": cls()}
    rng = np.random.default_rng(0)
    params = {"a": rng.standard_normal(3), "b": rng.standard_normal((2, 2)),
              "c": float(rng.normal())}
    drift = {k: rng.standard_normal(np.shape(v)) for k, v in params.items()}
    for _ in range(6):
        g = {k: drift[k] + 0.3 * rng.standard_normal(np.shape(v)) for k, v in params.items()}
        for k, opt in alone.items():
            one = {k: params[k]}
            opt.update(one, {k: g[k]})
            params[k] = one[k]
    for k in params:
        np.testing.assert_array_equal(apart[k], params[k])
    assert not np.allclose(apart["a"], together["a"], rtol=1e-6, atol=0)


def test_only_the_groups_built_from_settings_share_and_dog_never_does():
    assert optim.Groups(optim.DoG(), {"b": {"weight_decay": 0.1}}).shared == ()
    assert optim.Groups(optim.Prodigy(), {"b": {}}, share=False).shared == ()
    mixed = optim.Groups(optim.Prodigy(), {"a": optim.Prodigy(), "b": {"eps": 1e-6}})
    assert mixed.shared == (1, 2)  # an optimizer of its own (multi_transform) keeps its d
    assert optim.Groups(optim.Adam(), {"a": optim.Prodigy(), "b": optim.Prodigy()}).shared == ()
    with pytest.raises(TypeError, match="share"):
        optim.Groups(optim.Prodigy(), {"b": {}}, share="yes")


def _state_of(opt):
    return copy.deepcopy(opt.state_dict())


def _same(a, b):
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls, name, value", [
    (optim.Prodigy, "beta1", 0.8), (optim.Prodigy, "d_coef", 2.0),
    (optim.Prodigy, "use_bias_correction", True), (optim.DAdaptAdamW, "beta2", 0.99),
    (optim.DAdaptAdamW, "growth_rate", 1.05), (optim.Prodigy, "lr", 0.5),
    (optim.DAdaptAdamW, "lr", 2.0)])
def test_a_shared_setting_that_differs_is_refused_naming_it_and_nothing_changes(cls, name,
                                                                                value):
    opt = _three_groups(cls)
    params = _run(opt, steps=3)
    setattr(opt.optimizers[1], name, value)
    before, p_before = _state_of(opt), copy.deepcopy(params)
    with pytest.raises(InputError, match=rf"group '[ab]': {name} ="):
        opt.update(params, {k: np.ones(np.shape(v)) for k, v in params.items()})
    _same(_state_of(opt), before)
    _same(params, p_before)
    opt.optimizers[1].lr = 0.0  # lr 0 is allowed (a frozen group); the rest then agrees
    if name != "lr":
        setattr(opt.optimizers[1], name, getattr(opt.optimizers[0], name))
    opt.update(params, {k: np.ones(np.shape(v)) for k, v in params.items()})


@pytest.mark.parametrize("cls", [optim.Prodigy, optim.DAdaptAdamW])
def test_resume_of_the_shared_d_is_bit_identical(cls, tmp_path):
    def make():
        return optim.Groups(cls(weight_decay=0.1), {"b": {"weight_decay": 0.0}})

    assert make().shared == (0, 1)
    assert_resume_is_bit_identical(make, tmp_path / "g.npz", 3)


def test_a_checkpoint_that_does_not_share_as_these_groups_do_is_refused(tmp_path):
    saved = _three_groups(optim.Prodigy)
    _run(saved, steps=3)
    state = saved.state_dict()
    apart = _three_groups(optim.Prodigy, share=False)
    _run(apart, steps=1)
    before = _state_of(apart)
    with pytest.raises(InputError, match="share"):
        apart.load_state_dict(state)
    _same(_state_of(apart), before)
    older = {k: v for k, v in state.items() if k != "shared"}  # a file from before sharing
    with pytest.raises(InputError, match="share"):
        _three_groups(optim.Prodigy).load_state_dict(older)
    adam = optim.Groups(optim.Adam(), {"a": {"eps": 1e-6}})
    _run(adam, steps=2)
    old_adam = {k: v for k, v in adam.state_dict().items() if k != "shared"}
    optim.Groups(optim.Adam(), {"a": {"eps": 1e-6}}).load_state_dict(old_adam)
    tampered = copy.deepcopy(state)
    tampered["groups"][1]["globals"]["d"] *= 2
    fresh = _three_groups(optim.Prodigy)
    with pytest.raises(InputError, match="group 'b' holds other globals"):
        fresh.load_state_dict(tampered)
    assert fresh.step == 0 and not fresh.optimizers[0].state
    saved.save(tmp_path / "g.npz")
    again = _three_groups(optim.Prodigy)
    again.load(tmp_path / "g.npz")
    _same(again.state_dict(), state)


def test_a_failing_later_group_rolls_back_the_shared_ones():
    """A Groups with groups sharing d and a group of its own that fails (a hyperparameter
    array that does not broadcast): nothing changed, the shared groups included."""
    opt = optim.Groups(optim.Prodigy(), {"a": {"eps": 1e-6}, "c": optim.SGD(0.1)})
    params = _run(opt, steps=2)
    opt.optimizers[1].lr = np.ones(5)
    before, p_before = _state_of(opt), copy.deepcopy(params)
    with pytest.raises(InputError, match="lr"):
        opt.update(params, {k: np.ones(np.shape(v)) for k, v in params.items()})
    _same(_state_of(opt), before)
    _same(params, p_before)


def test_a_shared_setting_given_to_one_group_is_refused_when_the_groups_are_built():
    with pytest.raises(InputError, match=r"group 'a': beta1 = 0.8 differs from the base "
                                         r"group's 0.9; the groups share one d"):
        optim.Groups(optim.Prodigy(), {"a": {"beta1": 0.8}})
    with pytest.raises(InputError, match="group 'b': d0 ="):
        optim.Groups(optim.DAdaptAdamW(), {"a": {"eps": 1e-6}, "b": {"d0": 1e-4}})
    assert optim.Groups(optim.Prodigy(), {"a": {"beta1": 0.8}}, share=False).shared == ()
    optim.Groups(optim.Prodigy(lr=lambda t: 1.0), {"a": {"weight_decay": 0.1}})  # (schedules:
    # checked at each update, as in test_a_shared_setting_that_differs_is_refused...)


def test_groups_sharing_d_skip_a_step_together():
    """``nonfinite`` is a shared setting (refused per group); a non-finite gradient anywhere
    under ``"skip"`` skips the step of every group sharing d, changing nothing."""
    with pytest.raises(InputError, match="group 'a': nonfinite = 'skip'"):
        optim.Groups(optim.Prodigy(), {"a": {"nonfinite": "skip"}})
    a, b = optim.Prodigy(nonfinite="skip"), optim.Prodigy(nonfinite="skip")
    pa, pb = {"x": np.ones(2)}, {"y": np.ones(1)}
    update_together([(a, pa, {"x": np.ones(2)}, "a"), (b, pb, {"y": np.ones(1)}, "b")])
    before = [_state_of(a), _state_of(b)]
    with pytest.warns(RuntimeWarning, match="skipped"):
        update_together([(a, pa, {"x": np.ones(2)}, "a"),
                         (b, pb, {"y": np.array([np.nan])}, "b")])
    assert a.skipped_steps == b.skipped_steps == 1 and a.step == b.step == 1
    for opt, saved in zip((a, b), before):
        saved["skipped_steps"] = 1
        _same(_state_of(opt), saved)
