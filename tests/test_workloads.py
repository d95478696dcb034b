"""descentlab.lab.workloads: determinism, the training loop's bookkeeping, the NQM's
vectorised runs and noise, the data splits, variants and bad settings. MNIST workloads run
on small IDX files written here (learnable: each class lights its own rows)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from descentlab import optim
from descentlab.errors import InputError
from descentlab.lab import workloads
from descentlab.lab.workloads import NoisyQuadraticTask, Target, make, mnist_splits

from .test_data import write_files


def striped_mnist(n_train, n_test, seed=0):
    """Images whose class k lights rows 2k..2k+2 (plus noise): separable, so learnable."""
    rng = np.random.default_rng(seed)

    def images(n):
        t = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28))
        for i, k in enumerate(t):
            x[i, 2 * k + 4:2 * k + 7, 4:24] = 255
        return x, t

    x, t = images(n_train)
    xt, tt = images(n_test)
    return {"train-images-idx3-ubyte": x, "train-labels-idx1-ubyte": t,
            "t10k-images-idx3-ubyte": xt, "t10k-labels-idx1-ubyte": tt}


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mnist")
    write_files(d, striped_mnist(720, 100))
    return d


def small(name, mnist_dir, **kw):
    return make(name, **{"data_dir": mnist_dir, "batch_size": 32, "steps": 30,
                         "eval_every": 10, **kw})


def test_splits_are_disjoint_and_fixed(mnist_dir):
    s = mnist_splits(mnist_dir)
    assert [len(s[k][0]) for k in ("train", "valid", "test")] == [600, 120, 100]
    raw = striped_mnist(720, 100)["train-images-idx3-ubyte"].reshape(720, 784) / 255
    np.testing.assert_allclose(s["valid"][0], raw[600:], rtol=1e-6)   # the last 120
    np.testing.assert_allclose(s["train"][0], raw[:600], rtol=1e-6)
    s2 = mnist_splits(mnist_dir, n_train=50, n_valid=100)
    assert len(s2["train"][0]) == 50 and len(s2["valid"][0]) == 100
    assert not s["train"][0].flags.writeable
    with pytest.raises(InputError, match="n_train"):
        mnist_splits(mnist_dir, n_train=10_000)
    with pytest.raises(InputError, match="n_valid"):
        mnist_splits(mnist_dir, n_valid=720)


@pytest.mark.parametrize("name", ["logreg", "mlp", "autoencoder", "cnn"])
def test_mnist_workloads_learn_and_repeat(name, mnist_dir):
    task = small(name, mnist_dir)
    a = task.run(optim.create("adam", lr=3e-3), seed=1)
    b = task.run(optim.create("adam", lr=3e-3), seed=1)
    assert [s for s, _ in a.curve] == [0, 10, 20, 30]
    assert a.curve == b.curve and a.train_loss == b.train_loss      # same seed, same numbers
    x1, x2 = next(task.train_batches(1))[0], next(task.train_batches(2))[0]
    assert not np.array_equal(x1, x2)                               # another seed differs:
    p1, p2 = dict(task.init_params(1)), {k: v.copy() for k, v in task.init_params(2).items()}
    assert not np.array_equal(p1["W1"], p2["W1"])                   # batches and weights
    assert len(a.train_loss) == 30 and not a.diverged
    assert a.final["loss"] < 0.7 * a.curve[0][1]["loss"]
    if "accuracy" in a.final:
        assert a.final["accuracy"] > 0.5                            # 10 classes: chance 0.1
    assert a.cpu_seconds > 0
    test = task.evaluate(task.init_params(1), "test")
    assert set(test) == set(a.final)


def test_reached_at_and_stop_at_target(mnist_dir):
    task = small("logreg", mnist_dir, target=0.6)
    r = task.run(optim.create("adam", lr=3e-3), seed=0)
    hits = [s for s, m in r.curve if m["accuracy"] >= 0.6]
    assert hits and r.reached_at == hits[0]
    assert 0 < r.cpu_at_target <= r.cpu_seconds
    early = task.run(optim.create("adam", lr=3e-3), seed=0, stop_at_target=True)
    assert early.curve[-1][0] == r.reached_at and len(early.train_loss) == r.reached_at
    never = small("logreg", mnist_dir, target=1.01).run(optim.create("sgd", lr=1e-4), seed=0)
    assert never.reached_at is None and never.cpu_at_target is None


def test_divergence_stops_the_run(mnist_dir):
    r = small("mlp", mnist_dir).run(optim.create("sgd", lr=1e6), seed=0)
    assert r.diverged and math.isnan(r.train_loss[-1]) and len(r.train_loss) < 30


def test_flat_and_per_array_updates_agree(mnist_dir):
    """Element-wise rules update the flat buffer in one call; LAMB (not element-wise) gets
    the dict. The flat path must give the same numbers as the per-array one."""
    task = small("cnn", mnist_dir, steps=5)
    flat = task.run(optim.create("adam", lr=1e-3), seed=0)
    opt = optim.create("adam", lr=1e-3)
    params, batches = task.init_params(0), task.train_batches(0)
    for _ in range(5):
        _, grads = task.loss_and_grad(params, next(batches))
        opt.update(params, grads)
    np.testing.assert_allclose(task.evaluate(params)["loss"], flat.final["loss"], rtol=1e-6)
    assert small("mlp", mnist_dir, steps=3).run(optim.create("lamb"), seed=0).train_loss


def test_autoencoder_reconstructs_its_input(mnist_dir):
    task = small("autoencoder", mnist_dir)
    x, t = task.data["train"]
    assert t is x
    net_params = task.init_params(0)
    assert task.net.params["W4"].shape == (256, 784) and net_params is task.net.params


def test_variants_change_what_they_say(mnist_dir):
    wide = small("cnn", mnist_dir, variant="wide")
    assert wide.name == "cnn:wide" and wide.init_params(0)["C1"].shape == (32, 1, 3, 3)
    deep = small("mlp", mnist_dir, variant="deep")
    assert len([k for k in deep.init_params(0) if k[0] == "W"]) == 7
    with pytest.raises(InputError, match="n_train"):        # 5000 of 600 images
        small("mlp", mnist_dir, variant="small-data")
    few = small("mlp", mnist_dir, variant="small-data", n_train=300)
    assert few.data["train"][0].shape[0] == 300


def test_bad_settings_name_the_culprit(mnist_dir):
    with pytest.raises(InputError, match="unknown workload 'resnet'"):
        make("resnet")
    with pytest.raises(InputError, match="unknown variant 'huge' of cnn"):
        make("cnn", variant="huge", data_dir=mnist_dir)
    with pytest.raises(InputError, match="steps"):
        make("cnn", data_dir=mnist_dir, steps=0)
    with pytest.raises(InputError, match="workload cnn"):
        make("cnn", data_dir=mnist_dir, colour=True)
    with pytest.raises(InputError, match="activation"):
        make("mlp", data_dir=mnist_dir, activation="swish")
    with pytest.raises(InputError, match="fewer than batch_size"):
        make("logreg", data_dir=mnist_dir, n_train=10)
    with pytest.raises(InputError, match="dim"):
        make("nqm", dim=0)
    with pytest.raises(InputError, match="eval_every"):
        make("nqm").run(optim.create("sgd"), eval_every=0)
    used = optim.create("sgd")
    make("nqm", steps=2).run(used, seed=0)
    with pytest.raises(InputError, match="fresh"):
        make("nqm").run(used, seed=0)
    with pytest.raises(InputError, match="fresh"):
        make("nqm").run_many(used, [0, 1])


def test_every_variant_builds(mnist_dir):
    """Each held-out variant makes a task whose network (or model) differs from the base."""
    for name, variants in workloads.VARIANTS.items():
        for variant, settings in variants.items():
            kw = {} if name in ("nqm", "charlm") else {"data_dir": mnist_dir}
            if "n_train" in settings:
                kw["n_train"] = 300                   # the small files hold 600 images
            if name == "charlm":
                kw["max_eval_chars"] = 500
            task = make(name, variant=variant, **kw)
            assert task.name == f"{name}:{variant}"
            params = task.init_params(0)
            if name == "nqm":
                assert params.shape == (1, task.dim)
            elif "n_train" not in settings:
                base = make(name, **{k: v for k, v in kw.items()})
                base_shapes = {k: v.shape for k, v in base.init_params(0).items()}
                shapes = {k: v.shape for k, v in params.items()}
                assert shapes != base_shapes or settings.get("activation") == "tanh" \
                    or "seq_len" in settings


# ---------------------------------------------------------------- the noisy quadratic model
def test_nqm_loss_gradient_and_noise_by_hand():
    task = NoisyQuadraticTask(dim=3, batch_size=4)
    theta = np.array([[1.0, 2.0, -3.0]])
    # L = ½(1·1 + ½·4 + ⅓·9) = ½(1 + 2 + 3) = 3
    assert task.evaluate(theta)["loss"] == pytest.approx(3.0)
    loss, g = task.loss_and_grad(theta, np.zeros((1, 3)))
    assert loss == pytest.approx(3.0)
    np.testing.assert_allclose(g, [[1.0, 1.0, -1.0]])                 # h ⊙ θ
    # the noise: g − hθ has variance h/B = (1/4, 1/8, 1/12)
    draws = np.concatenate([task.loss_and_grad(theta, xi)[1] - [[1.0, 1.0, -1.0]]
                            for xi, _ in zip(task.train_batches(0), range(5000))])
    np.testing.assert_allclose(draws.var(axis=0), [1 / 4, 1 / 8, 1 / 12], rtol=0.1)  # 5 SE


@pytest.mark.parametrize("name,kw", [("sgd", {"lr": 0.5}), ("adam", {"lr": 0.05}),
                                     ("momentum", {"lr": 0.1})])
def test_nqm_run_many_equals_single_runs(name, kw):
    task = NoisyQuadraticTask(dim=20, steps=60, eval_every=20, target=0.3)
    seeds = [3, 1, 4]
    many = task.run_many(optim.create(name, **kw), seeds)
    for seed, r in zip(seeds, many):
        one = task.run(optim.create(name, **kw), seed=seed)
        assert [s for s, _ in one.curve] == [s for s, _ in r.curve]
        np.testing.assert_allclose([m["loss"] for _, m in one.curve],
                                   [m["loss"] for _, m in r.curve], rtol=1e-12)
        assert one.reached_at == r.reached_at


def test_nqm_run_many_takes_one_learning_rate_per_run():
    task = NoisyQuadraticTask(dim=20, steps=40, eval_every=40)
    lrs = np.array([[0.05], [0.5], [1e4]])        # 1e4 ≫ 2/h₁: overflows to inf
    many = task.run_many(optim.create("sgd", lr=lrs), [0, 0, 0])
    for lr, r in zip(lrs[:, 0], many):
        one = task.run(optim.create("sgd", lr=float(lr)), seed=0)
        assert one.diverged == r.diverged
        if not r.diverged:
            np.testing.assert_allclose(one.final["loss"], r.final["loss"], rtol=1e-12)
    assert [r.diverged for r in many] == [False, False, True]
    with pytest.raises(InputError, match="element-wise"):
        task.run_many(optim.create("lamb"), [0, 1])


# ---------------------------------------------------------------- the language model
def test_charlm_corpus_splits_and_learning():
    task = make("charlm", hidden_size=32, seq_len=16, batch_size=16, steps=60, eval_every=30,
                max_eval_chars=3000)
    n = sum(len(c) for c in task.text.values())
    assert len(task.text["train"]) == int(n * 0.9) and len(task.alphabet) > 60
    x, t = task.data["valid"]
    np.testing.assert_array_equal(x[:, 1:], t[:, :-1])        # the target is the next char
    r = task.run(optim.create("adam", lr=1e-2), seed=0)
    first, last = r.curve[0][1], r.final
    assert first["bpc"] == pytest.approx(first["loss"] / math.log(2))
    assert first["bpc"] > 5.5 and last["bpc"] < first["bpc"] - 1.5    # log2(V) ≈ 6.7 at start
    assert task.target == Target("bpc", 2.6, "min")


def test_charlm_reads_a_text_file(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("abcab" * 300, encoding="utf-8")
    task = make("charlm", text_file=f, seq_len=8, hidden_size=8, embed_size=4)
    assert task.alphabet == ["a", "b", "c"]
    f.write_text("abc", encoding="utf-8")
    with pytest.raises(InputError, match="too short"):
        make("charlm", text_file=f)
    with pytest.raises(InputError, match="text_file"):
        make("charlm", text_file=tmp_path / "missing.txt")


def test_registry_is_documented():
    assert set(workloads.VARIANTS) == set(workloads.WORKLOADS)
    lines = {line.split()[0]: line for line in workloads.__doc__.splitlines()
             if line.split() and line.split()[0] in workloads.WORKLOADS}
    for name, cls in workloads.WORKLOADS.items():       # the table states the real targets
        target = cls().target if name in ("nqm", "charlm") else cls.target
        assert lines[name].endswith(f" {target.value}"), name


def test_docs_quote_the_committed_benchmark_and_targets():
    """docs/nn.md's speed ratios are the committed benchmark output's; the targets it says
    come from workload_targets.txt are the ones in the code."""
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "nn.md").read_text(encoding="utf-8")
    bench = (root / "docs" / "figures" / "nn_step_vs_torch.txt").read_text(encoding="utf-8")
    ratios = re.findall(r"CPU median ([0-9.]+)×", bench)
    assert len(ratios) == 2
    cnn, lm = ratios
    assert f"the CNN (batch 128) at\n**{cnn}×**" in doc and f"at **{lm}×**" in doc
    targets = (root / "docs" / "workload_targets.txt").read_text(encoding="utf-8")
    provisional = [name for name, e in json.loads(workloads.base.TARGETS_FILE.read_text(
        encoding="utf-8"))["workloads"].items() if e["provenance"].startswith("provisional")]
    for name in provisional:              # (the others: test_benchmark re-derives them)
        task_cls = workloads.WORKLOADS[name]
        value = (task_cls().target if name in ("nqm", "charlm") else task_cls.target).value
        assert re.search(rf"^{name}: .* target \w+ [≤≥] {value}$", targets, re.M), name


def test_schedule_free_is_evaluated_at_its_average(mnist_dir):
    """A schedule-free optimizer trains at y and is scored at x (eval_params): the curve's
    values are the metrics at x, computed here by hand from a second, identical run; and
    evaluating does not disturb training (the same final y with and without evaluations)."""
    task = NoisyQuadraticTask(dim=8, steps=6, eval_every=3)
    r = task.run(optim.create("schedule_free_sgd", lr=0.5), seed=2)
    opt = optim.create("schedule_free_sgd", lr=0.5)
    theta, noise = task.init_params(2), task.train_batches(2)
    by_hand = {}
    for step in range(1, 7):
        _, g = task.loss_and_grad(theta, next(noise))
        opt.update(theta, g)
        if step % 3 == 0:
            by_hand[step] = float(task.losses(opt.eval_params(theta)).sum())
            assert by_hand[step] != float(task.losses(theta).sum())   # x differs from y
    assert {s: m["loss"] for s, m in r.curve if s} == by_hand
    [vec] = task.run_many(optim.create("schedule_free_sgd", lr=0.5), [2])
    assert {s: m["loss"] for s, m in vec.curve if s} == pytest.approx(by_hand, rel=1e-12)

    net_task = small("mlp", mnist_dir, steps=6, eval_every=2)
    finals = []
    for every in (1, 6):                      # evaluations every step, or only at the end
        opt = optim.create("schedule_free_adamw", lr=1e-2)
        out = net_task.run(opt, seed=0, eval_every=every)
        finals.append(net_task.net.flat_params.copy())
        x = opt.eval_params(net_task.net.flat_params)
        saved = net_task.net.flat_params.copy()
        net_task.net.flat_params[...] = x
        assert out.final == net_task.evaluate(net_task.net.params, "valid")
        net_task.net.flat_params[...] = saved
    np.testing.assert_array_equal(finals[0], finals[1])
