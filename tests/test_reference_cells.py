"""Every cell of docs/optimizers.md's optimizer × reference table, run against its library.

The cells are declared once, on the optimizer classes (``references = (Reference(...), ...)``,
descentlab/optim/references.py); the docs table is generated from the same declarations
(``python -m descentlab.optim.docs``). Each cell here: ``optim.create(name, **ours)`` and the
reference ``target(params, **theirs)`` (torch.optim, pytorch-optimizer, timm, madgrad through
tests/torch_trajectory.py; optax through tests/optax_oracle.py, op by op, its numbers float64
arrays; Keras 3 on JAX through tests/oracles.py; all float64) take
the same 20 random gradients on two random 2-D parameters; after every step ours is within
the cell's ``rtol`` (absolute floor rtol/10) of the reference, and the parameters moved.
L-BFGS takes 5 steps of a closure on a quartic; the other rules that need a closure take the
20 steps on tests/closure_loss.py's changing loss (optax's L-BFGS on its first step's loss
every step), optax given what it needs besides the gradient as tests/test_optim_closure.py
gives it. References that need their decompositions or
draws replaced (SOAP, GaLore, PSGD Kron, Noisy SGD) run with their deep tests' helpers
(tests/numpy_lapack.py, optax_oracle.py, probe_draws.py). A ``rate="decaying"`` cell runs both at
η·0.95ⁿ, each library with its own schedule. Each of our options in a cell but ``lr`` is needed:
without it ours no longer matches (or is refused, as ``clip_eps`` without ``clip_norm``) — so
a cell claims no option its test does not check. A reference library that is not installed fails
its cells (the libraries are the ``test`` extra), never skips them.

The deep checks — random hyperparameters, float32, 100 steps, state — stay in
test_optim_torch*.py, test_optim_optax.py, test_optim_closure.py, test_lrfree.py,
test_matrix_*.py, test_noisy_sgd.py and test_catalogue2_*.py.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import importlib
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from closure_loss import jax_loss, run_closure, step_data
from numpy_lapack import numpy_lapack
from optax_oracle import (
    fed,
    galore_with,
    lbfgs_of,
    mechanize_with,
    numpy_svd,
    optax_closure_trajectory,
    optax_noise,
    optax_trajectory,
    sam_of,
    sgd_backtracking_of,
    sgd_zoom_of,
    sophia_of,
)
from probe_draws import same_draws, solve_float64
from torch_trajectory import timm_optim, torch_trajectory

from descentlab import optim
from descentlab import schedules as S
from descentlab.errors import InputError
from descentlab.optim.references import Reference, cells, declared

torch.set_num_threads(1)

STEPS, CLOSURE_STEPS, DECAY = 20, 5, 0.95
SHAPES = {"w": (3, 4), "v": (5, 2)}
CELLS = cells()


def cell_id(name: str, ref: Reference) -> str:
    return f"{name}[{ref.options()}]={ref.target}"


#: SOAP rotating every axis (its default max_precondition_dim) on these shapes instead: its
#: first eigenbasis is that of one gradient's statistics G·Gᵀ and Gᵀ·G, of rank ≤ min(m, n),
#: so a (5, 2) gradient's 5×5 statistic has a 3-fold zero eigenvalue, and each eigensolver
#: (MKL's, OpenBLAS's, or one rounding and another) picks its own basis of that null space.
#: (3, 4) and (4, 5) leave only simple zero eigenvalues — a 1-d null space, its vector fixed up
#: to a sign, which SOAP's update does not see — so the cell is deterministic.
SOAP_SHAPES = {"w": (3, 4), "v": (4, 5)}
#: SOAP's merge_dims cells: a 4-D array whose axes merge (to (6, 6) at max_precondition_dim
#: 6, in either data_format's order) and a matrix whose do not.
SOAP_MERGE_SHAPES = {"w": (2, 3, 2, 3), "v": (4, 5)}
#: GaLore's dimension_numbers cells: arrays of 3 axes, each folded into a matrix.
GALORE_FOLD_SHAPES = {"w": (3, 2, 4), "v": (4, 2, 2)}


def shapes_of(ref: Reference) -> dict[str, tuple[int, ...]]:
    """The cell's two random arrays' shapes: SHAPES, or SOAP_SHAPES for SOAP at its
    default max_precondition_dim, SOAP_MERGE_SHAPES for SOAP's merge_dims,
    GALORE_FOLD_SHAPES for GaLore's dimension_numbers."""
    if ref.ours.get("dimension_numbers") is not None and ref.target == "optax.contrib.galore":
        return GALORE_FOLD_SHAPES
    if ref.target == "pytorch_optimizer.SOAP":
        if ref.ours.get("merge_dims"):
            return SOAP_MERGE_SHAPES
        if "max_precondition_dim" not in ref.ours:
            return SOAP_SHAPES
    return SHAPES


