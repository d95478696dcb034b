"""The optimizer lineage: the table (descentlab/optim/lineage.py) against the registry, the
drawing (descentlab/viz/lineage.py: every box, every arrow, nothing overlapping), and
`descentlab optimizers --tree` (files, manifest, byte-identical rerun)."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.colors import to_hex
from PIL import Image

from descentlab import optim
from descentlab.cli import main
from descentlab.optim import lineage
from descentlab.viz import lineage as draw
from descentlab.viz import style


def class_of(name):
    return optim.get_class(name)


# ------------------------------------------------------------------ the table
def test_every_registered_optimizer_has_exactly_one_row_and_every_row_is_registered():
    found = lineage.problems()
    assert not found, "\n".join(found)
    names = [r.name for r in lineage.ROWS]
    assert sorted(names) == optim.available()  # once each, both ways
    assert all(r.group == "builtin" and not r.unplaced for r in lineage.ROWS)
    lineage.check()  # what `optimizers --tree` runs first


def test_every_parent_has_a_row_and_the_graph_is_acyclic():
    # Independently of lineage.problems: Kahn's algorithm must consume every row.
    parents = {r.name: set(r.parents) for r in lineage.ROWS}
    assert all(p in parents for ps in parents.values() for p in ps)
    done: list[str] = []
    while len(done) < len(parents):
        ready = sorted(n for n, ps in parents.items() if n not in done and ps <= set(done))
        assert ready, f"a cycle among {sorted(set(parents) - set(done))}"
        done += ready
    assert [r.name for r in lineage.ROWS if not r.parents] == ["sgd"]  # one root


def test_depth_is_one_more_than_the_deepest_parent():
    depth = lineage.depths()
    assert depth["sgd"] == 0
    for r in lineage.ROWS:
        if r.parents:
            assert depth[r.name] == 1 + max(depth[p] for p in r.parents), r.name
    # by hand: sgd → adagrad → rmsprop → adam → adamw → lamb
    assert [depth[n] for n in ("adagrad", "rmsprop", "adam", "adamw", "lamb")] == [1, 2, 3, 4, 5]
    assert lineage.ancestors("lamb") == {"adamw", "adam", "momentum", "rmsprop", "adagrad",
                                         "sgd", "lars"}


def test_the_two_parent_rows_the_issue_names():
    assert lineage.ROW["nadam"].parents == ("adam", "nesterov")
    assert set(lineage.ROW["lamb"].parents) == {"adamw", "lars"}
    assert lineage.ROW["adam"].parents == ("momentum", "rmsprop")


def test_the_row_lives_on_the_class():
    assert optim.Lion.lineage == optim.Lineage(("adamw", "rprop"),
                                               "sign of interpolated momentum", 2023,
                                               "Chen et al. 2023")
    # a subclass declares its own row; one that does not (Mine below) inherits none
    assert vars(optim.AdamW)["lineage"] is not vars(optim.Adam)["lineage"]
    assert lineage.ROW["adamw"].parents == ("adam",)
    assert lineage.ROW["amsgrad"].idea == "running max of v"  # the alias's own row


@pytest.mark.parametrize("row", lineage.ROWS, ids=lambda r: r.name)
def test_year_and_first_author_are_those_the_class_docstring_cites(row):
    """The lineage and the docstrings cannot drift apart: the row's year and first author
    appear in the class's docstring (or a base class's inside descentlab.optim)."""
    classes = [c for c in class_of(row.name).__mro__ if c not in (optim.Optimizer, object)]
    docs = " ".join(" ".join((c.__doc__ or "").split()) for c in classes)
    assert str(row.year) in docs and row.paper.split()[0] in docs, (row, classes[0].__name__)
    assert str(row.year) in row.paper


def test_problems_name_the_culprit():
    """What the lead sees at a merge that registers a built-in optimizer without its lineage,
    and every other way the package's declarations can be wrong."""
    rows = list(lineage.ROWS)
    newopt = lineage.Row("newopt", (), lineage.NO_LINEAGE, None, "")
    assert lineage.problems([*rows, newopt]) == [
        "built-in optimizer 'newopt' declares no lineage: add lineage = Lineage(parents=(...), "
        "idea=..., year=..., paper=...) to its class"]
    with pytest.raises(RuntimeError, match="newopt"):
        lineage.check([*rows, newopt])
    ghost = lineage.Row("ghost", (), "x", 2000, "Nobody 2000", unplaced=("phantom",))
    twice = lineage.Row("twice", ("adam", "adam"), "x", 2000, "Nobody 2000")
    found = lineage.problems([*rows, ghost, twice])
    assert "lineage of 'ghost': parent 'phantom' is not a registered optimizer" in found
    assert "lineage of 'twice' names a parent twice: ('adam', 'adam')" in found
    cyclic = [lineage.Row(r.name, ("adamw",), r.idea, r.year, r.paper)
              if r.name == "momentum" else r for r in rows]
    (cycle,) = [p for p in lineage.problems(cyclic) if "cycle" in p]
    chain = cycle.split(": ")[1].split(" → ")
    assert chain[0] == chain[-1] and {"momentum", "adam", "adamw"} <= set(chain)


