"""The optimizer lineage as figures (``descentlab optimizers --tree``), matplotlib only.

A layered drawing of the lineage (:func:`descentlab.optim.lineage.rows`): one column per
generation (:func:`~descentlab.optim.lineage.depths`, the longest chain of ideas from gradient
descent), one box per optimizer — its name and year, the idea it adds — and an arrow from each
parent (the papers: ``lineage.csv`` and the table). Edges that skip a generation pass
through a gap left for them in every column they cross, so no arrow runs under a box; the
order within a column is chosen to cross few arrows (barycentre sweeps), and the heights
by least squares under a minimum gap (:func:`_place`), so boxes never overlap.

However many optimizers are registered, every page is legible on a full-screen slide
(1920 × 1080 pixels, every text at least :data:`MIN_PIXELS` high): when the lineage does not
fit one page (:data:`PAGE`, inches), :func:`paginate` cuts it into pages by family — a
family (a rule and its descendants through their first parent) stays on one page when it
fits, a family too large is split into pages of its sub-families, and a flat crowd of
children into pages of as many as fit. A parent whose box is on another page is drawn as a
dashed reference box ("see page k").

Colours come from :data:`.style.PALETTE`: an optimizer with a palette colour (the colour it
has in every lab figure) is a filled box of that colour; one without is an outlined box in
its first parent's colour (its family's). A user's optimizer (the group "yours") has a dashed
outline.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..optim import lineage
from ..optim.lineage import Row
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
    if not lines:
        return [""]
    for w in range(-(-len(text) // len(lines)), width + 1):
        even = textwrap.wrap(text, w, break_on_hyphens=False)
        if len(even) <= len(lines):
            return even
    return lines


def _label(row: Row) -> tuple[str, str, str]:
    idea = row.idea if not row.parents else "+ " + row.idea
    year = str(row.year) if row.year else ("yours" if row.group == "yours" else "")
    return row.name, year, "\n".join(_balanced(idea, WRAP))


#: The slide every page must be legible on (pixels), and the smallest text height there.
SLIDE, MIN_PIXELS = (1920, 1080), 14
#: Around the drawing (inches): the margin, the room of the title lines, and the gap between
#: panels set side by side on a page.
MARGIN, TITLE_ROOM, PANEL_GAP = 0.25, 1.05, 0.6
#: The largest page (inches) on which the smallest text (:data:`YEAR_SIZE`) is still
#: :data:`MIN_PIXELS` high when the page is shown scaled to fit :data:`SLIDE`.
PAGE = (SLIDE[0] * min(NAME_SIZE, YEAR_SIZE, IDEA_SIZE) / 72 / MIN_PIXELS,
        SLIDE[1] * min(NAME_SIZE, YEAR_SIZE, IDEA_SIZE) / 72 / MIN_PIXELS)
_NAME_STYLE = {"family": "monospace", "weight": "bold", "color": "#1a1a1a"}
_YEAR_STYLE = {"color": "#555555"}


@dataclass
class Measured:
    """A box's three texts (name, year, idea) with their extents, and the box size."""

    texts: tuple[str, str, str]
    extents: tuple[tuple[float, float, float], ...]  #: (width, ascent, descent) per text
    ascent: float  #: of the name line
    line: float  #: height of the name line
    size: tuple[float, float]  #: box (width, height), inches


def _measure(fig: Figure, texts: tuple[str, str, str]) -> Measured:
    renderer = fig.canvas.get_renderer()

    def extent(text: str, size: float, **kw: object) -> tuple[float, float, float]:
        """Width, ascent above the baseline and descent below it (inches)."""
        t = fig.text(0, 0, text, fontsize=size, linespacing=1.15, va="baseline", **kw)
        bb = t.get_window_extent(renderer)
        t.remove()
        return bb.width / fig.dpi, bb.y1 / fig.dpi, -bb.y0 / fig.dpi

    title, year, idea = texts
    e = (extent(title, NAME_SIZE, **_NAME_STYLE), extent(year, YEAR_SIZE, **_YEAR_STYLE),
         extent(idea, IDEA_SIZE))
    ascent, descent = max(e[0][1], e[1][1]), max(e[0][2], e[1][2])
    size = (max(e[0][0] + WORD_GAP + e[1][0], e[2][0]) + 2 * PAD + 0.12,
            ascent + descent + LINE_GAP + e[2][1] + e[2][2] + 2 * PAD)
    return Measured(texts, e, ascent, ascent + descent, size)