def problem(key: str, shapes: dict[str, tuple[int, ...]] = SHAPES,
            ) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
    """Start parameters and STEPS gradients (each array with its own scale), seeded by
    the cell."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    scales = {k: 10.0 ** rng.uniform(-1, 0.5) for k in params}
    grads = [{k: scales[k] * rng.standard_normal(s) for k, s in shapes.items()}
             for _ in range(STEPS)]
    return params, grads


def resolve(target: str) -> Any:
    """The reference's callable from its dotted name (an ImportError if not installed)."""
    module, attr = target.rsplit(".", 1)
    if module.startswith("timm.optim."):  # without timm/__init__.py's model imports
        return getattr(timm_optim(module.split(".", 2)[2]), attr)
    return getattr(importlib.import_module(module), attr)


def ours_for(name: str, ref: Reference) -> Any:
    kw = dict(ref.ours)
    if ref.target == "optax.noisy_sgd":  # optax's own draws as our noise source
        kw["noise"] = fed(optax_noise(ref.theirs["key"], problem(cell_id(name, ref))[0], STEPS))
    if ref.rate == "decaying":
        assert "lr" in kw, f"{cell_id(name, ref)}: a decaying cell gives lr on both sides"
        kw["lr"] = S.ExponentialDecay(kw["lr"], DECAY)
    return optim.create(name, **kw)


@contextlib.contextmanager
def kron_as_ours(ref: Reference, theirs: dict) -> Iterator[None]:
    """pytorch-optimizer's Kron in float64 given our random draws (``PSGDKron``'s seed) and,
    for ours ``solve_dtype="param"``, its float32 triangular solve run in float64, as
    tests/test_matrix_psgd_kron.py runs it (ours at its default float32 solve: the
    reference's own float32 solve)."""
    import pytorch_optimizer.optimizer.psgd as reference_psgd

    theirs["precondition_dtype"] = torch.float64
    with pytest.MonkeyPatch.context() as mp, same_draws(ref.ours.get("seed", 0)):
        if ref.ours.get("solve_dtype") == "param":
            mp.setattr(reference_psgd, "solve_triangular_right", solve_float64)
        yield


@contextlib.contextmanager
def float64_newton_schulz(module: str) -> Iterator[None]:
    """pytorch-optimizer's own Newton–Schulz iteration in float64 instead of bfloat16 (ours
    ``ns_dtype="param"``), as tests/test_catalogue2_mars.py and _scion.py run it."""
    reference_module = importlib.import_module(f"pytorch_optimizer.optimizer.{module}")
    original = reference_module.zero_power_via_newton_schulz_5
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reference_module, "zero_power_via_newton_schulz_5",
                   functools.partial(original, dtype=torch.float64))
        yield


#: Reference packages run with their decompositions or draws replaced, as their deep tests
#: do: SOAP's torch.linalg by NumPy's (tests/numpy_lapack.py, tests/test_matrix_soap.py).
TORCH_PATCHES = {"pytorch_optimizer.SOAP": lambda ref, theirs: numpy_lapack(),
                 "pytorch_optimizer.Kron": kron_as_ours,
                 "pytorch_optimizer.MARS": lambda ref, theirs: float64_newton_schulz("mars"),
                 "pytorch_optimizer.SCION": lambda ref, theirs: float64_newton_schulz("scion")}

