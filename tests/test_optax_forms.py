"""optax's forms of RAdam, Rprop, Adafactor and Muon (``form="optax"``) against real optax
0.2.8 in float64: random shapes, hyperparameters and 100 steps of random gradients, every
option optax has for them, the parameters after every step within 1e-12 relative. PyTorch's
forms stay the default (tests/test_optim_torch_more.py); here also: the fused path gives the
rule's bits, checkpoints resume bit for bit, and bad settings are refused.
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_resume_is_bit_identical
from optax.contrib import _muon as optax_muon
from optax_oracle import optax_trajectory
from test_optim_optax import assert_close, problem

from descentlab import optim
from descentlab.errors import InputError

STEPS = 100


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


# Each case: rng → (ours, optax constructor, traced hyper, static options).
def case_radam(nesterov, eps_root, threshold=None):
    def case(rng):
        lr, b1, b2 = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.95), _u(rng, 0.5, 0.999)
        eps = 10 ** _u(rng, -10, -6)
        er = 10 ** _u(rng, -10, -4) if eps_root else 0.0
        tau = 5.0 if threshold is None else threshold
        ours = optim.RAdam(lr, b1, b2, eps, form="optax", nesterov=nesterov, eps_root=er,
                           threshold=tau)
        return ours, optax.radam, dict(learning_rate=lr, b1=b1, b2=b2, eps=eps, eps_root=er,
                                       threshold=tau), {"nesterov": nesterov}
    return case


def case_rprop(rng):
    lr, em, ep = _u(rng, 0.001, 0.1), _u(rng, 0.1, 0.9), _u(rng, 1.05, 2.0)
    lo, hi = 10 ** _u(rng, -7, -3), _u(rng, 0.01, 1.0)
    ours = optim.Rprop(lr, (em, ep), (lo, hi), form="optax")
    return ours, optax.rprop, dict(learning_rate=lr, eta_minus=em, eta_plus=ep,
                                   min_step_size=lo, max_step_size=hi), {}


def case_adafactor(momentum=False, weight_decay=False, clipping=True, scale=True,
                   factored=True, decay_offset=0, float32_momentum=False):
    """optax's decay_rate is static (a Python float, as users pass it: optax computes β̂ in
    float32 then), drawn once per case with the other static options (one compilation);
    momentum's accumulator is float64 (ours ``dtype_momentum="param"``), or optax's default
    float32 (ours ``"float32"``)."""
    fixed = np.random.default_rng([momentum, weight_decay, clipping, scale, factored,
                                   decay_offset + 10])
    c, min_dim = _u(fixed, 0.5, 1.0), int(fixed.integers(1, 5))

    def case(rng):
        lr, d, eps1 = _u(rng, 0.001, 0.1), _u(rng, 0.3, 2.0), 10 ** _u(rng, -30, -3)
        mu = _u(rng, 0.5, 0.95) if momentum else None
        wd = _u(rng, 0.0, 0.1) if weight_decay else 0.0
        ours = optim.Adafactor(lr, -c, (eps1, 1e-3), d if clipping else 1.0, wd, form="optax",
                               multiply_by_parameter_scale=scale, rms_clipping=clipping,
                               factored=factored, min_dim_size_to_factor=min_dim,
                               decay_offset=decay_offset, momentum=mu,
                               dtype_momentum="float32" if float32_momentum else "param")
        hyper = dict(learning_rate=lr, eps=eps1)
        static = dict(decay_rate=c, min_dim_size_to_factor=min_dim, decay_offset=decay_offset,
                      multiply_by_parameter_scale=scale, factored=factored)
        if not float32_momentum:
            static["dtype_momentum"] = jnp.float64
        if clipping:
            hyper["clipping_threshold"] = d
        else:
            static["clipping_threshold"] = None
        if momentum:
            hyper["momentum"] = mu
        if weight_decay:
            hyper["weight_decay_rate"] = wd
        return ours, optax.adafactor, hyper, static
    return case


def case_muon(nesterov=True, adaptive=False, preconditioning="frobenius", rms=False,
              rows=False, adam_lr=False, mu_dtype="param"):
    """optax.contrib.muon: matrices by Muon, the rest by its AdamW (the (in, out) scale);
    ``mu_dtype="float32"``: both first moments stored as float32 (optax's mu_dtype)."""
    def case(rng):
        lr, beta, eps = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.99), 10 ** _u(rng, -10, -6)
        wd, b1, b2 = _u(rng, 0.0, 0.2), _u(rng, 0.5, 0.95), _u(rng, 0.9, 0.9999)
        er, awd = 10 ** _u(rng, -10, -4), _u(rng, 0.0, 0.2)
        steps = 4
        coefficients = [3.4445, -4.7750, 2.0315] + rng.uniform(-0.05, 0.05, 3)
        if rows:
            coefficients = np.array(optim.muon.DION_NS_COEFFICIENTS[:3]) + rng.uniform(
                -0.05, 0.05, (3, 3))
        c = _u(rng, 0.1, 0.5) if rms else None
        alr = _u(rng, 0.001, 0.05) if adam_lr else None
        ours = optim.Muon(lr, wd, beta, nesterov, coefficients.tolist(), eps, steps,
                          "match_rms_adamw" if rms else "original", form="optax",
                          consistent_rms=c, preconditioning=preconditioning,
                          adaptive=adaptive, adam_beta1=b1, adam_beta2=b2, adam_eps_root=er,
                          adam_weight_decay=awd, adam_lr=alr, mu_dtype=mu_dtype)
        hyper = dict(learning_rate=lr, beta=beta, eps=eps, weight_decay=wd, adam_b1=b1,
                     adam_b2=b2, adam_eps_root=er, adam_weight_decay=awd,
                     ns_coeffs=coefficients)
        if rms:
            hyper["consistent_rms"] = c
        if adam_lr:
            hyper["adam_learning_rate"] = alr
        static = dict(ns_steps=steps, nesterov=nesterov, adaptive=adaptive,
                      preconditioning=preconditioning)
        if mu_dtype != "param":
            static["mu_dtype"] = jnp.float32
        return ours, optax.contrib.muon, hyper, static
    return case