class Mine(optim.SGD):
    """Mine: SGD by another name (a user's class, test double)."""

    name = "mine"


class Orphan(optim.SGD):
    """Orphan: a user's class whose parent is not registered."""

    name = "orphan"
    lineage = optim.Lineage(("not_registered",), "a user's idea", 2026, "Me 2026")


def test_a_users_optimizer_is_drawn_apart_never_a_defect(registered, tmp_path, capsys):
    """The issue's crash: a user's optimizer without a lineage row made `--tree` raise."""
    registered(Mine)
    registered(Orphan)
    row = lineage.ROW
    assert row["mine"].group == "yours" and row["mine"].parents == ()
    assert row["orphan"].group == "yours" and row["orphan"].unplaced == ("not_registered",)
    assert lineage.problems() == []
    assert main(["optimizers", "--tree", "--format", "svg", "--out", str(tmp_path)]) == 0
    assert "mine" in capsys.readouterr().out
    svg = b"".join(f.read_bytes() for f in tmp_path.glob("lineage*.svg"))
    assert b"node:mine" in svg and b"node:orphan" in svg
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(
        (tmp_path / "lineage.csv").read_text()))}
    assert rows["orphan"]["group"] == "yours" and rows["adam"]["group"] == "builtin"


# ------------------------------------------------------------------ the layout
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.1, 2.0), st.floats(-20, 20)), min_size=1, max_size=12))
def test_place_keeps_the_gaps_and_moves_nothing_it_need_not(items):
    sizes, wanted = map(np.array, zip(*items))
    y = draw._place(sizes, wanted)
    gaps = np.diff(y) - (sizes[:-1] + sizes[1:]) / 2
    assert np.all(gaps >= draw.V_GAP - 1e-9)
    # The least-squares optimum under the gaps: with the offsets o, y − o is the isotonic
    # regression of wanted − o, so its mean equals the mean of wanted − o (the overall
    # shift is free) ...
    offset = np.concatenate([[0.0], np.cumsum((sizes[:-1] + sizes[1:]) / 2 + draw.V_GAP)])
    assert np.mean(y - offset) == pytest.approx(np.mean(wanted - offset), abs=1e-9)
    # ... and wanted positions that already keep the gaps are returned as they are.
    spaced = offset + np.sort(np.abs(wanted))
    np.testing.assert_allclose(draw._place(sizes, spaced), spaced, atol=1e-9)


# ------------------------------------------------------------------ the figure
@pytest.fixture(scope="module")
def figures():
    """Every page of the lineage (one today; the tests hold for any number, so the next
    optimizer never breaks them)."""
    figs = draw.lineage_figures()
    for fig in figs:
        fig.canvas.draw()
    yield figs
    import matplotlib.pyplot as plt

    for fig in figs:
        plt.close(fig)


def by_gid(fig, prefix):
    ax = fig.axes[0]
    out: dict[str, list] = {}
    for a in [*ax.patches, *ax.texts]:
        gid = a.get_gid() or ""
        if gid.startswith(prefix):
            out.setdefault(gid[len(prefix):], []).append(a)
    return out


def on_all_pages(figs, prefix):
    out: dict[str, list] = {}
    for fig in figs:
        for key, artists in by_gid(fig, prefix).items():
            out.setdefault(key, []).extend(artists)
    return out


def test_one_box_per_optimizer_and_one_arrow_per_parent(figures):
    boxes = on_all_pages(figures, "node:")
    assert sorted(boxes) == optim.available() and all(len(b) == 1 for b in boxes.values())
    arrows = on_all_pages(figures, "edge:")
    expected = sorted(f"{p}>{r.name}" for r in lineage.ROWS for p in r.parents)
    assert sorted(arrows) == expected and all(len(a) == 1 for a in arrows.values())
    texts = on_all_pages(figures, "text:")
    for r in lineage.ROWS:
        words = " ".join(t.get_text().replace("\n", " ") for t in texts[r.name])
        assert r.name in words and r.idea in words and str(r.year) in words


