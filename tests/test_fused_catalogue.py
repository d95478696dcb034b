"""The catalogue's fused kernels (optim/fused/steps_catalogue.py, kernels_catalogue.py) against
their readable NumPy rules, bit for bit.

As in tests/test_fused.py: every comparison is exact (``assert_array_equal`` on parameters and
every state slot), because each kernel repeats its rule's arithmetic in the rule's order and
precision. Hypothesis draws the shape, the dtype (float32, float64), the hyperparameters,
``maximize`` and the weight-decay form (none, L2, decoupled) of every rule; fixed cases pin
each loop of each kernel (first steps, options).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_same
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab import optim

rates = st.floats(1e-4, 0.5)
unit = st.floats(0.0, 0.999)
small_eps = st.sampled_from([1e-16, 1e-8, 1e-3])

#: rule → strategy of its own keyword arguments (besides maximize and weight decay).
HYPER = {
    "sign_sgd": st.fixed_dictionaries({"lr": rates}),
    "signum": st.fixed_dictionaries({"lr": rates, "beta": unit}),
    "optimistic_gradient_descent": st.fixed_dictionaries(
        {"lr": rates, "alpha": st.floats(0.0, 2.0), "beta": st.floats(0.0, 2.0)}),
    "optimistic_adam": st.fixed_dictionaries(
        {"lr": rates, "beta1": unit, "beta2": st.floats(0.5, 0.9999), "eps": small_eps,
         "eps_root": st.sampled_from([0.0, 1e-10]), "alpha": st.floats(0.0, 2.0),
         "beta": st.floats(0.0, 2.0), "nesterov": st.booleans()}),
    "acprop": st.fixed_dictionaries(
        {"lr": rates, "beta1": unit, "beta2": st.floats(0.5, 0.9999), "eps": small_eps,
         "eps_root": st.sampled_from([0.0, 1e-16, 1e-8])}),
    "simplified_ademamix": st.fixed_dictionaries(
        {"lr": rates, "beta1": unit, "beta2": st.floats(0.5, 0.9999), "eps": small_eps,
         "alpha": st.floats(0.0, 10.0), "eps_root": st.sampled_from([0.0, 1e-10])}),
    "cocob": st.fixed_dictionaries(
        {"lr": st.floats(0.01, 10.0), "alpha": st.floats(1.0, 200.0), "eps": small_eps}),
    "madgrad": st.fixed_dictionaries(
        {"lr": st.sampled_from([0.0, 1e-3, 0.01, 0.3]), "momentum": st.sampled_from(
            [0.0, 0.5, 0.9]), "eps": st.sampled_from([1e-6, 1e-9]),
         "count_root": st.sampled_from(["float64", "float32"])}),
    "laprop": st.fixed_dictionaries(
        {"lr": rates, "beta1": unit, "beta2": st.floats(0.5, 0.9999), "eps": small_eps,
         "eps_root": st.sampled_from([0.0, 1e-15]), "centered": st.booleans(),
         "steps_before_using_centered": st.integers(0, 4), "ams_bound": st.booleans(),
         "fixed_decay": st.booleans()}),
    "cadamw": st.fixed_dictionaries(
        {"lr": rates, "beta1": unit, "beta2": st.floats(0.5, 0.9999), "eps": small_eps,
         "amsgrad": st.booleans(), "mask_scale": st.sampled_from(["count", "mean"])}),
    "clion": st.fixed_dictionaries(
        {"lr": rates, "beta1": unit, "beta2": unit, "mode": st.sampled_from(["hard", "refined"]),
         "mask_scale": st.sampled_from(["count", "mean"])}),
}
#: Rules without the shared decoupled_weight_decay option (LaProp decays after its step,
#: its own way: ``fixed_decay``).
NO_DECOUPLED = {"laprop"}

#: Fixed cases: every loop of every kernel (first steps come with every run).
CASES = [
    ("sign_sgd", {}),
    ("sign_sgd", {"weight_decay": 0.1, "maximize": True}),
    ("signum", {"beta": 0.5, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("optimistic_gradient_descent", {"alpha": 0.5, "beta": 1.5, "weight_decay": 0.1}),
    ("optimistic_adam", {}),
    ("optimistic_adam", {"nesterov": False, "eps_root": 1e-8, "maximize": True}),
    ("acprop", {"weight_decay": 0.1}),
    ("acprop", {"weight_decay": 0.1, "decoupled_weight_decay": False, "maximize": True}),
    ("simplified_ademamix", {"alpha": 2.0, "weight_decay": 0.1}),
    ("cocob", {}),
    ("cocob", {"lr": 0.5, "alpha": 2.0, "weight_decay": 0.1, "maximize": True}),
    ("madgrad", {}),
    ("madgrad", {"momentum": 0.0, "weight_decay": 0.1}),
    ("madgrad", {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("madgrad", {"count_root": "float32", "lr": 0.0}),
    ("laprop", {}),
    ("laprop", {"centered": True, "steps_before_using_centered": 2, "weight_decay": 0.1}),
    ("laprop", {"ams_bound": True, "fixed_decay": True, "weight_decay": 0.01,
                "maximize": True}),
    ("cadamw", {}),
    ("cadamw", {"amsgrad": True, "mask_scale": "mean", "maximize": True}),
    ("cadamw", {"weight_decay": 0.1, "decoupled_weight_decay": False}),
    ("clion", {}),
    ("clion", {"mode": "refined", "mask_scale": "mean", "weight_decay": 0.1,
               "decoupled_weight_decay": False, "maximize": True}),
    ("clion", {"mode": "smooth", "smooth_beta": 2.0}),  # the readable rule (tanh)
    ("adamaxw", {}),  # an alias of Adamax (decoupled decay): Adamax's kernel
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}"
       for name, kw in CASES]


def problem(dtype, shape, steps, seed):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(shape).astype(dtype)
    p.flat[:1] = -0.0  # a negative zero: sign's and the prelude's zeros must match NumPy's
    # Mixed magnitudes, exact zeros and sign changes exercise every branch of the rules.
    grads = [(rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 2, shape)).astype(dtype)
             for _ in range(steps)]
    for g in grads[::2]:
        g.flat[:3] = 0
    return p, grads


def both_paths(name, kwargs, p, grads):
    """The parameters and optimizers after the same updates on the NumPy and fused paths."""
    out = []
    for backend in ("numpy", "fused"):
        opt = optim.create(name, backend=backend, **kwargs)
        q = p.copy()
        for g in grads:
            opt.update(q, g)
        out.append((q, opt))
    return out


def assert_bit_identical(name, kwargs, p, grads):
    (expected, reference), (got, fast) = both_paths(name, kwargs, p, grads)
    assert got.dtype == p.dtype
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(np.signbit(got), np.signbit(expected)), "signs of zeros differ"
    assert_same(reference.state, fast.state, "state")
    assert_same(reference.globals, fast.globals, "globals")
    return got


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_fused_equals_numpy_rule_bit_for_bit(name, kwargs, dtype):
    kwargs = {"lr": 0.05, **kwargs} if name not in ("cocob", "madgrad") else kwargs
    p, grads = problem(dtype, (37, 11), 6, 0)
    got = assert_bit_identical(name, kwargs, p, grads)
    if kwargs.get("lr", 1.0) != 0:
        assert not np.array_equal(got, p), "the test must move the parameters"


def test_every_catalogue_rule_declares_its_kernel():
    from descentlab.optim import fused

    for name in HYPER:
        kernel = type(optim.create(name)).kernel
        assert kernel == name and kernel in fused.registry(), name


@settings(max_examples=150, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(HYPER)),
       dtype=st.sampled_from([np.float32, np.float64]),
       shape=st.sampled_from([(1,), (7,), (64,), (5, 13), (3, 4, 5)]),
       maximize=st.booleans(), decay=st.sampled_from(["none", "l2", "decoupled"]),
       steps=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_property_fused_equals_rule(data, name, dtype, shape, maximize, decay, steps, seed):
    kwargs = data.draw(HYPER[name], label="hyperparameters")
    kwargs["maximize"] = maximize
    if decay != "none":
        kwargs["weight_decay"] = data.draw(st.sampled_from([0.01, 0.3]), label="wd")
        if name not in NO_DECOUPLED:
            kwargs["decoupled_weight_decay"] = decay == "decoupled"
    p, grads = problem(dtype, shape, steps, seed)
    assert_bit_identical(name, kwargs, p, grads)


def test_cautious_float32_count_limit():
    """Above 2**24 elements NumPy's float32 sum of the mask can round the count (the rule's
    ``float(np.sum(mask))``), so the cautious kernels leave such float32 arrays to the rule;
    below it the sum is exact, as the kernels' integer count is."""
    from descentlab.optim.fused import steps_cautious

    assert steps_cautious.EXACT_FLOAT32_COUNT == 2**24
    assert float(np.ones(2**24, np.float32).sum()) == 2**24
    assert float(np.ones(2**25 + 1, np.float32).sum()) == 2**25  # (docs/fused.md says so)


