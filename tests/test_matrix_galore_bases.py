"""GaLore's ``base`` and ``dimension_numbers`` against optax 0.2.8's ``contrib.galore`` with
the matching ``base_optimizer`` (tests/optax_oracle.py GALORE_BASES: ``identity``,
``trace``, ``scale_by_lion``, ...) and ``weight_dimension_numbers`` (float64, JAX's x64,
optax's float32 SVD run by NumPy as in tests/test_matrix_galore.py): every base, random
shapes (tall, wide, square matrices; 0-D, 1-D and 3-D arrays), base hyperparameters and
100 steps of random gradients, within 1e-12 (each within the worst docs/optimizers.md quotes
for galore); arrays of 3 and 4 axes folded into matrices by
random reduction/output axes; per-path dimension numbers through Groups (optax's tree);
the base's state in the projection's shape, checkpoints bit-identical on resume; bad bases
and foldings refused by name with nothing changed."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from helpers import assert_resume_is_bit_identical, case_rng, random_steps
from optax_oracle import GALORE_BASES, galore_with, numpy_svd, optax_trajectory
from torch_trajectory import documented_worst, run_ours

from descentlab import optim
from descentlab.errors import InputError
from descentlab.optim.galore import GALORE_BASES as OURS
from descentlab.optim.galore import GaLore, folding


def u(rng, low, high):
    return float(rng.uniform(low, high))


#: Random base settings (ours), and the fixed ones that make ours optax's form.
SETTINGS = {
    "amsgrad": (lambda r: {"beta1": u(r, .5, .99), "beta2": u(r, .9, .9999),
                           "eps": 10 ** u(r, -10, -6), "eps_root": 10 ** u(r, -10, -4)},
                {"amsgrad_on": "v_hat"}),
    "sgd": (lambda r: {}, {}),
    "momentum": (lambda r: {"momentum": u(r, .5, .99)}, {}),
    "nesterov": (lambda r: {"momentum": u(r, .5, .99)}, {}),
    "rmsprop": (lambda r: {"rho": u(r, .8, .999), "eps": 10 ** u(r, -10, -6)}, {}),
    "adagrad": (lambda r: {"eps": 10 ** u(r, -10, -6)}, {"eps_mode": "inside"}),
    "lion": (lambda r: {"beta1": u(r, .5, .99), "beta2": u(r, .8, .999)}, {}),
    "adabelief": (lambda r: {"beta1": u(r, .5, .99), "beta2": u(r, .9, .9999),
                             "eps": 10 ** u(r, -16, -8), "eps_root": 10 ** u(r, -16, -8)}, {}),
    "yogi": (lambda r: {"beta1": u(r, .5, .99), "beta2": u(r, .9, .9999),
                        "eps": 10 ** u(r, -6, -2), "eps_root": 10 ** u(r, -10, -4),
                        "initial_accumulator_value": 10 ** u(r, -6, -2)}, {}),
    "sign_sgd": (lambda r: {}, {}),
    "signum": (lambda r: {"beta": u(r, .5, .99)}, {}),
}


def test_every_base_has_a_case_and_an_optax_transformation():
    assert set(SETTINGS) == set(OURS) - {"adam"} and set(GALORE_BASES) == set(OURS)


def compare(base, shapes, seed, *, dims=None, steps=100):
    """Ours and optax's over ``steps`` random gradients; the worst relative difference."""
    rng = case_rng({"base": base, "dims": repr(dims)}, seed)
    params, grads = random_steps(rng, shapes, steps)
    random, fixed = SETTINGS[base] if base != "adam" else (lambda r: {}, {})
    settings = random(rng)
    ours = {"lr": u(rng, 1e-3, 0.05), "rank": int(rng.integers(1, 4)),
            "update_proj_gap": int(rng.integers(2, 30)), "weight_decay": u(rng, 0, 0.3),
            "scale": u(rng, 0.25, 4.0)}
    names = GALORE_BASES[base][1]
    hyper = {"learning_rate": ours["lr"], "weight_decay": ours["weight_decay"],
             "scale": ours["scale"], **{names[k]: v for k, v in settings.items()}}
    static = {"base": base, "rank": ours["rank"], "update_proj_gap": ours["update_proj_gap"],
              "weight_dimension_numbers": dims}
    with numpy_svd():
        expected = optax_trajectory(galore_with, params, grads, hyper=hyper, static=static)
    opt = GaLore(**ours, base=base, base_settings={**settings, **fixed},
                 dimension_numbers=dims)
    return run_ours(opt, params, grads, expected, f"galore base={base} dims={dims}")


def matrices(rng):
    tall = (int(rng.integers(3, 7)), int(rng.integers(1, 4)))
    return [(), (int(rng.integers(1, 7)),), tall, tall[::-1], (int(rng.integers(2, 5)),) * 2]