def _page_rows(by_name: dict[str, Row], homes: Sequence[str]) -> list[Row]:
    """The rows drawn in a panel: its own (home) rows, then a root row for each parent whose
    box is elsewhere (drawn as a reference)."""
    inside = set(homes)
    refs = list(dict.fromkeys(p for n in homes for p in by_name[n].parents if p not in inside))
    return [by_name[n] for n in homes] + [Row(p, (), "", None, "") for p in refs]


def _estimate(rows: Sequence[Row], sizes: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """A lower bound of a panel's drawing (inches) without placing anything: the columns'
    widths side by side, and the tallest column stacked (boxes and the lanes of crossing
    edges)."""
    depth = lineage.depths(rows)
    layers = 1 + max(depth.values())
    widths, heights = [0.0] * layers, [[] for _ in range(layers)]
    for r in rows:
        widths[depth[r.name]] = max(widths[depth[r.name]], sizes[r.name][0])
        heights[depth[r.name]].append(sizes[r.name][1])
        for p in r.parents:
            for layer in range(depth[p] + 1, depth[r.name]):
                heights[layer].append(LANE)
    tallest = max(sum(h) + V_GAP * (len(h) - 1) for h in heights if h)
    return sum(widths) + H_GAP * (layers - 1), tallest


def _arrange(panels: Sequence[tuple[float, float]], width: float
             ) -> tuple[list[tuple[float, float]], tuple[float, float]]:
    """Where panels of these drawing sizes go on a page (offsets, inches), in shelves: left to
    right while the page is at most ``width`` wide, then a new shelf below; and the page
    size (inches), margins and title included.

    >>> _arrange([(5.0, 2.0), (5.0, 3.0), (5.0, 1.0)], width=12.0)
    ([(0.0, 0.0), (5.6, 0.0), (0.0, 3.6)], (11.1, 6.15))
    """
    offsets, x, y, shelf, widest = [], 0.0, 0.0, 0.0, 0.0
    for w, h in panels:
        if x > 0 and x + w + 2 * MARGIN > width:
            x, y, shelf = 0.0, y + shelf + PANEL_GAP, 0.0
        offsets.append((x, y))
        widest = max(widest, x + w)
        x, shelf = x + w + PANEL_GAP, max(shelf, h)
    return offsets, (round(widest + 2 * MARGIN, 9), round(y + shelf + 2 * MARGIN + TITLE_ROOM, 9))


def paginate(rows: Sequence[Row], sizes: dict[str, tuple[float, float]],
             ref_sizes: dict[str, tuple[float, float]] | None = None,
             page: tuple[float, float] = PAGE) -> list[list[list[str]]]:
    """Pages of panels of names, every name in exactly one panel: everything in one panel
    when it fits ``page`` (inches), else by family. A family is a rule and its descendants
    through their first parent; families stay whole where they fit, one too large is split
    into its sub-families, and a flat crowd of children into panels of as many as fit;
    then panels are set on a page (:func:`_arrange`) while they fit. ``sizes``: name → box
    (width, height); ``ref_sizes``: the same for a name's reference box (default ``sizes``).

    >>> rows = [Row("a", (), "", 1, ""), *(Row(f"c{k}", ("a",), "", 1, "") for k in range(9))]
    >>> paginate(rows, {r.name: (4.0, 3.0) for r in rows})  # 3 boxes a column, 2 panels a page
    [[['a', 'c0', 'c1', 'c2'], ['c3', 'c4', 'c5']], [['c6', 'c7', 'c8']]]
    """
    ref_sizes = sizes if ref_sizes is None else ref_sizes
    by_name = {r.name: r for r in rows}
    children: dict[str | None, list[str]] = {}
    for r in rows:
        children.setdefault(r.parents[0] if r.parents else None, []).append(r.name)

    def family(name: str) -> list[str]:
        out = [name]
        for c in children.get(name, []):
            out += family(c)
        return out

    def drawing(homes: list[str]) -> tuple[float, float]:
        """The panel's drawing size: the lower bound first, the laid-out size (edge lanes
        can make it larger) where the bound still fits."""
        drawn, inside = _page_rows(by_name, homes), set(homes)
        boxes = {r.name: (sizes if r.name in inside else ref_sizes)[r.name] for r in drawn}
        bound = _estimate(drawn, boxes)
        if bound[0] > page[0] or bound[1] > page[1]:
            return bound
        nodes, _ = layout(drawn, boxes)
        return (max(n.x + n.width / 2 for n in nodes.values()),
                max(n.y + n.height / 2 for n in nodes.values()))

    def fits(homes: list[str]) -> bool:
        w, h = _arrange([drawing(homes)], page[0])[1] if homes else (0.0, 0.0)
        return w <= page[0] and h <= page[1]

    def pack(top: str | None, members: list[str]) -> list[list[str]]:
        """Panels for ``top`` (None: above the roots) and its family ``members``."""
        whole = ([top] if top else []) + members
        if fits(whole):
            return [whole]
        panels: list[list[str]] = []
        current = [top] if top else []
        for child in children.get(top, []):
            group = family(child)
            if fits(current + group):
                current += group
            elif not fits(group):  # a family too large for a panel: its own panels
                panels += pack(child, group[1:])
            else:
                if current:
                    panels.append(current)
                current = group
        if current:
            panels.append(current)
        return panels

    panels = pack(None, [r.name for r in rows])
    depth, order = lineage.depths(rows), {r.name: k for k, r in enumerate(rows)}
    panels.sort(key=lambda p: (depth[p[0]], order[p[0]]))  # the root's family first
    placed = sorted(n for p in panels for n in p)
    assert placed == sorted(by_name), "paginate lost or repeated a row"
    pages: list[list[list[str]]] = []
    held: list[tuple[float, float]] = []
    for panel in panels:  # side by side, then in shelves, while the page holds them
        size = drawing(panel)
        w, h = _arrange([*held, size], page[0])[1]
        if pages and w <= page[0] and h <= page[1]:
            pages[-1].append(panel)
            held.append(size)
        else:
            pages.append([panel])
            held = [size]
    return pages


@dataclass
class Panel:
    """One laid-out panel: its home names, nodes (x shifted to the page), edge chains."""

    homes: list[str]
    nodes: dict[str, Node]
    chains: list[list[str]]
    size: tuple[float, float]  #: the drawing's width and height (inches)


def _layout_panel(by_name: dict[str, Row], homes: list[str], measured: dict[str, Measured],
                  reference: dict[str, Measured]) -> Panel:
    drawn, inside = _page_rows(by_name, homes), set(homes)
    sizes = {r.name: (measured if r.name in inside else reference)[r.name].size for r in drawn}
    nodes, chains = layout(drawn, sizes)
    return Panel(homes, nodes, chains, (max(n.x + n.width / 2 for n in nodes.values()),
                                        max(n.y + n.height / 2 for n in nodes.values())))


def lineage_figures(rows: Sequence[Row] | None = None) -> list[Figure]:
    """The lineage drawing, one figure per page (:func:`paginate`; one page when it fits).
    Every box and arrow carries a ``gid``: ``node:NAME`` for an optimizer's box (on exactly
    one page), ``ref:NAME`` for a reference to a parent drawn elsewhere,
    ``edge:PARENT>CHILD`` for an arrow (each drawn once, on the child's page); texts
    ``text:NAME`` (tests and SVG readers find them by it)."""
    import matplotlib.pyplot as plt

    rows = lineage.rows() if rows is None else list(rows)
    probe = plt.figure(figsize=(10, 6))
    measured = {r.name: _measure(probe, _label(r)) for r in rows}
    reference = {r.name: _measure(probe, (r.name, "", "see page 99")) for r in rows}
    plt.close(probe)
    by_name = {r.name: r for r in rows}
    sizes = {k: m.size for k, m in measured.items()}
    ref_sizes = {k: m.size for k, m in reference.items()}
    budget = PAGE
    for _ in range(8):  # the estimate is a lower bound: shrink the budget until all fit
        pages = paginate(rows, sizes, ref_sizes, budget)
        laid = [[_layout_panel(by_name, homes, measured, reference) for homes in panels]
                for panels in pages]
        over = max(max(w / PAGE[0], h / PAGE[1])
                   for w, h in (_arrange([p.size for p in panels], budget[0])[1]
                                for panels in laid))
        if over <= 1:
            break
        budget = (budget[0] / over, budget[1] / over)
    home_page = {n: k for k, panels in enumerate(pages, 1) for homes in panels for n in homes}
    return [_draw(by_name, panels, measured, reference, home_page, k, len(pages), budget[0])
            for k, panels in enumerate(laid, 1)]


def lineage_figure(rows: Sequence[Row] | None = None) -> Figure:
    """The first page of :func:`lineage_figures` (the whole lineage when it fits one page);
    the other pages are closed. The root's family comes first.

    >>> fig = lineage_figure()
    >>> "node:sgd" in {a.get_gid() for a in fig.axes[0].patches}
    True
    """
    import matplotlib.pyplot as plt

    first, *rest = lineage_figures(rows)
    for fig in rest:
        plt.close(fig)
    return first


def _draw(by_name: dict[str, Row], panels: list[Panel], measured: dict[str, Measured],
          reference: dict[str, Measured], home_page: dict[str, int], page: int,
          pages: int, page_width: float = PAGE[0]) -> Figure:
    """One page: its panels side by side (boxes, references, arrows) under the title."""
    import matplotlib.pyplot as plt

    fig = plt.figure()
    colours = _colours(list(by_name.values()))
    offsets, (width, height) = _arrange([p.size for p in panels], page_width)
    fig.set_size_inches(width, height)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-MARGIN, width - MARGIN)
    ax.set_ylim(height - MARGIN - TITLE_ROOM, -MARGIN - TITLE_ROOM)  # y downwards, inches
    ax.set_axis_off()
    for panel, (dx, dy) in zip(panels, offsets):
        inside = set(panel.homes)
        for n in panel.nodes.values():
            n.x, n.y = n.x + dx, n.y + dy
        for name, n in panel.nodes.items():
            if n.dummy:
                continue
            colour, own = colours[name]
            if name in inside:
                yours = by_name[name].group == "yours"
                _box(ax, n, measured[name], colour, f"node:{name}", f"text:{name}",
                     filled=own and not yours, dashed=yours)
            else:
                m = reference[name]
                here = home_page[name] == page
                texts = (name, "", "this page" if here else f"see page {home_page[name]}")
                _box(ax, n, Measured(texts, m.extents, m.ascent, m.line, m.size),
                     colour, f"ref:{name}", f"reftext:{name}", dashed=True, grey=True)
        _arrows(ax, panel.nodes, panel.chains, colours)
    title = "The optimizer lineage: each rule adds one idea to its parent(s)"
    if pages > 1:
        title += f" (page {page} of {pages})"
    dashed = (["dashed: a user's optimizer (\"yours\")"]
              if any(r.group == "yours" for r in by_name.values()) else [])
    dashed += ["dashed grey: a parent drawn elsewhere"] if pages > 1 else []
    notes = ["Left to right: generations from plain gradient descent; an arrow from each "
             "parent. Filled box: the colour the optimizer has in every lab figure; outlined: "
             "its first parent's.", *(["D" + "; ".join(dashed)[1:] + "."] if dashed else [])]
    ax.text(-MARGIN + 0.1, -MARGIN - TITLE_ROOM + 0.12, title, fontsize=17, weight="bold",
            ha="left", va="top", color="#1a1a1a")
    for k, note in enumerate(notes):
        ax.text(-MARGIN + 0.1, -MARGIN - TITLE_ROOM + 0.5 + 0.25 * k, note, fontsize=11,
                ha="left", va="top", color="#555555")
    return fig