def test_cautious_big_float32_arrays_take_the_rule(monkeypatch):
    from descentlab.optim.fused import prelude, steps_cautious

    calls = []
    real = prelude.numpy_rule
    monkeypatch.setattr(steps_cautious, "EXACT_FLOAT32_COUNT", 100)
    monkeypatch.setattr(steps_cautious, "numpy_rule",
                        lambda *a: calls.append(a[1].size) or real(*a))
    for name in ("cadamw", "clion"):
        p, grads = problem(np.float32, (37, 11), 3, 1)
        assert_bit_identical(name, {"lr": 0.05}, p, grads)
        small, grads = problem(np.float32, (10, 10), 3, 1)
        assert_bit_identical(name, {"lr": 0.05}, small, grads)
    assert calls == [407] * 6  # the big one, three steps, both rules; never the small one


def test_madgrad_float32_cube_root():
    """MADGRAD's float32 kernel takes the vectorised cube root (glibc's cbrtf algorithm) where
    it equals NumPy's np.cbrt on this machine, and libm's cbrtf per element otherwise: both
    give the rule's bits."""
    import platform

    from descentlab.optim.fused import inline

    libc = platform.libc_ver()
    if libc != ("glibc", "2.36"):
        pytest.skip(f"the vectorised cube root follows glibc 2.36's cbrtf; this is {libc}")
    assert inline.cube_root_is_numpys()


