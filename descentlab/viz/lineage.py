"""The optimizer lineage as a figure (``descentlab optimizers --tree``), matplotlib only.

A layered drawing of :data:`descentlab.optim.lineage.ROWS`: one column per generation
(:func:`~descentlab.optim.lineage.depths`, the longest chain of ideas from gradient descent),
one box per optimizer — its name and year, the idea it adds — and an arrow from each
parent (the papers: ``lineage.csv`` and the table). Edges that skip a generation pass
through a gap left for them in every column they cross, so no arrow runs under a box; the
order within a column is chosen to cross few arrows (barycentre sweeps), and the heights
by least squares under a minimum gap (:func:`_place`), so boxes never overlap.

Colours come from :data:`.style.PALETTE`: an optimizer with a palette colour (the colour it
has in every lab figure) is a filled box of that colour; one without is an outlined box in
its first parent's colour (its family's).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from ..optim import lineage
from ..optim.lineage import ROWS, Row
from . import style

#: Text sizes (points): readable on a slide (the figure shown full-screen at 1920 × 1080).
NAME_SIZE, YEAR_SIZE, IDEA_SIZE = 14.0, 11.0, 12.0
#: Gaps (inches): between boxes in a column, between columns (room for the arrows), inside
#: a box around its text, and the height an arrow crossing a column keeps free.
V_GAP, H_GAP, PAD, LANE = 0.16, 0.95, 0.09, 0.16
#: Space between the name line and the idea, and between the name and the year (inches).
LINE_GAP, WORD_GAP = 0.05, 0.1
#: The idea is wrapped at this many characters.
WRAP = 28


@dataclass
class Node:
    key: str  #: the optimizer's name, or ``"parent>child#k"`` for a crossing point
    layer: int
    width: float = 0.0  #: inches
    height: float = LANE
    x: float = 0.0  #: centre, inches
    y: float = 0.0
    row: Row | None = None  #: None for a crossing point

    @property
    def dummy(self) -> bool:
        return self.row is None


def _colours(rows: Sequence[Row]) -> dict[str, tuple[str, bool]]:
    """Name → (colour, own): the palette colour, else the first parent's (recursively)."""
    by_name = {r.name: r for r in rows}
    out: dict[str, tuple[str, bool]] = {}

    def colour(name: str) -> str:
        if name not in out:
            if name in style.PALETTE:
                out[name] = (style.PALETTE[name], True)
            else:
                parents = by_name[name].parents
                out[name] = (colour(parents[0]) if parents else style.NEUTRAL, False)
        return out[name][0]

    for r in rows:
        colour(r.name)
    return out


def _chains(rows: Sequence[Row], depth: dict[str, int]) -> tuple[dict[str, Node],
                                                                list[list[str]]]:
    """Nodes (boxes and crossing points) and each edge as the chain of node keys it
    passes through, parent first."""
    nodes = {r.name: Node(r.name, depth[r.name], row=r) for r in rows}
    chains = []
    for r in rows:
        for p in r.parents:
            chain = [p]
            for layer in range(depth[p] + 1, depth[r.name]):
                key = f"{p}>{r.name}#{layer}"
                nodes[key] = Node(key, layer)
                chain.append(key)
            chains.append([*chain, r.name])
    return nodes, chains


def _crossings(layers: list[list[str]], pairs: list[tuple[str, str]]) -> int:
    pos = {k: i for layer in layers for i, k in enumerate(layer)}
    by_layer: dict[int, list[tuple[int, int]]] = {}
    layer_of = {k: li for li, layer in enumerate(layers) for k in layer}
    for a, b in pairs:
        by_layer.setdefault(layer_of[a], []).append((pos[a], pos[b]))
    count = 0
    for edges in by_layer.values():
        for i, (a1, b1) in enumerate(edges):
            for a2, b2 in edges[i + 1:]:
                count += (a1 - a2) * (b1 - b2) < 0
    return count