CASES = {
    "radam": case_radam(False, False),
    "radam(nesterov)": case_radam(True, False),
    "radam(eps_root)": case_radam(False, True),
    "radam(threshold=8.5)": case_radam(False, False, 8.5),
    "radam(nesterov, eps_root, threshold=3)": case_radam(True, True, 3.0),
    "rprop": case_rprop,
    "adafactor": case_adafactor(),
    "adafactor(momentum, weight_decay_rate)": case_adafactor(True, True),
    "adafactor(clipping_threshold=None, multiply_by_parameter_scale=False)":
        case_adafactor(clipping=False, scale=False),
    "adafactor(factored=False, decay_offset=-5)": case_adafactor(factored=False,
                                                                 decay_offset=-5),
    "adafactor(momentum, dtype_momentum=float32)": case_adafactor(True, float32_momentum=True),
    "muon": case_muon(),
    "muon(nesterov=False, consistent_rms, adam_learning_rate)": case_muon(False, rms=True,
                                                                           adam_lr=True),
    "muon(adaptive, preconditioning=spectral)": case_muon(adaptive=True,
                                                          preconditioning="spectral"),
    "muon(preconditioning=aol, ns_coeffs rows)": case_muon(preconditioning="aol", rows=True),
    "muon(preconditioning=schatten)": case_muon(preconditioning="schatten"),
    "muon(mu_dtype=float32)": case_muon(mu_dtype="float32"),
    "muon(nesterov=False, mu_dtype=float32)": case_muon(False, mu_dtype="float32"),
}

#: Muon's shapes: matrices wide, tall and square (Muon's), a vector, a scalar and a 3-d
#: array (optax's AdamW, as every parameter that is not a matrix).
MUON_SHAPES = {"w": (4, 3), "u": (2, 5), "q": (3, 3), "b": (4,), "s": (), "t": (2, 3, 2)}

#: Adafactor's own shapes: a scalar, vectors, matrices, a 3-d array (factored over its two
#: largest axes) and a zero matrix (its RMS below ε₂ = optax's min_scale 1e-3).
ADAFACTOR_SHAPES = {"s": (), "v": (4,), "m": (3, 5), "t": (2, 4, 3), "one": (1, 6),
                    "z": (2, 3)}


def own_problem(shapes, seed, zero=None):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    if zero is not None:
        params[zero] = np.zeros(shapes[zero])
    grads = [{k: 10.0 ** rng.uniform(-1, 0.5) * rng.standard_normal(s)
              for k, s in shapes.items()} for _ in range(STEPS)]
    return rng, params, grads


