"""Driving the playground in headless Chromium (Playwright), for the browser tests and the
README screenshot: start ``descentlab serve`` on a free port, launch Debian's Chromium
(``/usr/bin/chromium``; Playwright's own browser download cannot work offline), and find a
world point on the page's map. Playwright is a test dependency; nothing imports it here."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
#: True once the page has drawn a race and has no request in flight.
IDLE = ("window.__playground && window.__playground.result() && "
        "window.__playground.pending === 0")


def token_headers(url: str) -> tuple[str, dict[str, str]]:
    """The address ``serve`` printed, split into its base (no token) and the headers that
    carry the token (none when it has none).

    >>> token_headers("http://127.0.0.1:8000/?token=abc")
    ('http://127.0.0.1:8000/', {'Authorization': 'Bearer abc'})
    """
    base, _, token = url.partition("?token=")
    return base, {"Authorization": f"Bearer {token}"} if token else {}


def start_server(exports: str, *extra: str, env: dict[str, str] | None = None,
                 wait: float = 10.0) -> tuple[subprocess.Popen, str]:
    """``descentlab serve --port 0 --exports EXPORTS [EXTRA...]`` in a subprocess (with
    ``env`` as its environment when given), and the URL it prints (with ``?token=...`` when it
    has one) once it answers, or after ``wait`` seconds (it binds 127.0.0.1)."""
    proc = subprocess.Popen([sys.executable, "-m", "descentlab", "serve", "--port", "0",
                             "--exports", exports, *extra], stdout=subprocess.PIPE, text=True,
                            env=env)
    line = proc.stdout.readline()
    if "http://127.0.0.1:" not in line:
        proc.kill()
        raise RuntimeError(f"descentlab serve did not start: {line!r}")
    url = line.split()[3]
    base, headers = token_headers(url)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(base + "api/limits", headers=headers)
            urllib.request.urlopen(request, timeout=1).read()
            break
        except OSError:
            time.sleep(0.05)
    return proc, url


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def launch(playwright: Any) -> Any:
    """Headless Chromium from the system package."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def page_point(page: Any, world: Any) -> tuple[float, float]:
    """Viewport coordinates of a world point (x[, y]) on the map."""
    x, y = page.evaluate("(pt) => window.__playground.toPage(pt)", list(world))
    return x, y
