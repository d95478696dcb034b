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


def _sample_float32_bits() -> np.ndarray:
    """2^20 float32 bit patterns spread over all 2^32 (every exponent and sign, subnormals),
    and the special values: zeros, the smallest subnormal and normal, infinities, NaN."""
    step = 2**32 // 2**20 + 1  # odd: every residue of the low bits comes up
    bits = (np.arange(2**20, dtype=np.uint64) * step) % 2**32
    special = [0, 1, 0x7FFFFF, 0x800000, 0x7F7FFFFF, 0x7F800000, 0x7FC00000, 0x3F800000]
    return np.concatenate([bits, special, np.array(special) | 0x80000000]).astype(np.uint32)


def test_kernel_cube_root_is_the_rules():
    """The kernels' float32 cube root (numba, vectorised) gives the bits of the rule's
    (moments.cube_root, NumPy) — the same float32 operations up to the sign and powers of two
    (inline.cube_root32); benchmarks/cube_root_check.py checks all 2^32 inputs — and float64
    calls the libm cbrt that np.cbrt calls."""
    from numba import njit

    from descentlab.optim.fused.inline import cube_root
    from descentlab.optim.moments import cube_root as rule_cube_root

    @njit(error_model="numpy")  # as in the kernels' parallel loops: x = 0 divides 0 by 0
    def roots(x, out):
        for i in range(x.size):
            out[i] = cube_root(x[i])

    x = _sample_float32_bits().view(np.float32)
    out = np.empty_like(x)
    roots(x, out)
    expected = rule_cube_root(x)
    assert_same(out, expected)
    assert np.array_equal(np.signbit(out), np.signbit(expected))
    x64 = np.random.default_rng(3).standard_normal(4096) * 1e3
    out64 = np.empty_like(x64)
    roots(x64, out64)
    np.testing.assert_array_equal(out64, np.cbrt(x64))


def test_rule_cube_root_is_within_one_ulp():
    """moments.cube_root: float32 within 1 ulp of the correctly rounded root (a float64 root
    rounded to float32), special values as np.cbrt; other dtypes are np.cbrt itself."""
    from descentlab.optim.moments import cube_root

    x = _sample_float32_bits().view(np.float32)
    root = cube_root(x)
    assert root.dtype == np.float32 and root.shape == x.shape
    finite = np.isfinite(x)
    exact = np.cbrt(x[finite].astype(np.float64)).astype(np.float32)
    ulps = np.abs(root[finite].view(np.int32).astype(np.int64)
                  - exact.view(np.int32).astype(np.int64))
    assert ulps.max() <= 1 and np.mean(ulps == 0) > 0.85
    with np.errstate(invalid="ignore"):
        assert_same(root[~finite], np.cbrt(x[~finite]))
    zeros = np.array([0.0, -0.0], np.float32)
    assert np.array_equal(np.signbit(cube_root(zeros)), [False, True])
    assert cube_root(np.array([27.0], np.float32)).tolist() == [3.0]  # exact cubes are exact
    x64 = np.random.default_rng(4).standard_normal(100)
    np.testing.assert_array_equal(cube_root(x64), np.cbrt(x64))


def test_docs_quote_the_committed_cube_root_check():
    """docs/fused.md quotes the committed output of benchmarks/cube_root_check.py."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = (root / "docs" / "figures" / "cube_root_check.txt").read_text("utf-8")
    doc = " ".join((root / "docs" / "fused.md").read_text("utf-8").split())
    found = re.search(r"differs from the rule's on (\d+) of 4294967296 float32 inputs; the "
                      r"rule's, over the (\d+) finite ones: (\d+) correctly rounded, (\d+) 1 "
                      r"ulp away, (\d+) further", out)
    assert found, out
    differ, finite, exact, one, further = (int(v) for v in found.groups())
    assert differ == 0 and further == 0 and exact + one == finite
    assert (f"differs from the rule's on 0 of the 2^32 float32 inputs; the rule's is correctly "
            f"rounded on {exact / finite:.1%} of the finite ones and 1 ulp away on the "
            f"others") in doc


def test_docs_quote_the_committed_madgrad_roofline():
    """docs/fused.md's MADGRAD roofline block is the committed output of
    benchmarks/madgrad_roofline.py, and the prose's claims hold in it: without the cube root
    the loop is at its stream (within 1.15x) and costs about its bytes in cache, the root is
    most of the kernel's time, the arithmetic on two cores is as long as the stream's memory
    time (the numbers quoted), the measured ratio lies between the overlapped and the added
    models (the numbers quoted), and the kernel's loop has more vector instructions than its
    stream's."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = (root / "docs" / "figures" / "madgrad_roofline.txt").read_text("utf-8")
    doc = (root / "docs" / "fused.md").read_text("utf-8")
    start = doc.index("<!-- madgrad_roofline: start -->\n```\n") + len(
        "<!-- madgrad_roofline: start -->\n```\n")
    assert doc[start:doc.index("```\n<!-- madgrad_roofline: end -->", start)] == out
    prose = " ".join(doc.split())
    no_root = re.search(r"no root/stream paired ([0-9.]+), cpu ([0-9.]+)", out)
    assert no_root and max(float(v) for v in no_root.groups()) <= 1.15, out
    cache = re.search(r"stream ([0-9.]+), madgrad ([0-9.]+), no root ([0-9.]+), cube root "
                      r"([0-9.]+)", out)
    stream_c, kernel_c, no_root_c, root_c = (float(v) for v in cache.groups())
    assert no_root_c <= 1.5 * stream_c and root_c > 0.5 * kernel_c, out
    models = re.search(r"madgrad ([0-9.]+) ns per element, the stream's memory time "
                       r"([0-9.]+): overlapped, max = [0-9.]+ \(([0-9.]+)x the stream\); not "
                       r"overlapped, sum = [0-9.]+ \(([0-9.]+)x\); measured ([0-9.]+)x", out)
    assert models, out
    compute, memory, overlapped, added, measured = (float(v) for v in models.groups())
    assert 0.85 <= compute / memory <= 1.15, out  # "as long as"
    assert f"({compute:.2f} against {memory:.2f} ns)" in prose
    assert f"({overlapped:.2f}× the stream), one where they did not, their sum " \
           f"({added:.2f}×)" in prose
    assert overlapped <= measured <= added, out
    loops = re.search(r"usual-step loop (\d+) \(2\).*the stream's loop (\d+) \(0\)", out)
    assert loops and int(loops.group(1)) > int(loops.group(2)), out