def test_colours_are_the_palette_or_the_first_parents(figures):
    boxes = {k: v[0] for k, v in on_all_pages(figures, "node:").items()}
    for name, box in boxes.items():
        edge = to_hex(box.get_edgecolor())
        if name in style.PALETTE:
            assert edge == style.PALETTE[name], name
            assert to_hex(box.get_facecolor()) != "#ffffff"  # filled
        else:
            first = lineage.ROW[name].parents[0]
            assert edge == to_hex(boxes[first].get_edgecolor()), name
            assert to_hex(box.get_facecolor()) == "#ffffff"  # outlined
    assert to_hex(boxes["adam"].get_edgecolor()) == style.PALETTE["adam"]
    assert to_hex(boxes["radam"].get_edgecolor()) == style.PALETTE["adam"]


def extents(fig, artists):
    renderer = fig.canvas.get_renderer()
    return [a.get_window_extent(renderer) for a in artists]


def test_nothing_overlaps(figures):
    """On every page: no two boxes overlap, every text lies inside its own box, no two texts
    overlap, and every arrow leaves a box of its parent (its own, or a reference to it) and
    enters its child's, passing through no other box."""
    for figure in figures:
        boxes = [(k, a) for prefix in ("node:", "ref:")
                 for k, group in by_gid(figure, prefix).items() for a in group]
        box_ext = [(k, e) for (k, _), e in zip(boxes, extents(figure, [a for _, a in boxes]))]
        for i, (a, e1) in enumerate(box_ext):
            for b, e2 in box_ext[i + 1:]:
                assert not e1.overlaps(e2), (a, b)
        own = {k: e for (k, e), (_, a) in zip(box_ext, boxes)
               if a.get_gid().startswith("node:")}
        all_text = []
        for name, texts in by_gid(figure, "text:").items():
            for t, e in zip(texts, extents(figure, texts)):
                assert own[name].contains(e.x0, e.y0) and own[name].contains(e.x1, e.y1), \
                    (name, t.get_text())
                all_text.append((name, t.get_text(), e))
        for i, (n1, t1, e1) in enumerate(all_text):
            for n2, t2, e2 in all_text[i + 1:]:
                assert not e1.overlaps(e2), (n1, t1, n2, t2)
        ax = figure.axes[0]
        for key, (arrow,) in by_gid(figure, "edge:").items():
            parent, child = key.split(">")
            # The drawn outline (line and head), curves flattened, in display coordinates.
            outline = ax.transData.transform_path(arrow.get_path())
            path = np.concatenate(outline.to_polygons(closed_only=False))
            start, end = path[np.argmin(path[:, 0])], path[np.argmax(path[:, 0])]
            assert any(abs(start[0] - e.x1) < 3 and e.y0 <= start[1] <= e.y1
                       for k, e in box_ext if k == parent), key
            assert abs(end[0] - own[child].x0) < 5 and own[child].y0 <= end[1] \
                <= own[child].y1, key
            dense = np.concatenate([np.linspace(p, q, 8) for p, q in zip(path, path[1:])])
            for name, e in box_ext:
                if name in (parent, child):
                    continue
                inside = [(e.x0 + 1 < x < e.x1 - 1) and (e.y0 + 1 < y < e.y1 - 1)
                          for x, y in dense]
                assert not any(inside), f"the arrow {key} runs through the box of {name}"


def legible(fig):
    """Shown full-screen at 1920 × 1080 (scaled to fit), every text of a box is at least
    14 pixels high (its font size in pixels at that scale)."""
    w, h = fig.get_size_inches()
    scale = min(1920 / w, 1080 / h)  # pixels per inch on the slide
    sizes = {t.get_fontsize() for texts in [*by_gid(fig, "text:").values(),
                                            *by_gid(fig, "reftext:").values()] for t in texts}
    return min(sizes) / 72 * scale >= 14, (w, h, min(sizes))


def test_legible_on_a_full_screen_slide(figures):
    for figure in figures:
        ok, why = legible(figure)
        assert ok, why


