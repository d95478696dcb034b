"""The fused path (numba kernels) against the readable NumPy rules.

Every comparison is exact (``assert_array_equal``, bit for bit): each kernel repeats its rule's
arithmetic in the same order, its scalar coefficients are computed by the same Python
expressions and rounded to the array dtype exactly as NumPy rounds a Python float that meets
an array (NEP 50), and numba compiles without ``fastmath`` (no reassociation, no fused
multiply-add contraction). So no tolerance is needed, and a tolerance would hide a kernel that
drifted from its rule.

Compile cost: each kernel is compiled once per dtype with its options as runtime flags, so
this whole file compiles 16 specialisations (about 10 s from a cold cache on 2 cores; later
runs load them from numba's on-disk cache).
"""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from helpers import assert_same
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab import optim
from descentlab.optim import blocks, fused
from descentlab.optim.flat import FlatParams

#: (optimizer name, keyword arguments): every rule and every option the kernels implement.
CONFIGS = [
    ("sgd", {}),
    ("sgd", {"weight_decay": 0.1, "maximize": True}),
    ("sgd", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("momentum", {}),
    ("momentum", {"dampening": 0.3, "weight_decay": 0.05}),
    ("momentum", {"nesterov": True, "maximize": True}),
    ("momentum", {"lr_in_buffer": True}),
    ("momentum", {"lr_in_buffer": True, "nesterov": True}),
    ("nesterov", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("adagrad", {}),
    ("adagrad", {"lr_decay": 0.05, "weight_decay": 0.1}),
    ("adagrad", {"eps_mode": "inside", "initial_accumulator_value": 0.1, "maximize": True}),
    ("rmsprop", {}),
    ("rmsprop", {"centered": True, "weight_decay": 0.1}),
    ("rmsprop", {"momentum": 0.5}),
    ("rmsprop", {"momentum": 0.5, "centered": True, "eps_mode": "inside"}),
    ("rmsprop", {"momentum": 0.5, "lr_in_buffer": True, "maximize": True}),
    ("rmsprop", {"lr_in_buffer": True, "eps_mode": "inside"}),
    ("rmsprop", {"momentum": 0.5, "nesterov": True, "initial_scale": 0.1}),
    ("rmsprop", {"centered": True, "bias_correction": True, "lr_in_buffer": True}),
    # every loop of the RMSprop kernel (centered × buffer × place of ε) has a config
    ("rmsprop", {"centered": True, "eps_mode": "inside"}),
    ("rmsprop", {"momentum": 0.5, "centered": True, "maximize": True}),
    ("adadelta", {}),
    ("adadelta", {"weight_decay": 0.1, "maximize": True}),
    ("adam", {}),
    ("adam", {"eps_mode": "uncorrected", "weight_decay": 0.1}),
    ("adam", {"eps_mode": "inside", "maximize": True}),
    ("adam", {"amsgrad": True}),
    ("adam", {"amsgrad": True, "amsgrad_on": "v_hat"}),
    ("adam", {"amsgrad": True, "eps_mode": "uncorrected"}),
    ("adam", {"eps_root": 1e-8}),
    ("adam", {"nesterov": True}),
    ("adam", {"amsgrad": True, "amsgrad_on": "v_hat", "eps_root": 1e-8}),
    ("adamw", {}),
    ("adamw", {"amsgrad": True, "maximize": True}),
    ("amsgrad", {"eps_mode": "inside"}),
    ("nadam", {}),
    ("nadam", {"momentum_decay": 1.0, "weight_decay": 0.1}),
    ("nadam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("adamax", {}),
    ("adamax", {"eps_mode": "outside", "weight_decay": 0.1, "maximize": True}),
    # the optax family (optim/fused/steps_optax.py, kernels_optax.py)
    ("lion", {}),
    ("lion", {"mode": "refined", "maximize": True}),
    ("lion", {"mode": "smooth", "smooth_beta": 2.0, "weight_decay": 0.0}),
    ("adabelief", {}),
    ("adabelief", {"nesterov": True, "weight_decay": 0.1, "eps_root": 1e-12}),
    ("yogi", {}),
    ("yogi", {"bias_correction": False, "eps_root": 1e-8, "decoupled_weight_decay": True,
              "weight_decay": 0.1}),
    ("adan", {"weight_decay": 0.1}),
    ("adan", {"weight_decay": 0.1, "proximal_decay": True, "maximize": True}),
    ("adopt", {}),
    ("adopt", {"nesterov": True, "weight_decay": 0.1}),
    ("adopt", {"use_clipping": False, "clip_exponent": 0.5}),
    ("adopt", {"use_clipping": False, "nesterov": True}),
    ("ademamix", {}),
    ("ademamix", {"weight_decay": 0.1, "eps_root": 1e-10, "alpha": 2.0}),
    ("schedule_free_sgd", {}),
    ("schedule_free_sgd", {"warmup_steps": 3, "weight_decay": 0.1, "maximize": True}),
    ("schedule_free_adamw", {}),
    ("schedule_free_adamw", {"warmup_steps": 2, "weight_decay": 0.1}),
    ("radam", {}),
    ("radam", {"beta2": 0.9, "weight_decay": 0.1, "maximize": True}),
    ("radam", {"beta2": 0.8, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("rprop", {}),
    ("rprop", {"etas": (0.3, 1.5), "step_sizes": (1e-3, 0.03), "weight_decay": 0.1,
               "maximize": True}),
    ("asgd", {}),
    ("asgd", {"t0": 2.0, "lambd": 0.05, "weight_decay": 0.1, "maximize": True}),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}"
       for name, kw in CONFIGS]
#: Learning rates large enough that the states and parameters move a lot in a few steps.
LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adadelta": 1.0}


def make(name: str, backend: str, **kwargs) -> optim.Optimizer:
    kwargs.setdefault("lr", LR.get(name, 0.02))
    return optim.create(name, backend=backend, **kwargs)


def run(opt: optim.Optimizer, p: np.ndarray, grads: list[np.ndarray]) -> np.ndarray:
    for g in grads:
        opt.update(p, g)
    return p


def random_problem(dtype, shape=(37, 11), steps=6, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(shape).astype(dtype)
    # Mixed magnitudes, exact zeros and sign changes exercise every branch of the rules.
    grads = [(rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 2, shape)).astype(dtype)
             for _ in range(steps)]
    grads[1].flat[:3] = 0
    return p, grads


def assert_same_state(a: optim.Optimizer, b: optim.Optimizer) -> None:
    assert_same(a.state, b.state, "state")
    assert_same(a.globals, b.globals, "globals")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_fused_equals_numpy_rule_bit_for_bit(name, kwargs, dtype):
    p, grads = random_problem(dtype)
    reference, fast = make(name, "numpy", **kwargs), make(name, "fused", **kwargs)
    expected = run(reference, p.copy(), grads)
    got = run(fast, p.copy(), grads)
    assert got.dtype == dtype
    assert not np.array_equal(got, p), "the test must move the parameters"
    np.testing.assert_array_equal(got, expected)
    assert_same_state(reference, fast)


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_numpy_rule_in_blocks_equals_whole_arrays(name, kwargs, monkeypatch):
    """The NumPy path runs big arrays block by block (optim/blocks.py): same bits."""
    p, grads = random_problem(np.float32)
    whole = make(name, "numpy", **kwargs)
    expected = run(whole, p.copy(), grads)
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 4 * 50)  # 407 elements: 8 blocks of 50 and 7
    blocked = make(name, "numpy", **kwargs)
    np.testing.assert_array_equal(run(blocked, p.copy(), grads), expected)
    assert_same_state(whole, blocked)


def test_blocks_only_where_the_rule_is_elementwise(monkeypatch):
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 16)
    p, g = np.ones((4, 3)), np.ones((4, 3))
    opt = optim.SGD()
    h = opt.resolve(0)
    assert len(list(blocks.blocks(opt, p, g, {}, h))) == 6  # 2 float64 per block
    assert len(list(blocks.blocks(opt, np.asfortranarray(p), g, {}, h))) == 1
    opt.lr = np.full((4, 1), 0.1)
    assert len(list(blocks.blocks(opt, p, g, {}, opt.resolve(0)))) == 1

    class Normalised(optim.SGD):  # not element-wise: must see the whole array
        def rule(self, p, g, state, h):
            p -= h.lr * g / np.linalg.norm(g)

    q = np.ones(100)
    Normalised(lr=1.0).update(q, np.ones(100))
    np.testing.assert_allclose(q, 0.9)


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS[::3], ids=IDS[::3])
@pytest.mark.parametrize("direction", ["numpy->fused", "fused->numpy"])
def test_checkpoint_round_trip_across_paths(name, kwargs, direction, tmp_path):
    """Save on one path, resume on the other: identical to a run that never stopped."""
    first, second = direction.split("->")
    p, grads = random_problem(np.float32, steps=7, seed=1)
    uninterrupted = run(make(name, "numpy", **kwargs), p.copy(), grads)
    saver = make(name, first, **kwargs)
    q = p.copy()
    run(saver, q, grads[:3])
    saver.save(tmp_path / "opt.npz")
    resumed = make(name, second, **kwargs)
    resumed.load(tmp_path / "opt.npz")
    run(resumed, q, grads[3:])
    np.testing.assert_array_equal(q, uninterrupted)


def test_state_dict_round_trip_across_paths_mid_run_with_schedule():
    """A learning-rate schedule (the lr changes every step) through a state_dict hand-over."""
    def schedule(count: int) -> float:
        return 0.05 / (1 + count)

    p, grads = random_problem(np.float64, steps=6, seed=2)
    kw = {"lr_in_buffer": True, "nesterov": True}
    reference = optim.Momentum(lr=schedule, backend="numpy", **kw)
    expected = run(reference, p.copy(), grads)
    a = optim.Momentum(lr=schedule, backend="fused", **kw)
    q = run(a, p.copy(), grads[:2])
    b = optim.Momentum(lr=schedule, backend="numpy", **kw)
    b.load_state_dict(a.state_dict())
    run(b, q, grads[2:4])
    c = optim.Momentum(lr=schedule, backend="fused", **kw)
    c.load_state_dict(b.state_dict())
    run(c, q, grads[4:])
    np.testing.assert_array_equal(q, expected)


def test_fortran_ordered_checkpoint_state_is_handled():
    p, grads = random_problem(np.float64, steps=4)
    expected = run(make("adam", "numpy"), p.copy(), grads)
    a = make("adam", "numpy")
    q = run(a, p.copy(), grads[:2])
    d = a.state_dict()
    d["state"][""] = {k: np.asfortranarray(v) for k, v in d["state"][""].items()}
    b = make("adam", "fused")
    b.load_state_dict(d)
    run(b, q, grads[2:])
    np.testing.assert_array_equal(q, expected)


def test_forced_fused_handles_float16_and_python_floats():
    rng = np.random.default_rng(3)
    p16 = rng.standard_normal(50).astype(np.float16)
    grads = [rng.standard_normal(50).astype(np.float16) for _ in range(4)]
    a, b = make("adam", "numpy"), make("adam", "fused")
    np.testing.assert_array_equal(run(a, p16.copy(), grads), run(b, p16.copy(), grads))
    assert_same_state(a, b)
    floats_a, floats_b = {"x": 1.0, "y": -2.0}, {"x": 1.0, "y": -2.0}
    a, b = make("rmsprop", "numpy", centered=True), make("rmsprop", "fused", centered=True)
    for k in range(3):
        g = {"x": 0.5 - k, "y": 2.0 + k}
        a.update(floats_a, g)
        b.update(floats_b, g)
    assert floats_a == floats_b and floats_a != {"x": 1.0, "y": -2.0}
    assert type(floats_b["x"]) is float


@settings(max_examples=25, deadline=None)
@given(
    lr=st.floats(1e-4, 1.0), beta1=st.floats(0.0, 0.99), beta2=st.floats(0.5, 0.9999),
    eps=st.floats(1e-10, 1e-2), wd=st.sampled_from([0.0, 0.01, 0.5]),
    decoupled=st.booleans(), maximize=st.booleans(), amsgrad=st.booleans(),
    eps_mode=st.sampled_from(["outside", "uncorrected", "inside"]), seed=st.integers(0, 99),
)
def test_adam_property_fused_equals_rule(lr, beta1, beta2, eps, wd, decoupled, maximize,
                                         amsgrad, eps_mode, seed):
    kw = {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": wd,
          "decoupled_weight_decay": decoupled, "maximize": maximize, "amsgrad": amsgrad,
          "eps_mode": eps_mode}
    p, grads = random_problem(np.float32, shape=(64,), steps=3, seed=seed)
    np.testing.assert_array_equal(run(optim.Adam(backend="fused", **kw), p.copy(), grads),
                                  run(optim.Adam(backend="numpy", **kw), p.copy(), grads))


# ------------------------------------------------------------------ which path runs


@pytest.fixture
def fused_calls(monkeypatch):
    """Records the parameter shapes the fused path updates."""
    calls: list[tuple[int, ...]] = []
    real = fused.run

    def spy(opt, p, g, state, h):
        calls.append(p.shape)
        real(opt, p, g, state, h)

    monkeypatch.setattr(fused, "run", spy)
    return calls


def test_auto_uses_the_kernel_only_where_it_pays(fused_calls):
    big = np.ones(fused.MIN_SIZE, np.float32)
    small = np.ones(fused.MIN_SIZE - 1, np.float32)
    half = np.ones(fused.MIN_SIZE, np.float16)
    strided = np.ones(2 * fused.MIN_SIZE)[::2]
    params = {"big": big, "small": small, "half": half, "strided": strided, "x": 1.0}
    grads = {k: np.ones_like(v) if isinstance(v, np.ndarray) else 1.0 for k, v in
             params.items()}
    opt = optim.Adam()
    assert opt.backend == "auto"
    opt.update(params, grads)
    assert fused_calls == [big.shape]
    fused_calls.clear()
    optim.Adam(backend="numpy").update(params, grads)
    assert fused_calls == []


def test_array_hyperparameters_take_the_numpy_path(fused_calls):
    p = np.ones((2, fused.MIN_SIZE))
    opt = optim.SGD(lr=np.array([[0.1], [0.2]]))
    opt.update(p, np.ones_like(p))
    assert fused_calls == []
    np.testing.assert_array_equal(p[:, 0], [0.9, 0.8])


def test_a_subclass_with_its_own_rule_keeps_it(fused_calls):
    class Halved(optim.SGD):
        def rule(self, p, g, state, h):
            p -= 0.5 * h.lr * g

    p = np.ones(fused.MIN_SIZE)
    Halved(lr=1.0).update(p, np.ones_like(p))
    assert fused_calls == [] and p[0] == 0.5
    with pytest.raises(ValueError, match="Halved has its own rule"):
        Halved(lr=1.0, backend="fused").update(p, np.ones_like(p))


def test_forced_fused_that_cannot_run_is_an_error_before_anything_changes():
    params = {"w": np.ones((3, 2)), "a": np.ones((3, 4))}
    grads = {"w": np.ones((3, 2)), "a": np.ones((3, 4))}
    opt = optim.SGD(lr=np.array([[0.1], [0.2], [0.3]]), backend="fused")
    with pytest.raises(ValueError, match=r"cannot update parameter 'w': hyperparameter lr is"):
        opt.update(params, grads)
    assert opt.step == 0 and opt.state == {}
    np.testing.assert_array_equal(params["w"], 1.0)
    f_ordered = np.ones((4, 3), order="F")
    with pytest.raises(ValueError, match="not a C-contiguous array"):
        optim.SGD(backend="fused").update(f_ordered, np.ones((4, 3)))


def test_backend_is_validated():
    with pytest.raises(ValueError, match="backend must be one of 'auto', 'numpy', 'fused'"):
        optim.Adam(backend="gpu")
    assert "backend" in optim.accepted_arguments(optim.Adam)
    assert optim.create("adam", backend="numpy").backend == "numpy"


# ------------------------------------------------------------------ import and compile cost


def test_import_and_the_numpy_path_do_not_import_numba():
    code = ("import sys, numpy as np, descentlab; from descentlab import optim; "
            "p = np.ones(2**20); optim.Adam(backend='numpy').update(p, p.copy()); "
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_a_second_process_loads_kernels_from_the_cache():
    code = textwrap.dedent("""
        import numpy as np
        from descentlab import optim
        from descentlab.optim.fused import kernels
        p = np.ones(100, np.float32)
        optim.Adam(backend="fused").update(p, np.ones_like(p))
        s = kernels.adam.stats
        print(sum(s.cache_hits.values()), sum(s.cache_misses.values()))
    """)

    def hits_and_misses() -> tuple[int, int]:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
        hits, misses = out.stdout.split()
        return int(hits), int(misses)

    hits_and_misses()  # compiles and writes the cache, unless an earlier run did
    assert hits_and_misses() == (1, 0)


# ------------------------------------------------------------------ the flat buffer


def test_flat_buffer_is_one_kernel_call_for_a_whole_network(fused_calls):
    rng = np.random.default_rng(5)
    layers = {"W1": rng.standard_normal((30, 20)), "b1": np.zeros(20),
              "W2": rng.standard_normal((20, 5)), "b2": np.zeros(5)}
    grads = [{k: rng.standard_normal(v.shape) for k, v in layers.items()} for _ in range(3)]
    params = FlatParams.from_dict(layers, np.float32)
    flat_grads = params.zeros_like()
    separate = {k: v.astype(np.float32) for k, v in layers.items()}
    opt_flat, opt_separate = optim.Adam(backend="fused"), optim.Adam(backend="numpy")
    for g in grads:
        flat_grads.update(g)
        opt_flat.update(params.flat, flat_grads.flat)
        opt_separate.update(separate, {k: v.astype(np.float32) for k, v in g.items()})
    assert len(fused_calls) == 3  # one per step for the whole network
    for k in layers:
        np.testing.assert_array_equal(params[k], separate[k])
        np.testing.assert_array_equal(params.views(opt_flat.state[""]["m"])[k],
                                      opt_separate.state[k]["m"])


def test_flat_buffer_keeps_names_bound_to_views():
    params = FlatParams.from_dict({"W": np.ones((2, 2)), "b": np.arange(3)})
    assert params.flat.dtype == np.float64 and params.flat.size == 7
    params["b"] = [5.0, 6.0, 7.0]
    params["W"] -= 1.0
    np.testing.assert_array_equal(params.flat, [0, 0, 0, 0, 5, 6, 7])
    with pytest.raises(ValueError, match=r"'W' has shape \(2, 2\)"):
        params["W"] = np.ones(3)
    with pytest.raises(KeyError, match="'c' is not in this flat buffer"):
        params["c"] = np.ones(1)
    with pytest.raises(TypeError, match="fixed"):
        del params["W"]
    for clone in (copy.deepcopy(params), pickle.loads(pickle.dumps(params))):
        assert clone["b"].base is clone.flat
        clone["b"][0] = -1
        assert params["b"][0] == 5.0
    with pytest.raises(ValueError, match="hold 7 elements, flat has 6"):
        FlatParams(np.zeros(6), params.shapes)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parallel_finiteness_check(dtype):
    g = np.full(fused.MIN_SIZE, np.finfo(dtype).max, dtype)  # finite; a sum would overflow
    assert fused.all_finite(g)
    for bad in (np.nan, np.inf, -np.inf):
        g[fused.MIN_SIZE // 2] = bad
        assert not fused.all_finite(g)


def test_nonfinite_gradient_check_on_the_fused_path(fused_calls):
    p = np.ones(fused.MIN_SIZE)
    g = np.full(fused.MIN_SIZE, 1e308)  # every element finite, the sum overflows
    optim.SGD(lr=1e-310).update(p, g)
    assert fused_calls == [p.shape]
    g[-1] = np.nan
    opt = optim.Adam()
    with pytest.raises(FloatingPointError, match="the gradient of the parameter array is not "
                                                 "finite at step 1"):
        opt.update(p, g)
    assert opt.state == {} and fused_calls == [p.shape]
    opt = optim.Adam(nonfinite="skip")
    with pytest.warns(RuntimeWarning, match="skipped"):
        opt.update(p, g)
    assert opt.skipped_steps == 1


#: The fork test's parent, run in a fresh interpreter: the pytest worker itself must not
#: fork — other tests in the same worker may have started JAX (the Keras/optax oracles) or
#: torch threads, and forking a multithreaded process can deadlock the child (JAX warns
#: "os.fork() was called ..."). The fresh parent imports neither; any RuntimeWarning in it
#: (such as that one) is an error.
_FORK_PARENT = textwrap.dedent("""
    import json, multiprocessing, sys
    import numpy as np
    from descentlab import optim
    from descentlab.optim import fused

    def update(backend):
        p = np.ones(fused.MIN_SIZE, np.float32)
        try:
            optim.Adam(lr=0.5, backend=backend).update(p, np.ones_like(p))
        except ValueError as e:
            return str(e)
        return f"{p[0]:.3f}"

    if __name__ == "__main__":
        first = update("fused")  # the parent runs a kernel first
        with multiprocessing.get_context("fork").Pool(1) as pool:
            auto = pool.apply_async(update, ("auto",)).get(timeout=60)
            forced = pool.apply_async(update, ("fused",)).get(timeout=60)
        threaded = sorted(m for m in ("jax", "torch") if m in sys.modules)
        print(json.dumps({"parent": first, "auto": auto, "forced": forced,
                          "threaded": threaded}))
""")


def test_a_child_forked_after_kernels_ran_uses_numpy():
    """numba's OpenMP threads do not survive fork(): a forked child must not call a kernel
    (it would abort the child); it falls back to NumPy, or explains under backend='fused'."""
    import json

    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", _FORK_PARENT],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["threaded"] == []  # nothing multithreaded besides numba was forked
    assert got["parent"] == "0.500" and got["auto"] == "0.500"
    forced = got["forced"]
    assert "forked from one that had run fused kernels" in forced and "'spawn'" in forced


def _torch_cases():
    """The PyTorch case matrix of tests/test_optim_torch.py (every optimizer and option with a
    PyTorch counterpart), loaded from that file so there is one list."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name("test_optim_torch.py")
    spec = importlib.util.spec_from_file_location("_optim_torch_cases", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TORCH = _torch_cases()


def _on_fused_path(case):
    def build(rng, wd, maximize):
        ours, theirs = case(rng, wd, maximize)
        ours.backend = "fused"
        return ours, theirs
    return build


@pytest.mark.parametrize("name", list(TORCH.CASES))
def test_fused_path_matches_torch(name):
    """The independent oracle for every kernel: torch.optim, float64 to 1e-12 and float32
    to 1e-5 (the bounds of tests/test_optim_torch.py), 100 steps, with weight decay."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # NAdam's scalar state in float64, as ours
    try:
        ours, theirs = TORCH.run_both(_on_fused_path(TORCH.CASES[name]), np.float64, 0, 0.05,
                                      True)
    finally:
        torch.set_default_dtype(old)
    for a, b in zip(ours.values(), theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    ours, theirs = TORCH.run_both(_on_fused_path(TORCH.CASES[name]), np.float32, 1, 0.01,
                                  False)
    for a, b in zip(ours.values(), theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_options_are_runtime_flags_not_new_compilations():
    """Keeps the compile cost down: every option of a rule shares one specialisation per
    dtype (a new one would add about a second of compilation)."""
    from descentlab.optim.fused import kernels, kernels_torch

    p, grads = random_problem(np.float32, steps=2)
    for name, kwargs in CONFIGS:
        run(make(name, "fused", **kwargs), p.copy(), grads)
    for name in ("sgd", "momentum", "adagrad", "rmsprop", "adadelta", "adam", "nadam",
                 "adamax", "radam", "rprop", "asgd"):
        kernel = getattr(kernels, name, None) or getattr(kernels_torch, name)
        float32 = [s for s in kernel.signatures if "float32" in str(s[0])]
        assert len(float32) == 1, f"{name}: {float32}"