def test_docs_quote_the_committed_cube_root_check():
    """docs/fused.md's "differs from cbrtf on 0 of the 2^32" is the committed output of
    benchmarks/cube_root_check.py."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = (root / "docs" / "figures" / "cube_root_check.txt").read_text("utf-8")
    doc = " ".join((root / "docs" / "fused.md").read_text("utf-8").split())
    assert "inline.cube_root differs from libm cbrtf on 0 of 4294967296 float32 inputs" in out
    assert "it differs from `cbrtf` on 0 of the 2^32 float32 inputs" in doc


def test_madgrad_without_the_vectorised_cube_root(monkeypatch):
    from descentlab.optim.fused import inline

    monkeypatch.setattr(inline, "cube_root_is_numpys", lambda: False)
    for kwargs in ({}, {"momentum": 0.0}, {"weight_decay": 0.1, "decoupled_weight_decay": True}):
        p, grads = problem(np.float32, (37, 11), 4, 2)
        assert_bit_identical("madgrad", kwargs, p, grads)


def test_docs_table_is_the_median_of_the_committed_runs():
    """docs/fused.md's throughput table of these kernels is the cell-wise median of the runs
    committed in docs/figures/step_throughput_catalogue.txt (recomputed here from the runs;
    the doc block is ``step_throughput.py --median-of`` of that file)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    runs = (root / "docs" / "figures" / "step_throughput_catalogue.txt").read_text("utf-8")
    doc = (root / "docs" / "fused.md").read_text("utf-8")
    row = re.compile(r"^ *(\S+) (\S+) +(\S+)((?: +[0-9.]+){5})$")
    cells: dict[tuple[str, str, str], list[list[float]]] = {}
    for line in runs.splitlines():
        if match := row.match(line):
            size, rule, k, numbers = match.groups()
            cells.setdefault((size, rule, k), []).append([float(x) for x in numbers.split()])
    headers = [line for line in runs.splitlines() if line.startswith("step throughput")]
    assert len(headers) >= 2 and all(len(v) == len(headers) for v in cells.values())
    start = doc.index(f"median of {len(headers)} runs of step_throughput.py --kernels-only")
    block = doc[start:doc.index("```", start)]
    for header in headers:
        assert f"  {header}\n" in block, header
    for name in HYPER:  # every catalogue kernel is in the table
        assert any(rule == {"optimistic_gradient_descent": "optim_gd",
                            "optimistic_adam": "optim_adam",
                            "simplified_ademamix": "s_ademamix"}.get(name, name)
                   for _, rule, _ in cells), name
    medians = {}
    for (size, rule, k), values in cells.items():
        kernel, stream, ratio, paired, cpu = np.median(np.array(values), axis=0)
        medians[rule] = (paired, cpu)
        line = (f"{size:>5} {rule:10}{k:>4}{kernel:8.2f}{stream:8.2f}{ratio:15.2f}"
                f"{paired:8.2f}{cpu:8.2f}")
        assert f"\n{line}\n" in block, f"docs/fused.md should say:\n{line}"
    # the prose under the table: the seven within target, and the three that miss it
    text = " ".join(doc[doc.index("```", start + len(block)):].split())
    seven = ["sign_sgd", "signum", "optim_gd", "optim_adam", "acprop", "s_ademamix", "laprop"]
    paired = [medians[r][0] for r in seven]
    cpu = [medians[r][1] for r in seven]
    assert max(paired) <= 1.15 and max(cpu) <= 1.15
    assert (f"(paired {min(paired):.2f}–{max(paired):.2f}, CPU {min(cpu):.2f}–{max(cpu):.2f})"
            in text)
    cocob = ", ".join(f"{v[3]:.2f}" for (_, rule, _), vs in cells.items() if rule == "cocob"
                      for v in vs)
    assert f"at the edge: {medians['cocob'][0]:.2f} paired (its three runs {cocob})" in text
    assert f"and {medians['cocob'][1]:.2f} CPU" in text
    assert f"**MADGRAD, {medians['madgrad'][0]:.1f}×**" in text
    assert (f"Adam's paired median is {medians['adam'][0]:.2f} here (CPU "
            f"{medians['adam'][1]:.2f})") in text
    assert (f"**C-AdamW, {medians['cadamw'][0]:.1f}× ({medians['cadamw'][1]:.1f} CPU)** and "
            f"**C-Lion, {medians['clion'][0]:.1f}×**") in text


@pytest.mark.parametrize(("name", "kwargs"), CASES[::2], ids=IDS[::2])
@pytest.mark.parametrize("direction", ["numpy->fused", "fused->numpy"])
def test_checkpoint_round_trip_across_paths(name, kwargs, direction, tmp_path):
    """Save on one path, resume on the other: identical to a run that never stopped."""
    first, second = direction.split("->")
    p, grads = problem(np.float32, (37, 11), 6, 3)
    uninterrupted = optim.create(name, backend="numpy", **kwargs)
    expected = p.copy()
    for g in grads:
        uninterrupted.update(expected, g)
    saver = optim.create(name, backend=first, **kwargs)
    q = p.copy()
    for g in grads[:3]:
        saver.update(q, g)
    saver.save(tmp_path / "opt.npz")
    resumed = optim.create(name, backend=second, **kwargs)
    resumed.load(tmp_path / "opt.npz")
    for g in grads[3:]:
        resumed.update(q, g)
    np.testing.assert_array_equal(q, expected)
