"""Speed of one MNIST race step (forward, backward, update), side by side with PyTorch.

The network of E5: 784-100-100-100-100-10, ReLU, softmax cross-entropy, batch 128, float32,
2 threads. Contenders, timed interleaved in rounds in one run (the machine may be shared, so
each is reported by its best round and its median round):

* ``descentlab``   — MultiLayerNet.gradient + optim.update(net.params, grads) (the classic
                     API: one array per layer);
* ``flat``         — the same with optim.update(net.flat_params, net.flat_grads) (one array
                     for the whole network; what ``descentlab mnist`` does);
* ``pytorch``      — the same network and weights in torch (CPU), zero_grad/forward/backward/step;
* ``classic``      — the classic textbook NumPy code (the "before": float64 weights, fresh
                     arrays at every layer, softmax and cross-entropy apart, the input layer's
                     dx computed, ``params[k] -= lr·g`` style optimizers).

Also printed: the matrix-multiply floor (the step's FLOPs at the float32 GEMM rate measured
here), the share of the step spent in ``opt.update`` for each optimizer (ours and torch's),
and — unless ``--no-race`` — the full E5 race on real MNIST with Adam's test accuracy.

    python benchmarks/mnist_race.py [--rounds 11] [--steps 30] [--threads 2] [--data-dir DIR]
                                    [--no-race]
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from textbook import TextbookAdam, TextbookSGD

from descentlab import optim
from descentlab.nn import MultiLayerNet

SIZES = [784, 100, 100, 100, 100, 10]
BATCH = 128
THREADS = 2
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
LR = {"adam": 0.001}


# ---------------------------------------------------------------------------- threads
def set_blas_threads(n: int) -> bool:
    """Set NumPy's OpenBLAS thread count through its C API (as threadpoolctl does)."""
    root = Path(np.__file__).parent
    for lib_path in glob.glob(str(root.parent / "numpy.libs" / "*openblas*")) + glob.glob(
            str(root / ".dylibs" / "*openblas*")):
        lib = ctypes.CDLL(lib_path)
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads"):
            if hasattr(lib, name):
                getattr(lib, name)(n)
                return True
    return False


# ---------------------------------------------------------------------------- the classic code
class ClassicNet:
    """The classic textbook MultiLayerNet, condensed (float64 weights, allocating layers)."""

    def __init__(self, params: dict[str, np.ndarray]) -> None:
        self.params = {k: v.astype(np.float64) for k, v in params.items()}
        self.n = len(SIZES) - 1

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        acts, masks = [x], []
        h = x
        for i in range(1, self.n + 1):
            h = np.dot(h, self.params[f"W{i}"]) + self.params[f"b{i}"]
            if i < self.n:
                mask = h <= 0
                h = h.copy()
                h[mask] = 0
                masks.append(mask)
                acts.append(h)
        y = h - h.max(axis=1, keepdims=True)          # softmax, then cross-entropy
        y = np.exp(y) / np.sum(np.exp(y), axis=1, keepdims=True)
        _ = -np.sum(np.log(y[np.arange(len(t)), t] + 1e-7)) / len(t)
        dout = y.copy()
        dout[np.arange(len(t)), t] -= 1
        dout = dout / len(t)
        grads = {}
        for i in range(self.n, 0, -1):
            grads[f"W{i}"] = np.dot(acts[i - 1].T, dout)
            grads[f"b{i}"] = np.sum(dout, axis=0)
            dout = np.dot(dout, self.params[f"W{i}"].T)  # also for the input layer
            if i > 1:
                dout[masks[i - 2]] = 0
        return grads


# ---------------------------------------------------------------------------- contenders
def torch_model(params: dict[str, np.ndarray]) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    for i in range(1, len(SIZES)):
        lin = torch.nn.Linear(SIZES[i - 1], SIZES[i])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(params[f"W{i}"].T.copy()))
            lin.bias.copy_(torch.from_numpy(params[f"b{i}"]))
        layers.append(lin)
        if i < len(SIZES) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_optimizer(name: str, model: torch.nn.Module) -> torch.optim.Optimizer:
    lr = LR.get(name, 0.01)
    p = model.parameters()
    return {"sgd": lambda: torch.optim.SGD(p, lr=lr),
            "momentum": lambda: torch.optim.SGD(p, lr=lr, momentum=0.9),
            "nesterov": lambda: torch.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True),
            "adagrad": lambda: torch.optim.Adagrad(p, lr=lr),
            "rmsprop": lambda: torch.optim.RMSprop(p, lr=lr),
            "adam": lambda: torch.optim.Adam(p, lr=lr)}[name]()


