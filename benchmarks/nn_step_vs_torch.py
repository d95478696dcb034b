"""One training step (forward, backward, Adam update) of the CNN and the character-level
language model, descentlab against the same network with the same weights in PyTorch (CPU),
side by side in one run.

* CNN: :class:`descentlab.nn.ConvNet` defaults — conv 16 3×3 (pad 1) → ReLU → max-pool 2 →
  conv 32 3×3 → ReLU → max-pool 2 → affine 1568→10 → softmax cross-entropy; batch 128 of
  28×28 images, float32.
* LM: :class:`descentlab.nn.CharRNN` — embedding 96×32 → tanh RNN 128 → affine → softmax
  cross-entropy at each of 64 steps; batch 32, float32 (torch: nn.Embedding, nn.RNN, nn.Linear).

Timing: each contender runs in its own process (in one process, running our LM step after
the CNNs made torch's RNN step 10–20× slower in user time here, for reasons not pinned
down; separate processes rule out any such interference either way). Rounds are interleaved
(the machine may be shared); each round times ``--steps`` steps; reported per step, best
and median round, in CPU seconds of the contender's process (``time.process_time``: not
charged for time other processes take) and wall seconds. The
ratio is ours / PyTorch's (below 1: we are faster). Both sides start from the same weights;
the first-step losses are printed to show they compute the same thing.

    python benchmarks/nn_step_vs_torch.py [--rounds 9] [--steps 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from descentlab import optim
from descentlab.nn import CharRNN, ConvNet

V, D, H, T, N_LM = 96, 32, 128, 64, 32


def cnn_pair(rng: np.random.Generator):
    net = ConvNet(seed=0)
    x = rng.random((128, 784), dtype=np.float32)
    t = rng.integers(0, 10, 128)
    p = net.params
    F = torch.nn.functional
    P = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in p.items()}
    xt, tt = torch.tensor(x).reshape(128, 1, 28, 28), torch.tensor(t)
    conv1 = torch.nn.Conv2d(1, 16, 3, padding=1)
    conv2 = torch.nn.Conv2d(16, 32, 3, padding=1)
    lin = torch.nn.Linear(1568, 10)
    with torch.no_grad():
        for m, w, b in ((conv1, "C1", "c1"), (conv2, "C2", "c2")):
            m.weight.copy_(P[w])
            m.bias.copy_(P[b])
        lin.weight.copy_(P["W1"].T)
        lin.bias.copy_(P["b1"])
    model = torch.nn.Sequential(conv1, torch.nn.ReLU(), torch.nn.MaxPool2d(2), conv2,
                                torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), lin)
    return net, (x, t), model, (xt, tt), lambda y, tt: F.cross_entropy(y, tt)


def lm_pair(rng: np.random.Generator):
    net = CharRNN(V, D, H, seed=0)
    x, t = rng.integers(0, V, (N_LM, T)), rng.integers(0, V, (N_LM, T))
    p = net.params

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(V, D)
            self.rnn = torch.nn.RNN(D, H)
            self.out = torch.nn.Linear(H, V)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.rnn(self.emb(x))[0])

    model = Model()
    with torch.no_grad():
        model.emb.weight.copy_(torch.tensor(p["E"]))
        model.rnn.weight_ih_l0.copy_(torch.tensor(p["Wx"].T))
        model.rnn.weight_hh_l0.copy_(torch.tensor(p["Wh"].T))
        model.rnn.bias_ih_l0.copy_(torch.tensor(p["b"]))
        model.rnn.bias_hh_l0.zero_()
        model.out.weight.copy_(torch.tensor(p["Wo"].T))
        model.out.bias.copy_(torch.tensor(p["bo"]))
    xt, tt = torch.tensor(x.T.copy()), torch.tensor(t.T.copy())     # time-major

    def loss(y: torch.Tensor, tt: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(y.reshape(-1, V), tt.reshape(-1))

    return net, (x, t), model, (xt, tt), loss


def steppers(pair):
    net, (x, t), model, (xt, tt), loss_fn = pair
    opt = optim.create("adam", lr=1e-3)
    topt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = {}

    def ours() -> None:
        net.gradient(x, t)
        opt.update(net.flat_params, net.flat_grads)
        losses.setdefault("descentlab", net.last_loss)

    def theirs() -> None:
        topt.zero_grad()
        loss = loss_fn(model(xt), tt)
        loss.backward()
        topt.step()
        losses.setdefault("pytorch", loss.item())

    return {"descentlab": ours, "pytorch": theirs}, losses


def worker(conn, network: str, contender: str, threads: int) -> None:
    """One contender in its own process (so that neither framework's state — allocator,
    thread pools, floating-point modes — can slow the other): builds the network, then
    answers each request ``steps`` with (CPU seconds, wall seconds) for that many steps."""
    torch.set_num_threads(threads)
    with threadpool_limits(threads, user_api="blas"):
        rng = np.random.default_rng(0)
        pair = cnn_pair(rng) if network == "CNN" else lm_pair(rng)
        fns, losses = steppers(pair)
        step = fns[contender]
        step()                                   # warm-up: compilation, first allocations
        conn.send(losses[contender])
        while (steps := conn.recv()) is not None:
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(steps):
                step()
            conn.send(((time.process_time() - c0) / steps, (time.perf_counter() - w0) / steps))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    print(f"threads {args.threads} (BLAS and torch), {args.rounds} rounds × {args.steps} "
          f"steps, torch {torch.__version__}, numpy {np.__version__}; each contender in its "
          f"own process, rounds interleaved")
    ctx = mp.get_context("spawn")
    for network in ("CNN", "LM"):
        conns, procs, losses = {}, [], {}
        for contender in ("descentlab", "pytorch"):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker, args=(child, network, contender, args.threads))
            proc.start()
            procs.append(proc)
            conns[contender] = parent
            losses[contender] = parent.recv()
        cpu: dict[str, list[float]] = {k: [] for k in conns}
        wall: dict[str, list[float]] = {k: [] for k in conns}
        for _ in range(args.rounds):
            for k, conn in conns.items():
                conn.send(args.steps)
                c, w = conn.recv()
                cpu[k].append(c)
                wall[k].append(w)
        for conn in conns.values():
            conn.send(None)
        for proc in procs:
            proc.join()
        print(f"\n{network}: first-step loss descentlab {losses['descentlab']:.6f}, "
              f"pytorch {losses['pytorch']:.6f}")
        print(f"  {'':12} {'cpu best':>10} {'cpu median':>11} {'wall best':>10} "
              f"{'wall median':>12}  (ms per step)")
        for k in conns:
            print(f"  {k:12} {min(cpu[k]) * 1e3:10.2f} {statistics.median(cpu[k]) * 1e3:11.2f}"
                  f" {min(wall[k]) * 1e3:10.2f} {statistics.median(wall[k]) * 1e3:12.2f}")
        r = {m: f(cpu["descentlab"]) / f(cpu["pytorch"])
             for m, f in (("best", min), ("median", statistics.median))}
        rw = statistics.median(wall["descentlab"]) / statistics.median(wall["pytorch"])
        print(f"  ratio descentlab / pytorch: CPU best {r['best']:.2f}×, CPU median "
              f"{r['median']:.2f}×, wall median {rw:.2f}×")


if __name__ == "__main__":
    main()
