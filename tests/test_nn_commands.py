"""The E5/E6/E8 experiments and their commands, on tiny data."""

import csv
import json

import numpy as np
import pytest

from descentlab import optim
from descentlab.cli import main
from descentlab.lab.batch_study import compare_batch_modes, safe_learning_rate
from descentlab.lab.init_study import activation_summary, layer_activations
from descentlab.lab.mnist_race import run_race, train_together
from descentlab.lab.smoothing import smooth_curve
from descentlab.nn import MultiLayerNet

from .test_data import tiny_mnist, write_files


@pytest.fixture
def tiny_dir(tmp_path):
    write_files(tmp_path / "mnist", tiny_mnist(n_train=40, n_test=12))
    return tmp_path / "mnist"


def read_history(path):
    with open(path) as f:
        return list(csv.reader(f))


def test_race_batches_and_start_are_shared():
    """Two identical optimizers give identical curves (same batches, same start), and the
    curve equals a hand-written loop using the documented batch rule."""
    rng = np.random.default_rng(0)
    x = rng.random((50, 6)).astype(np.float32)
    t = rng.integers(0, 3, 50)
    nets = {k: MultiLayerNet(6, [5], 3, seed=3) for k in ("a", "b")}
    opts = {k: optim.create("sgd", lr=0.1) for k in ("a", "b")}
    r = train_together(nets, opts, x, t, iterations=20, batch_size=8, seed=3, log=None,
                       progress=False)
    np.testing.assert_array_equal(r.losses["a"], r.losses["b"])
    # by hand: default_rng(seed).integers(0, n, batch) each iteration, loss before update
    net, opt = MultiLayerNet(6, [5], 3, seed=3), optim.create("sgd", lr=0.1)
    batches = np.random.default_rng(3)
    for i in range(20):
        idx = batches.integers(0, 50, 8)
        assert net.loss(x[idx], t[idx]) == pytest.approx(r.losses["a"][i], rel=1e-6)
        opt.update(net.params, net.gradient(x[idx], t[idx]))


def test_flat_update_is_the_same_update():
    """Updating the flat parameter buffer equals updating the dict of layers, bit for bit."""
    rng = np.random.default_rng(2)
    x = rng.random((40, 5)).astype(np.float32)
    t = rng.integers(0, 3, 40)
    names = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
    runs = [run_race(x, t, names, iterations=12, batch_size=8, hidden=[6, 4], seed=1,
                     log=None, progress=False) for _ in range(2)]
    nets = {n: MultiLayerNet(5, [6, 4], 3, seed=1) for n in names}
    dict_run = train_together(nets, {n: optim.create(n) for n in names}, x, t, iterations=12,
                              batch_size=8, seed=1, log=None, progress=False,
                              flat_update=False)
    for n in names:
        np.testing.assert_array_equal(runs[0].losses[n], dict_run.losses[n], err_msg=n)
        np.testing.assert_array_equal(runs[0].losses[n], runs[1].losses[n])
        for k in nets[n].params:
            np.testing.assert_array_equal(runs[0].networks[n].params[k], nets[n].params[k])
    net = MultiLayerNet(3, [2], 2, seed=0)
    assert net.is_flat and np.shares_memory(net.params["b2"], net.flat_params)
    net.params["W1"] = np.ones((3, 2))            # assignment copies into the buffer
    assert net.is_flat and (net.flat_params[:6] == 1).all()
    net.params = dict(net.params)                 # a new dict: the race updates the dict
    assert not net.is_flat


def test_race_reports_divergence_and_goes_on():
    rng = np.random.default_rng(1)
    x = rng.random((30, 4)).astype(np.float32)
    t = rng.integers(0, 2, 30)
    lines = []
    r = run_race(x, t, ["sgd:lr=1e300", "adam"], iterations=15, batch_size=5, hidden=[4],
                 log=lines.append, log_every=5, progress=False)
    assert "sgd" in r.diverged and 1 < r.diverged["sgd"] <= 15
    assert "adam" not in r.diverged and np.isfinite(r.losses["adam"]).all()
    assert np.isnan(r.losses["sgd"][r.diverged["sgd"] - 1:]).all()
    assert any(f"div@{r.diverged['sgd']}" in line for line in lines)
    assert "sgd" not in r.train_accuracy and 0 <= r.train_accuracy["adam"] <= 1


def test_race_rejects_duplicates():
    with pytest.raises(ValueError, match="given twice"):
        run_race(np.zeros((4, 2)), np.array([0, 1, 0, 1]), ["adam", "adam"], iterations=1,
                 log=None, progress=False)


