"""The playground in a real browser: headless Chromium (Debian's, /usr/bin/chromium, which
`make test` installs when missing) driven by Playwright. The server is started here, on
127.0.0.1 and a free port, exactly as a user starts it (`descentlab serve`)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import statistics
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from descentlab.cli import main as cli
from descentlab.playground.browser import (
    CHROMIUM,
    IDLE,
    launch,
    page_point,
    start_server,
    stop_server,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    exports = tmp_path_factory.mktemp("exports")
    proc, url = start_server(str(exports))
    yield url, exports
    stop_server(proc)


@pytest.fixture(scope="module")
def browser():
    assert os.access(CHROMIUM, os.X_OK), (
        f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install "
        "chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(server, browser):
    url, _ = server
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    pg = context.new_page()
    problems: list[str] = []
    # A 503 (the server's lanes are full, with Retry-After) is an answer the page retries
    # (app.js `api`); any other error status or console error is a defect.
    pg.on("console", lambda m: problems.append(m.text)
          if m.type == "error" and "status of 503" not in m.text else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.on("response", lambda r: problems.append(f"{r.status} {r.url}")
          if r.status >= 400 and r.status != 503 else None)
    pg.goto(url)
    pg.wait_for_function(IDLE, timeout=30_000)
    yield pg
    pg.wait_for_function("window.__playground.pending === 0", timeout=30_000)
    assert problems == [], problems  # no console errors
    assert pg.evaluate("window.__playground.errors") == []
    context.close()


def _drag(page, start, dx, dy, moves=40, end=None):
    """Press at world point ``start``, move ``moves`` times by (dx, dy) pixels, release
    (at world point ``end`` if given); return the redraw times the page recorded."""
    x0, y0 = page_point(page, start)
    page.mouse.move(x0, y0)
    page.mouse.down()
    for k in range(1, moves + 1):
        page.mouse.move(x0 + dx * k, y0 + dy * k)
    redraws = page.evaluate("window.__playground.redraws")
    if end is not None:
        page.mouse.move(*page_point(page, end))
    page.mouse.up()
    return redraws


def _race_cli(tmp_path, state, name="cli"):
    """`descentlab race` with the page's settings; its printed table and trajectories."""
    out = tmp_path / name
    specs = []
    for r in state["racers"]:
        items = [f"{k}={v!r}" if not isinstance(v, bool) else f"{k}={str(v).lower()}"
                 for k, v in {**r["hyper"], **r["options"]}.items()]
        specs.append(r["name"] + (":" + ",".join(items) if items else ""))
    argv = ["race", "--problem", state["surface"]["problem"],
            "--start=" + ",".join(repr(float(c)) for c in state["start"]),
            "--steps", str(state["steps"]), "--optimizers", *specs, "--out", str(out)]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
        assert cli(argv) == 0
    rows = (out / "trajectories.csv").read_text().splitlines()[1:]
    last: dict[str, list[float]] = {}
    for row in rows:
        label, _step, *values = row.split(",")
        last[label] = [float(v) for v in values[:-1]]
    return printed.getvalue(), last


def test_drag_matches_race_and_redraws_fast(page, tmp_path, capsys):
    # Drag the start across the map: with the drag field loaded, every move redraws from
    # the library's own paths without a request; measure input → redrawn paths.
    page.wait_for_function("window.__playground.fieldReady", timeout=60_000)
    end = (-4.2, -1.3)
    redraws = _drag(page, (-8.0, 3.0), 6, 2.5, end=end)
    page.wait_for_function(IDLE, timeout=30_000)
    assert len(redraws) >= 40
    median, worst = statistics.median(redraws), max(redraws)
    with capsys.disabled():
        print(f"\nplayground redraw while dragging (input → redrawn paths, "
              f"{len(page.evaluate('window.__playground.state().racers'))} racers × "
              f"{page.evaluate('window.__playground.state().steps')} steps): "
              f"median {median:.1f} ms, max {worst:.1f} ms over {len(redraws)} moves")
    assert median <= 50, redraws

    # After release the page shows the exact race from the release point: its end points
    # equal what `descentlab race` writes and prints for the same settings.
    state = page.evaluate("window.__playground.state()")
    assert state["start"] == pytest.approx(list(end), abs=0.05)
    result = page.evaluate("window.__playground.result()")
    printed, last = _race_cli(tmp_path, state)
    drawn = page.evaluate("window.__playground.paths().map(p => p[p.length - 1])")
    for racer, end_point in zip(result["racers"], drawn):
        assert last[racer["label"]] == end_point  # bit for bit
        point = "(" + ", ".join(f"{c:.4g}" for c in end_point) + ")"
        assert point in printed and racer["label"] in printed