def test_docs_table_is_the_median_of_the_committed_runs():
    """docs/fused.md's generated throughput block (``step_throughput.py --update-doc``) is the
    cell-wise median of the runs committed in docs/figures/step_throughput_catalogue.txt,
    recomputed here from the runs, with the summary of which rules are within 1.15x."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    runs = (root / "docs" / "figures" / "step_throughput_catalogue.txt").read_text("utf-8")
    doc = (root / "docs" / "fused.md").read_text("utf-8")
    row = re.compile(r"^ *(\S+) (\S+) +(\S+)((?: +[0-9.]+){5})((?: +(?:[0-9.]+|-)){2})?$")
    cells: dict[tuple[str, str, str], list[list[float]]] = {}
    for line in runs.splitlines():
        if match := row.match(line):
            size, rule, k, numbers, extra = match.groups()
            values = [float(x) for x in numbers.split()]
            values += [float("nan") if x == "-" else float(x) for x in (extra or "- -").split()]
            cells.setdefault((size, rule, k), []).append(values)
    headers = [line for line in runs.splitlines() if line.startswith("step throughput")]
    assert len(headers) >= 2 and all(len(v) == len(headers) for v in cells.values())
    start = doc.index("<!-- step_throughput kernels: start -->")
    block = doc[start:doc.index("<!-- step_throughput kernels: end -->", start)]
    assert f"median of {len(headers)} runs of step_throughput.py --kernels-only" in block
    for header in headers:
        assert f"  {header}\n" in block, header
    for name in HYPER:  # every catalogue kernel is in the table
        assert any(rule == {"optimistic_gradient_descent": "optim_gd",
                            "optimistic_adam": "optim_adam",
                            "simplified_ademamix": "s_ademamix"}.get(name, name)
                   for _, rule, _ in cells), name
    within, beyond = [], []
    for (size, rule, k), values in cells.items():
        kernel, stream, ratio, paired, cpu, one, floor = np.median(np.array(values), axis=0)
        extra = "".join(f"{'-':>8}" if np.isnan(x) else f"{x:8.2f}" for x in (one, floor))
        line = (f"{size:>5} {rule:10}{k:>4}{kernel:8.2f}{stream:8.2f}{ratio:15.2f}"
                f"{paired:8.2f}{cpu:8.2f}{extra}")
        assert f"\n{line}\n" in block, f"docs/fused.md should say:\n{line}"
        (within if max(paired, cpu) <= 1.15 else beyond).append(
            f"{rule} ({paired:.2f}, {cpu:.2f})")
    assert (f"within 1.15x of their streams by both medians (paired, cpu): "
            f"{', '.join(within) or 'none'}\nbeyond: {', '.join(beyond) or 'none'}\n") in block


def test_docs_prose_ranges_are_the_committed_runs():
    """The ranges docs/fused.md's prose quotes (MADGRAD's kernel and stream speeds and paired
    ratios over the runs, COCOB's and C-Lion's paired ratios) are the min–max over the
    committed runs."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    runs = (root / "docs" / "figures" / "step_throughput_catalogue.txt").read_text("utf-8")
    doc = " ".join((root / "docs" / "fused.md").read_text("utf-8").split())

    def spread(rule: str, column: int) -> str:
        values = [float(line.split()[column]) for line in runs.splitlines()
                  if re.match(rf"^ *10M {rule} ", line)]
        assert len(values) >= 2, rule
        return f"{min(values):.2f}–{max(values):.2f}"

    # columns: size rule k kernel stream stream/kernel paired cpu ...
    assert f"its kernel ran at {spread('madgrad', 3)} Gparam/s in every run above while its " \
           f"stream ran at {spread('madgrad', 4)}" in doc
    assert f"memory: {spread('madgrad', 6)} paired over the seven runs" in doc
    assert f"COCOB's paired ratio {spread('cocob', 6)} over the seven runs" in doc
    assert f"C-Lion's paired ratio here {spread('clion', 6)} over the seven runs" in doc
    assert runs.count("step throughput, float32") == 7


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
