"""What the figures show, read back from the figure objects and the written files: one
palette colour per optimizer, coinciding paths visible, labels and titles, the GIF's pause
and step counter, the MP4."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from PIL import Image  # noqa: E402

from descentlab import problems  # noqa: E402
from descentlab.errors import InputError
from descentlab.lab.race import race  # noqa: E402
from descentlab.lab.sweep import start_grid, sweep, sweep_starts  # noqa: E402
from descentlab.viz import animate, maps, nn_figures, style, surfaces  # noqa: E402

# The palette, written out (the docs promise these): sgd blue, adagrad purple, adam red,
# nesterov green.
BLUE, PURPLE, RED, GREEN = "#1f77b4", "#9467bd", "#d62728", "#2ca02c"
E3 = ["sgd:lr=0.95", "adagrad:lr=1.5", "adam:lr=0.3", "nesterov:lr=0.3"]


@pytest.fixture(scope="module")
def bowl_race():
    return race(problems.get("bowl"), E3, start=(-7, 2), steps=12)


def path_colours(ax) -> list[str]:
    """Colours of the lines that carry a path (more than one point; the contour '+' and the
    start square have one)."""
    return [to_hex(line.get_color()) for line in ax.get_lines() if len(line.get_xdata()) > 1]


def test_contour_grid_draws_each_path_in_its_optimizer_colour(bowl_race):
    fig = surfaces.contour_grid(bowl_race)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [path_colours(ax) for ax in panels] == [[BLUE], [PURPLE], [RED], [GREEN]]
    assert [to_hex(ax.title.get_color()) for ax in panels] == [BLUE, PURPLE, RED, GREEN]
    classic = surfaces.contour_grid(bowl_race, look="classic")
    assert {c for ax in classic.axes if ax.get_visible() for c in path_colours(ax)} == {
        "#ff0000"}
    with pytest.raises(ValueError, match="look"):
        surfaces.contour_grid(bowl_race, look="red")


def test_overlay_keeps_coinciding_paths_visible(bowl_race):
    """Nesterov and AdaGrad run along y = 0 together: every racer has its own marker, and
    each earlier one is a larger hollow ring under the later ones."""
    fig = surfaces.overlay(bowl_race)
    ax = fig.axes[0]
    markers = [line for line in ax.get_lines() if line.get_linestyle() == "None"
               and len(line.get_xdata()) > 1]
    assert [to_hex(m.get_color()) for m in markers] == [BLUE, PURPLE, RED, GREEN]
    assert len({m.get_marker() for m in markers}) == 4
    sizes = [m.get_markersize() for m in markers]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    assert [m.get_markerfacecolor() for m in markers[:-1]] == ["none"] * 3
    assert [m.get_zorder() for m in markers] == sorted(m.get_zorder() for m in markers)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["sgd", "adagrad", "adam", "nesterov", "start"]


def test_1d_curve_shows_a_path_hidden_under_another():
    """On abs(x), SGD and Adam with the same rate take the same steps: SGD's iterates are
    rings around Adam's, not covered by them."""
    r = race(problems.from_expression("abs(x)"), ["sgd:lr=0.1", "adam:lr=0.1"], start=(-3,),
             steps=20)
    np.testing.assert_allclose(r.entries[0].path, r.entries[1].path)
    ax = surfaces.curve(r).axes[0]
    sgd, adam = [line for line in ax.get_lines() if line.get_linestyle() == "None"
                 and len(line.get_xdata()) > 1]
    assert to_hex(sgd.get_markeredgecolor()) == BLUE and sgd.get_markerfacecolor() == "none"
    assert to_hex(adam.get_markerfacecolor()) == RED
    assert sgd.get_markersize() > adam.get_markersize() + 1


def test_progress_plots_the_gap_to_the_minimum_per_optimizer(bowl_race):
    ax = surfaces.progress(bowl_race).axes[0]
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) > 1]
    assert [to_hex(line.get_color()) for line in lines] == [BLUE, PURPLE, RED, GREEN]
    assert ax.get_yscale() == "log" and "f − f*" in ax.get_ylabel()
    assert ax.get_xlabel() == "step"
    np.testing.assert_allclose(lines[2].get_ydata(), bowl_race.entries[2].f)  # f* = 0
    saddle = race(problems.get("saddle"), ["sgd:lr=0.05"], steps=5)
    ax = surfaces.progress(saddle).axes[0]
    assert ax.get_yscale() == "linear" and "no minimum" in ax.get_ylabel()