def test_longer_race_redraw_6_racers_200_steps(page, server, capsys):
    # The target of the issue: 6 racers × 200 steps.
    url, _ = server
    state = {"surface": {"problem": "bowl"}, "steps": 200, "start": [-7, 2], "racers": [
        {"name": n, "hyper": {"lr": lr}, "options": {}} for n, lr in
        [("sgd", 0.95), ("momentum", 0.1), ("nesterov", 0.1), ("adagrad", 1.5),
         ("rmsprop", 0.3), ("adam", 0.3)]]}
    page.goto("about:blank")
    page.goto(url + "#" + urllib.request.quote(json.dumps(state)))
    page.wait_for_function(IDLE, timeout=30_000)
    page.wait_for_function("window.__playground.fieldReady", timeout=90_000)
    redraws = _drag(page, (-9.0, 4.0), 8, 4)
    median, worst = statistics.median(redraws), max(redraws)
    with capsys.disabled():
        print(f"\nplayground redraw while dragging, 6 racers × 200 steps: median "
              f"{median:.1f} ms, max {worst:.1f} ms over {len(redraws)} moves")
    assert len(page.evaluate("window.__playground.paths()")) == 6
    assert median <= 50, redraws
    page.wait_for_function(IDLE, timeout=30_000)


def test_problem_formula_error_add_racer_map_internals(page):
    # Pick a problem: the 1-D quartic of E1.
    page.select_option("#problem", "quartic")
    page.wait_for_function(IDLE + " && window.__playground.surface().dim === 1",
                           timeout=30_000)
    assert "quartic" not in page.inner_text("#formula-error")
    assert page.evaluate("window.__playground.paths()[0][0].length") == 1

    # Your own formula; a bad one shows the parser's message next to the field.
    page.select_option("#problem", "__formula__")
    page.fill("#formula", "x**2 + 3*y**")
    page.wait_for_function("document.getElementById('formula-error').textContent.length > 0",
                           timeout=10_000)
    assert "syntax error" in page.inner_text("#formula-error")
    assert page.is_visible("#formula-error")
    page.fill("#formula", "x**2 + 3*y**2")
    page.wait_for_function(IDLE + " && window.__playground.surface().formula === "
                           "'x**2 + 3*y**2'", timeout=30_000)
    assert page.inner_text("#formula-error") == ""

    # Add a racer: its card is built from optim.describe, and it races.
    n = page.evaluate("window.__playground.state().racers.length")
    page.select_option("#add-name", "adamax")
    page.click("#add")
    page.wait_for_function(f"window.__playground.result().racers.length === {n + 1}",
                           timeout=30_000)
    card = page.locator(".racer").nth(n)
    assert "adamax" in card.inner_text()
    assert card.locator("input[data-hyper='beta2']").count() == 1

    # A stability map for the first racer; clicking a cell loads its learning rate.
    page.select_option("#map-racer", "0")
    page.click("#stability")
    page.wait_for_function("document.getElementById('map-info').textContent.includes('click')",
                           timeout=30_000)
    box = page.locator("#mapgrid").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.5)
    page.wait_for_function(IDLE, timeout=30_000)
    lr = page.evaluate("window.__playground.state().racers[0].hyper.lr")
    lrs = page.evaluate("window.__playground.map().lr")
    assert lr == lrs[int(0.9 * len(lrs))]
    assert page.evaluate("window.__playground.result().racers[0].spec") == f"sgd:lr={lr!r}"

    # Internals: hover a point of Adam's path (after a switch to Adam on the bowl).
    page.select_option("#problem", "bowl")
    page.wait_for_function(IDLE + " && window.__playground.surface().name === 'bowl'",
                           timeout=30_000)
    i = page.evaluate("window.__playground.state().racers.findIndex(r => r.name === 'adam')")
    point = page.evaluate(f"window.__playground.paths()[{i}][3]")
    page.mouse.move(*page_point(page, point))
    page.wait_for_function("document.getElementById('internals').textContent.includes('m̂')",
                           timeout=30_000)
    text = page.inner_text("#internals")
    assert "step 3" in text and "v̂" in text


def test_export_reruns_byte_identical_and_share_link(page, server, browser, tmp_path):
    url, exports = server
    page.click("#export")
    page.wait_for_function("window.__playground.lastExport !== null", timeout=60_000)
    info = page.evaluate("window.__playground.lastExport")
    folder = Path(info["path"])
    assert folder.parent == exports.resolve()
    assert {"manifest.json", "trajectories.csv", "overlay.png", "animation.gif"} <= \
        set(info["files"])
    again = tmp_path / "again"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli(["rerun", str(folder / "manifest.json"), "--out", str(again)]) == 0
    assert (again / "trajectories.csv").read_bytes() == \
        (folder / "trajectories.csv").read_bytes()
    # ... and those trajectories are the paths the page drew.
    rows = (folder / "trajectories.csv").read_text().splitlines()[1:]
    paths = page.evaluate("window.__playground.paths()")
    assert len(rows) == sum(len(p) for p in paths)

    # The URL carries the whole state: a new page opened on it shows the same race.
    state = page.evaluate("window.__playground.state()")
    other = browser.new_page()
    other.goto(page.url)
    other.wait_for_function(IDLE, timeout=30_000)
    assert other.evaluate("window.__playground.state()") == state
    assert other.evaluate("window.__playground.paths()") == paths
    other.close()