def make_steps(name: str, x: np.ndarray, t: np.ndarray, seed: int = 0) -> dict:
    """Step functions (one call = one training step) of every contender for optimizer
    ``name``, and update-only functions for the update share."""
    net = MultiLayerNet(784, SIZES[1:-1], 10, seed=seed)
    opt = optim.create(name, lr=LR.get(name, 0.01))

    def ours():
        opt.update(net.params, net.gradient(x, t))

    fnet = MultiLayerNet(784, SIZES[1:-1], 10, seed=seed)
    fopt = optim.create(name, lr=LR.get(name, 0.01))

    def ours_flat():
        fnet.gradient(x, t)
        fopt.update(fnet.flat_params, fnet.flat_grads)

    grads = {k: g.copy() for k, g in net.gradient(x, t).items()}
    flat_grads = fnet.flat_grads.copy()
    uopt, ufopt = optim.create(name, lr=LR.get(name, 0.01)), optim.create(name, lr=LR.get(
        name, 0.01))

    def ours_update():
        uopt.update(net.params, grads)

    def ours_flat_update():
        ufopt.update(fnet.flat_params, flat_grads)

    npopt = optim.create(name, lr=LR.get(name, 0.01), backend="numpy")

    def ours_numpy_update():   # the readable NumPy rule (the "before" of the fused path)
        npopt.update(net.params, grads)

    def gradient_only():
        fnet.gradient(x, t)

    model = torch_model(net.params)
    topt = torch_optimizer(name, model)
    xt, tt = torch.from_numpy(x), torch.from_numpy(t.astype(np.int64))

    def theirs():
        topt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), tt).backward()
        topt.step()

    theirs()

    def theirs_update():
        topt.step()

    steps = {"descentlab": ours, "flat": ours_flat, "pytorch": theirs}
    if name in ("sgd", "adam"):
        cnet = ClassicNet(net.params)
        copt = TextbookSGD() if name == "sgd" else TextbookAdam()

        def classic():
            copt.update(cnet.params, cnet.gradient(x, t))

        steps["classic"] = classic
    return {"steps": steps, "updates": {"descentlab": ours_update, "flat": ours_flat_update,
                                        "numpy": ours_numpy_update, "pytorch": theirs_update,
                                        "gradient": gradient_only}}