def run_case(name, seed):
    if name.startswith("adafactor"):
        rng, params, grads = own_problem(ADAFACTOR_SHAPES, seed, zero="z")
    elif name.startswith("muon"):
        rng, params, grads = own_problem(MUON_SHAPES, seed)
    else:
        rng, params, grads = problem(name, seed)
    opt, make, hyper, static = CASES[name](rng)
    return opt, params, grads, optax_trajectory(make, params, grads, hyper=hyper,
                                                static=static)


@pytest.mark.parametrize("name", list(CASES))
def test_float64_matches_optax(name):
    for seed in range(2):
        opt, params, grads, expected = run_case(name, seed)
        ours, moved = copy.deepcopy(params), False
        for step, g in enumerate(grads):
            opt.update(ours, g)
            assert_close(ours, expected[step], f"{name} seed {seed} step {step + 1}")
            moved = moved or any(not np.array_equal(ours[k], params[k]) for k in ours)
        assert moved


def test_optax_rprop_does_not_move_at_step_1_and_applies_the_previous_update():
    """Written out: Δ₀ = 0.1; step 1 applies u₀ = 0 and makes u₁ = 0.1·sign(3); step 2
    (same sign: Δ = 0.12) applies u₁ and makes u₂ = 0.12; step 3 (sign flip) applies 0."""
    opt, p = optim.Rprop(0.1, form="optax"), {"x": np.array([1.0])}
    seen = []
    for g in (3.0, 5.0, -1.0, -1.0):
        opt.update(p, {"x": np.array([g])})
        seen.append(float(p["x"][0]))
    # step 4: s = g·u₃ = 0 (u₃ = 0 after the flip): Δ stays 0.06, applies u₃ = 0
    assert seen == pytest.approx([1.0, 0.9, 0.9, 0.9], abs=1e-15)
    assert opt.state["x"]["step_size"][0] == pytest.approx(0.06, abs=1e-15)


def test_optax_radam_switches_at_rho_equal_to_the_threshold():
    """ρₜ for β2 = 0.5: ρ∞ = 3 and ρ₁ = 1, so τ = 1 rectifies at t = 1 in optax's form
    (ρ ≥ τ) and not in PyTorch's (ρ > τ): r₁ = √((1−4)(1−2)·3 / ((3−4)(3−2)·1)) is
    √(−9), nan: the rectified step is taken exactly where ρ ≥ τ."""
    opt = optim.RAdam(0.1, 0.9, 0.5, threshold=1.0, form="optax")
    x = {"x": np.array([1.0])}
    with np.errstate(invalid="ignore"):
        opt.update(x, {"x": np.array([2.0])})
    assert np.isnan(x["x"][0])
    torch_form, y = optim.RAdam(0.1, 0.9, 0.5, threshold=1.0), {"x": np.array([1.0])}
    torch_form.update(y, {"x": np.array([2.0])})
    assert y["x"][0] == pytest.approx(0.8, abs=1e-15)  # momentum SGD: η·m̂ = 0.1·2


FUSED = {
    "radam": lambda: optim.RAdam(0.01, 0.9, 0.99, form="optax", nesterov=True,
                                 eps_root=1e-6, weight_decay=0.1),
    "radam(nesterov=False)": lambda: optim.RAdam(0.01, 0.9, 0.9, form="optax", maximize=True,
                                                 weight_decay=0.1, decoupled_weight_decay=True),
    "rprop": lambda: optim.Rprop(0.01, form="optax", weight_decay=0.1, maximize=True),
}


@pytest.mark.parametrize("name", list(FUSED))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_backend_gives_the_rules_bits(name, dtype):
    """``backend="fused"`` on an optax form runs its kernel (kernels_torch.radam_optax,
    rprop_optax): the same bits as ``backend="numpy"``, over 12 steps (RAdam's ρₜ crosses 5
    on the way)."""
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal(40_000).astype(dtype)
    grads = [rng.standard_normal(p0.size).astype(dtype) for _ in range(12)]
    out = []
    for backend in ("numpy", "fused"):
        opt, p = FUSED[name](), p0.copy()
        opt.backend = backend
        for g in grads:
            opt.update(p, g)
        out.append(p)
    np.testing.assert_array_equal(out[0], out[1])