def _pixels(page, region):
    """The RGBA pixels (height, width, 4) of ``region``: 'background' (the drawn surface
    without paths) or a canvas id."""
    w, h, text = page.evaluate("""(region) => {
      const c = region === 'background' ? window.__playground.background()
        : document.getElementById(region);
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let s = '';
      for (let i = 0; i < d.length; i += 8192) s += String.fromCharCode(...d.subarray(i, i + 8192));
      return [c.width, c.height, btoa(s)];
    }""", region)
    return np.frombuffer(base64.b64decode(text), np.uint8).reshape(h, w, 4).astype(int)


def test_one_d_view_draws_the_curve_and_big_ticks(page):
    # The quartic of E1: its curve f(x) is drawn inside the frame (in the curve's colour,
    # #3b4a66), the frame in its grey (#98a2b3); the curve's lowest pixel lies over the
    # global minimum x = 6.335 given by the catalogue.
    page.select_option("#problem", "quartic")
    page.wait_for_function(IDLE + " && window.__playground.surface().dim === 1",
                           timeout=30_000)
    box = page.evaluate("window.__playground.plot()")
    surface = page.evaluate("window.__playground.surface()")
    rgba = _pixels(page, "background")
    x0, y0, w, h = box["x0"], box["y0"], box["w"], box["h"]
    inside = rgba[y0 + 3:y0 + h - 3, x0 + 3:x0 + w - 3, :3]
    curve = np.abs(inside - [0x3b, 0x4a, 0x66]).sum(axis=2) <= 40
    columns = curve.any(axis=0)
    assert columns.mean() >= 0.8, f"curve drawn in {columns.sum()} of {columns.size} columns"
    lowest = np.where(columns, curve.shape[0] - 1 - np.argmax(curve[::-1], axis=0), -1)
    px_min = x0 + 3 + np.flatnonzero(lowest == lowest.max()).mean()
    (lo, hi), = surface["window"]
    x_min = lo + (px_min - x0) / w * (hi - lo)
    glob = [m["point"][0] for m in surface["minima"] if m["kind"] == "global"]
    assert glob and abs(x_min - glob[0]) < 0.3, (x_min, glob)
    frame = rgba[y0 + 5:y0 + h - 5, x0, :3]
    assert (np.abs(frame - [0x98, 0xa2, 0xb3]).sum(axis=1) <= 12).all(), frame[:3]
    # Tick text of at least 14 CSS pixels (read on a projector).
    assert page.evaluate("window.__playground.tickPx()") >= 14


def test_menus_formula_column_start_and_map(page):
    # No menu label is clipped: every option's text fits its closed menu.
    widths = page.evaluate("""() => [...document.querySelectorAll('#add-name, #problem')]
      .map((sel) => { const g = document.createElement('canvas').getContext('2d');
        const css = getComputedStyle(sel); g.font = css.font;
        const room = sel.clientWidth - parseFloat(css.paddingLeft)
          - parseFloat(css.paddingRight) - 20;
        return [...sel.options].map((o) => [o.text, g.measureText(o.text).width, room]); })
      .flat()""")
    assert len(widths) > 30
    assert all(width <= room for _, width, room in widths), \
        [t for t, width, room in widths if width > room]
    page.select_option("#add-name", "lion")
    assert "Lion, EvoLved Sign Momentum" in page.inner_text("#add-info")

    # A stability map of the bowl; a new surface clears it.
    page.select_option("#map-racer", "0")
    page.click("#stability")
    page.wait_for_function("document.getElementById('map-info').textContent.includes('click')",
                           timeout=30_000)
    assert _pixels(page, "mapgrid")[..., 3].any()

    # "your own formula…" keeps the start; the map of the bowl is gone.
    page.select_option("#problem", "bowl")
    page.wait_for_function(IDLE, timeout=30_000)
    page.evaluate("window.__playground.state().start = [-3, 1.5]")
    page.select_option("#problem", "__formula__")
    page.wait_for_function(IDLE + " && window.__playground.surface().formula !== undefined",
                           timeout=30_000)
    assert page.evaluate("window.__playground.state().start") == [-3, 1.5]
    assert page.evaluate("window.__playground.result().start") == [-3, 1.5]
    assert page.evaluate("window.__playground.map()") is None
    assert page.inner_text("#map-info") == "" and page.inner_text("#map-legend") == ""
    assert not _pixels(page, "mapgrid")[..., 3].any()

    # A formula that ends too early: the message names the column.
    page.fill("#formula", "x**2/20 + y**")
    page.wait_for_function("document.getElementById('formula-error').textContent.length > 0",
                           timeout=10_000)
    assert "syntax error at column 14" in page.inner_text("#formula-error")