def per_call(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


#: Idle seconds before each timed round. NumPy's OpenBLAS workers keep spinning ~0.1 s after
#: a call (2^28 cycles) and torch's OpenMP workers spin too: without the pause, one library's
#: spinning threads steal a core from the other's next round (torch measured 2x slower).
PAUSE = 0.15


def interleaved(fns: dict, rounds: int, n: int) -> dict[str, list[float]]:
    """Seconds per call of each function, one value per round, the functions interleaved
    (with a pause before each round so the other library's threads are asleep)."""
    for fn in fns.values():
        per_call(fn, max(3, n // 10))   # warm-up (buffers, caches, thread pools)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            time.sleep(PAUSE)
            times[k].append(per_call(fn, n))
    return times


def gemm_rate(rounds: int) -> float:
    """Best float32 GEMM rate (FLOP/s) of NumPy on 1024×1024 matrices."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((1024, 1024), dtype=np.float32) for _ in range(2))
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    best = min(per_call(lambda: np.matmul(a, b, out=out), 10) for _ in range(rounds))
    return 2 * 1024 ** 3 / best


def step_flops() -> int:
    """FLOPs of one step: forward xW for every layer, dW for every layer, dx except layer 1."""
    macs = [SIZES[i] * SIZES[i + 1] for i in range(len(SIZES) - 1)]
    return 2 * BATCH * (2 * sum(macs) + sum(macs[1:]))


def find_mnist(data_dir: str | None) -> str | None:
    here = Path(__file__).resolve().parent.parent
    candidates = [data_dir, os.environ.get("DESCENTLAB_DATA"), here.parent / "shared/data/mnist",
                  "/work/shared/data/mnist"]
    for c in candidates:
        if c and (Path(c) / "t10k-labels-idx1-ubyte.gz").exists():
            return str(c)
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=11,
                    help="timed rounds per contender, interleaved (default 11)")
    ap.add_argument("--steps", type=int, default=30, help="steps per round (default 30)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--no-race", action="store_true", help="skip the full E5 race")
    ap.add_argument("--threads", type=int, default=THREADS,
                    help=f"threads for NumPy's BLAS and for torch (default {THREADS})")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    blas = set_blas_threads(args.threads)
    print(f"MNIST race step: {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, "
          f"{args.threads} threads (OpenBLAS threads set: {blas}; unpinned, OMP_PROC_BIND="
          f"{os.environ.get('OMP_PROC_BIND')}; torch {torch.__version__}, "
          f"numpy {np.__version__}; load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())})")
    rng = np.random.default_rng(0)
    data = find_mnist(args.data_dir)
    if data:
        from descentlab.data import load_mnist

        (x_train, t_train), (x_test, t_test) = load_mnist(data, progress=False)
        idx = rng.integers(0, len(x_train), BATCH)
        x, t = x_train[idx], t_train[idx].astype(np.int64)
    else:
        x, t = rng.random((BATCH, 784), dtype=np.float32), rng.integers(0, 10, BATCH)

    rate = gemm_rate(args.rounds)
    floor = step_flops() / rate
    print(f"GEMM rate {rate / 1e9:.0f} GFLOP/s (float32 1024³); step {step_flops() / 1e6:.1f} "
          f"MFLOP -> matmul floor {1e3 * floor:.3f} ms")
    print()
    print(f"{'':<10} {'ms per step (best round)':^42} {'ratio vs pytorch':^23}")
    print(f"{'optimizer':<10} {'descentlab':>10} {'flat':>10} {'pytorch':>10} {'classic':>10} "
          f"{'dict':>7} {'flat':>7} {'median':>7} {'flat/floor':>11}")
    summary = {}
    for name in OPTIMIZERS:
        fns = make_steps(name, x, t)
        times = interleaved(fns["steps"], args.rounds, args.steps)
        best = {k: min(v) for k, v in times.items()}
        med_ratio = statistics.median(a / b for a, b in zip(times["flat"], times["pytorch"]))
        upd = interleaved(fns["updates"], args.rounds, args.steps)
        summary[name] = (best, {k: min(v) for k, v in upd.items()})
        classic = f"{1e3 * best['classic']:10.3f}" if "classic" in best else f"{'':>10}"
        print(f"{name:<10} {1e3 * best['descentlab']:10.3f} {1e3 * best['flat']:10.3f} "
              f"{1e3 * best['pytorch']:10.3f} {classic} "
              f"{best['descentlab'] / best['pytorch']:7.2f} {best['flat'] / best['pytorch']:7.2f} "
              f"{med_ratio:7.2f} {best['flat'] / floor:11.2f}")
    print("(dict: opt.update(net.params, grads); flat: opt.update(net.flat_params, "
          "net.flat_grads); median: median over rounds of flat/pytorch)")

    print()
    print("where the step goes (ms, best round): net.gradient = forward + backward; update "
          "alone with fixed gradients")
    print(f"{'optimizer':<10} {'gradient':>9} {'dict numpy':>11} {'dict auto':>10} "
          f"{'flat auto':>10} {'flat share':>11} {'torch step()':>13} {'torch share':>12}")
    for name, (best, upd) in summary.items():
        print(f"{name:<10} {1e3 * upd['gradient']:9.3f} {1e3 * upd['numpy']:11.3f} "
              f"{1e3 * upd['descentlab']:10.3f} {1e3 * upd['flat']:10.3f} "
              f"{upd['flat'] / best['flat']:11.0%} {1e3 * upd['pytorch']:13.3f} "
              f"{upd['pytorch'] / best['pytorch']:12.0%}")
    print("(dict numpy: backend='numpy', the readable rule per array; auto: the default "
          "backend, fused kernels for arrays >= 32768 elements)")
    grad_best = min(summary[n][1]["gradient"] for n in summary)
    print(f"forward+backward (net.gradient) best: {1e3 * grad_best:.3f} ms = "
          f"{grad_best / floor:.2f} x the matmul floor")

    if not args.no_race:
        if not data:
            print("\nfull race skipped: MNIST not found (use --data-dir)")
            return 0
        from descentlab.lab.mnist_race import run_race

        print("\nfull E5 race on MNIST (6 optimizers x 2000 iterations of 128, seed 0):")
        t0 = time.perf_counter()
        r = run_race(x_train, t_train, list(OPTIMIZERS), x_test=x_test, t_test=t_test,
                     iterations=2000, batch_size=BATCH, seed=0, log=None, progress=False)
        wall = time.perf_counter() - t0
        for n in r.names:
            print(f"  {n:<9} test accuracy {r.test_accuracy.get(n, float('nan')):.4f}  "
                  f"train {r.train_accuracy.get(n, float('nan')):.4f}  step "
                  f"{1e3 * (r.gradient_seconds[n] + r.update_seconds[n]):.3f} ms")
        adam = r.test_accuracy.get("adam", 0.0)
        print(f"race wall time {wall:.1f} s; Adam test accuracy {adam:.4f} "
              f"({'> 0.95 OK' if adam > 0.95 else 'BELOW 0.95'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