RESUMED = {**FUSED,
           "adafactor": lambda: optim.Adafactor(0.01, form="optax", min_dim_size_to_factor=2,
                                                momentum=0.9, weight_decay=0.01),
           "adafactor(dtype_momentum=float32)": lambda: optim.Adafactor(
               0.01, form="optax", momentum=0.9, dtype_momentum="float32"),
           "muon": lambda: optim.Muon(0.01, form="optax", adaptive=True,
                                      adam_weight_decay=0.1),
           "muon(mu_dtype=float32)": lambda: optim.Muon(0.01, form="optax",
                                                        mu_dtype="float32")}


@pytest.mark.parametrize("name", list(RESUMED))
def test_resume_is_bit_identical(name, tmp_path):
    assert_resume_is_bit_identical(RESUMED[name], tmp_path / "ckpt.npz", seed=1)


def test_optax_adafactor_factors_its_two_largest_axes():
    """(2, 4, 3) with min_dim_size_to_factor = 3: axes 2 (3) and 1 (4) are factored, the
    statistics are (2, 1, 3) and (2, 4, 1); with 5 the array keeps a full second moment."""
    x = {"t": np.ones((2, 4, 3))}
    opt = optim.Adafactor(form="optax", min_dim_size_to_factor=3)
    opt.update(x, {"t": np.ones((2, 4, 3))})
    assert {k: v.shape for k, v in opt.state["t"].items()} == {"row_var": (2, 1, 3),
                                                              "col_var": (2, 4, 1)}
    opt = optim.Adafactor(form="optax", min_dim_size_to_factor=5)
    opt.update(x, {"t": np.ones((2, 4, 3))})
    assert {k: v.shape for k, v in opt.state["t"].items()} == {"variance": (2, 4, 3)}


def test_optax_only_settings_are_refused_in_the_torch_form_and_change_nothing():
    with pytest.raises(InputError, match="eps_root.*form='optax'"):
        optim.RAdam(eps_root=1e-8)
    with pytest.raises(InputError, match="nesterov.*form='optax'"):
        optim.RAdam(nesterov=True)
    opt = optim.RAdam(form="optax", nesterov=True)
    with pytest.raises(InputError, match="nesterov.*form='optax'"):
        opt.form = "torch"
    assert opt.form == "optax"
    with pytest.raises(InputError, match="form must be one of 'torch', 'optax'"):
        optim.Rprop(form="keras")
    for name, value in (("momentum", 0.9), ("factored", False), ("decay_offset", 3),
                        ("min_dim_size_to_factor", 4)):
        with pytest.raises(InputError, match=f"{name}=.*needs form='optax'"):
            optim.Adafactor(**{name: value})
        opt = optim.Adafactor()
        with pytest.raises(InputError, match=name):
            setattr(opt, name, value)
        assert getattr(opt, name) == optim.Adafactor.OPTAX_ONLY[name]
    with pytest.raises(InputError, match="dtype_momentum must be one of 'param', 'float32'"):
        optim.Adafactor(form="optax", dtype_momentum="bfloat16")
    with pytest.raises(InputError, match="d must be >= 1 in torch.optim.Adafactor's form"):
        optim.Adafactor(d=0.5)
    assert optim.Adafactor(d=0.5, form="optax").d == 0.5


def test_rprop_form_cannot_change_once_it_has_state():
    """``prev`` holds the previous gradient in torch's form, the pending update in optax's."""
    opt, x = optim.Rprop(0.1), {"x": np.array([1.0, 2.0])}
    opt.update(x, {"x": np.array([1.0, -1.0])})
    before = copy.deepcopy(opt.state_dict())
    with pytest.raises(InputError, match="form cannot change once the optimizer has state"):
        opt.form = "optax"
    assert opt.form == "torch"
    np.testing.assert_equal(opt.state_dict(), before)


