"""SAM with any outer (``opt=``) and adversarial (``adv_opt=``) optimizer and optax's
transparent mode (``opaque_mode=False``): what the optax comparisons in
tests/test_optim_closure.py do not show — the two modes' relation, ``sync_period=1``,
checkpoints holding both inner optimizers (mid-period too), failed calls changing nothing,
and bad input refused naming the culprit.

The loss here is tests/closure_loss.py's at one step's data (fixed, so that one opaque update
and ``sync_period`` transparent calls see the same function).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from closure_loss import np_grad, np_loss, step_data

from descentlab import optim
from descentlab.errors import DescentlabError, InputError, InputTypeError, NonFiniteError
from descentlab.optim.wrappers import Lookahead


def problem(seed=0):
    rng = np.random.default_rng(seed)
    params = {"w": rng.standard_normal((3, 2)), "b": rng.standard_normal(4),
              "s": rng.standard_normal(())}
    return params, step_data(rng, params)


def closure_for(params, d):
    return lambda: (np_loss(params, d), np_grad(params, d))


def pair(reset_state=True, opaque_mode=True, sync_period=3):
    """An Adam outer and a Momentum adversary (stateful both)."""
    return optim.SAM(sync_period=sync_period, opt=optim.Adam(0.05),
                     adv_opt=optim.Momentum(0.1, 0.5), reset_state=reset_state,
                     opaque_mode=opaque_mode)


def inner_states(sam):
    return repr(sam.state_dict())


# ------------------------------------------------------------------ the two modes
@pytest.mark.parametrize("make", [
    lambda mode: optim.SAM(0.1, 0.3, 0.5, True, 3, opaque_mode=mode),
    lambda mode: pair(False, mode),
    lambda mode: pair(True, mode, sync_period=2),
])
def test_every_sync_period_calls_transparent_mode_is_opaque_mode(make):
    """On one loss, S transparent calls (the gradient at the parameters as they are) end
    where one opaque update (S closure calls) does, bit for bit, and the calls in between
    leave the parameters at the adversarial points; grads and a closure are the same call."""
    start, d = problem()
    opaque, transparent, by_closure = make(True), make(False), make(False)
    a, b, c = (copy.deepcopy(start) for _ in range(3))
    period = opaque.sync_period
    for _ in range(4):
        loss = opaque.update(a, closure=closure_for(a, d))
        assert loss == np_loss(b, d)
        for i in range(period):
            before = copy.deepcopy(b)
            assert transparent.update(b, np_grad(b, d)) is None
            assert by_closure.update(c, closure=closure_for(c, d)) == np_loss(before, d)
            if i < period - 1:  # an adversarial point: away from p
                assert not np.array_equal(b["w"], a["w"])
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
            np.testing.assert_array_equal(b[k], c[k])
    assert transparent.step == opaque.step == 4
    assert transparent.needs_closure is False and opaque.needs_closure is True


@pytest.mark.parametrize("opaque_mode", [True, False])
def test_sync_period_1_is_the_outer_optimizer_alone(opaque_mode):
    """No adversarial step: SAM(opt=X, sync_period=1) is X (optax's transparent mode differs
    here: it applies each step from the previous call's parameters, docs/optimizers.md)."""
    start, d = problem(1)
    sam = optim.SAM(sync_period=1, opt=optim.Adam(0.05), adv_opt=optim.SGD(0.5),
                    opaque_mode=opaque_mode)
    alone = optim.Adam(0.05)
    a, b = copy.deepcopy(start), copy.deepcopy(start)
    for _ in range(5):
        sam.update(a, closure=closure_for(a, d))
        alone.update(b, np_grad(b, d))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert sam.adv_opt.step == 0


def test_optax_transparent_sync_period_1_steps_from_the_previous_calls_parameters():
    """What docs/optimizers.md says of optax 0.2.8 (read from its source: the cache is read
    before it is written), by hand on f = ½‖p‖² (∇f = p) with the outer sgd(0.1): optax's
    p₂ = p₀ − 0.1·p₁ and p₃ = p₁ − 0.1·p₂, where SGD (and SAM here) has p ← p − 0.1·p."""
    import jax
    import jax.numpy as jnp
    import optax
    from optax import contrib

    with jax.enable_x64(True):
        tx = contrib.sam(optax.sgd(0.1), optax.sgd(0.5), sync_period=1, opaque_mode=False)
        p = jnp.array([1.0, -2.0])
        state, theirs = tx.init(p), [np.asarray(p)]
        for _ in range(3):
            u, state = tx.update(p, state, p)
            p = p + u
            theirs.append(np.asarray(p))
    p0 = np.array([1.0, -2.0])
    p1 = p0 - 0.1 * p0
    p2 = p0 - 0.1 * p1
    np.testing.assert_allclose(theirs[1:], [p1, p2, p1 - 0.1 * p2], rtol=1e-15)
    x = p0.copy()
    sam = optim.SAM(opt=optim.SGD(0.1), sync_period=1, opaque_mode=False)
    for _ in range(3):
        sam.update(x, x.copy())
    np.testing.assert_allclose(x, 0.9 ** 3 * p0, rtol=1e-15)


def test_an_outer_optimizer_by_name_and_a_wrapped_one():
    """``opt="adam"`` is Adam at its defaults; ``opt`` may be any optimizer that takes
    gradients, a Groups or a wrapper too."""
    start, d = problem(2)
    by_name = optim.SAM(opt="adam", adv_opt="momentum", reset_state=False)
    built = optim.SAM(opt=optim.Adam(), adv_opt=optim.Momentum(), reset_state=False)
    grouped = optim.SAM(opt=optim.Groups(optim.Adam(), {"b": optim.SGD(0.01)}))
    a, b, c = (copy.deepcopy(start) for _ in range(3))
    for _ in range(3):
        by_name.update(a, closure=closure_for(a, d))
        built.update(b, closure=closure_for(b, d))
        grouped.update(c, closure=closure_for(c, d))
    np.testing.assert_array_equal(a["w"], b["w"])
    assert not np.array_equal(c["b"], b["b"]) and c["w"].tolist() != start["w"].tolist()


def test_groups_of_a_transparent_sam_copy_its_inner_optimizers():
    """A Groups built on a transparent SAM with ``opt``/``adv_opt`` gives each group a SAM
    with its own fresh copies of them (and a group may name another)."""
    base = optim.SAM(opt=optim.Adam(0.05), adv_opt=optim.Momentum(0.1, 0.5),
                     opaque_mode=False)
    groups = optim.Groups(base, {"b": {"sync_period": 3}, "s": {"opt": "sgd"}})
    first, second, last = groups.optimizers
    assert last is base and first.sync_period == 3
    assert type(first.opt) is optim.Adam and first.opt is not base.opt
    assert first.opt.lr == 0.05 and first.adv_opt is not base.adv_opt
    assert type(second.opt) is optim.SGD
    start, d = problem(7)
    x = copy.deepcopy(start)
    for _ in range(6):
        groups.update(x, np_grad(x, d))
    assert first.step == 2 and last.step == 3 and first.opt.step == 2
    assert not np.array_equal(x["b"], start["b"])


def test_lookahead_reset_state_restarts_a_transparent_sam_with_its_inner_optimizers():
    """optax's lookahead(sam(...), reset_state=True) initialises SAM's whole state at each
    synchronisation, its optimizers' too: so does Lookahead here (and it refuses a SAM
    whose optimizer it could not restart)."""
    sam = optim.SAM(opt=optim.Adam(0.05), adv_opt=optim.Momentum(0.1, 0.5),
                    reset_state=False, opaque_mode=False, sync_period=2)
    look = Lookahead(sam, sync_period=3, reset_state=True)
    start, d = problem(8)
    x = copy.deepcopy(start)
    for _ in range(2):
        look.update(x, np_grad(x, d))
    assert sam.opt.step == 1 and sam.adv_opt.step == 1 and sam.globals["since_sync"] == 0
    look.update(x, np_grad(x, d))  # the 3rd call synchronises
    assert sam.step == sam.opt.step == sam.adv_opt.step == 0
    assert sam.state == {} and sam.opt.state == {} and sam.globals == {}
    grouped = optim.SAM(opt=optim.Groups(optim.SGD(), {"b": {"lr": 0.1}}), opaque_mode=False)
    with pytest.raises(InputError, match="reset_state=True resets"):
        Lookahead(grouped, reset_state=True)


@pytest.mark.parametrize("reset_state", [True, False])
def test_lookahead_of_transparent_sam_equals_optax(oracle, reset_state):
    """optax's lookahead(sam(adam, sgd with momentum, transparent), 3, 0.5) on 30 random
    gradients (transparent SAM takes any gradient per call): the synchronisations fall in
    the middle of SAM's periods too, and with ``reset_state`` restart it whole."""
    o = oracle
    rng = np.random.default_rng(9)
    p0 = rng.uniform(-1, 1, (2, 5))
    gs = [rng.standard_normal((2, 5)) for _ in range(30)]
    sam = o.optax.contrib.sam(o.optax.adam(0.05), o.optax.sgd(0.1, 0.5), sync_period=2,
                              reset_state=False, opaque_mode=False)
    theirs = o.optax_run(o.optax.lookahead(sam, 3, 0.5, reset_state), p0, gs,
                         init=o.optax.LookaheadParams.init_synced,
                         params_of=lambda lp: lp.fast)
    ours = o.history(Lookahead(optim.SAM(opt=optim.Adam(0.05),
                                         adv_opt=optim.Momentum(0.1, 0.5), reset_state=False,
                                         opaque_mode=False), 3, 0.5, reset_state=reset_state),
                     p0, gs)
    o.assert_close(ours, theirs)


def test_dtypes_are_kept_with_inner_optimizers():
    rng = np.random.default_rng(3)
    for dtype in (np.float16, np.float32):
        for mode in (True, False):
            x = {"w": rng.standard_normal((3, 2)).astype(dtype), "f": 0.5}
            sam = pair(False, mode)
            for _ in range(4):
                sam.update(x, closure=lambda x=x: (float(np.sum(x["w"] ** 2) + x["f"] ** 2),
                                                   {"w": 2 * x["w"], "f": 2 * x["f"]}))
            assert x["w"].dtype == dtype and isinstance(x["f"], float)
            assert np.isfinite(x["w"]).all()


# ------------------------------------------------------------------ checkpoints
OWN_STEPS = {"pair": pair,
             "own steps": lambda reset_state, opaque_mode: optim.SAM(
                 0.1, 0.2, 0.5, True, 3, opaque_mode=opaque_mode)}


@pytest.mark.parametrize("opaque_mode", [True, False])
@pytest.mark.parametrize("cut", [3, 4, 5])
@pytest.mark.parametrize("kind", list(OWN_STEPS))
def test_resume_is_bit_identical_mid_period_too(opaque_mode, cut, kind, tmp_path):
    """A checkpoint holds both inner optimizers' states, and in transparent mode where the
    period is (``since_sync``, the outer parameters): resuming after ``cut`` calls — in the
    middle of a period or at its end — gives the same steps."""
    start, d = problem(4)
    make = OWN_STEPS[kind]
    straight, first = make(False, opaque_mode), make(False, opaque_mode)
    a, b = copy.deepcopy(start), copy.deepcopy(start)
    for _ in range(9):
        straight.update(a, closure=closure_for(a, d))
    for _ in range(cut):
        first.update(b, closure=closure_for(b, d))
    first.save(tmp_path / "sam.npz")
    resumed = make(False, opaque_mode)
    resumed.load(tmp_path / "sam.npz")
    assert inner_states(resumed) == inner_states(first)
    if kind == "pair":
        assert resumed.adv_opt.step == first.adv_opt.step > 0
    if not opaque_mode:
        assert resumed.globals["since_sync"] == cut % 3
    for _ in range(9 - cut):
        resumed.update(b, closure=closure_for(b, d))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def started(opaque_mode=False, calls=4):
    start, d = problem(5)
    sam = pair(False, opaque_mode)
    x = copy.deepcopy(start)
    for _ in range(calls):
        sam.update(x, closure=closure_for(x, d))
    return sam, x, d


def test_a_checkpoint_is_refused_naming_what_is_wrong_and_nothing_changes():
    sam, x, d = started()
    good = sam.state_dict()
    before = inner_states(sam)
    bad_cases = [
        ({**good, "adv_opt": None}, "no state for SAM's adv_opt"),
        ({**good, "adv_opt": {**good["adv_opt"], "step": -1}}, "the checkpoint's adv_opt"),
        ({**good, "opt": optim.SGD().state_dict()}, "the checkpoint's opt"),
        ({**good, "globals": {"since_sync": 3}}, "since_sync"),
        ({**good, "globals": {"since_sync": 1.0}}, "since_sync"),
    ]
    for bad, fragment in bad_cases:
        with pytest.raises(DescentlabError, match=fragment):
            sam.load_state_dict(bad)
        assert inner_states(sam) == before
    with pytest.raises(InputError, match="SAM's lr=0.1 is its own outer"):
        sam.load_state_dict({**good, "hyperparameters": {**good["hyperparameters"],
                                                         "lr": 0.1}})
    assert inner_states(sam) == before
    plain = optim.SAM(opaque_mode=False)
    with pytest.raises(InputError, match="holds the state of an opt optimizer"):
        plain.load_state_dict({**good, "adv_opt": None, "options": plain.options()})
    with pytest.raises(InputError, match="opaque_mode"):  # the mode is in the options
        pair(False, True).load_state_dict(good)


def test_a_checkpoint_written_before_these_options_loads_as_opaque_mode():
    """The state dict of SAM before ``opt``/``adv_opt``/``reset_state``/``opaque_mode``
    existed (no such entries, no globals) loads into the default SAM, and resumes."""
    start, d = problem(6)
    straight, first = optim.SAM(0.1, momentum=0.5), optim.SAM(0.1, momentum=0.5)
    a, b = copy.deepcopy(start), copy.deepcopy(start)
    for _ in range(4):
        straight.update(a, closure=closure_for(a, d))
    for _ in range(2):
        first.update(b, closure=closure_for(b, d))
    old = first.state_dict()
    for key in ("opt", "adv_opt"):
        del old[key]
    old["options"] = {k: v for k, v in old["options"].items()
                      if k not in ("reset_state", "opaque_mode")}
    old["globals"] = {}
    resumed = optim.SAM(0.1, momentum=0.5)
    resumed.load_state_dict(old)
    for _ in range(2):
        resumed.update(b, closure=closure_for(b, d))
    np.testing.assert_array_equal(a["w"], b["w"])
    with pytest.raises(InputError, match="opaque_mode=True, this optimizer has "
                                         "opaque_mode=False"):
        optim.SAM(0.1, momentum=0.5, opaque_mode=False).load_state_dict(old)


# ------------------------------------------------------------------ a failed call changes nothing
class Boom(Exception):
    pass


@pytest.mark.parametrize("at", [2, 3])
def test_opaque_a_closure_raising_at_an_adversarial_point_changes_nothing(at):
    """The adversary has already moved on when the closure raises at the 2nd or 3rd point:
    its state is put back with the parameters and SAM's own."""
    sam, x, d = started(opaque_mode=True, calls=2)
    before, saved = inner_states(sam), copy.deepcopy(x)
    calls = [0]

    def closure():
        calls[0] += 1
        if calls[0] == at:
            raise Boom
        return np_loss(x, d), np_grad(x, d)

    with pytest.raises(Boom):
        sam.update(x, closure=closure)
    assert inner_states(sam) == before
    for k in x:
        np.testing.assert_array_equal(x[k], saved[k])


@pytest.mark.parametrize("opaque_mode", [True, False])
def test_a_non_finite_gradient_is_skipped_or_refused_and_changes_nothing(opaque_mode):
    sam, x, d = started(opaque_mode=opaque_mode, calls=2)
    before, saved = inner_states(sam), copy.deepcopy(x)
    calls = [0]

    def closure():  # finite at p, inf at the first adversarial point (opaque mode)
        calls[0] += 1
        g = np_grad(x, d)
        if calls[0] == (2 if opaque_mode else 1):
            g["b"][1] = np.inf
        return np_loss(x, d), g

    with pytest.raises(NonFiniteError, match="parameter 'b'"):
        sam.update(x, closure=closure)
    assert inner_states(sam) == before
    sam.nonfinite, calls[0] = "skip", 0
    before_skip = sam.state_dict()
    with pytest.warns(RuntimeWarning, match="update skipped"):
        sam.update(x, closure=closure)
    after = sam.state_dict()
    assert after["skipped_steps"] == before_skip["skipped_steps"] + 1
    assert repr({**after, "skipped_steps": 0}) == repr({**before_skip, "skipped_steps": 0})
    for k in x:
        np.testing.assert_array_equal(x[k], saved[k])


def test_transparent_bad_calls_are_refused_and_change_nothing():
    sam, x, d = started()
    before, saved = inner_states(sam), copy.deepcopy(x)
    g = np_grad(x, d)
    bad = [
        (lambda: sam.update(x), InputTypeError, "needs the gradient"),
        (lambda: sam.update(x, g, closure=closure_for(x, d)), InputError, "not both"),
        (lambda: sam.update(x, g, hvp=lambda v: v), InputTypeError, "takes no hvp"),
        (lambda: sam.update(x, {k: v for k, v in g.items() if k != "b"}), DescentlabError,
         "no entry for parameter 'b'"),
        (lambda: sam.update(x, {**g, "w": np.ones((2, 3))}), DescentlabError, "shape"),
        (lambda: sam.update(x, closure=lambda: 3.0), InputTypeError, "return \\(loss, grads\\)"),
        (lambda: sam.update({"w": x["w"]}, {"w": g["w"]}), DescentlabError, "'b'"),
    ]
    for call, error, fragment in bad:
        with pytest.raises(error, match=fragment):
            call()
        assert inner_states(sam) == before
        for k in x:
            np.testing.assert_array_equal(x[k], saved[k])


def test_an_outer_step_the_outer_optimizer_refuses_changes_nothing():
    """The outer optimizer refuses (a rate array that does not broadcast) at the outer call
    of a transparent period: the parameters stay at the adversarial point, every state as
    it was."""
    sam, x, d = started(calls=2)  # since_sync 2 of 3: the next call is the outer step
    sam.opt.lr = np.ones(5)
    before, saved = inner_states(sam), copy.deepcopy(x)
    with pytest.raises(InputError, match="lr has shape"):
        sam.update(x, np_grad(x, d))
    assert inner_states(sam) == before
    for k in x:
        np.testing.assert_array_equal(x[k], saved[k])


# ------------------------------------------------------------------ bad settings
@pytest.mark.parametrize("build, error, fragment", [
    (lambda: optim.SAM(opt=optim.Adam), InputTypeError, "not the class Adam"),
    (lambda: optim.SAM(opt=3), InputTypeError, "SAM's opt must be an optimizer, not int"),
    (lambda: optim.SAM(adv_opt="adamm"), InputError, "adamm"),
    (lambda: optim.SAM(opt="no"), InputError, "SAM's opt: unknown optimizer 'no'"),
    (lambda: optim.SAM(opt=optim.PolyakSGD()), InputTypeError, "needs a closure"),
    (lambda: optim.SAM(opt=optim.LBFGS()), InputTypeError, "needs a closure"),
    (lambda: (lambda o: optim.SAM(opt=o, adv_opt=o))(optim.SGD()), InputError,
     "two optimizer objects"),
    (lambda: optim.SAM(lr=0.1, opt="adam"), InputError, "SAM's lr=0.1 is its own outer"),
    (lambda: optim.SAM(momentum=0.5, opt="adam"), InputError, "momentum"),
    (lambda: optim.SAM(weight_decay=0.1, opt="adam"), InputError, "weight_decay"),
    (lambda: optim.SAM(lr=lambda t: 0.1, opt="adam"), InputError, "SAM's lr"),
    (lambda: optim.SAM(rho=0.2, adv_opt="sgd"), InputError, "SAM's rho=0.2 is its own "
     "adversarial"),
    (lambda: optim.SAM(reset_state=False), InputError, "reset_state=False changes nothing"),
    (lambda: optim.SAM(adv_opt=optim.Groups(optim.SGD(), {"b": {"lr": 0.1}})), InputError,
     "reset_state=True resets"),
    (lambda: optim.SAM(opaque_mode="no"), InputTypeError, "opaque_mode"),
    (lambda: optim.SAM(reset_state=None), InputTypeError, "reset_state"),
])
def test_bad_settings_are_refused_naming_them(build, error, fragment):
    with pytest.raises(error, match=fragment):
        build()


def test_settings_that_would_change_the_period_under_way_are_refused():
    sam, x, d = started(calls=4)  # since_sync 1 of 3
    with pytest.raises(InputError, match="opaque_mode cannot change"):
        sam.opaque_mode = True
    with pytest.raises(InputError, match="sync_period=1 is not more than the 1"):
        sam.sync_period = 1
    with pytest.raises(InputError, match="SAM's lr"):
        sam.lr = 0.5  # its outer step is opt's
    with pytest.raises(AttributeError):
        sam.opt = optim.SGD()
    assert sam.opaque_mode is False and sam.sync_period == 3 and sam.lr == 0.01
    sam.sync_period = 4  # still ahead of the period: taken
    assert sam.sync_period == 4


def test_the_lab_runs_transparent_sam_with_gradients_and_traces_it():
    """``needs_closure`` is False in transparent mode: the lab's engine hands it gradients
    (run_batch) and trace runs it in floating point; ``--exact`` is refused as for SAM."""
    from descentlab import problems
    from descentlab.lab.engine import run_batch
    from descentlab.lab.trace import trace

    bowl = problems.get("bowl")
    sam = optim.SAM(lr=0.1, sync_period=2, opaque_mode=False)
    batch = run_batch(bowl, sam, np.array([[-7.0, 2.0]]), 6)
    opaque = run_batch(bowl, optim.SAM(lr=0.1), np.array([[-7.0, 2.0]]), 3)
    np.testing.assert_array_equal(batch.path[2::2, 0], opaque.path[1:, 0])
    t = trace(bowl, "sam:opaque_mode=false,sync_period=2", (-7, 2), 4)
    assert len(t.steps) == 4
    with pytest.raises(InputError, match="--exact cannot trace sam"):
        trace(bowl, "sam:opaque_mode=false", (-7, 2), 1, exact=True)
