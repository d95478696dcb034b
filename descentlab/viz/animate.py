"""Animations of a race: GIF (Pillow, always available) or MP4 (needs ffmpeg).

1-D problems: the curve with a dot per optimizer moving along it (E1's red dot is Adam's
palette colour). 2-D problems: the contours with each path growing frame by frame.

GIFs are rendered by blitting: the static background (curve or contours) is drawn once,
and each frame redraws only the dots, trails and title — about ten times faster than
re-rendering whole figures.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_path
from . import style, surfaces

FORMATS = ("gif", "mp4")


def mp4_available() -> bool:
    """True when an ffmpeg executable is on the PATH (matplotlib writes MP4 through it)."""
    from matplotlib import animation

    return animation.writers.is_available("ffmpeg") or shutil.which("ffmpeg") is not None


def animate(result: Any, path: str | os.PathLike, fmt: str = "gif", fps: int = 10,
            dpi: int = 72) -> Path:
    """Write an animation of ``result`` (a :class:`~descentlab.lab.race.RaceResult`), one
    frame per step (the start plus every update), to ``path`` with suffix ``fmt``."""
    import matplotlib.pyplot as plt

    if fmt not in FORMATS:
        raise ValueError(f"unknown animation format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "mp4" and not mp4_available():
        raise ValueError("MP4 needs ffmpeg, which is not installed on this machine; use "
                         "--animate gif (Pillow) or install ffmpeg")
    problem = result.problem
    colours = style.colours_for(e.name for e in result.entries)
    if problem.dim == 1:
        fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=dpi)
        xs, fs = surfaces.curve_window(problem)
        ax.plot(xs, fs, color="black", linewidth=1.2)
        surfaces.curve_limits(ax, xs, fs, surfaces.path_top(result))
        for m in problem.minima:
            ax.plot(m.point[0], m.value, "+", color="black", markersize=11, markeredgewidth=1.5)
        ax.set_xlabel("x")
        ax.set_ylabel("f(x)")
    else:
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=dpi)
        surfaces.draw_contours(ax, problem, result.start)
    trails = [ax.plot([], [], "-", color=c, linewidth=1.3 if problem.dim == 2 else 0.8,
                      alpha=1.0 if problem.dim == 2 else 0.5, animated=True)[0]
              for c in colours]
    dots = [ax.plot([], [], "o", color=c, markersize=9, markeredgecolor="black", label=e.label,
                    animated=True)[0] for e, c in zip(result.entries, colours)]
    ax.legend(handles=dots, loc="upper right", fontsize=8, framealpha=0.85)
    for handle in ax.get_legend().legend_handles:
        handle.set_animated(False)
    title = ax.set_title(" ", fontsize=10)
    title.set_animated(True)
    fig.tight_layout()

    def update(k: int) -> list:
        for e, dot, trail in zip(result.entries, dots, trails):
            n = min(k, len(e.path) - 1)
            if problem.dim == 1:
                xy = (e.path[: n + 1, 0], e.f[: n + 1])
            else:
                xy = (e.path[: n + 1, 0], e.path[: n + 1, 1])
            trail.set_data(*xy)
            dot.set_data([xy[0][-1]], [xy[1][-1]])
        title.set_text(f"{problem.name}: f = {problem.formula} — step {k}/{result.steps}")
        return [*trails, *dots, title]

    target = Path(path).with_suffix("." + fmt)
    if fmt == "mp4":
        from matplotlib import animation

        for a in update(0):
            a.set_animated(False)
        anim = animation.FuncAnimation(fig, update, frames=result.steps + 1)
        with atomic_path(target) as tmp:
            anim.save(tmp, writer=animation.FFMpegWriter(fps=fps), dpi=dpi)
        plt.close(fig)
        return target
    frames = _blit_frames(fig, update, result.steps + 1)
    plt.close(fig)
    with atomic_path(target) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                       duration=int(round(1000 / fps)), loop=0, optimize=False)
    return target


def _blit_frames(fig: Any, update: Any, n: int) -> list:
    from PIL import Image

    canvas = fig.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    def render(k: int) -> Image.Image:
        canvas.restore_region(background)
        for artist in update(k):
            fig.draw_artist(artist)
        return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())

    # One palette for every frame (smaller files, no flicker), taken from the last frame,
    # where every trail and dot is visible.
    palette = render(n - 1).quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    frames = [render(k).quantize(palette=palette, dither=Image.Dither.NONE) for k in range(n)]
    return frames
