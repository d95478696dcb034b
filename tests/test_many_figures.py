"""Figures with many optimizers (issue: races and comparisons of 16-20 of the 65): every name
is in the legend, the legend covers no data (right of the axes, or under them in an
animation), and no two lines look alike (colour, line style and marker); figures with few
optimizers keep their legend inside the axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from descentlab import problems  # noqa: E402
from descentlab.lab.race import race  # noqa: E402
from descentlab.viz import animate, nn_figures, style, surfaces  # noqa: E402
from descentlab.viz import compare as cf  # noqa: E402

#: 18 optimizers: 11 with a palette colour, 7 that share the 6 extra colours between them.
MANY = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "nadam",
        "adamax", "amsgrad", "adadelta", "radam", "lion", "adabelief", "yogi", "laprop",
        "signum", "adan"]
FEW = ["sgd", "momentum", "adagrad", "adam", "rmsprop", "nesterov"]


def _legend_outside(fig, ax, names):
    """The legend of ``ax`` lists every name (in order, possibly with a note after it) and
    lies wholly outside the axes' data area."""
    leg = ax.get_legend()
    texts = [t.get_text() for t in leg.get_texts()]
    assert len(texts) >= len(names)
    for name, text in zip(names, texts):
        assert text.split(" ")[0] == name, (name, text)
    fig.canvas.draw()
    box, area = leg.get_window_extent(), ax.get_window_extent()
    assert not box.overlaps(area), (box, area)
    assert box.x0 >= area.x1  # right of the axes
    # and inside the figure: nothing cut off when the figure is saved without bbox "tight"
    assert box.x1 <= fig.bbox.x1 + 1 and box.y0 >= fig.bbox.y0 - 1


def _styles(ax) -> list[tuple[str, object, str]]:
    """(colour, line style, marker) of every racer's drawn line(s) on ``ax``, in order."""
    return [(to_hex(line.get_color()), line.get_linestyle(), line.get_marker())
            for line in ax.get_lines() if not line.get_label().startswith("_")]


def test_legend_helper_keeps_few_inside_and_moves_many_outside():
    fig, ax = plt.subplots(figsize=(5, 3))
    for k in range(style.MAX_INSIDE):
        ax.plot([0, 1], [k, k], label=f"line{k}")
    leg = style.legend(ax, fontsize=8)
    fig.canvas.draw()
    assert ax.get_window_extent().contains(*leg.get_window_extent().p0)
    assert tuple(fig.get_size_inches()) == (5, 3)   # few: the figure as it was
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3))
    names = [f"line{k}" for k in range(40)]
    for k, n in enumerate(names):
        ax.plot([0, 1], [k, k], label=n)
    leg = style.legend(ax, fontsize=8)
    fig.tight_layout()
    fig.canvas.draw()
    columns = {round(t.get_window_extent().x0) for t in leg.get_texts()}
    assert len(columns) > 1                          # 40 names do not fit in one column
    assert leg.get_window_extent().height <= ax.get_window_extent().height + 1
    _legend_outside(fig, ax, names)
    plt.close(fig)


@pytest.fixture(scope="module")
def many_2d():
    return race(problems.get("rosenbrock"), MANY, start=(-1.5, 2), steps=8)


def test_race_overlay_names_every_racer_outside_and_no_two_look_alike(many_2d):
    fig = surfaces.overlay(many_2d)
    ax = fig.axes[0]
    _legend_outside(fig, ax, [*MANY, "start"])
    # path lines: each racer's colour + line style (+ its marker on the marker artist)
    lines = [line for line in ax.get_lines() if line.get_marker() in ("None", "", None)
             and line.get_linestyle() not in ("None", "")][-len(MANY):]
    dots = [line for line in ax.get_lines() if line.get_label() in MANY]
    looks = {(to_hex(a.get_color()), a.get_linestyle(), b.get_marker())
             for a, b in zip(lines, dots)}
    assert len(looks) == len(MANY)
    # the legend shows the line style too (each entry: the path's line and its marker)
    styles = {h.get_linestyle() for h in ax.get_legend().legend_handles}
    assert {"--", "-."} <= styles, styles
    plt.close(fig)


def test_race_progress_and_surface_legends_outside(many_2d):
    fig = surfaces.progress(many_2d)
    _legend_outside(fig, fig.axes[0], MANY)
    looks = _styles(fig.axes[0])
    assert len(set(looks)) == len(MANY) == len(looks)
    plt.close(fig)
    fig = surfaces.surface3d(many_2d)
    ax = fig.axes[0]
    leg = ax.get_legend()
    assert [t.get_text() for t in leg.get_texts()] == MANY
    fig.canvas.draw()
    # right of everything the 3-D axes draws, its z label included
    assert leg.get_window_extent().x0 >= ax.zaxis.label.get_window_extent().x1
    plt.close(fig)


