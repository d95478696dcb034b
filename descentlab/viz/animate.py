"""Animations of a race: GIF (Pillow) or MP4 (ffmpeg).

1-D problems: the curve with a dot per optimizer moving along it (E1's red dot is Adam's
palette colour). 2-D problems: the contours (or, with ``view="surface"``, the 3-D surface)
with each path growing frame by frame. One frame per step — the start and every update —
then the last frame held for :data:`PAUSE_SECONDS`; every frame shows the step number large
in a corner. Frames are 960 × 600 pixels with 13-point text, legible on a projector at full
screen.

Frames are rendered by blitting: the static background (curve, contours or surface) is drawn
once, and each frame redraws only the dots, trails and step counter — about ten times faster
than re-rendering whole figures. MP4: the same frames are piped to ffmpeg — the system's
``ffmpeg`` when it is on the PATH, otherwise the one shipped inside the ``imageio-ffmpeg``
package (a runtime dependency, so ``--animate mp4`` works out of the box).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..files import atomic_path
from . import style, surfaces

FORMATS = ("gif", "mp4")
VIEWS = ("contour", "surface")
#: How long the last frame stays on screen before the animation starts again.
PAUSE_SECONDS = 2.5
#: Frame size in inches at :data:`DPI` (960 × 600 pixels) and the text size in points.
SIZE, DPI, FONT = (9.6, 6.0), 100, 13


def ffmpeg_executable() -> str | None:
    """The ffmpeg to write MP4 with: the system's when on the PATH, else the binary shipped
    in the imageio-ffmpeg package; None if neither is there."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:  # the package without its binary (an unsupported platform)
        return None


def mp4_available() -> bool:
    """True when an ffmpeg executable is available (see :func:`ffmpeg_executable`)."""
    return ffmpeg_executable() is not None


def require_ffmpeg() -> str:
    """The ffmpeg executable, or an InputError saying why MP4 cannot be written."""
    exe = ffmpeg_executable()
    if exe is None:
        raise InputError("MP4 needs ffmpeg: neither a system ffmpeg nor the imageio-ffmpeg "
                         "package is installed; use --animate gif (Pillow)")
    return exe


def animate(result: Any, path: str | os.PathLike, fmt: str = "gif", fps: int = 10,
            view: str = "contour") -> Path:
    """Write an animation of ``result`` (a :class:`~descentlab.lab.race.RaceResult`), one
    frame per step (the start plus every update) and a pause on the last, to ``path`` with
    suffix ``fmt``; ``view="surface"`` draws 2-D problems on the 3-D surface."""
    import matplotlib.pyplot as plt

    if fmt not in FORMATS:
        raise InputError(f"unknown animation format {fmt!r}; choose from {', '.join(FORMATS)}")
    if view not in VIEWS:
        raise InputError(f"unknown animation view {view!r}; choose from {', '.join(VIEWS)}")
    if not (isinstance(fps, int) and 1 <= fps <= 60):
        raise InputError(f"fps must be a whole number from 1 to 60, got {fps!r}")
    exe = require_ffmpeg() if fmt == "mp4" else None
    with plt.rc_context({"font.size": FONT}):
        fig, update = _figure(result, view)
        frames = list(_render(fig, update, result.steps + 1))
    plt.close(fig)
    target = Path(path).with_suffix("." + fmt)
    hold = max(1, int(round(PAUSE_SECONDS * fps)))
    if fmt == "mp4":
        _write_mp4(exe, frames + [frames[-1]] * hold, fps, target)
        return target
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    # One palette for every frame (smaller files, no flicker), taken from the last frame,
    # where every trail and dot is visible.
    palette = images[-1].quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    images = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    durations = [int(round(1000 / fps))] * (len(images) - 1) + [int(PAUSE_SECONDS * 1000)]
    with atomic_path(target) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=durations, loop=0, optimize=False, disposal=1)
    return target