def _box(ax: Any, n: Node, m: Measured, colour: str, gid: str, text_gid: str, *,
         filled: bool = False, dashed: bool = False, grey: bool = False) -> None:
    """One box and its texts: filled with a tint of its colour (a palette colour) or
    outlined; dashed (a user's, or a reference); grey (a reference)."""
    from matplotlib.patches import FancyBboxPatch

    left, top = n.x - n.width / 2, n.y - n.height / 2
    ax.add_patch(FancyBboxPatch(
        (left, top), n.width, n.height, boxstyle="round,pad=0,rounding_size=0.08",
        facecolor=_tint(colour, 0.78) if filled else "white",
        edgecolor=style.NEUTRAL if grey else colour, linewidth=2.4 if filled else 1.6,
        linestyle="--" if dashed else "-", zorder=3, gid=gid))
    title, year, idea = m.texts
    (name_w, _, _), (year_w, _, _), _ = m.extents
    x0 = n.x - (name_w + WORD_GAP + year_w) / 2  # the name and its year, centred
    ax.text(x0, top + PAD + m.ascent, title, fontsize=NAME_SIZE, ha="left", va="baseline",
            zorder=4, gid=text_gid, **_NAME_STYLE)
    if year:
        ax.text(x0 + name_w + WORD_GAP, top + PAD + m.ascent, year, fontsize=YEAR_SIZE,
                ha="left", va="baseline", zorder=4, gid=text_gid, **_YEAR_STYLE)
    ax.text(n.x, top + PAD + m.line + LINE_GAP, idea, fontsize=IDEA_SIZE, ha="center",
            va="top", linespacing=1.15, zorder=4, gid=text_gid,
            color="#555555" if grey else "#1a1a1a")


