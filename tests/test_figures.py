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


def test_surface_cut_keeps_a_level_rim(bowl_race):
    """The surface is cut at the cap without a saw-tooth: every cell with a corner below the
    cut is drawn (its other corners at the cap), every cell wholly above it is invisible."""
    fig = surfaces.surface3d(bowl_race)
    ax = fig.axes[0]
    poly = next(c for c in ax.collections if len(c.get_facecolor()) > 100)
    alpha = poly.get_facecolor()[:, 3]
    X, Y, Z = surfaces.grid_of(bowl_race.problem, 70)
    cap = ax.get_zlim()[1]
    below = Z < cap
    crossing_or_below = (below[:-1, :-1] | below[1:, :-1] | below[:-1, 1:] | below[1:, 1:])
    assert (alpha > 0).sum() == crossing_or_below.sum()
    assert (~crossing_or_below).sum() > 100  # the cut removes part of the bowl's window
    plt_close(fig)


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
    # Tick labels of neighbouring panels do not collide at the joins.
    fig.canvas.draw()
    boxes = [[t.get_window_extent() for t in ax.get_xticklabels() if t.get_visible()
              and t.get_text()] for ax in fig.axes if ax.get_visible()]
    for left, right in zip(boxes, boxes[1:]):
        assert max(b.x1 for b in left) < min(b.x0 for b in right), "tick labels collide"
    # The global and the local minimum have their own markers, and the legend says which.
    marks = {line.get_marker() for line in fig.axes[0].get_lines()}
    assert {"+", "x"} <= marks
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "global minimum" in labels and "local minimum" in labels


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


def test_batch_curves_legend_covers_no_data():
    """E8: one legend, under the panels, overlapping none of them."""
    t = np.linspace(0, 1, 50)
    curves = {f"{mode} ({kind})": (t * 100, t, 1 + np.exp(-5 * t)) for kind in
              ("standardised", "raw") for mode in ("batch", "stochastic", "mini-batch")}
    fig = nn_figures.batch_mode_curves({"a": curves, "b": curves})
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    fig.canvas.draw()
    box = fig.legends[0].get_window_extent()
    assert len(fig.legends[0].get_texts()) == 6
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent()), "the legend covers a panel"
    plt_close(fig)


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


def colour_pixels(fig, colours, tol=24) -> dict[str, int]:
    """How many pixels of each colour the figure shows inside its axes (legends hidden, so
    only the drawn data count)."""
    from matplotlib.colors import to_rgb

    for ax in fig.axes:
        if ax.get_legend():
            ax.get_legend().set_visible(False)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    height = rgb.shape[0]
    inside = np.zeros(rgb.shape[:2], bool)
    for ax in fig.axes:
        x0, y0, x1, y1 = (int(round(v)) for v in ax.get_window_extent().extents)
        inside[height - y1:height - y0, x0:x1] = True
    out = {}
    for c in colours:
        target = np.round(np.array(to_rgb(c)) * 255)
        out[c] = int(((np.abs(rgb - target).sum(axis=2) <= tol) & inside).sum())
    return out


def test_coinciding_compare_series_stay_visible():
    """Compare figures: series that coincide (SGD's median under Nesterov's, AdaGrad's
    expected best under RMSprop's, four equal profile steps) are each seen in their own colour
    on the figure, and the legend says which equals which."""
    from descentlab.viz import compare as cf

    rng = np.random.default_rng(0)
    a = np.exp(-np.linspace(0, 5, 60))[None, :] * rng.uniform(0.8, 1.2, (5, 1))
    b = 3 * a
    fig = cf.loss_bands({"nesterov": a, "adam": b, "sgd": a.copy()})
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["nesterov (5 seeds)", "adam (5 seeds)", "sgd (= nesterov) (5 seeds)"]
    seen = colour_pixels(fig, [GREEN, RED, BLUE])
    assert min(seen.values()) > 0.25 * seen[RED], seen  # each of the pair: half the line
    plt_close(fig)

    n = np.arange(1, 21)
    mean = 1 / n
    curves = {"adagrad": (n, mean, mean * 0.9, mean * 1.1), "rmsprop": (n, mean * (1 + 1e-6),
                                                                        mean, mean),
              "adam": (n, 2 / n, 1.8 / n, 2.2 / n)}
    fig = cf.expected_best(curves, metric="test_accuracy")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == \
        ["adagrad", "rmsprop (≈ adagrad)", "adam"]
    assert ax.get_ylabel() == "expected best test accuracy (tuning seeds)"
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels()
             if ax.get_xlim()[0] <= t.get_position()[0] <= ax.get_xlim()[1]]
    assert ticks == ["1", "2", "5", "10", "20"], ticks
    seen = colour_pixels(fig, [PURPLE, "#8c564b", RED])
    assert min(seen.values()) > 0.25 * seen[RED], seen
    plt_close(fig)

    taus = np.geomspace(1, 8, 50)
    rho = np.array([[0.25] * 25 + [0.75] * 25] * 4 + [[0.5] * 50])
    labels = ["sgd", "momentum", "nesterov", "adam", "rmsprop"]
    fig = cf.profile(taus, rho, labels)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["sgd", "momentum (= sgd)", "nesterov (= sgd)", "adam (= sgd)", "rmsprop"]
    seen = colour_pixels(fig, [BLUE, "#ff7f0e", GREEN, RED, "#8c564b"])
    assert min(seen.values()) > 0.12 * seen["#8c564b"], seen  # four share one line
    plt_close(fig)