def test_forty_more_children_of_adam_stay_legible_on_pages(registered):
    """The issue's failure: the next Adam descendant broke the one-page figure. With 40 more
    children (68 optimizers) the lineage takes pages, each legible, each optimizer's box on
    exactly one page and each arrow drawn once."""
    for k in range(40):
        registered(type(f"Child{k}", (optim.Adam,), {
            "__doc__": f"Child{k}: a test double (Nobody 2026).", "name": f"child_{k:02d}",
            "lineage": optim.Lineage(("adam",), f"idea number {k}", 2026, "Nobody 2026")}))
    figs = draw.lineage_figures()
    try:
        assert len(figs) > 1
        boxes, arrows = [], []
        for fig in figs:
            fig.canvas.draw()
            ok, why = legible(fig)
            assert ok, why
            boxes += by_gid(fig, "node:")
            arrows += by_gid(fig, "edge:")
            drawn = [a for group in [*by_gid(fig, "node:").values(),
                                     *by_gid(fig, "ref:").values()] for a in group]
            ext = extents(fig, drawn)  # no two boxes of a page overlap (panels, shelves)
            for i, e1 in enumerate(ext):
                assert not any(e1.overlaps(e2) for e2 in ext[i + 1:])
        assert sorted(boxes) == optim.available()  # once each
        assert sorted(arrows) == sorted(f"{p}>{r.name}" for r in lineage.ROWS
                                        for p in r.parents)
        for fig in figs:  # a parent drawn elsewhere is a reference box on this page
            for key in by_gid(fig, "edge:"):
                parent = key.split(">")[0]
                assert parent in by_gid(fig, "node:") or parent in by_gid(fig, "ref:"), key
    finally:
        import matplotlib.pyplot as plt

        for fig in figs:
            plt.close(fig)


# ------------------------------------------------------------------ the command
def pages(ext, count):
    """The files of the lineage's ``count`` pages: lineage.EXT, then lineage-2.EXT, ..."""
    return [f"lineage.{ext}"] + [f"lineage-{k}.{ext}" for k in range(2, count + 1)]


def test_tree_writes_the_figure_table_and_manifest_and_rerun_is_byte_identical(tmp_path,
                                                                                 capsys, figures):
    a, b = tmp_path / "a", tmp_path / "b"
    n = len(figures)  # the pages drawn by the fixture, independently of the command
    assert main(["optimizers", "--tree", "--format", "png", "svg", "pdf", "--out", str(a)]) == 0
    out = capsys.readouterr().out
    assert "nadam" in out and "adam + nesterov" in out and "wrote lineage.csv" in out
    assert {p.name for p in a.iterdir()} == {*pages("png", n), *pages("svg", n),
                                             *pages("pdf", n), "lineage.csv", "manifest.json"}
    rows = list(csv.DictReader(io.StringIO((a / "lineage.csv").read_text())))
    assert [r["name"] for r in rows] == [r.name for r in lineage.ROWS]
    assert {r["name"]: r["parents"].split() for r in rows}["lamb"] == ["adamw", "lars"]
    doc = json.loads((a / "manifest.json").read_text())
    assert doc["command"] == "optimizers" and doc["arguments"]["tree"] is True
    assert doc["settings"]["optimizers"] == len(optim.available())
    png = Image.open(a / "lineage.png")
    assert png.size[0] >= 1200
    assert any(b"node:adam" in (a / page).read_bytes() for page in pages("svg", n))
    assert (a / "lineage.pdf").read_bytes().startswith(b"%PDF")
    assert main(["rerun", str(a), "--out", str(b)]) == 0
    for name in (*pages("png", n), *pages("svg", n), *pages("pdf", n), "lineage.csv"):
        assert (b / name).read_bytes() == (a / name).read_bytes(), name


def test_tree_default_is_png_only(tmp_path, figures):
    assert main(["optimizers", "--tree", "--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {*pages("png", len(figures)), "lineage.csv",
                                                    "manifest.json"}


@pytest.mark.parametrize(("argv", "fragment"), [
    (["optimizers", "adam", "--tree"], "--tree draws every optimizer; give no name"),
    (["optimizers", "--out", "x"], "--out only apply with --tree"),
    (["optimizers", "--format", "svg"], "--format only apply with --tree"),
])
def test_tree_mistakes_are_one_line(argv, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("descentlab: error: ") and fragment in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_unknown_format_is_refused(capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["optimizers", "--tree", "--format", "jpg", "--out", str(tmp_path / "o")])
    assert info.value.code == 2
    assert "--format" in capsys.readouterr().err and not (tmp_path / "o").exists()