def test_race_1d_curve_legend_outside():
    r = race(problems.get("quartic"), MANY, start=(-8,), steps=6)
    fig = surfaces.curve(r)
    _legend_outside(fig, fig.axes[0], MANY)
    plt.close(fig)


def test_race_with_few_racers_keeps_its_legend_inside():
    r = race(problems.get("bowl"), FEW, start=(-7, 2), steps=5)
    for draw in (surfaces.overlay, surfaces.progress):
        fig = draw(r)
        ax = fig.axes[0]
        fig.canvas.draw()
        box, area = ax.get_legend().get_window_extent(), ax.get_window_extent()
        assert area.x0 <= box.x0 and box.x1 <= area.x1, draw.__name__
        assert {line.get_linestyle() for line in ax.get_lines()} - {"None"} == {"-"}
        plt.close(fig)


def test_animation_legend_under_the_axes_in_five_columns(many_2d):
    fig, _ = animate._figure(many_2d, "contour")
    leg = fig.legends[0]
    assert [t.get_text() for t in leg.get_texts()] == MANY
    fig.canvas.draw()
    assert len({round(t.get_window_extent().x0) for t in leg.get_texts()}) == 5
    # each entry shows the trail's line style with the dot: dashed ones among them
    styles = {a.get_linestyle() for a in leg.findobj(matplotlib.lines.Line2D)}
    assert {"--", "-."} <= styles, styles
    assert leg.get_window_extent().y1 <= fig.axes[0].get_window_extent().y0
    plt.close(fig)


def test_compare_figures_with_many_optimizers():
    rng = np.random.default_rng(1)
    steps = 40
    curves = {n: np.exp(-np.linspace(0, 1 + 0.2 * k, steps))[None, :] * rng.uniform(0.9, 1.1,
                                                                                    (3, 1))
              for k, n in enumerate(MANY)}
    fig = cf.loss_bands(curves, title="many")
    ax = fig.axes[0]
    _legend_outside(fig, ax, MANY)
    looks = _styles(ax)
    assert len(set(looks)) == len(MANY)
    assert all(m not in ("None", "") for _, _, m in looks)   # many: markers on every line
    plt.close(fig)

    n = np.arange(1, 11)
    eb = {name: (n, (1 + k) / n, (0.9 + k) / n, (1.1 + k) / n) for k, name in enumerate(MANY)}
    fig = cf.expected_best(eb, metric="loss")
    _legend_outside(fig, fig.axes[0], MANY)
    assert len(set(_styles(fig.axes[0]))) == len(MANY)
    plt.close(fig)

    taus = np.geomspace(1, 8, 30)
    rho = np.array([np.clip(taus / (2 + k), 0, 1) for k in range(len(MANY))])
    fig = cf.profile(taus, rho, MANY)
    _legend_outside(fig, fig.axes[0], MANY)
    plt.close(fig)


def test_compare_figures_with_few_optimizers_keep_the_legend_inside():
    curves = {n: np.exp(-np.linspace(0, 1 + k, 20))[None, :] for k, n in enumerate(FEW)}
    fig = cf.loss_bands(curves)
    ax = fig.axes[0]
    fig.canvas.draw()
    box, area = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert area.x0 <= box.x0 and box.x1 <= area.x1
    assert all(m == "None" for _, _, m in _styles(ax))   # few: lines as they were
    plt.close(fig)


def test_mnist_loss_curves_with_many_optimizers():
    losses = {n: np.linspace(1, 0.1 + 0.01 * k, 300) for k, n in enumerate(MANY)}
    fig = nn_figures.loss_curves(losses, smooth=False)
    _legend_outside(fig, fig.axes[0], MANY)
    assert len(set(_styles(fig.axes[0]))) == len(MANY)
    plt.close(fig)


def test_contour_grid_of_many_racers_keeps_the_title_clear(many_2d):
    """One panel per racer (titled with its name); on a grid this tall tight_layout left the
    first row's titles inside the figure's title."""
    fig = surfaces.contour_grid(many_2d)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == MANY
    fig.canvas.draw()
    title = next(t for t in fig.get_children()
                 if isinstance(t, matplotlib.text.Text) and t.get_text() == fig.get_suptitle())
    assert max(ax.get_tightbbox().y1 for ax in visible) < title.get_window_extent().y0
    plt.close(fig)