def test_optax_muon_settings_are_refused_where_they_do_not_apply_and_change_nothing():
    for name, value in (("adam_lr", 0.1), ("adam_beta1", 0.5), ("adam_weight_decay", 0.1),
                        ("dimension_numbers", [[0], [1]])):
        with pytest.raises(InputError, match=f"{name}=.*needs form='optax'"):
            optim.Muon(**{name: value})
        opt = optim.Muon()
        with pytest.raises(InputError, match=name):
            setattr(opt, name, value)
        assert getattr(opt, name) == optim.Muon.OPTAX_ONLY[name]
    rows = [list(r) for r in optim.muon.DION_NS_COEFFICIENTS]
    with pytest.raises(InputError, match="rows .*needs form='optax'"):
        optim.Muon(ns_coefficients=rows)
    with pytest.raises(InputError, match="ns_coefficients has 5 rows, more than ns_steps=4"):
        optim.Muon(ns_coefficients=rows, ns_steps=4, form="optax")
    with pytest.raises(InputError, match="consistent_rms=0.3 .* adjust_lr_fn='match_rms"):
        optim.Muon(form="optax", consistent_rms=0.3)
    with pytest.raises(InputError, match="mu_dtype must be one of 'param', 'float32'"):
        optim.Muon(form="optax", mu_dtype="bfloat16")
    with pytest.raises(InputError, match="ns_dtype='bfloat16' is torch's arithmetic"):
        optim.Muon(form="optax", ns_dtype="bfloat16")
    with pytest.raises(InputError, match="ns_coefficients must be 3 finite numbers"):
        optim.Muon(form="optax", ns_coefficients=[[1.0, 2.0]])
    torch_form, x = optim.Muon(), {"b": np.ones(3)}
    with pytest.raises(InputError, match="Muon updates 2-D parameters only"):
        torch_form.update(x, {"b": np.ones(3)})
    assert x["b"].tolist() == [1.0, 1.0, 1.0] and torch_form.step == 0


def test_optax_muon_scales_by_fan_out_over_fan_in():
    """(in, out) weights: a (2, 8) matrix steps √(8/2) = 2 times as far as its orthogonal
    direction in optax's form, a (8, 2) one once (PyTorch's form: the other way round)."""
    for shape, optax_scale, torch_scale in (((2, 8), 2.0, 1.0), ((8, 2), 1.0, 2.0)):
        assert optim.Muon(form="optax").lr_scale(shape) == optax_scale
        assert optim.Muon().lr_scale(shape) == torch_scale


@pytest.mark.parametrize("preconditioning", optim.muon.PRECONDITIONINGS)
def test_torch_forms_iteration_with_optaxs_preconditionings_is_optaxs(preconditioning):
    """Muon's PyTorch-form iteration in the parameters' dtype with ε = 0 (floor or sum: the
    same) is optax's orthogonalize_via_newton_schulz, for each preconditioning."""
    rng = np.random.default_rng(4)
    coefficients = (3.4445, -4.7750, 2.0315)
    for shape in ((4, 3), (2, 5), (3, 3)):
        x = rng.standard_normal(shape)
        ours = optim.muon.newton_schulz(x, 5, coefficients, 0.0,
                                        preconditioning=preconditioning)
        with jax.enable_x64(True):
            theirs = np.asarray(optax_muon.orthogonalize_via_newton_schulz(
                jnp.asarray(x), jnp.asarray(coefficients), 5, preconditioning, eps=0.0))
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-13)


def test_torch_forms_adaptive_scales_by_the_inner_product():
    """adaptive: O ← ⟨B̃, O⟩·O, here with nesterov off, μ = 0 (B̃ = g) and no decay."""
    g = np.array([[2.0, 0.5], [0.0, 1.0], [1.0, -1.0]])
    plain, adaptive = np.zeros((3, 2)), np.zeros((3, 2))
    optim.Muon(0.1, 0.0, 0.0, nesterov=False, ns_dtype="param").update(plain, g)
    optim.Muon(0.1, 0.0, 0.0, nesterov=False, ns_dtype="param", adaptive=True).update(
        adaptive, g)
    o = plain / -0.1 / optim.Muon().lr_scale((3, 2))
    np.testing.assert_allclose(adaptive, plain * np.sum(g * o), rtol=1e-14)


def test_torch_form_adafactor_without_parameter_scale_or_clipping():
    """Two steps on a vector, written out (c = −0.8, ε₁ = 0): step 1 has β̂ = 0, v = g₁²;
    step 2 has weight w = 2^c, v = (1 − w)·g₁² + w·g₂², u = g₂/√v, and PyTorch's step
    α/max(1, RMS(u)/d)·u with α = max(ε₂, RMS(p₁))·min(η, 1/√2). Without the parameter's
    scale α loses its RMS(p₁) factor; without clipping the division goes."""
    p0, g1, g2 = np.array([3.0, -4.0]), np.array([0.1, -0.2]), np.array([2.0, 1.0])
    lr = 0.3
    for scale in (True, False):
        for clip in (True, False):
            opt, p = optim.Adafactor(lr, multiply_by_parameter_scale=scale, rms_clipping=clip,
                                     eps1=0.0), p0.copy()
            opt.update(p, g1)
            p1 = p.copy()
            opt.update(p, g2)
            w = 2.0**-0.8
            u = g2 / np.sqrt((1 - w) * g1**2 + w * g2**2)
            alpha = (np.sqrt(np.mean(p1**2)) if scale else 1.0) * min(lr, 2**-0.5)
            if clip:
                alpha /= max(1.0, np.sqrt(np.mean(u**2)))
            np.testing.assert_allclose(p, p1 - alpha * u, rtol=1e-14)
            assert np.sqrt(np.mean(u**2)) > 1.2  # the clipping bites where it is on