@pytest.mark.parametrize("base", sorted(SETTINGS))
def test_each_base_matches_optax_with_its_transformation(base):
    """The base runs on the projection (r × n or m × r), its state kept through refreshes
    of P; non-matrices take the base's steps on the whole gradient."""
    worst = compare(base, matrices(np.random.default_rng(len(base))), 0)
    assert worst <= documented_worst("galore")


@pytest.mark.parametrize("dims, base", [(((0,), (1, 2)), "adam"), (((2,), (0, 1)), "momentum"),
                                        (((-1, 0), (1,)), "adam")])
def test_arrays_fold_into_matrices_as_optax_folds_them(dims, base):
    """A pair of reduction and output axes makes every array of 3 axes a matrix
    (transposed, reshaped; the step back); vectors and scalars are not projected."""
    rng = np.random.default_rng(len(repr(dims)))
    shapes = [(), (3,), *(tuple(int(n) for n in rng.integers(1, 5, 3)) for _ in range(2))]
    assert compare(base, shapes, 0, dims=dims) <= documented_worst("galore")


def test_four_axes_fold_too():
    dims = ((1, 3), (0, 2))
    worst = compare("lion", [(2, 3, 2, 4), (5,)], 0, dims=dims, steps=30)
    assert worst <= documented_worst("galore")


def test_folding_by_hand():
    """(2, 3, 4) with reduction (2,) and output (0, 1): the matrix a.transpose(2, 0, 1)
    reshaped to 4 × 6; its entry (k, 3i + j) is a[i, j, k]."""
    a = np.arange(24.0).reshape(2, 3, 4)
    axes, rows, cols = folding([[2], [0, 1]], a.shape)
    m = a.transpose(axes).reshape(rows, cols)
    assert (rows, cols) == (4, 6) and m[3, 1 * 3 + 2] == a[1, 2, 3]
    with pytest.raises(InputError, match=r"leave axes \[1\]"):
        folding([[0], [2]], a.shape)


def test_groups_give_each_path_its_own_dimension_numbers():
    """optax's tree of dimension numbers (None: not projected) is Groups by path; each
    group steps as that GaLore alone."""
    rng = np.random.default_rng(5)
    params = {"w": rng.standard_normal((4, 3)), "attn": rng.standard_normal((4, 2, 3))}
    grads = [{k: rng.standard_normal(v.shape) for k, v in params.items()} for _ in range(5)]
    groups = optim.Groups(GaLore(0.01, rank=2, base="lion"),
                          {"attn": {"dimension_numbers": (0, (1, 2))},
                           "w": {"dimension_numbers": "full"}})
    ours = copy.deepcopy(params)
    alone = {"w": GaLore(0.01, rank=2, base="lion", dimension_numbers="full"),
             "attn": GaLore(0.01, rank=2, base="lion", dimension_numbers=(0, (1, 2)))}
    theirs = {k: {"x": params[k].copy()} for k in params}
    for g in grads:
        groups.update(ours, g)
        for k in params:
            alone[k].update(theirs[k], {"x": g[k]})
    for k in params:
        np.testing.assert_array_equal(ours[k], theirs[k]["x"])
    assert "P" not in alone["w"].state["x"] and alone["attn"].state["x"]["P"].shape == (6, 2)


def test_the_base_state_lives_in_the_projection():
    opt = GaLore(0.01, rank=2, base=optim.Yogi(beta2=0.99))
    params = {"w": np.ones((5, 3)), "b": np.ones(4)}
    opt.update(params, {"w": np.ones((5, 3)), "b": np.ones(4)})
    assert {k: v.shape for k, v in opt.state["w"].items()} == {
        "m": (2, 3), "v": (2, 3), "P": (5, 2)}
    assert {k: v.shape for k, v in opt.state["b"].items()} == {"m": (4,), "v": (4,)}
    assert opt.base == "yogi" and opt.base_settings == {"beta2": 0.99}


@pytest.mark.parametrize("kwargs", [{"base": "signum", "rank": 1, "update_proj_gap": 2},
                                    {"base": "yogi", "dimension_numbers": (1, 0)}])
def test_resume_is_bit_identical(kwargs, tmp_path):
    lr = lambda k: 0.01 / (1 + k)  # noqa: E731
    assert_resume_is_bit_identical(lambda: GaLore(lr, **kwargs), tmp_path / "opt.npz", 3)


def test_a_checkpoint_of_another_base_is_refused(tmp_path):
    opt = GaLore(0.01, rank=1, base=optim.Lion(beta2=0.98))
    opt.update({"w": np.ones((3, 2))}, {"w": np.ones((3, 2))})
    opt.save(tmp_path / "a.npz")
    for other in (GaLore(0.01, rank=1, base="lion"), GaLore(0.01, rank=1, base="signum")):
        with pytest.raises(InputError, match="base"):
            other.load(tmp_path / "a.npz")
        assert other.step == 0 and not other.state