def _figure(result: Any, view: str) -> tuple[Any, Callable[[int], list]]:
    """The figure with its static background, and ``update(k)`` that sets the animated
    artists to step k and returns them."""
    import matplotlib.pyplot as plt

    problem = result.problem
    styles = style.racer_styles(e.name for e in result.entries)
    three_d = problem.dim == 2 and view == "surface"
    fig = plt.figure(figsize=SIZE, dpi=DPI)
    if three_d:
        ax, cap, lift = surfaces.surface_axes(fig, problem, result.start)
        points = [surfaces.lifted(problem, e.path, e.f, cap, lift) for e in result.entries]
    else:
        ax = fig.add_subplot()
        if problem.dim == 1:
            xs, fs = surfaces.curve_window(problem)
            ax.plot(xs, fs, color="black", linewidth=1.4)
            surfaces.curve_limits(ax, xs, fs, surfaces.path_top(result))
            for m in problem.minima:
                ax.plot(m.point[0], m.value, "+", color="black", markersize=14,
                        markeredgewidth=2)
            ax.set_xlabel("x")
            ax.set_ylabel("f(x)")
            points = [(e.path[:, 0], e.f) for e in result.entries]
        else:
            surfaces.draw_contours(ax, problem, result.start)
            points = [(e.path[:, 0], e.path[:, 1]) for e in result.entries]
    kw = {"animated": True}
    trails, dots = [], []
    for e, st in zip(result.entries, styles):
        alpha = 0.9 if problem.dim == 2 else 0.5
        trails.append(ax.plot(*([[]] * (3 if three_d else 2)), st.linestyle, color=st.colour,
                              linewidth=st.width, alpha=alpha, zorder=10 + st.zorder, **kw)[0])
        dots.append(ax.plot(*([[]] * (3 if three_d else 2)), st.marker,
                            zorder=20 + st.zorder, label=surfaces.racer_label(e), **kw,
                            **surfaces.marker_look(st, grow=st.size * 0.8 + 4, edge="black"))[0])
    # The legend under the axes: it never hides a path or a dot. Many racers: in more
    # columns, each entry the trail's line style with the dot (colours may repeat).
    crowded = style.many(len(dots))
    ncol = 5 if crowded else min(len(dots), 3)
    legend = fig.legend(handles=list(zip(trails, dots)) if crowded else dots,
                        labels=[d.get_label() for d in dots], loc="lower center", ncol=ncol,
                        fontsize=FONT - 1, frameon=False, handlelength=3 if crowded else None)
    for handle in legend.findobj(lambda a: a.get_animated()):
        handle.set_animated(False)
    ax.set_title(f"{problem.name}: f = {problem.formula}", fontsize=FONT)
    counter = fig.text(0.015, 0.975, "", fontsize=FONT + 5, fontweight="bold", va="top",
                       ha="left", animated=True,
                       bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.9})
    rows = -(-len(dots) // ncol)
    fig.tight_layout(rect=(0.0, 0.045 * rows + 0.01, 1.0, 0.93))

    def update(k: int) -> list:
        for pts, dot, trail in zip(points, dots, trails):
            n = min(k, len(pts[0]) - 1)
            head = [c[: n + 1] for c in pts]
            if three_d:
                trail.set_data_3d(*head)
                dot.set_data_3d(*(c[-1:] for c in head))
            else:
                trail.set_data(*head)
                dot.set_data(*(c[-1:] for c in head))
        counter.set_text(f"step {k} / {result.steps}")
        return [*trails, *dots, counter]

    return fig, update


def _render(fig: Any, update: Callable[[int], list], n: int) -> Iterator[np.ndarray]:
    """The n frames as (height, width, 3) uint8 arrays, by blitting onto the background."""
    canvas = fig.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    for k in range(n):
        canvas.restore_region(background)
        for artist in update(k):
            fig.draw_artist(artist)
        yield np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _write_mp4(exe: str, frames: list[np.ndarray], fps: int, target: Path) -> None:
    """Pipe raw RGB frames to ffmpeg: H.264, yuv420p (plays everywhere), written atomically."""
    h, w = frames[0].shape[:2]
    with atomic_path(target) as tmp:
        cmd = [exe, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", "-an", "-c:v", "libx264",
               "-pix_fmt", "yuv420p", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
               "-movflags", "+faststart", "-f", "mp4", tmp]
        proc = subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames),
                              capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg ({exe}) failed: "
                               f"{proc.stderr.decode(errors='replace').strip()[-500:]}")