#: optax's tree of MuonDimensionNumbers (None: AdamW) for DIMENSION_SHAPES, and ours: a Groups
#: setting per path (the rest at the base's None: matrices Muon's, the others AdamW's).
DIMENSION_SHAPES = {"w": (4, 3), "u": (2, 5), "q": (3, 3), "b": (4,), "t": (2, 3, 2),
                    "c": (2, 3, 2, 2)}
OURS_DIMENSIONS = {"w": (1, 0), "u": "adam", "t": ([0], [2]), "c": ([0, 1, 2], -1)}


def optax_dimensions(params):
    """optax.contrib.muon's muon_weight_dimension_numbers for DIMENSION_SHAPES (a callable:
    hashable, as the compiled trajectory's static arguments must be)."""
    spec = optax_muon.MuonDimensionNumbers
    return {"w": spec(1, 0), "u": None, "q": spec(), "b": None, "t": spec((0,), (2,)),
            "c": spec((0, 1, 2), -1)}


@pytest.mark.parametrize("rms", [False, True])
def test_muon_dimension_numbers_match_optax(rms):
    """A transposed matrix, a matrix given to AdamW, a default matrix, a vector, a 3-D array
    with a batch axis and a 4-D one whose first three axes are the reduction: 100 random
    steps (adaptive on; consistent_rms with ``rms``) within 1e-12 of optax."""
    rng, params, grads = own_problem(DIMENSION_SHAPES, int(rms))
    lr, beta, wd = _u(rng, 0.001, 0.05), _u(rng, 0.5, 0.99), _u(rng, 0.0, 0.2)
    c = 0.2 if rms else None
    base = optim.Muon(lr, wd, beta, eps=1e-8, form="optax", adaptive=True,
                      adjust_lr_fn="match_rms_adamw" if rms else None, consistent_rms=c)
    ours = optim.Groups(base, {k: {"dimension_numbers": v} for k, v in OURS_DIMENSIONS.items()})
    hyper = dict(learning_rate=lr, beta=beta, weight_decay=wd)
    if rms:
        hyper["consistent_rms"] = c
    expected = optax_trajectory(optax.contrib.muon, params, grads, hyper=hyper, static=dict(
        adaptive=True, muon_weight_dimension_numbers=optax_dimensions))
    p = copy.deepcopy(params)
    for step, g in enumerate(grads):
        ours.update(p, g)
        assert_close(p, expected[step], f"muon dimension_numbers step {step + 1}")
    assert "buffer" in ours.state_for("c") and "m" in ours.state_for("u")


def test_muon_dimension_numbers_are_checked_by_name_and_change_nothing():
    with pytest.raises(InputError, match="dimension_numbers must be None, 'adam' or a pair"):
        optim.Muon(form="optax", dimension_numbers=(0, 1, 2))
    with pytest.raises(InputError, match="dimension_numbers=.*needs form='optax'"):
        optim.Muon(dimension_numbers=(0, 1))
    torch_form, w = optim.Muon(0.01, ns_dtype="param", mu_dtype="float32"), np.ones((2, 3))
    torch_form.update(w, np.full((2, 3), 0.1))  # B = (1 − 0.95)·0.1, stored as a float32
    assert torch_form.state[""]["buffer"][0, 0] == float(np.float32(0.05 * 0.1)) != 0.05 * 0.1
    for shape, match in (((3,), "Muon needs two or more axes"),
                         ((2, 3), "name an axis outside"), ((2, 3), "overlap")):
        spec = (0, 2) if "outside" in match else (0, 0) if "overlap" in match else (0, 1)
        opt, x = optim.Muon(form="optax", dimension_numbers=spec), {"a": np.ones(shape)}
        with pytest.raises(InputError, match=f"parameter 'a'.*{match}"):
            opt.update(x, {"a": np.ones(shape)})
        assert opt.step == 0 and not opt.state and np.all(x["a"] == 1)