def _arrows(ax: Any, nodes: dict[str, Node], chains: list[list[str]],
            colours: dict[str, tuple[str, bool]]) -> None:
    """Ports: arrows leave a box's right side and enter the next box's left side spread
    over its height in the order of the other ends, so they neither cross at the box nor
    share an arrowhead."""
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path as MPath

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
    def column(layer: int) -> float:
        return max(n.width for n in nodes.values() if n.layer == layer and not n.dummy)

    for c in chains:
        a, b = nodes[c[0]], nodes[c[-1]]
        # Straight out to the edge of the parent's column and straight in from the edge of the
        # child's: a box narrower than its column's widest never has a curve cut through a
        # wider neighbour's corner.
        points = [(a.x + a.width / 2, starts[id(c)]), (a.x + column(a.layer) / 2, starts[id(c)])]
        for key in c[1:-1]:
            d = nodes[key]
            points += [(d.x - column(d.layer) / 2, d.y), (d.x + column(d.layer) / 2, d.y)]
        points += [(b.x - column(b.layer) / 2 - 0.02, ends[id(c)]),
                   (b.x - b.width / 2 - 0.02, ends[id(c)])]
        points = [q for i, q in enumerate(points) if i == 0 or q != points[i - 1]]
        verts, codes = [points[0]], [MPath.MOVETO]
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            if abs(y1 - y0) < 1e-9 or abs(x1 - x0) < 1e-9:
                verts.append((x1, y1))
                codes.append(MPath.LINETO)
                continue
            dx = (x1 - x0) / 2
            verts += [(x0 + dx, y0), (x1 - dx, y1), (x1, y1)]
            codes += [MPath.CURVE4] * 3
        ax.add_patch(FancyArrowPatch(path=MPath(verts, codes), arrowstyle="-|>",
                                     mutation_scale=13, color=colours[c[0]][0], linewidth=1.4,
                                     alpha=0.85, zorder=2, shrinkA=0, shrinkB=0,
                                     gid=f"edge:{c[0]}>{c[-1]}"))


def _tint(colour: str, amount: float) -> tuple[float, float, float]:
    """``colour`` mixed with white (``amount`` of white)."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(colour)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)