def _order(nodes: dict[str, Node], chains: list[list[str]], sweeps: int = 24
           ) -> list[list[str]]:
    """The order within each column: barycentre sweeps down and up, keeping the order with
    the fewest crossings (ties: the first found). Deterministic."""
    n_layers = 1 + max(n.layer for n in nodes.values())
    pairs = [(c[i], c[i + 1]) for c in chains for i in range(len(c) - 1)]
    up: dict[str, list[str]] = {k: [] for k in nodes}
    down: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in pairs:
        down[a].append(b)
        up[b].append(a)
    # Start: registry order (the classic lineage first), which is roughly by year.
    layers: list[list[str]] = [[] for _ in range(n_layers)]
    for k in nodes:
        layers[nodes[k].layer].append(k)
    best, best_count = [list(x) for x in layers], _crossings(layers, pairs)
    for sweep in range(sweeps):
        downward = sweep % 2 == 0
        span = range(1, n_layers) if downward else range(n_layers - 2, -1, -1)
        for li in span:
            ref = layers[li - 1] if downward else layers[li + 1]
            pos = {k: i for i, k in enumerate(ref)}
            current = {k: i for i, k in enumerate(layers[li])}

            links_of = up if downward else down

            def centre(k: str, pos: dict[str, int] = pos, current: dict[str, int] = current,
                       links_of: dict[str, list[str]] = links_of) -> float:
                links = [pos[m] for m in links_of[k]]
                return float(np.mean(links)) if links else float(current[k])

            layers[li] = sorted(layers[li], key=lambda k: (centre(k), current[k]))
        count = _crossings(layers, pairs)
        if count < best_count:
            best, best_count = [list(x) for x in layers], count
    return best