def _open_page(server, browser):
    """A fresh page of the playground, loaded and idle, and the list its page errors go to
    (for the tests that route or watch answers themselves, without the ``page`` fixture's
    checks)."""
    url, _ = server
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function(IDLE, timeout=30_000)
    return context, page, errors


def test_refused_lr_fades_the_paths_and_marks_the_field(server, browser):
    # An lr the library refuses: its error is shown, the field is marked, and the paths (of
    # the previous lr) are drawn faded as stale until a race succeeds again.
    context, page, errors = _open_page(server, browser)
    before = page.evaluate("window.__playground.result().racers[3].spec")
    field = page.locator(".racer").nth(3).locator("input[data-hyper='lr']")
    field.fill("-1")
    field.dispatch_event("change")
    page.wait_for_function("window.__playground.stale()", timeout=30_000)
    assert "lr must be >= 0" in page.inner_text("#message")
    assert "faded" in page.inner_text("#message")
    assert "bad" in field.get_attribute("class") and "lr" in field.get_attribute("title")
    assert page.evaluate("window.__playground.result().racers[3].spec") == before
    assert "stale" in page.get_attribute("#canvas-wrap", "class")
    field.fill("0.2")
    field.dispatch_event("change")
    page.wait_for_function("!window.__playground.stale() && window.__playground.pending === 0",
                           timeout=30_000)
    assert page.evaluate("window.__playground.result().racers[3].spec") == "adam:lr=0.2"
    assert page.inner_text("#message") == "" and "bad" not in (field.get_attribute("class")
                                                                or "")
    assert errors == []
    context.close()


def test_a_request_over_its_cpu_budget_is_shown_at_once(server, browser):
    """A 503 that names a field (the request used up its CPU budget, pool.OverBudget) is
    shown at once: asking again would spend the same budget again (the page retried every
    503 four times, up to 5 × 30 s of the heavy worker). A 503 naming no field (a full
    lane, the wall-clock backstop of a busy server) is still retried as Retry-After asks.
    The answers are the app's own for the pool's OverBudget (its handler's, routed in: the
    real budget is 30 s of CPU)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from descentlab.playground.app import create_app
    from descentlab.playground.pool import OverBudget

    handler = create_app(server[1]).exception_handlers[OverBudget]
    answers = {}
    for kind, exc in [("cpu", OverBudget("cpu", 30, 300, 30.1, 95.0)),
                      ("wall", OverBudget("wall", 30, 300, 4.0, 300.1))]:
        with ThreadPoolExecutor(1) as thread:  # (Playwright's loop runs in this one)
            response = thread.submit(asyncio.run, handler(None, exc)).result()
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        answers[kind] = response.body.decode()
    assert json.loads(answers["cpu"])["field"] == "steps"
    assert json.loads(answers["wall"])["field"] is None
    context, page, errors = _open_page(server, browser)
    asked: list[str] = []

    def answer(kind, times):
        def route(r):
            if r.request.method == "POST" and len(asked) < times:
                asked.append(kind)
                # (Retry-After 1 s instead of the app's 5: the same answer, waited less)
                r.fulfill(status=503, headers={"Retry-After": "1"},
                          content_type="application/json", body=answers[kind])
            else:
                r.continue_()
        return route

    page.route("**/api/race", answer("cpu", 10))
    page.fill("#steps", "150")
    page.dispatch_event("#steps", "change")
    page.wait_for_function("window.__playground.stale()", timeout=30_000)
    page.wait_for_function("window.__playground.pending === 0", timeout=30_000)
    assert asked == ["cpu"]  # asked once, not again
    assert "used up its CPU budget of 30 s (30.1 s of CPU in 95.0 s)" in \
        page.inner_text("#message")
    page.unroute("**/api/race")
    asked.clear()
    page.route("**/api/race", answer("wall", 2))  # two busy answers, then the server's
    page.fill("#steps", "140")
    page.dispatch_event("#steps", "change")
    page.wait_for_function("!window.__playground.stale() && window.__playground.pending === 0",
                           timeout=60_000)
    assert asked == ["wall", "wall"]
    assert page.evaluate("window.__playground.result().racers[0].path.length") == 141
    assert page.inner_text("#message") == ""
    assert errors == []
    context.close()
