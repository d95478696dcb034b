"""The natural mistakes of a new user get a way out: one "did you mean" for optimizer, problem
and flag names (the Python API's and the command line's the same), Keras's names explained in
search spaces, formula errors with the column, and `compare` studies that say when they are
complete and grow with --budget."""

from __future__ import annotations

import csv

import pytest

from descentlab import optim, problems
from descentlab.cli import main
from descentlab.errors import closest


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("word", "choices", "best"), [
    ("adma", optim.available(), "adam"),        # two letters swapped: one edit
    ("adamm", optim.available(), "adam"),       # adam and adamw are both one edit: adam
    ("adamx", optim.available(), "adamax"),     # shares more letters in order than adam
    ("nesterv", optim.available(), "nesterov"),
    ("bowel", problems.names(), "bowl"),
    ("rosenbrok", problems.names(), "rosenbrock"),
    ("--optimizer", ["--optimizers", "--out"], "--optimizers"),
    ("--stpes", ["--steps", "--start"], "--steps"),
    ("xyzzy", optim.available(), None),
])
def test_closest(word, choices, best):
    assert closest(word, choices) == best


def test_one_suggestion_in_the_api_and_on_the_command_line(capsys):
    with pytest.raises(ValueError, match=r"unknown optimizer 'adma' \(did you mean 'adam'\?\)"):
        optim.create("adma")
    for argv in (["race", "--problem", "bowl", "--optimizers", "adma"],
                 ["optimizers", "adma"],
                 ["compare", "--problem", "bowl", "--optimizers", "adma"]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and "unknown optimizer 'adma' (did you mean 'adam'?)" in err, err


def test_compare_messages(capsys, tmp_path):
    code, _, err = run(capsys, "compare", "--problem", "bowl", "--optimizers", "adamm",
                       "--out", str(tmp_path / "a"))
    assert code == 2 and err.startswith(
        "descentlab: error: unknown optimizer 'adamm' (did you mean 'adam'?); available:")
    assert "in 'adamm'" not in err
    code, _, err = run(capsys, "compare", "--problem", "bowl", "--optimizers",
                       "adam:learning_rate=1e-3..1", "--out", str(tmp_path / "b"))
    assert code == 2 and "Keras's and optax's learning_rate is lr" in err, err
    code, _, err = run(capsys, "compare", "--problem", "bowel", "--optimizers", "adam",
                       "--out", str(tmp_path / "c"))
    assert code == 2 and "unknown problem 'bowel' (did you mean 'bowl'?)" in err


def test_flag_suggestions(capsys, tmp_path):
    code, _, err = run(capsys, "race", "--problem", "bowl", "--optimizer", "sgd", "adam",
                       "--out", str(tmp_path / "r"))
    assert code == 2 and "required: --optimizers" in err
    assert "--optimizer is not a flag of descentlab race: did you mean --optimizers?" in err
    code, _, err = run(capsys, "sweep", "--problem", "bowl", "--optimizers", "sgd")
    assert code == 2 and "did you mean --optimizer?" in err
    code, _, err = run(capsys, "race", "--problem", "bowl", "--optimizers", "sgd",
                       "--stpes", "3", "--out", str(tmp_path / "s"))
    assert code == 2 and "unrecognized arguments: --stpes 3" in err
    assert "did you mean --steps?" in err and len(err.strip().splitlines()) == 1


def test_formula_error_names_the_column_on_the_command_line(capsys, tmp_path):
    code, _, err = run(capsys, "race", "--f", "x**2/20 + y**", "--optimizers", "sgd",
                       "--out", str(tmp_path / "f"))
    assert code == 2 and "syntax error at column 14, the end (it is incomplete)" in err


def _trials(folder):
    with open(folder / "trials.csv") as f:
        return list(csv.DictReader(f))


def test_compare_complete_and_extended(capsys, tmp_path):
    """A finished study re-run says it is complete; a larger --budget continues the planned
    random search (the first trials unchanged, the new ones appended) and ends where a fresh
    study of that budget ends, trial for trial; a smaller one is refused."""
    common = ["compare", "--problem", "bowl", "--optimizers", "adam", "--seeds", "1",
              "--steps", "5"]
    out, fresh = tmp_path / "study", tmp_path / "fresh"
    assert run(capsys, *common, "--budget", "2", "--out", str(out))[0] == 0
    first = _trials(out)
    code, text, _ = run(capsys, *common, "--budget", "2", "--out", str(out))
    assert code == 0 and "the study is already complete" in text
    assert _trials(out) == first
    code, text, _ = run(capsys, *common, "--budget", "4", "--out", str(out))
    assert code == 0 and "already complete" not in text
    grown = _trials(out)
    assert [int(r["plan_index"]) for r in grown] == [0, 1, 2, 3]
    assert grown[:2] == first
    assert run(capsys, *common, "--budget", "4", "--out", str(fresh))[0] == 0
    assert _trials(fresh) == grown
    code, _, err = run(capsys, *common, "--budget", "3", "--out", str(out))
    assert code == 2 and "already holds 4 trials and is never shrunk" in err


def test_mistyped_data_dir_is_an_error_not_a_download(capsys, tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    typo = tmp_path / "mnst"
    for argv in (["mnist", "--iterations", "1", "--out", str(tmp_path / "o1")],
                 ["init", "--out", str(tmp_path / "o2")],
                 ["compare", "--problem", "mnist", "--optimizers", "sgd", "--out",
                  str(tmp_path / "o3")]):
        code, _, err = run(capsys, *argv, "--data-dir", str(typo))
        assert code == 2 and f"--data-dir {typo}: no such folder" in err, err
        assert f"did you mean {str(tmp_path / 'mnist')!r}" in err
        assert not typo.exists()
    monkeypatch.setenv("DESCENTLAB_DATA", str(typo))
    code, _, err = run(capsys, "mnist", "--iterations", "1", "--out", str(tmp_path / "o4"))
    assert code == 2 and f"$DESCENTLAB_DATA {typo}: no such folder" in err
    assert not typo.exists()


def test_notebook_e5_says_why_it_falls_back(tmp_path, monkeypatch, capsys):
    import json
    from pathlib import Path

    nb = Path(__file__).parent.parent / "notebooks" / "e5_mnist_race.ipynb"
    cell = next(c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
    monkeypatch.setenv("DESCENTLAB_DATA", str(tmp_path))  # a folder without the files
    exec("".join(cell["source"]), {})
    out = capsys.readouterr().out
    assert "Using synthetic data, because the real MNIST files could not be read" in out
    assert "train-images-idx3-ubyte" in out and "DESCENTLAB_DATA" in out
