"""descentlab.lab.workloads: determinism, the training loop's bookkeeping, the NQM's
vectorised runs and noise, the data splits, variants and bad settings. MNIST workloads run
on small IDX files written here (learnable: each class lights its own rows)."""

from __future__ import annotations

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
    c = task.run(optim.create("adam", lr=3e-3), seed=2)
    assert [s for s, _ in a.curve] == [0, 10, 20, 30]
    assert a.curve == b.curve and a.train_loss == b.train_loss      # same seed, same numbers
    assert a.train_loss != c.train_loss                             # another seed differs
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
    for name in workloads.WORKLOADS:
        assert name in workloads.__doc__