def plt_close(fig):
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_compare_figures_show_every_optimizer_when_results_coincide(tmp_path, capsys):
    """End to end: Momentum with momentum 0 is SGD, so their loss medians and profile steps
    are equal; the written PNGs still show both colours along the line, and the legend note
    says so."""
    from descentlab.cli import main

    out = tmp_path / "c"
    assert main(["compare", "--problem", "bowl", "rosenbrock", "--optimizers", "sgd:lr=0.05",
                 "momentum:lr=0.05,momentum=0", "adam:lr=0.1", "--budget", "4", "--seeds", "2",
                 "--steps", "30", "--out", str(out)]) == 0
    rank_head = next(line for line in capsys.readouterr().out.splitlines()
                     if line.startswith("rank"))
    assert "sgd:lr=0.05  momentum:lr=0.05,momentum=0" in rank_head  # long labels kept apart
    orange = "#ff7f0e"
    for name in ("loss_bowl.png", "profile.png", "expected_best_rosenbrock.png"):
        rgb = np.asarray(Image.open(out / name).convert("RGB")).astype(int)
        counts = {c: int((np.abs(rgb - [int(c[k:k + 2], 16) for k in (1, 3, 5)]).sum(axis=2)
                          <= 24).sum()) for c in (BLUE, orange, RED)}
        assert min(counts[BLUE], counts[orange]) > 0.2 * counts[RED], (name, counts)


def test_noisy_race_says_which_seed_is_drawn_and_keeps_x_ticks():
    """`race --seeds 20 --noise 0.5 --start-spread 1`: the paths drawn are seed 0's, from
    its drawn start (not --start): titles, the overlay's start mark and the table say so;
    with three racers in a 2 × 2 grid the top-right panel (nothing below it) keeps its x
    tick labels."""
    from descentlab.lab.engine import draw_starts

    p = problems.get("bowl")
    r = race(p, ["sgd:lr=0.95", "momentum:lr=0.1", "adam:lr=0.3"], start=(-7, 2), steps=10,
             seeds=list(range(20)), noise=0.5, spread=1.0)
    drawn = draw_starts(p, (-7, 2), 1.0, list(range(20)))[0]
    assert drawn[0] != -7 and r.drawn_start == tuple(drawn)
    where = "(" + ", ".join(f"{c:.3g}" for c in drawn) + ")"
    words = f"seed 0 of 20 drawn: start {where}, spread 1 around (-7, 2), noise σ = 0.5"
    fig = surfaces.contour_grid(r)
    assert words in fig._suptitle.get_text()
    fig.canvas.draw()
    top_right = fig.axes[1]
    assert [t.get_text() for t in top_right.get_xticklabels() if t.get_visible()
            and t.get_text()], "the top-right panel lost its x tick labels"
    assert top_right.get_xlabel() == "x"
    assert words in surfaces.progress(r).axes[0].get_title()
    ax = surfaces.overlay(r).axes[0]
    start = [line for line in ax.get_lines() if line.get_label() == "start (seed 0)"]
    assert len(start) == 1 and tuple(start[0].get_xydata()[0]) == tuple(drawn)
    assert f"(each row: {words}" in r.table()
    plt_close(fig)


def test_notebook_e3_draws_in_the_palette_with_axis_labels(monkeypatch):
    import json
    from pathlib import Path

    import matplotlib.pyplot as plt

    nb = Path(__file__).parent.parent / "notebooks" / "e3_ill_conditioned_bowl.ipynb"
    code = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"]
                     if c["cell_type"] == "code")
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    namespace: dict = {}
    exec(code, namespace)
    fig = shown[-1]
    entries = namespace["r"].entries
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == len(entries) == 6
    for ax, e, colour in zip(panels, entries, style.colours_for(e.name for e in entries)):
        assert colour in path_colours(ax), (e.name, path_colours(ax))
        assert ax.get_xlabel() in ("x", "") and ax.get_ylabel() in ("y", "")
    assert {ax.get_xlabel() for ax in panels} == {"x"} | ({""} if len(panels) > 2 else set())
    assert "y" in {ax.get_ylabel() for ax in panels}
    plt.close(fig)
