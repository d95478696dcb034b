"""A census of attacks on ``descentlab serve`` (issue 21), beside ``attack_census.py``.

Every probe is a request a careless or hostile client sends to the playground as a teacher
runs it for a class (``create_app`` with a token and the worker pool, in process through
FastAPI's TestClient). Its outcome is one of

* ``clear``    — refused with a 4xx whose JSON names the field (``{"error", "field"}``, the
                 field in the message; for a GET, whose URL has no field, a message), or 503
                 with ``Retry-After`` when a lane is full;
* ``vague``    — refused with a 4xx that names no field;
* ``error``    — a 5xx other than 503 (a bug's answer);
* ``accepted`` — 200 where a refusal belongs;
* ``done``     — 200 for heavy work that is allowed, answered within ``SLOW_S`` seconds;
* ``slow``     — any answer after more than ``SLOW_S`` seconds (the CPU budget is 30 s).

Run: ``PYTHONPATH=. python benchmarks/attack_census_services.py [--quick]``. It prints the
table and every probe whose outcome is not ``clear``/``done``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from typing import Any

from fastapi.testclient import TestClient

from descentlab.playground import compute
from descentlab.playground.app import EXAMPLES, create_app
from descentlab.playground.pool import Pool

TOKEN = "census-token-0123"
SLOW_S = 35.0
BOWL = {"problem": "bowl"}
VALID = EXAMPLES   # one small valid body per endpoint (the app's schema examples)
RESULTS: dict[str, Counter] = defaultdict(Counter)
NOTABLE: list[tuple[str, str, str, str]] = []


def leaves(body: Any, path: tuple = ()) -> list[tuple]:
    """Every location in ``body`` (objects' keys and list items, containers included)."""
    out = [path] if path else []
    if isinstance(body, dict):
        for k, v in body.items():
            out += leaves(v, (*path, k))
    elif isinstance(body, list):
        for i, v in enumerate(body):
            out += leaves(v, (*path, i))
    return out


def replaced(body: dict, path: tuple, text: str) -> str:
    out = copy.deepcopy(body)
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = "__X__"
    return json.dumps(out).replace('"__X__"', text)


def classify(r: Any, took: float, expect_refusal: bool, has_body: bool = True) -> str:
    if took > SLOW_S:
        return "slow"
    if r.status_code >= 500 and r.status_code != 503:
        return "error"
    if r.status_code == 503:
        return "clear" if "retry-after" in r.headers else "vague"
    if r.status_code < 300:
        return "accepted" if expect_refusal else "done"
    try:
        answer = r.json()
    except ValueError:
        return "vague"
    field = answer.get("field")
    if not has_body:  # a URL has no field: a message saying what is missing is clear
        return "clear" if answer.get("error") else "vague"
    return "clear" if field and str(field) in str(answer.get("error", "")) else "vague"


def send(client: TestClient, area: str, name: str, method: str, path: str,
         content: bytes | str | None = None, headers: dict | None = None,
         expect_refusal: bool = True) -> None:
    begin = time.perf_counter()
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogatepass")
    hdrs = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}",
            **(headers or {})}
    hdrs = {k: v for k, v in hdrs.items() if v is not None}
    r = client.request(method, path, content=content, headers=hdrs)
    outcome = classify(r, time.perf_counter() - begin, expect_refusal,
                       has_body=method == "POST")
    RESULTS[area][outcome] += 1
    if outcome not in ("clear", "done"):
        NOTABLE.append((area, name, outcome, f"{r.status_code} {r.text[:120]}"))


