"""The benchmark report's figures: every optimizer named in the legend, in the leaderboard's
order, each drawn in a look of its own so that equal curves stay visible; and
``descentlab benchmark --report-only DIR``, which draws a finished run's report again from its
files — checked against the committed smoke run, whose report.md must come out unchanged."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from descentlab.cli import main
from descentlab.lab.testbed import CLASSIC, MODERN
from descentlab.viz import benchmark as figures
from descentlab.viz import style

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

SMOKE = Path(__file__).resolve().parents[1] / "docs" / "figures" / "benchmark_smoke"
STANDARD = list(CLASSIC + MODERN)          # the standard preset's 14 optimizers


def _legend_names(fig) -> list[str]:
    assert len(fig.legends) == 1
    return [t.get_text() for t in fig.legends[0].get_texts()]


def _rgb(c: str) -> np.ndarray:
    return np.array(matplotlib.colors.to_rgb(c))


def test_line_styles_tell_every_racer_apart():
    """40 racers (the 14 of the standard preset and 26 without a registry colour): no two
    share colour, line style and marker; among the 14, two of alike colour (RGB distance
    below ALIKE — e.g. sgd's blue and the first extra colour) never share a line style."""
    names = STANDARD + [f"mine{i}" for i in range(26)]
    looks = [(s.colour, s.linestyle, s.marker) for s in style.line_styles(names)]
    assert len(set(looks)) == len(names)
    first = style.line_styles(STANDARD)
    alike = [(a, b) for a, b in itertools.combinations(first, 2)
             if np.linalg.norm(_rgb(a.colour) - _rgb(b.colour)) < style.ALIKE]
    assert alike                                  # the case the styles exist for
    assert all(a.linestyle != b.linestyle for a, b in alike)


def test_the_profiles_legend_names_every_optimizer_outside_the_axes():
    """The defect: with 14 optimizers the legend, inside the axes, cut off the last two.
    Now: one figure legend, every name in the order given, clear of every panel; equal
    profiles drawn apart (different heights and looks)."""
    rng = np.random.default_rng(0)
    taus = np.geomspace(1, 8, 120)
    rho = np.sort(rng.integers(0, 7, (len(STANDARD), taus.size)) / 6, axis=1)
    rho[5] = rho[2]                                              # two equal profiles
    order = list(reversed(STANDARD))
    fig = figures.profiles([("steps", taus, rho), ("CPU s", taus, rho)], order, 4.0)
    try:
        assert _legend_names(fig) == order
        fig.canvas.draw()
        box = fig.legends[0].get_window_extent()
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent())
        lines = fig.axes[0].get_lines()[:len(order)]
        assert [line.get_label() for line in lines] == order
        a, b = lines[2], lines[5]
        assert not np.allclose(a.get_ydata(), b.get_ydata())
        assert (a.get_color(), a.get_linestyle(), a.get_marker()) != (
            b.get_color(), b.get_linestyle(), b.get_marker())
        assert a.get_zorder() > b.get_zorder()                 # the better one on top
    finally:
        plt.close(fig)


def test_the_curves_legend_names_every_optimizer_outside_the_axes():
    steps = np.arange(0, 110, 10)
    values = {lab: np.tile(np.linspace(1, 0.1 + 0.01 * k, steps.size), (3, 1))
              for k, lab in enumerate(STANDARD)}
    fig = figures.curves([("nqm", "loss", 0.2, steps, values)] * 2, STANDARD)
    try:
        assert _legend_names(fig) == STANDARD
        fig.canvas.draw()
        box = fig.legends[0].get_window_extent()
        assert not any(box.overlaps(ax.get_window_extent()) for ax in fig.axes
                       if ax.get_visible())
    finally:
        plt.close(fig)


def _leaderboard(report: str) -> list[str]:
    """The optimizer column of the report's leaderboard table."""
    table = report.split("## Leaderboard")[1].split("![")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    return [r.split("|")[1].strip() for r in rows[1:]]


def test_report_only_redraws_the_committed_smoke_run(tmp_path, monkeypatch, capsys):
    """From the committed CSVs and manifest alone: report.md comes out byte for byte as
    committed (so every number is rebuilt, nothing re-run), the four figures are drawn, and
    the profiles' legend lists the optimizers of the committed leaderboard, in its order."""
    run = tmp_path / "smoke"
    shutil.copytree(SMOKE, run)
    (run / "report.md").write_text("stale", encoding="utf-8")
    for png in run.glob("*.png"):
        png.unlink()
    drawn = {}
    save = style.save

    def keep(fig, path, formats=("png",)):
        drawn[Path(path).name] = _legend_names(fig) if fig.legends else None
        return save(fig, path, formats)

    monkeypatch.setattr(style, "save", keep)
    assert main(["benchmark", "--report-only", str(run)]) == 0
    assert "redrew" in capsys.readouterr().out
    committed = (SMOKE / "report.md").read_text(encoding="utf-8")
    assert (run / "report.md").read_text(encoding="utf-8") == committed
    for name in ("profiles", "steps_to_target", "curves", "defaults_vs_tuned"):
        assert (run / f"{name}.png").stat().st_size > 10_000
    board = _leaderboard(committed)
    assert len(board) == 6 and drawn["profiles"] == board and drawn["curves"] == board
    for name in ("trials.csv", "runs.csv", "curves.csv", "summary.csv", "manifest.json"):
        assert (run / name).read_bytes() == (SMOKE / name).read_bytes()    # inputs untouched


def _drop(name):
    def mutate(run):
        (run / name).unlink()
    return mutate


def _edit(name, old, new):
    def mutate(run):
        text = (run / name).read_text(encoding="utf-8")
        assert old in text
        (run / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    return mutate


def _cut(name, size=None, lines=None):
    def mutate(run):
        data = (run / name).read_bytes()
        if lines is not None:
            data = b"".join(data.splitlines(keepends=True)[:lines])
        (run / name).write_bytes(data[:size])
    return mutate


@pytest.mark.parametrize("mutate, culprit", [
    (_drop("manifest.json"), "manifest.json: not a finished benchmark run"),
    (_drop("trials.csv"), "trials.csv: cannot read"),
    (_edit("runs.csv", ",260,", ",soon,"), "runs.csv: not a finished benchmark's file"),
    (_edit("curves.csv", "nqm,,sgd,tuned,1000000,20,", "nqm,,sgd,tuned,1000000,x,"),
     "curves.csv: not a finished benchmark's file"),
    (_edit("manifest.json", '"nqm/sgd": 0', '"nqm/sgdx": 0'),
     "manifest.json: no chosen_study of nqm/sgd"),
    (_cut("runs.csv", 300), "runs.csv: line 3 does not have the header's 12 fields"),
    (_cut("runs.csv", lines=1), "runs.csv: no rows"),
    (_cut("runs.csv", lines=2), "runs.csv: no test runs of"),
    (_cut("trials.csv", lines=0), "trials.csv: no column workload"),
], ids=["no manifest", "no trials", "bad steps", "bad curve step", "no chosen study",
        "truncated runs", "header only", "one run", "empty trials"])
def test_report_only_names_the_bad_file_and_writes_nothing(tmp_path, capsys, mutate,
                                                           culprit):
    run = tmp_path / "smoke"
    shutil.copytree(SMOKE, run)
    mutate(run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert main(["benchmark", "--report-only", str(run)]) == 2
    assert culprit in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_report_only_needs_a_folder(tmp_path, capsys):
    assert main(["benchmark", "--report-only", str(tmp_path / "nothing")]) == 2
    assert "--report-only" in capsys.readouterr().err