def _place(sizes: Sequence[float], wanted: Sequence[float]) -> np.ndarray:
    """Centres y (top to bottom, increasing) as close as possible to ``wanted`` in least
    squares, keeping each gap between neighbours at least the sum of their half sizes plus
    :data:`V_GAP`: with offsets o_i (the least gap from the first), y_i − o_i must be
    non-decreasing — an isotonic regression of wanted − o, by pooling adjacent violators."""
    sizes = np.asarray(sizes, float)
    gaps = (sizes[:-1] + sizes[1:]) / 2 + V_GAP
    offset = np.concatenate([[0.0], np.cumsum(gaps)])
    target = np.asarray(wanted, float) - offset
    blocks: list[list[float]] = []  # [mean, count]
    for v in target:
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, n2 = blocks.pop()
            m1, n1 = blocks.pop()
            blocks.append([(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2])
    fitted = np.concatenate([[m] * int(n) for m, n in blocks])
    return fitted + offset


def layout(rows: Sequence[Row], sizes: dict[str, tuple[float, float]]
           ) -> tuple[dict[str, Node], list[list[str]]]:
    """Positions (inches, y downwards) of every box of ``sizes`` (name → (width, height))
    and the crossing points of the edges that skip columns."""
    depth = lineage.depths(rows)
    nodes, chains = _chains(rows, depth)
    for k, (w, h) in sizes.items():
        nodes[k].width, nodes[k].height = w, h
    layers = _order(nodes, chains)
    widths = [max(nodes[k].width for k in layer) if any(not nodes[k].dummy for k in layer)
              else 0.0 for layer in layers]
    x = 0.0
    for li, layer in enumerate(layers):
        for k in layer:
            nodes[k].x = x + widths[li] / 2
        x += widths[li] + H_GAP
    neighbours: dict[str, list[str]] = {k: [] for k in nodes}
    for c in chains:
        for a, b in zip(c, c[1:]):
            neighbours[a].append(b)
            neighbours[b].append(a)
    # Start stacked from 0, then let each column move towards the mean height of its
    # neighbours (both sides), a few rounds, each column placed exactly by _place.
    for layer in layers:
        ys = _place([nodes[k].height for k in layer], [0.0] * len(layer))
        for k, y in zip(layer, ys - ys.mean()):
            nodes[k].y = y
    for _ in range(30):
        for layer in [*layers, *reversed(layers)]:
            wanted = [float(np.mean([nodes[m].y for m in neighbours[k]])) if neighbours[k]
                      else nodes[k].y for k in layer]
            for k, y in zip(layer, _place([nodes[k].height for k in layer], wanted)):
                nodes[k].y = y
    top = min(n.y - n.height / 2 for n in nodes.values())
    for n in nodes.values():
        n.y -= top
    return nodes, chains


def _balanced(text: str, width: int) -> list[str]:
    """``text`` in as few lines as wrapping at ``width`` gives, but lines of about equal
    length (no one-word last line).

    >>> _balanced("+ additive, sign-controlled v", 28)
    ['+ additive,', 'sign-controlled v']
    """
    lines = textwrap.wrap(text, width, break_on_hyphens=False)
    for w in range(-(-len(text) // len(lines)), width + 1):
        even = textwrap.wrap(text, w, break_on_hyphens=False)
        if len(even) <= len(lines):
            return even
    return lines


def _label(row: Row) -> tuple[str, str, str]:
    idea = row.idea if not row.parents else "+ " + row.idea
    return row.name, str(row.year), "\n".join(_balanced(idea, WRAP))


def lineage_figure(rows: Sequence[Row] = ROWS) -> Figure:
    """The lineage drawing; every box and arrow carries a ``gid``: ``node:NAME`` for a
    box, ``edge:PARENT>CHILD`` for an arrow (tests and SVG readers find them by it).

    >>> fig = lineage_figure()
    >>> sorted(a.get_gid() for a in fig.axes[0].patches if a.get_gid().startswith("node:"))[:3]
    ['node:adabelief', 'node:adadelta', 'node:adafactor']
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as MPath

    fig = plt.figure(figsize=(10, 6))
    renderer = fig.canvas.get_renderer()
    inch = fig.dpi

    def extent(text: str, size: float, **kw: object) -> tuple[float, float, float]:
        """Width, ascent above the baseline and descent below it (inches)."""
        t = fig.text(0, 0, text, fontsize=size, linespacing=1.15, va="baseline", **kw)
        bb = t.get_window_extent(renderer)
        t.remove()
        return bb.width / inch, bb.y1 / inch, -bb.y0 / inch

    name_style = {"family": "monospace", "weight": "bold", "color": "#1a1a1a"}
    year_style = {"color": "#555555"}
    labels = {r.name: _label(r) for r in rows}
    sizes, parts = {}, {}
    for name, (title, year, idea) in labels.items():
        e = (extent(title, NAME_SIZE, **name_style), extent(year, YEAR_SIZE, **year_style),
             extent(idea, IDEA_SIZE))
        ascent, descent = max(e[0][1], e[1][1]), max(e[0][2], e[1][2])
        parts[name] = (e, ascent, ascent + descent)
        sizes[name] = (max(e[0][0] + WORD_GAP + e[1][0], e[2][0]) + 2 * PAD + 0.12,
                       ascent + descent + LINE_GAP + e[2][1] + e[2][2] + 2 * PAD)
    nodes, chains = layout(rows, sizes)
    colours = _colours(rows)

    margin, title_room = 0.25, 0.75
    width = max(n.x + n.width / 2 for n in nodes.values()) + 2 * margin
    height = max(n.y + n.height / 2 for n in nodes.values()) + 2 * margin + title_room + 0.3
    fig.set_size_inches(width, height)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-margin, width - margin)
    ax.set_ylim(height - margin - title_room, -margin - title_room)  # y downwards, inches
    ax.set_axis_off()

    for name, (title, year, idea) in labels.items():
        n = nodes[name]
        colour, own = colours[name]
        left, top = n.x - n.width / 2, n.y - n.height / 2
        ax.add_patch(FancyBboxPatch(
            (left, top), n.width, n.height, boxstyle="round,pad=0,rounding_size=0.08",
            facecolor=_tint(colour, 0.78) if own else "white", edgecolor=colour,
            linewidth=2.4 if own else 1.6, zorder=3, gid=f"node:{name}"))
        (name_w, _, _), (year_w, _, _), _ = parts[name][0]
        ascent, line = parts[name][1], parts[name][2]
        x0 = n.x - (name_w + WORD_GAP + year_w) / 2  # the name and its year, centred
        ax.text(x0, top + PAD + ascent, title, fontsize=NAME_SIZE, ha="left", va="baseline",
                zorder=4, gid=f"text:{name}", **name_style)
        ax.text(x0 + name_w + WORD_GAP, top + PAD + ascent, year, fontsize=YEAR_SIZE,
                ha="left", va="baseline", zorder=4, gid=f"text:{name}", **year_style)
        ax.text(n.x, top + PAD + line + LINE_GAP, idea, fontsize=IDEA_SIZE, ha="center",
                va="top", linespacing=1.15, zorder=4, gid=f"text:{name}", color="#1a1a1a")

    # Ports: arrows leave a box's right side and enter the next box's left side spread
    # over its height in the order of the other ends, so they neither cross at the box nor
    # share an arrowhead.
    out_ports: dict[str, list[list[str]]] = {}
    in_ports: dict[str, list[list[str]]] = {}
    for c in chains:
        out_ports.setdefault(c[0], []).append(c)
        in_ports.setdefault(c[-1], []).append(c)

    def port(node: Node, k: int, count: int) -> float:
        span = min(node.height - 0.2, 0.11 * (count - 1))
        return node.y + (0 if count == 1 else span * (k / (count - 1) - 0.5))

    starts, ends = {}, {}
    for name, cs in out_ports.items():
        cs.sort(key=lambda c: nodes[c[1]].y)
        for k, c in enumerate(cs):
            starts[id(c)] = port(nodes[name], k, len(cs))
    for name, cs in in_ports.items():
        cs.sort(key=lambda c: nodes[c[-2]].y)
        for k, c in enumerate(cs):
            ends[id(c)] = port(nodes[name], k, len(cs))
    for c in chains:
        a, b = nodes[c[0]], nodes[c[-1]]
        points = [(a.x + a.width / 2, starts[id(c)])]
        for key in c[1:-1]:
            d = nodes[key]
            column = max(n.width for n in nodes.values() if n.layer == d.layer and not n.dummy)
            points += [(d.x - column / 2, d.y), (d.x + column / 2, d.y)]
        points.append((b.x - b.width / 2 - 0.02, ends[id(c)]))
        verts, codes = [points[0]], [MPath.MOVETO]
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            if abs(y1 - y0) < 1e-9 or abs(x1 - x0) < 1e-9:
                verts.append((x1, y1))
                codes.append(MPath.LINETO)
                continue
            dx = (x1 - x0) / 2
            verts += [(x0 + dx, y0), (x1 - dx, y1), (x1, y1)]
            codes += [MPath.CURVE4] * 3
        colour = colours[c[0]][0]
        ax.add_patch(FancyArrowPatch(path=MPath(verts, codes), arrowstyle="-|>",
                                     mutation_scale=13, color=colour, linewidth=1.4,
                                     alpha=0.85, zorder=2, shrinkA=0, shrinkB=0,
                                     gid=f"edge:{c[0]}>{c[-1]}"))

    ax.text(-margin + 0.1, -margin - title_room + 0.12,
            "The optimizer lineage: each rule adds one idea to its parent(s)",
            fontsize=17, weight="bold", ha="left", va="top", color="#1a1a1a")
    ax.text(-margin + 0.1, -margin - title_room + 0.5,
            "Left to right: generations from plain gradient descent; an arrow from each parent. "
            "Filled box: the colour the optimizer has in every lab figure; outlined: its "
            "first parent's.", fontsize=11, ha="left", va="top", color="#555555")
    return fig


def _tint(colour: str, amount: float) -> tuple[float, float, float]:
    """``colour`` mixed with white (``amount`` of white)."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(colour)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)