@pytest.mark.parametrize("kwargs, match", [
    ({"base": "muon"}, "base .*'muon' is not element-wise"),
    ({"base": "sam"}, "base .*'sam' needs a closure"),
    ({"base": "adma"}, "base: unknown rule 'adma' .did you mean 'adam'.*the base rules: "
                       "'adam', 'amsgrad'"),
    ({"base": "adamw"}, "base .*'adamw' decays the parameter"),
    ({"base": "galore"}, "base .*'galore' is not element-wise"),
    ({"base": "lion", "beta1": 0.5}, "beta1=0.5 is the Adam base's"),
    ({"base": "lion", "base_settings": {"beta": 0.5}}, "base_settings of 'lion'.*'beta'"),
    ({"base": "lion", "base_settings": {"beta1": 2.0}}, "base_settings of 'lion'.*beta1"),
    ({"base": "lion", "base_settings": {"lr": 1.0}}, "base_settings: lr is the host's"),
    ({"base_settings": {"beta1": 0.5}}, "the Adam base's settings are galore's own"),
    ({"base": optim.Lion(maximize=True)}, "base 'lion' has maximize=True"),
    ({"base": optim.Lion(beta1=lambda k: 0.9)}, "base 'lion' has beta1=.*single numbers"),
    ({"base": optim.Lion(), "base_settings": {"beta1": 0.5}}, "not both"),
    ({"dimension_numbers": (0,)}, "dimension_numbers must be None, 'full' or a pair"),
])
def test_bad_bases_are_refused_by_name(kwargs, match):
    with pytest.raises((InputError, TypeError), match=match):
        GaLore(0.01, **kwargs)


def test_a_bad_folding_or_base_change_is_refused_and_nothing_changes():
    opt = GaLore(0.01, rank=1, base="lion", dimension_numbers=((0,), (1, 2)))
    params = {"a": np.ones((3, 2, 2)), "b": np.ones(2)}
    opt.update(params, {"a": np.ones((3, 2, 2)), "b": np.ones(2)})
    before, state = copy.deepcopy(params), copy.deepcopy(opt.state)
    with pytest.raises(InputError, match="parameter 'c': dimension_numbers .* leave axes"):
        opt.update({**params, "c": np.ones((2, 2, 2, 2))},
                   {"a": np.ones((3, 2, 2)), "b": np.ones(2), "c": np.ones((2, 2, 2, 2))})
    for name, value in (("base", "sgd"), ("base_settings", {"beta1": 0.5}),
                        ("dimension_numbers", None)):
        with pytest.raises(InputError, match=f"{name} cannot change once"):
            setattr(opt, name, value)
    assert opt.step == 1 and opt.base == "lion" and opt.base_settings == {}
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
        for s in state[k]:
            np.testing.assert_array_equal(opt.state[k][s], state[k][s])


def test_described_for_interfaces():
    """The base is a choice of the base rules; its settings and the dimension numbers are
    structured values an interface shows and leaves to Python (not number fields)."""
    options = {o["name"]: o for o in optim.describe("galore")["options"]}
    assert options["base"]["kind"] == "choice" and options["base"]["default"] == "adam"
    assert options["base"]["allowed"] == list(OURS)
    assert options["base_settings"]["kind"] == "settings"
    assert options["dimension_numbers"]["kind"] == "dimension_numbers"


def test_a_negative_sum_of_squares_of_the_base_is_refused():
    """The base's own nonnegative slots (AdaBelief's s) are checked in a checkpoint."""
    opt = GaLore(0.01, rank=1, base="adabelief")
    params = {"w": np.ones((3, 2))}
    opt.update(params, {"w": np.arange(6.0).reshape(3, 2)})
    d = opt.state_dict()
    d["state"]["w"]["s"] = -np.abs(d["state"]["w"]["s"]) - 1
    fresh = GaLore(0.01, rank=1, base="adabelief")
    with pytest.raises(InputError, match="'s' for parameter 'w' has negative entries"):
        fresh.load_state_dict(d)
    assert fresh.state == {} and fresh.step == 0


def test_a_base_races_on_a_surface_from_its_spec():
    """``galore:base=lion`` from the spec syntax: the K runs of a 2-D surface as (1, 2)
    matrices, one optimizer each, each run equal to that run alone."""
    from descentlab.lab.engine import run_batch
    from descentlab.lab.spec import build_optimizer
    from descentlab.problems import get as get_problem

    problem = get_problem("rosenbrock")
    starts = np.array([[-1.0, 1.5], [0.5, -0.5], [1.5, 2.0]])
    spec = "galore:base=lion,lr=0.01"
    both = run_batch(problem, build_optimizer(spec), starts, 30)
    for i in range(3):
        alone = run_batch(problem, build_optimizer(spec), starts[i:i + 1], 30)
        np.testing.assert_array_equal(both.path[:, i], alone.path[:, 0])
    assert np.all(np.isfinite(both.path)) and not np.array_equal(both.path[-1], starts)
    assert build_optimizer(spec).base == "lion"