#: References that take named parameters (the authors' Adam-mini): the cells' names.
NAMED = ("adam_mini.Adam_mini",)


def torch_reference(ref: Reference, params, grads, monkeypatch) -> list[dict]:
    theirs = dict(ref.theirs)
    lr_at = None
    if ref.rate == "decaying":
        lr = theirs["lr"]
        lr_at = lambda k: lr * DECAY**k  # noqa: E731
    if ref.target == "torch.optim.Muon":  # the ns_dtype="param" form: no cast to bfloat16
        monkeypatch.setattr(torch.Tensor, "bfloat16", lambda self, *a, **k: self.clone())
    cls = resolve(ref.target)
    with TORCH_PATCHES.get(ref.target, lambda *_: contextlib.nullcontext())(ref, theirs):
        if ref.target in NAMED:
            return torch_trajectory(lambda ps: cls(zip(params, ps), **theirs), params, grads,
                                    lr_at=lr_at)
        return torch_trajectory(lambda ps: cls(ps, **theirs), params, grads, lr_at=lr_at)


def keras_reference(ref: Reference, params, grads, oracle) -> list[dict]:
    theirs = dict(ref.theirs)
    if ref.rate == "decaying":
        theirs["learning_rate"] = oracle.keras.optimizers.schedules.ExponentialDecay(
            theirs["learning_rate"], decay_steps=1, decay_rate=DECAY)
    out = oracle.keras_run(resolve(ref.target)(**theirs), params, grads)
    return [{k: out[k][i] for k in params} for i in range(len(grads))]


def optax_decay(lr: float) -> Any:
    """lr·0.95ⁿ as optax's schedule; optax counts in int32, which would make the rate
    float32: the count is cast to int64."""
    import jax.numpy as jnp
    import optax

    schedule = optax.exponential_decay(lr, transition_steps=1, decay_rate=DECAY)
    return lambda count: schedule(count.astype(jnp.int64))


#: optax rules the cells build from their parts, as their deep tests do (tests/optax_oracle.py):
#: SAM's outer and inner optimizers, Sophia's probes passed in, Mechanize's and GaLore's base
#: optimizers (GaLore's dimension numbers as optax's named tuple),
#: the line searches after optax's sgd, L-BFGS's line search built from its settings.
OPTAX_BUILT = {"optax.contrib.sam": sam_of, "optax.contrib.sophia": sophia_of,
               "optax.contrib.mechanize": mechanize_with, "optax.contrib.galore": galore_with,
               "optax.scale_by_backtracking_linesearch": sgd_backtracking_of,
               "optax.scale_by_zoom_linesearch": sgd_zoom_of, "optax.lbfgs": lbfgs_of}

#: What optax's closure rules are given besides the gradient (tests/optax_oracle.py).
OPTAX_EXTRA = {"optax.polyak_sgd": "value", "optax.contrib.momo": "value",
               "optax.contrib.momo_adam": "value", "optax.contrib.sam": "grad_fn",
               "optax.contrib.sophia": "obj_fn",
               "optax.scale_by_backtracking_linesearch": "value_fn",
               "optax.scale_by_zoom_linesearch": "value_fn", "optax.lbfgs": "value_fn"}

#: Closure rules whose cells take every step on one loss (optax's L-BFGS: its pairs of
#: parameter and gradient differences must be of one function, tests/test_optim_closure.py).
FIXED_LOSS = {"lbfgs_optax", "lbfgs_backtracking"}


