"""``python -m descentlab.playground.screenshot OUT.png``: the README's picture of the
playground (``make figures``). Starts the server on a free port, opens the page in headless
Chromium (Debian's /usr/bin/chromium, driven by Playwright — the test extra), sets up the E3
race with a stability map and Adam's internals, and saves a screenshot."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
STATE = {"surface": {"problem": "bowl"}, "steps": 60, "start": [-7, 2], "racers": [
    {"name": "sgd", "hyper": {"lr": 0.95}, "options": {}},
    {"name": "momentum", "hyper": {"lr": 0.1}, "options": {}},
    {"name": "nesterov", "hyper": {"lr": 0.1}, "options": {}},
    {"name": "adam", "hyper": {"lr": 0.3}, "options": {}}]}
IDLE = "window.__playground && window.__playground.result() && window.__playground.pending === 0"


def start_server(exports: str) -> tuple[subprocess.Popen, str]:
    """``descentlab serve --port 0`` in a subprocess; its URL once it answers."""
    proc = subprocess.Popen([sys.executable, "-m", "descentlab", "serve", "--port", "0",
                             "--exports", exports], stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().split()[3]
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "api/limits", timeout=1).read()
            break
        except OSError:
            time.sleep(0.1)
    return proc, url


def main(out: str) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as exports:
        proc, url = start_server(exports)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1500, "height": 940})
                page.goto(url + "#" + urllib.parse.quote(json.dumps(STATE)))
                page.wait_for_function(IDLE, timeout=60_000)
                page.select_option("#map-racer", "3")
                page.select_option("#map-axis", "beta2")
                page.fill("#lr-lo", "0.01")
                page.fill("#lr-hi", "3")
                page.fill("#ax-lo", "0.5")
                page.fill("#ax-hi", "0.999")
                page.click("#stability")
                page.wait_for_function("window.__playground.map()", timeout=60_000)
                page.evaluate("""() => { const s = document.getElementById('scrub');
                    s.value = 12; s.dispatchEvent(new Event('input')); }""")
                point = page.evaluate("window.__playground.paths()[3][6]")
                box = page.evaluate("""([x, y]) => {
                    const c = document.getElementById('map'), r = c.getBoundingClientRect();
                    const W = window.__playground.surface().window;
                    const px = 48 + (x - W[0][0]) / (W[0][1] - W[0][0]) * (c.width - 60);
                    const py = 12 + (W[1][1] - y) / (W[1][1] - W[1][0]) * (c.height - 42);
                    return [r.left + px * r.width / c.width, r.top + py * r.height / c.height];
                }""", point)
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
            proc.terminate()
            proc.wait(timeout=10)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/figures/playground.png")
