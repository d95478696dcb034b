"""``python -m descentlab.playground.screenshot OUT.png``: the README's picture of the
playground (``make figures``). Starts the server on a free port, opens the page in headless
Chromium (Debian's /usr/bin/chromium, driven by Playwright — the test extra), sets up the E3
race with Momentum's stability map and Adam's internals, and saves a screenshot."""

from __future__ import annotations

import json
import sys
import tempfile
import urllib.parse

from .browser import IDLE, launch, page_point, start_server, stop_server

STATE = {"surface": {"problem": "bowl"}, "steps": 60, "start": [-7, 2], "racers": [
    {"name": "sgd", "hyper": {"lr": 0.95}, "options": {}},
    {"name": "momentum", "hyper": {"lr": 0.1}, "options": {}},
    {"name": "nesterov", "hyper": {"lr": 0.1}, "options": {}},
    {"name": "adam", "hyper": {"lr": 0.3}, "options": {}}]}


def main(out: str) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as exports:
        proc, url = start_server(exports)
        try:
            with sync_playwright() as p:
                browser = launch(p)
                page = browser.new_page(viewport={"width": 1500, "height": 940})
                page.goto(url + "#" + urllib.parse.quote(json.dumps(STATE)))
                page.wait_for_function(IDLE, timeout=60_000)
                page.select_option("#map-racer", "1")
                page.select_option("#map-axis", "momentum")
                page.fill("#lr-lo", "0.003")
                page.fill("#lr-hi", "3")
                page.fill("#ax-lo", "0")
                page.fill("#ax-hi", "0.99")
                page.click("#stability")
                page.wait_for_function("window.__playground.map()", timeout=60_000)
                page.evaluate("""() => { const s = document.getElementById('scrub');
                    s.value = 12; s.dispatchEvent(new Event('input')); }""")
                point = page.evaluate("window.__playground.paths()[3][6]")
                box = page_point(page, point)
                page.mouse.move(*box)
                page.mouse.down()
                page.mouse.up()
                page.wait_for_function(
                    "document.getElementById('internals').textContent.includes('m̂')",
                    timeout=60_000)
                page.mouse.move(5, 5)
                page.wait_for_timeout(300)
                page.screenshot(path=out, full_page=False)
                browser.close()
        finally:
            stop_server(proc)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/figures/playground.png")