def optax_split(ref: Reference) -> tuple[Any, dict, dict]:
    """(constructor, traced numbers, static rest) of an optax cell: numbers are traced
    arguments (float64), everything else (flags, names, schedules) static, as
    tests/test_optim_optax.py runs optax."""
    theirs = dict(ref.theirs)
    if ref.rate == "decaying":
        theirs["learning_rate"] = optax_decay(theirs["learning_rate"])
    if "muon_weight_dimension_numbers" in theirs:  # a pair as optax's named tuple
        from optax.contrib import MuonDimensionNumbers

        theirs["muon_weight_dimension_numbers"] = MuonDimensionNumbers(
            *theirs["muon_weight_dimension_numbers"])
    hyper = {k: v for k, v in theirs.items() if type(v) is float}
    static = {k: v for k, v in theirs.items() if k not in hyper}
    make = resolve(ref.target)  # exists in optax even when the cell builds it from parts
    return OPTAX_BUILT.get(ref.target, make), hyper, static


def optax_reference(ref: Reference, params, grads) -> list[dict]:
    make, hyper, static = optax_split(ref)
    # GaLore's float32 SVD by NumPy, as tests/test_matrix_galore.py runs it
    with numpy_svd() if ref.target == "optax.contrib.galore" else contextlib.nullcontext():
        # 20 steps: op by op is faster than compiling, except for Muon's Newton–Schulz
        # iterations (about 15 s op by op, 1.5 s compiled)
        return optax_trajectory(make, params, grads, hyper=hyper, static=static,
                                compiled=ref.target == "optax.contrib.muon")


def optax_closure_reference(ref: Reference, params, data, opt) -> list[dict]:
    """optax on the changing loss of tests/closure_loss.py, given what the rule needs
    besides the gradient; Sophia's probe vectors are ``opt``'s (a fresh copy of ours)."""
    make, hyper, static = optax_split(ref)
    extra, probes = OPTAX_EXTRA[ref.target], None
    if extra == "obj_fn":
        shapes = [params[k].shape for k in params]
        probes = [dict(zip(params, opt.probe_vectors(t, shapes))) for t in range(1, STEPS + 1)]
    return optax_closure_trajectory(make, params, jax_loss, data, extra=extra, hyper=hyper,
                                    static=static, probes=probes)


def quartic_closure(params: dict[str, np.ndarray]):
    """f(p) = Σ ½·a·p² − b·p + 0.1·p⁴ over both arrays (a, b fixed per entry), its gradient
    at the current ``params`` (read when called)."""
    rng = np.random.default_rng(11)
    a = {k: rng.uniform(1, 10, v.shape) for k, v in params.items()}
    b = {k: rng.standard_normal(v.shape) for k, v in params.items()}

    def closure():
        loss = sum(float(np.sum(0.5 * a[k] * p**2 - b[k] * p + 0.1 * p**4))
                   for k, p in params.items())
        return loss, {k: a[k] * p - b[k] + 0.4 * p**3 for k, p in params.items()}

    return closure


def closure_cell(name: str, ref: Reference, params) -> None:
    ours, opt = copy.deepcopy(params), ours_for(name, ref)
    tensors = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    topt = resolve(ref.target)(list(tensors.values()), **ref.theirs)
    view = {k: t.detach().numpy() for k, t in tensors.items()}  # shares the tensors' memory
    f_ours, f_theirs = quartic_closure(ours), quartic_closure(view)

    def tclosure():
        loss, grads = f_theirs()
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k])
        return torch.tensor(loss)

    for step in range(CLOSURE_STEPS):
        opt.update(ours, closure=f_ours)
        topt.step(tclosure)
        for k in ours:
            np.testing.assert_allclose(ours[k], tensors[k].detach().numpy(), rtol=ref.rtol,
                                       atol=ref.rtol / 10,
                                       err_msg=f"{cell_id(name, ref)}: step {step + 1}, {k}")
    assert any(not np.array_equal(ours[k], params[k]) for k in ours)