def test_surface_view_lifts_every_path_onto_f(bowl_race):
    fig = surfaces.surface3d(bowl_race)
    ax = fig.axes[0]
    assert ax.name == "3d" and ax.get_zlabel() == "f"
    paths = [line for line in ax.get_lines() if line.get_linestyle() != "None"
             and len(line.get_data_3d()[0]) > 1]
    assert [to_hex(line.get_color()) for line in paths] == [BLUE, PURPLE, RED, GREEN]
    x, y, z = paths[0].get_data_3d()
    e = bowl_race.entries[0]
    lift = z - e.f
    assert np.all(lift > 0) and np.ptp(lift) < 1e-9  # on the surface, a constant lift above it


def test_left_the_window_is_said_in_table_and_figures():
    r = race(problems.get("saddle"), ["sgd:lr=0.05", "rmsprop:lr=0.05"], steps=60)
    gone = r.entries[1]
    assert gone.left_window and gone.ended.startswith("left the window at step")
    table = r.table()
    row = next(line for line in table.splitlines() if line.startswith("rmsprop"))
    assert "left the window at step" in row and "nan" not in row
    assert r.summary_rows()[1]["left_window"] is True
    grid = surfaces.contour_grid(r)
    assert "left the window" in grid.axes[1].get_title()
    legend = [t.get_text() for t in surfaces.overlay(r).axes[0].get_legend().get_texts()]
    assert any("left the window" in t for t in legend)
    # A point in the window where f is undefined is "diverged", not "left the window".
    log = race(problems.from_expression("log(x)", find_minima=False), ["sgd:lr=4"],
               start=(1.0,), steps=3)  # 1 → −3: inside [−5, 5], log(−3) is nan
    assert log.entries[0].diverged_at is not None and not log.entries[0].left_window
    assert log.entries[0].ended.startswith("diverged at step")


def test_single_row_stability_map_title_ticks_and_legend():
    with pytest.raises(InputError, match="lr is swept"):  # a spec lr the sweep would drop
        sweep(problems.get("quartic"), "adam:lr=0.5", lr=[0.1], start=(-8,), steps=1)
    s = sweep(problems.get("quartic"), "adam:eps=1e-10", lr=[0.1, 0.2, 1.5],
              start=(-8,), steps=20)
    fig = maps.stability_map(s)
    ax = fig.axes[0]
    title = ax.get_title()
    assert "lr=0.5" not in title and "lr 0.1 … 1.5 (3 rates)" in title and "eps=1e-10" in title
    assert list(ax.get_yticks()) == []
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    label = ax.xaxis.label.get_window_extent(renderer)
    legend = fig.legends[0].get_window_extent(renderer)
    assert legend.y1 <= label.y0  # the legend sits below the x label, not on it


def test_start_map_draws_one_panel_per_rate():
    p = problems.get("two_basin")
    s = sweep_starts(p, "momentum", start_grid(p, 6), lr=[0.05, 0.1, 0.2], steps=20)
    fig = maps.start_map(s)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert [t.split(":")[0] for t in titles] == ["lr = 0.05", "lr = 0.1", "lr = 0.2"]
    assert "lr 0.05 … 0.2 (3 rates)" in fig._suptitle.get_text()


def gif_frames(path):
    im = Image.open(path)
    frames, durations = [], []
    for k in range(im.n_frames):
        im.seek(k)
        durations.append(im.info["duration"])
        frames.append(np.asarray(im.convert("RGB")))
    return frames, durations


def test_gif_is_projector_sized_pauses_on_the_last_frame_and_counts_steps(bowl_race,
                                                                          tmp_path):
    path = animate.animate(bowl_race, tmp_path / "a", "gif", fps=10)
    frames, durations = gif_frames(path)
    assert len(frames) == bowl_race.steps + 1
    assert frames[0].shape[:2] == (600, 960)
    assert durations[:-1] == [100] * bowl_race.steps
    assert durations[-1] == animate.PAUSE_SECONDS * 1000
    corner = [f[:60, :220].astype(int) for f in frames]  # the step counter, top left
    assert all(np.abs(corner[k] - corner[k + 1]).sum() > 0 for k in range(len(corner) - 1))


def test_surface_animation(bowl_race, tmp_path):
    path = animate.animate(bowl_race, tmp_path / "s", "gif", view="surface")
    frames, _ = gif_frames(path)
    assert len(frames) == bowl_race.steps + 1 and np.abs(
        frames[0].astype(int) - frames[-1].astype(int)).sum() > 0
    with pytest.raises(ValueError, match="view"):
        animate.animate(bowl_race, tmp_path / "x", "gif", view="sideways")