def run(quick: bool) -> None:
    with tempfile.TemporaryDirectory() as exports, TestClient(
            create_app(exports, token=TOKEN, pool=Pool()), raise_server_exceptions=False) as c:
        endpoints = sorted(VALID)
        bad_numbers = ["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "9" * 5000,
                       "1" + "0" * 400 + ".5"]
        wrong_types = ["null", "true", '"text"', "[]", "{}", "[1, 2, 3]", '"\\ud800"',
                       "-1", "0", "1e-400", "12345678901234567890"]
        for endpoint in endpoints:
            body = VALID[endpoint]
            for path in leaves(body):
                for bad in bad_numbers:
                    send(c, "unreadable numbers at any field", f"{endpoint} {path} {bad[:12]}",
                         "POST", endpoint, replaced(body, path, bad))
                for bad in wrong_types[: 4 if quick else None]:
                    send(c, "wrong types and values at any field", f"{endpoint} {path} {bad}",
                         "POST", endpoint, replaced(body, path, bad),
                         expect_refusal=False)
            text = json.dumps(body)
            cuts = range(0, len(text), 7 if quick else 1)
            for i in cuts:
                send(c, "truncated JSON", f"{endpoint} cut at {i}", "POST", endpoint,
                     text[:i])
            for name, raw in [("invalid UTF-8", b"\xff\xfe{}"), ("empty", b""),
                              ("deep nesting", b"[" * 30_000 + b"]" * 30_000),
                              ("a list", b"[1, 2]"), ("a string", b'"race"'),
                              ("duplicate keys", text.replace("{", '{"steps": 1, ', 1)),
                              ("trailing garbage", text + "}}")]:
                send(c, "malformed bodies", f"{endpoint} {name}", "POST", endpoint, raw)
            send(c, "malformed bodies", f"{endpoint} text/plain", "POST", endpoint, text,
                 headers={"Content-Type": "text/plain"})
        # size
        huge = b'{"surface": {"problem": "bowl"}, "racers": [' + b'{"name": "sgd"},' * \
            1_750_000 + b'{"name": "sgd"}], "steps": 5}'
        send(c, "body size", "28 MB race body", "POST", "/api/race", huge)
        send(c, "body size", "a Content-Length that lies", "POST", "/api/race", b"{}",
             headers={"Content-Length": "999999999"})
        # the token
        for name, hdrs in [("no token", {"Authorization": None}),
                           ("wrong token", {"Authorization": "Bearer wrong-token-000"}),
                           ("token in the wrong header", {"Authorization": None,
                                                          "X-Token": TOKEN}),
                           ("malformed cookie", {"Authorization": None,
                                                 "Cookie": "descentlab_token_x=\x7f;;=;"})]:
            for method, path in [("GET", "/"), ("GET", "/api/limits"),
                                 ("GET", "/static/app.js"), ("GET", "/openapi.json"),
                                 ("POST", "/api/race")]:
                send(c, "access token", f"{name} {method} {path}", method, path,
                     json.dumps(VALID["/api/race"]) if method == "POST" else None, hdrs)
        # paths
        for bad in ("../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "x/.env", "%00",
                    "playground-20260101-000000-00000000/../../x"):
            send(c, "export paths", bad, "GET", f"/exports/{bad}/manifest.json")
        # work: issue 21's requests inside every old limit
        work = {
            "exact trace x**3, 30 steps (froze the server)": (
                "/api/trace", {"surface": {"formula": "x**3"}, "steps": 30, "exact": True,
                               "racer": {"name": "sgd", "hyper": {"lr": 0.1}},
                               "start": [0.5]}, False),
            "exact trace x**3, 15 steps (500 from str())": (
                "/api/trace", {"surface": {"formula": "x**3"}, "steps": 15, "exact": True,
                               "racer": {"name": "sgd", "hyper": {"lr": 0.1}},
                               "start": [0.5]}, False),
            "map adagrad_full 4,096 × 244 (242 s)": (
                "/api/map", {"surface": BOWL, "racer": {"name": "adagrad_full"}, "steps": 244,
                             "lr": {"lo": 0.001, "hi": 1, "n": 4096, "log": True}}, True),
            "start map lamb 64 × 64 × 244": (
                "/api/starts", {"surface": BOWL, "racer": {"name": "lamb"}, "steps": 244,
                                "n": 64}, True),
            "field, six copy-per-start optimizers, 30 steps (34 s)": (
                "/api/field", {"surface": BOWL, "steps": 30, "racers": [
                    {"name": n} for n in ("lamb", "lars", "muon", "adafactor",
                                          "adagrad_full", "lbfgs")]}, False),
            "field, six copy-per-start optimizers, 1,000 steps": (
                "/api/field", {"surface": BOWL, "steps": 1000, "racers": [
                    {"name": n} for n in ("lamb", "lars", "muon", "adafactor",
                                          "adagrad_full", "lbfgs")]}, True),
            "race 8 × 1,000 steps, L-BFGS max_iter=1000": (
                "/api/race", {"surface": BOWL, "steps": 1000, "racers": [
                    {"name": "lbfgs", "options": {"max_iter": 1000}}] * 8}, False),
            "animated export of 1,000 steps (1,001 frames: 1.7 GB)": (
                "/api/export", {"surface": BOWL, "steps": 1000, "animate": True,
                                "racers": [{"name": "sgd"}]}, True),
            "formula x**1000000000, exact": (
                "/api/trace", {"surface": {"formula": "x**1000000000"}, "steps": 30,
                               "exact": True, "racer": {"name": "sgd"}, "start": [0.5]},
                False),
        }
        for name, (path, body, refuse) in work.items():
            send(c, "work inside the old limits", name, "POST", path, json.dumps(body),
                 expect_refusal=refuse)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer probes")
    args = parser.parse_args()
    begin = time.perf_counter()
    run(args.quick)
    kinds = ["clear", "done", "vague", "error", "accepted", "slow"]
    print(f"{'area':40s} {'tried':>6s} " + " ".join(f"{k:>8s}" for k in kinds))
    total: Counter = Counter()
    for area, counts in RESULTS.items():
        total.update(counts)
        print(f"{area:40s} {sum(counts.values()):6d} " +
              " ".join(f"{counts[k]:8d}" for k in kinds))
    print(f"{'all':40s} {sum(total.values()):6d} " + " ".join(f"{total[k]:8d}" for k in kinds))
    print(f"({time.perf_counter() - begin:.0f} s; limits: {compute.LIMITS['work']:,} updates "
          f"of work, {compute.LIMITS['body_bytes']:,} body bytes)")
    for area, name, outcome, detail in NOTABLE:
        print(f"  {outcome:8s} {area}: {name} -> {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