@pytest.fixture
def torch_float64():
    """torch's scalar state (NAdam's μ product, ASGD's η and μ, L-BFGS's loss) in float64,
    as descentlab holds it."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.mark.filterwarnings("ignore:`optimistic_adam` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("name, ref", CELLS, ids=[cell_id(n, r) for n, r in CELLS])
def test_cell_matches_its_reference(name, ref, request, monkeypatch, torch_float64):
    key = cell_id(name, ref)
    params, grads = problem(key, shapes_of(ref))
    if getattr(optim.get_class(name), "needs_closure", False):
        if not ref.target.startswith("optax."):
            closure_cell(name, ref, params)
            return
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        data = [step_data(rng, params) for _ in range(STEPS)]
        if name in FIXED_LOSS:
            data = [data[0]] * STEPS
        expected = optax_closure_reference(ref, params, data, ours_for(name, ref))

        def run(opt):
            return run_closure(opt, params, data, hvp="hvp" in opt.needs)
    else:
        if ref.target.startswith("keras."):
            expected = keras_reference(ref, params, grads, request.getfixturevalue("oracle"))
        elif ref.target.startswith("optax."):
            expected = optax_reference(ref, params, grads)
        else:
            expected = torch_reference(ref, params, grads, monkeypatch)

        def run(opt):
            return gradient_run(opt, params, grads)
    ours = run(ours_for(name, ref))
    for step, (a, b) in enumerate(zip(ours, expected, strict=True)):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=ref.rtol, atol=ref.rtol / 10,
                                       err_msg=f"{key}: step {step + 1}, {k}")
    assert any(not np.array_equal(ours[-1][k], params[k]) for k in params), key
    for option in set(ref.ours) - {"lr"}:  # each of the cell's options is needed
        without = dataclasses.replace(ref, ours={k: v for k, v in ref.ours.items()
                                                 if k != option})
        try:
            differs = not matches(run(ours_for(name, without)), expected, ref.rtol)
        except InputError:  # refused without it (clip_eps needs clip_norm; SOAP's merge_dims
            continue        # cannot merge a whole array at the default max_precondition_dim)
        assert differs, f"{key}: matches without {option}={ref.ours[option]!r} too"


def gradient_run(opt, params, grads) -> list[dict]:
    """The parameters after each of ``opt``'s steps on ``grads`` from a copy of ``params``."""
    ours, out = copy.deepcopy(params), []
    for g in grads:
        opt.update(ours, g)
        out.append({k: v.copy() for k, v in ours.items()})
    return out


def matches(ours, expected, rtol) -> bool:
    """Whether a run stays within ``rtol`` (absolute floor rtol/10) of ``expected``."""
    return all(np.allclose(a[k], e[k], rtol=rtol, atol=rtol / 10)
               for a, e in zip(ours, expected) for k in a)


def test_every_builtin_class_declares_its_references():
    """Each built-in class states its references itself (``()``: no reference library —
    only AdaGradFull, tested against hand computations); every registered name but
    adagrad_full has at least one cell."""
    from descentlab.optim.registry import entries

    builtin = [e for e in entries() if e.builtin]
    missing = sorted({e.cls.__name__ for e in builtin if "references" not in vars(e.cls)})
    assert not missing, f"classes without a references declaration: {missing}"
    without = sorted({e.name for e in builtin} - {name for name, _ in CELLS})
    assert without == ["adagrad_full"], without
    assert len({e.name for e in builtin}) == len(optim.available())


def test_both_forms_of_a_disagreement_are_cells():
    """Where the references disagree, each form is a cell: Keras's Adam and PyTorch's differ
    on the same random gradients (so the cells test something), and each is reachable."""
    params, grads = problem("adam-disagree")
    keras_form = {"eps": 1e-7, "eps_mode": "uncorrected"}
    forms = {ref.target: ref for name, ref in CELLS
             if name == "adam" and (not ref.ours or dict(ref.ours) == keras_form)}
    assert set(forms) >= {"torch.optim.Adam", "keras.optimizers.Adam"}
    runs = []
    for ref in (forms["torch.optim.Adam"], forms["keras.optimizers.Adam"]):
        p = copy.deepcopy(params)
        opt = ours_for("adam", ref)
        for g in grads:
            opt.update(p, g)
        runs.append(p["w"])
    assert np.max(np.abs(runs[0] - runs[1])) > 1e-6


