"""The lab's commands: outputs, manifests and byte-identical reruns, one-line errors."""

import json

import numpy as np
import pytest
from PIL import Image

from descentlab import optim, problems
from descentlab.cli import main
from descentlab.viz.animate import mp4_available

E3 = ["sgd:lr=0.95", "momentum:lr=0.1", "adagrad:lr=1.5", "adam:lr=0.3", "rmsprop:lr=0.3",
      "nesterov:lr=0.3"]


def error_of(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("descentlab: error: ") and "Traceback" not in err
    return err


def test_race_writes_everything_and_rerun_is_byte_identical(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    argv = ["race", "--problem", "bowl", "--start=-7,2", "--steps", "12", "--optimizers",
            *E3, "--animate", "gif", "--out", str(a)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "nearest minimum" in out and "global (0, 0)" in out
    names = {p.name for p in a.iterdir()}
    assert names == {"contours.png", "overlay.png", "surface.png", "progress.png",
                     "animation.gif", "trajectories.csv", "manifest.json"}
    assert Image.open(a / "animation.gif").n_frames == 13
    doc = json.loads((a / "manifest.json").read_text())
    assert doc["command"] == "race" and doc["arguments"]["optimizers"] == E3
    assert doc["settings"]["optimizers"][3]["hyperparameters"]["beta2"] == 0.999
    assert set(doc["versions"]) >= {"descentlab", "numpy", "python", "matplotlib"}
    assert main(["rerun", str(a / "manifest.json"), "--out", str(b)]) == 0
    assert (b / "trajectories.csv").read_bytes() == (a / "trajectories.csv").read_bytes()
    lines = (a / "trajectories.csv").read_text().splitlines()
    assert lines[0] == "optimizer,step,x,y,f" and len(lines) == 1 + 6 * 13


def test_start_accepts_both_spellings_and_1d_csv_has_no_y(tmp_path):
    for i, argv in enumerate((["--start=-8"], ["--start", "-8"])):
        out = tmp_path / str(i)
        assert main(["race", "--problem", "quartic", *argv, "--steps", "3", "--optimizers",
                     "adam:lr=1", "--out", str(out)]) == 0
        header, first = (out / "trajectories.csv").read_text().splitlines()[:2]
        assert header == "optimizer,step,x,f" and first.startswith("adam,0,-8.0,")
    assert (tmp_path / "0" / "trajectories.csv").read_bytes() == (
        tmp_path / "1" / "trajectories.csv").read_bytes()


def test_sweep_json_records_and_thresholds(tmp_path, capsys):
    js = tmp_path / "s.json"
    assert main(["sweep", "--problem", "quartic", "--start=-8", "--steps", "99", "--optimizer",
                 "adam:eps=1e-10", "--lr", "0.5:3:0.5", "--grid", "beta2=0.999,0.5", "--json",
                 str(js), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "first global" in out and "beta2=0.999" in out
    doc = json.loads(js.read_text())
    assert len(doc["records"]) == 12
    rec = doc["records"][0]
    assert rec["lr"] == 0.5 and rec["beta2"] == 0.999 and isinstance(rec["bounced"], bool)
    assert rec["outcome"] in ("global", "local", "moving", "diverged") and "final_x" in rec
    assert (tmp_path / "o" / "stability.png").stat().st_size > 0


def test_ewma_and_optimizers_commands(tmp_path, capsys):
    assert main(["ewma", "--beta", "0.9", "--out", str(tmp_path)]) == 0
    rows = (tmp_path / "ewma.csv").read_text().splitlines()
    t1 = rows[1].split(",")
    assert float(t1[2]) == pytest.approx(0.1 * float(t1[1]))  # v_1 = (1 − β)·θ_1
    assert float(t1[3]) == pytest.approx(float(t1[1]))  # corrected: v_1 / (1 − β) = θ_1
    assert main(["optimizers"]) == 0
    out = capsys.readouterr().out
    for name in optim.available():
        assert f"\n{name} " in "\n" + out
    assert "m̂ = m / (1 − β1ᵗ)" in out


def test_unknown_names_list_the_valid_ones(capsys):
    err = error_of(capsys, ["race", "--problem", "bowll", "--optimizers", "adam"])
    assert "'bowll'" in err and "quartic" in err and "rosenbrock" in err
    err = error_of(capsys, ["race", "--problem", "bowl", "--optimizers", "adma:lr=0.3"])
    assert "'adma'" in err and "nesterov" in err


def test_malformed_input_points_at_the_culprit(capsys):
    err = error_of(capsys, ["race", "--problem", "bowl", "--optimizers", "adam:lr0.3"])
    assert "lr0.3" in err
    err = error_of(capsys, ["race", "--problem", "bowl", "--start", "1,2,3", "--optimizers",
                            "sgd"])
    assert "--start '1,2,3'" in err and "2-D" in err
    err = error_of(capsys, ["sweep", "--problem", "quartic", "--optimizer", "adam", "--lr",
                            "0.1:x:0.1"])
    assert "--lr '0.1:x:0.1'" in err
    err = error_of(capsys, ["sweep", "--problem", "quartic", "--optimizer", "adam", "--lr",
                            "1", "--grid", "beta2"])
    assert "NAME=VALUES" in err
    err = error_of(capsys, ["trace", "nadam:clip_value=1", "--problem", "xy", "--exact"])
    assert "--exact cannot trace clipping" in err and "clip_value" in err
    err = error_of(capsys, ["race", "--f", "__import__('os')", "--optimizers", "sgd"])
    assert "__import__" in err


def test_mp4_is_written_or_refused_plainly(tmp_path, capsys):
    argv = ["race", "--problem", "bowl", "--steps", "3", "--optimizers", "sgd:lr=0.1",
            "--animate", "mp4", "--out", str(tmp_path)]
    if mp4_available():
        assert main(argv) == 0 and (tmp_path / "animation.mp4").stat().st_size > 0
    else:
        assert "MP4 needs ffmpeg" in error_of(capsys, argv)


def test_rerun_rejects_what_is_not_a_manifest(tmp_path, capsys):
    bad = tmp_path / "m.json"
    bad.write_text("{}")
    assert "not a descentlab manifest" in error_of(capsys, ["rerun", str(bad), "--out", "x"])
    assert "no manifest" in error_of(capsys, ["rerun", str(tmp_path / "none.json"),
                                               "--out", "x"])


def test_figures_for_every_kind_of_problem(tmp_path):
    for name in ("rosenbrock", "saddle", "two_basin"):
        p = problems.get(name)
        out = tmp_path / name
        assert main(["race", "--problem", name, "--steps", "5", "--optimizers", "sgd:lr=0.01",
                     "adam:lr=0.1", "--out", str(out), "--svg"]) == 0
        for f in ("contours.png", "contours.svg", "overlay.png"):
            assert (out / f).stat().st_size > 1000, (name, f)
        assert p.dim == 2
    assert np.isfinite(problems.get("saddle").f(np.zeros(2)))


def test_user_expression_window_holds_the_start(tmp_path, capsys):
    assert main(["race", "--f", "x**2/20 + y**2", "--start=-7,2", "--steps", "30",
                 "--optimizers", "sgd:lr=0.95", "--out", str(tmp_path)]) == 0
    last = (tmp_path / "trajectories.csv").read_text().splitlines()[-1].split(",")
    assert last[:2] == ["sgd", "30"]  # not diverged at step 0: the window grew to (-9, 9)
    capsys.readouterr()
    err = error_of(capsys, ["race", "--problem", "bowl", "--start=20,0", "--optimizers", "sgd"])
    assert "outside the window of 'bowl'" in err