def test_mnist_command_and_rerun(tiny_dir, tmp_path, capsys):
    out = tmp_path / "race"
    argv = ["mnist", "--optimizers", "sgd", "adam:lr=0.01", "sgd:lr=1e300", "--iterations",
            "30", "--batch-size", "8", "--hidden", "6,5", "--data-dir", str(tiny_dir),
            "--out", str(out), "--no-progress", "--log-every", "10"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "diverged at iteration" in text and "test acc" in text
    assert text.count("\n       10 ") == 1 and "       30 " in text  # every 10 iterations
    rows = read_history(out / "history.csv")
    assert rows[0] == ["iteration", "sgd", "adam", "sgd:lr=1e300"]  # spec shown if repeated
    assert len(rows) == 31 and all(r[1] and r[2] for r in rows[1:])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["settings"]["batch_size"] == 8
    assert manifest["settings"]["results"]["diverged_at"]["sgd:lr=1e300"] >= 2
    assert manifest["arguments"]["optimizers"] == ["sgd", "adam:lr=0.01", "sgd:lr=1e300"]
    assert (out / "loss.png").stat().st_size > 1000
    # `descentlab rerun` reproduces the run exactly
    # a manifest's data folder is not used unless given again
    assert main(["rerun", str(out / "manifest.json"), "--out", str(tmp_path / "again")]) == 2
    assert "pass --data-dir to rerun" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()
    assert main(["rerun", str(out / "manifest.json"), "--out", str(tmp_path / "again"),
                 "--data-dir", str(tiny_dir)]) == 0
    assert read_history(tmp_path / "again" / "history.csv") == rows


def test_mnist_command_bad_input(tiny_dir, tmp_path, capsys):
    assert main(["mnist", "--optimizers", "adm", "--data-dir", str(tiny_dir)]) == 2
    assert "unknown optimizer 'adm'" in capsys.readouterr().err
    assert main(["mnist", "--hidden", "10,x", "--data-dir", str(tiny_dir)]) == 2
    assert "--hidden" in capsys.readouterr().err
    assert main(["mnist", "--optimizers", "adam:lr=x", "--data-dir", str(tiny_dir)]) == 2
    assert "lr" in capsys.readouterr().err


def test_init_command(tiny_dir, tmp_path, capsys):
    out = tmp_path / "init"
    assert main(["init", "--layers", "3", "--iterations", "12", "--batch-size", "8",
                 "--hidden", "5", "--data-dir", str(tiny_dir), "--out", str(out),
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "He, relu" in text and "std=0.01" in text and "test accuracy" in text
    for name in ("activations.png", "activations.csv", "loss.png", "history.csv",
                 "manifest.json"):
        assert (out / name).exists(), name
    assert read_history(out / "history.csv")[0] == ["iteration", "std=0.01", "Xavier", "He"]
    assert main(["rerun", str(out), "--out", str(tmp_path / "again"), "--data-dir",
                 str(tiny_dir)]) == 0
    assert read_history(tmp_path / "again" / "history.csv") == read_history(out / "history.csv")


def test_init_study_shows_the_classic_effects():
    """std 1 saturates the sigmoid; std 0.01 collapses it to 0.5; He keeps ReLU's spread."""
    sat = activation_summary(layer_activations(1.0, "sigmoid", n_samples=300), "sigmoid")
    assert all(s["extreme"] > 0.3 for s in sat)
    flat = activation_summary(layer_activations(0.01, "sigmoid", n_samples=300), "sigmoid")
    assert all(s["std"] < 0.03 for s in flat[1:])
    he = activation_summary(layer_activations("he", "relu", n_samples=300), "relu")
    assert all(0.3 < s["std"] / he[0]["std"] < 3 for s in he)
    small = activation_summary(layer_activations(0.01, "relu", n_samples=300), "relu")
    assert small[-1]["std"] < 1e-3 * small[0]["std"]  # vanishes layer after layer


def test_batches_command(tmp_path, capsys):
    out = tmp_path / "batches"
    assert main(["batches", "--samples", "60", "--epochs", "3", "--batch-size", "10",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.count("stochastic") == 4 and "standardised" in text and "raw" in text
    assert (out / "batches.png").exists() and (out / "manifest.json").exists()
    assert main(["rerun", str(out), "--out", str(tmp_path / "again")]) == 0
    first, again = (read_history(d / "history.csv") for d in (out, tmp_path / "again"))
    assert [r[:5] + r[6:] for r in first] == [r[:5] + r[6:] for r in again]  # not the times
    assert main(["batches", "--scales", "1,-2"]) == 2
    assert "--scales" in capsys.readouterr().err


def test_batch_study_standardisation_helps_plain_gd():
    from descentlab.data import make_regression

    x, y, _ = make_regression(200, 2, scales=(1, 30), noise=0.0, seed=0)
    curves = {c.label: c for c in compare_batch_modes(x, y, "mse", epochs=10, seed=0)}
    std, raw = curves["batch (standardised)"], curves["batch (raw)"]
    assert std.updates == raw.updates == 10
    assert std.loss[-1] < raw.loss[-1] / 10
    single = curves["stochastic (standardised)"]
    assert single.updates == 2000 and single.samples[-1] == 2000 and single.diverged is None
    # 1/L for data with X̃ᵀX̃/n = diag(1, 1): 1/(2·1)
    assert safe_learning_rate(np.array([[1.0], [-1.0]]), "mse") == pytest.approx(0.5)


def test_smooth_curve_matches_the_classic_formula():
    y = np.random.default_rng(0).random(40)
    w = np.kaiser(11, 2)
    s = np.r_[y[10:0:-1], y, y[-1:-11:-1]]  # the textbook's smooth_curve, written out
    expected = np.convolve(w / w.sum(), s, mode="valid")[5:-5]
    np.testing.assert_allclose(smooth_curve(y), expected)
    y[30:] = np.nan  # a diverged tail stays NaN and does not spill into the finite part
    sm = smooth_curve(y)
    assert np.isfinite(sm[:30]).all() and np.isnan(sm[30:]).all()


def test_classic_textbook_script_runs_with_only_imports_changed(tiny_dir, monkeypatch):
    """The body of the classic optimizer_compare_mnist.py / weight_init_compare.py, with
    fewer iterations; only the imports differ."""
    monkeypatch.setenv("DESCENTLAB_DATA", str(tiny_dir))
    # --- imports changed ---
    from descentlab.data import load_mnist
    from descentlab.lab.smoothing import smooth_curve
    from descentlab.nn import MultiLayerNet
    from descentlab.optim import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
    # --- the classic code ---
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
    train_size = x_train.shape[0]
    batch_size = 16
    max_iterations = 20
    optimizers = {}
    optimizers['SGD'] = SGD()
    optimizers['Momentum'] = Momentum()
    optimizers['Nesterov'] = Nesterov()
    optimizers['AdaGrad'] = AdaGrad()
    optimizers['RMSprop'] = RMSprop()
    optimizers['Adam'] = Adam()
    networks = {}
    train_loss = {}
    for key in optimizers.keys():
        networks[key] = MultiLayerNet(
            input_size=784, hidden_size_list=[100, 100, 100, 100], output_size=10)
        train_loss[key] = []
    for i in range(max_iterations):  # noqa: B007
        batch_mask = np.random.choice(train_size, batch_size)  # noqa: NPY002
        x_batch = x_train[batch_mask]
        t_batch = t_train[batch_mask]
        for key in optimizers.keys():
            grads = networks[key].gradient(x_batch, t_batch)
            optimizers[key].update(networks[key].params, grads)
            loss = networks[key].loss(x_batch, t_batch)
            train_loss[key].append(loss)
    for key in optimizers.keys():
        assert len(smooth_curve(train_loss[key])) == max_iterations
        assert np.isfinite(train_loss[key]).all()
        assert 0 <= networks[key].accuracy(x_test, t_test) <= 1
    weight_init_types = {'std=0.01': 0.01, 'Xavier': 'sigmoid', 'He': 'relu'}
    for key, weight_type in weight_init_types.items():  # noqa: B007
        net = MultiLayerNet(input_size=784, hidden_size_list=[100, 100, 100, 100],
                            output_size=10, weight_init_std=weight_type)
        assert net.loss(x_train[:4], t_train[:4]) > 0
    # gradient_check.py
    network = MultiLayerNet(input_size=784, hidden_size_list=[10], output_size=10,
                            dtype=np.float64, seed=0)  # seeded: a fresh draw can sit on a kink
    x_batch = x_train[:3]
    t_batch = t_train[:3]
    grad_numerical = network.numerical_gradient(x_batch, t_batch)
    grad_backprop = network.gradient(x_batch, t_batch)
    for key in grad_numerical.keys():
        diff = np.average(np.abs(grad_backprop[key] - grad_numerical[key]))
        assert diff < 1e-7, key