def test_a_subclass_does_not_inherit_its_parents_cells():
    assert declared(optim.AdamW) and all(r.target != "torch.optim.Adam"
                                         for r in declared(optim.AdamW))

    class Mine(optim.Adam):
        pass

    assert declared(Mine) == ()


@pytest.mark.parametrize("kwargs, match", [
    ({"target": "adam"}, "target must be a dotted name"),
    ({"target": "torch.optim.Adam", "ours": {1: 2}}, "ours must be a mapping"),
    ({"target": "torch.optim.Adam", "theirs": [("lr", 1)]}, "theirs must be a mapping"),
    ({"target": "torch.optim.Adam", "rate": "cosine"}, "rate must be one of"),
    ({"target": "torch.optim.Adam", "rtol": 0.0}, "rtol must be a number in"),
    ({"target": "torch.optim.Adam", "rtol": True}, "rtol must be a number in"),
])
def test_bad_declarations_are_refused_naming_the_field(kwargs, match):
    with pytest.raises(InputError, match=match):
        Reference(**kwargs)


def test_a_cell_for_a_name_of_another_class_is_refused(registered):
    class Mine(optim.Adam):
        """Mine: a user's Adam."""

        references = (Reference("torch.optim.Adam", name="adamw"),)

    registered(Mine)
    with pytest.raises(InputError, match="'adamw', which is not a name of Mine"):
        cells(builtin=False)
    assert cells() == CELLS  # a user's class is not among the built-in cells
    with pytest.raises(InputError, match="Bad.references must be a tuple of Reference"):
        declared(type("Bad", (), {"references": [Reference("torch.optim.Adam")]}))


def test_the_docs_state_this_modules_step_counts():
    """docs/optimizers.md's description of these tests quotes the step counts used here."""
    import re
    from pathlib import Path

    text = " ".join((Path(__file__).resolve().parents[1] / "docs" / "optimizers.md")
                    .read_text().split())
    found = re.search(r"\(tests/test_reference_cells\.py: (\d+) random steps on two random "
                      r"matrices, L-BFGS (\d+) steps of a closure", text)
    assert found, "docs/optimizers.md no longer describes tests/test_reference_cells.py"
    assert (int(found.group(1)), int(found.group(2))) == (STEPS, CLOSURE_STEPS)
    assert len(SHAPES) == 2 and all(len(s) == 2 for s in SHAPES.values())


def test_a_missing_reference_library_fails_the_cell():
    """Never a skip: the cell's import error is the failure, naming the package."""
    with pytest.raises(ModuleNotFoundError, match="not_installed_optimizers"):
        resolve("not_installed_optimizers.Adam")
    with pytest.raises(AttributeError, match="NoSuchOptimizer"):
        resolve("torch.optim.NoSuchOptimizer")


def test_the_madgrad_cell_notes_what_a_python_float_rate_does():
    """optax's madgrad with learning_rate a Python float (as a user types it) rather than a
    float64 array: the worst relative difference ‖ours − optax‖/‖optax‖ of an array at a step
    from the count_root="float32" form, on the cell's own problem, is the one the cell's note
    states (within 10×)."""
    import re

    from optax import contrib

    name, ref = next((n, r) for n, r in CELLS if r.target == "optax.contrib.madgrad")
    params, grads = problem(cell_id(name, ref))
    expected = optax_trajectory(contrib.madgrad, params, grads, static=dict(ref.theirs),
                                compiled=False)
    opt, ours, worst = ours_for(name, ref), copy.deepcopy(params), 0.0
    for g, e in zip(grads, expected):
        opt.update(ours, g)
        worst = max(worst, *(float(np.linalg.norm(ours[k] - e[k]) / np.linalg.norm(e[k]))
                             for k in ours))
    noted = float(re.search(r"up to (\S+)", ref.note).group(1))
    print(f"\nmadgrad, optax with a Python-float rate: worst relative difference {worst:.2e}")
    assert worst <= noted <= 10 * worst