def test_mp4_is_written_and_readable(bowl_race, tmp_path, monkeypatch):
    import imageio_ffmpeg

    # imageio-ffmpeg's reader starts ffmpeg with preexec_fn=os.setpgrp unless told not to:
    # a preexec_fn makes subprocess fork() the whole (multithreaded, once the Keras/optax
    # oracles have started JAX in this worker) test process, which can deadlock; its own
    # switch turns that off (we do not need Ctrl-C shielding in a test).
    monkeypatch.setenv("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")
    assert animate.mp4_available()  # imageio-ffmpeg is a dependency: always there
    path = animate.animate(bowl_race, tmp_path / "m", "mp4", fps=10)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    n = sum(1 for _ in reader)
    assert meta["size"] == (960, 600) and meta["fps"] == 10
    assert n == bowl_race.steps + 1 + round(animate.PAUSE_SECONDS * 10)  # the pause: held


def test_mp4_prefers_the_system_ffmpeg(monkeypatch):
    import imageio_ffmpeg

    monkeypatch.setattr(animate.shutil, "which", lambda name: "/usr/bin/ffmpeg")
    assert animate.ffmpeg_executable() == "/usr/bin/ffmpeg"
    monkeypatch.setattr(animate.shutil, "which", lambda name: None)
    assert animate.ffmpeg_executable() == imageio_ffmpeg.get_ffmpeg_exe()


def test_activation_histograms_have_labels_title_and_say_what_is_clipped():
    relu = [np.concatenate([np.zeros(50), np.linspace(0.1, 1.9, 40), np.full(10, 3.0)])]
    fig = nn_figures.activation_histograms({"He, relu": relu, "tanh": [np.tanh(relu[0])]},
                                           ranges={"He, relu": (0.0, 2.0)})
    assert fig._suptitle.get_text() == nn_figures.HISTOGRAM_TITLE
    top, bottom = fig.axes
    assert "count" in top.get_ylabel() and bottom.get_xlabel() == "activation z"
    assert [t.get_text() for t in top.texts] == ["z = 0: 50%\n10.0% > 2 not shown"]


def test_batch_curves_keep_t_zero():
    t = np.array([0.0, 1e-4, 1e-3, 1e-2])
    fig = nn_figures.batch_mode_curves({"d": {"batch (raw)": (t * 10, t, np.array(
        [4.0, 2.0, 1.0, 0.5]))}})
    ax = fig.axes[1]
    assert ax.get_xscale() == "symlog" and ax.get_xlim()[0] == 0
    assert "t = 0 shown" in ax.get_xlabel()


def test_loss_curves_legend_carries_the_rate():
    settings = {"sgd": {"hyperparameters": {"lr": 0.01}},
                "adam": {"hyperparameters": {"lr": 0.001}}}
    fig = nn_figures.loss_curves({"sgd": np.ones(5), "adam": np.ones(5)}, smooth=False,
                                 labels=nn_figures.rate_labels(settings))
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts == ["sgd (lr = 0.01)", "adam (lr = 0.001)"]
    lines = fig.axes[0].get_lines()
    assert [to_hex(line.get_color()) for line in lines] == [style.PALETTE["sgd"], RED]


def test_mp4_without_any_ffmpeg_is_refused_before_any_work(monkeypatch, tmp_path, capsys):
    from descentlab.cli import main

    monkeypatch.setattr(animate, "ffmpeg_executable", lambda: None)
    out = tmp_path / "o"
    assert main(["race", "--problem", "bowl", "--steps", "3", "--optimizers", "sgd:lr=0.1",
                 "--animate", "mp4", "--out", str(out)]) == 2
    assert "MP4 needs ffmpeg" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("formula", ["sqrt(1 - x*x - y*y)", "y*0 + 2", "x", "sqrt(x)"])
def test_every_race_figure_survives_odd_surfaces(formula, tmp_path):
    """Undefined almost everywhere (and at the start), flat, unbounded, undefined on half
    the window: every figure is still drawn (a race whose runs all diverge at step 0 is an
    outcome, not a crash). Undefined everywhere is refused as a formula (issue 21)."""
    from descentlab.cli import main

    assert main(["race", "--f", "sqrt(-1 - x*x - y*y)", "--optimizers", "sgd", "--out",
                 str(tmp_path / "no")]) == 2

    assert main(["race", "--f", formula, "--steps", "3", "--optimizers", "sgd", "adam",
                 "--out", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert "progress.png" in names and ("surface.png" in names) == ("y" in formula)
