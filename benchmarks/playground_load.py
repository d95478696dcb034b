"""A classroom on the playground: 30 simulated students and a stream of worst-case requests.

Starts ``descentlab serve`` on 127.0.0.1 and a free port (the code on ``PYTHONPATH``, run
from that folder: once on the code before issue 21 and once after), then

1. *warm-up* (20 s, reported apart: the class arriving at once), then *unloaded*: 30
   students (async HTTP clients, one ``X-Playground-Client`` each) change settings (a drag
   field, ``POST /api/field``: 1–2 racers, 30 or 50 steps) and drag (3–8 races from released
   starts, ``POST /api/race``; now and then a trace), 3–8 s apart, for ``--quiet`` seconds;
2. *loaded*: the same for ``--seconds`` seconds while two attackers send the worst-case
   requests of issue 21 back to back (the six copy-per-start optimizers' drag field, a race
   of 8 × 1,000 steps, a 64 × 64 × 244 stability map, full-matrix AdaGrad's 4,096-rate map,
   LAMB's 64 × 64 start map, a 28 MB body);
3. the exact trace that froze the server (SGD on x³, 30 exact steps), alone.

``/api/limits`` is asked every 0.25 s throughout. It prints the latency of the ordinary
requests (p50, p95, max) per phase, of ``/api/limits``, and each worst-case request's
answer and time (a worst-case request still in flight when the loaded phase ends is
abandoned, not counted). Every request has a client timeout (``--timeout``); a request that
times out counts as such.

    PYTHONPATH=. python benchmarks/playground_load.py                  # the full minute
    PYTHONPATH=. python benchmarks/playground_load.py --seconds 20 --quiet 6

``tests/test_playground_load.py`` runs :func:`measure` (20 s loaded) and checks the bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import httpx2 as httpx

from descentlab.playground import browser

BOWL = {"problem": "bowl"}
NAMES = ["sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad"]
COPIES = ["lamb", "lars", "muon", "adafactor", "adagrad_full", "lbfgs"]
WORST = {
    "field, 6 copy-per-start optimizers": (
        "/api/field", {"surface": BOWL, "steps": 30, "racers": [{"name": n} for n in COPIES]}),
    "race, 8 racers × 1,000 steps": (
        "/api/race", {"surface": BOWL, "steps": 1000,
                      "racers": [{"name": n} for n in NAMES + ["nadam", "radam"]]}),
    "map, adam 64 × 64 × 244 steps": (
        "/api/map", {"surface": BOWL, "racer": {"name": "adam"}, "steps": 244,
                     "lr": {"lo": 0.001, "hi": 1, "n": 64, "log": True}, "axis": "beta2",
                     "axis_range": {"lo": 0.5, "hi": 0.999, "n": 64}}),
    "map, adagrad_full 4,096 rates × 244": (
        "/api/map", {"surface": BOWL, "racer": {"name": "adagrad_full"}, "steps": 244,
                     "lr": {"lo": 0.001, "hi": 1, "n": 4096, "log": True}}),
    "start map, lamb 64 × 64 × 244": (
        "/api/starts", {"surface": BOWL, "racer": {"name": "lamb"}, "steps": 244, "n": 64}),
    "28 MB body": ("/api/race", None),
}
FREEZE = ("/api/trace", {"surface": {"formula": "x**3"}, "steps": 30, "exact": True,
                         "racer": {"name": "sgd", "hyper": {"lr": 0.1}}, "start": [0.5]})


@dataclass
class Record:
    ordinary: dict[str, list[float]] = field(default_factory=lambda: {
        "warm-up": [], "unloaded": [], "loaded": []})
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    limits: list[float] = field(default_factory=list)
    worst: dict[str, list[tuple[str, float]]] = field(default_factory=dict)


def start_server(exports: str, env: dict | None = None) -> tuple[subprocess.Popen, str, dict]:
    """``descentlab serve --port 0`` (loopback) in a subprocess: (process, base URL, headers
    carrying its token if it printed one)."""
    proc, url = browser.start_server(exports, env=env, wait=20.0)
    base, headers = browser.token_headers(url)
    return proc, base.rstrip("/"), headers


async def _post(client: httpx.AsyncClient, path: str, body: dict | bytes,
                timeout: float) -> tuple[str, float]:
    begin = time.perf_counter()
    try:
        if isinstance(body, bytes):
            r = await client.post(path, content=body, timeout=timeout,
                                  headers={"Content-Type": "application/json"})
        else:
            r = await client.post(path, json=body, timeout=timeout)
        status = str(r.status_code)
    except httpx.TimeoutException:
        status = "timeout"
    except httpx.HTTPError as e:
        status = type(e).__name__
    return status, time.perf_counter() - begin


async def student(i: int, base: str, headers: dict, phase: list[str], until: float,
                  record: Record, timeout: float) -> None:
    rng = random.Random(i)
    hdrs = {**headers, "X-Playground-Client": f"student-{i}"}
    async with httpx.AsyncClient(base_url=base, headers=hdrs) as client:
        await asyncio.sleep(rng.uniform(0, 4))  # a class does not click in the same ms
        while time.perf_counter() < until:
            racers = [{"name": n, "hyper": {"lr": round(rng.uniform(0.01, 0.5), 3)}}
                      for n in rng.sample(NAMES, rng.choice([1, 2]))]
            steps = rng.choice([30, 50])
            requests = [("/api/field", {"surface": BOWL, "racers": racers, "steps": steps})]
            for _ in range(rng.randint(3, 8)):  # drag releases
                start = [round(rng.uniform(-9, 9), 3), round(rng.uniform(-4.5, 4.5), 3)]
                requests.append(("/api/race", {"surface": BOWL, "racers": racers,
                                               "steps": steps, "start": start}))
            if rng.random() < 0.3:
                requests.append(("/api/trace", {"surface": BOWL, "racer": racers[0],
                                                "steps": 30}))
            for path, body in requests:
                if time.perf_counter() >= until:
                    return
                now = phase[0]
                status, took = await _post(client, path, body, timeout)
                record.statuses.setdefault(now, {})
                record.statuses[now][status] = record.statuses[now].get(status, 0) + 1
                if status == "200":
                    record.ordinary[now].append(took)
                await asyncio.sleep(rng.uniform(3.0, 8.0))  # thinking, dragging


async def attacker(base: str, headers: dict, offset: int, until: float, record: Record,
                   timeout: float) -> None:
    names = list(WORST)
    big = b'{"surface": {"problem": "bowl"}, "racers": [' + \
        b'{"name": "sgd"},' * 1_750_000 + b'{"name": "sgd"}], "steps": 5}'
    async with httpx.AsyncClient(base_url=base, headers={
            **headers, "X-Playground-Client": f"attacker-{offset}"}) as client:
        k = offset
        while time.perf_counter() < until:
            name = names[k % len(names)]
            k += 1
            path, body = WORST[name]
            status, took = await _post(client, path, big if body is None else body, timeout)
            record.worst.setdefault(name, []).append((status, took))
            await asyncio.sleep(0.2)


async def prober(base: str, headers: dict, until: float, record: Record) -> None:
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        while time.perf_counter() < until:
            begin = time.perf_counter()
            try:
                await client.get("/api/limits", timeout=30)
                record.limits.append(time.perf_counter() - begin)
            except httpx.HTTPError:
                record.limits.append(float("inf"))
            await asyncio.sleep(0.25)


async def _run(base: str, headers: dict, quiet: float, seconds: float, students: int,
               timeout: float, warmup: float) -> Record:
    record = Record()
    phase = ["warm-up"]
    begin = time.perf_counter()
    end = begin + warmup + quiet + seconds
    tasks = [asyncio.ensure_future(student(i, base, headers, phase, end, record, timeout))
             for i in range(students)]
    tasks.append(asyncio.ensure_future(prober(base, headers, end, record)))
    await asyncio.sleep(warmup)  # the class arrives: first fields, caches, workers
    phase[0] = "unloaded"
    await asyncio.sleep(quiet)
    phase[0] = "loaded"
    attackers = [asyncio.ensure_future(attacker(base, headers, k * 3, end, record, timeout))
                 for k in range(2)]
    await asyncio.gather(*tasks)
    for task in attackers:  # a request still in flight at the end is abandoned (its client
        task.cancel()       # disconnects: the server stops its work)
    await asyncio.gather(*attackers, return_exceptions=True)
    path, body = FREEZE
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        probe = asyncio.ensure_future(prober(base, headers, time.perf_counter() + 3, record))
        status, took = await _post(client, path, body, timeout)
        await probe
    record.worst["exact trace, x**3, 30 steps"] = [(status, took)]
    return record


def measure(quiet: float = 15, seconds: float = 60, students: int = 30, timeout: float = 60,
            env: dict | None = None, warmup: float = 20) -> Record:
    """Run the classroom against a fresh server (see the module docstring)."""
    with tempfile.TemporaryDirectory() as exports:
        proc, base, headers = start_server(exports, env)
        try:
            return asyncio.run(_run(base, headers, quiet, seconds, students, timeout,
                                    warmup))
        finally:
            proc.kill()
            proc.wait(timeout=10)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def report(record: Record) -> str:
    lines = [f"load average {os.getloadavg()[0]:.1f}; ordinary requests (field, race, trace "
             "of 30 students), answered 200:"]
    for phase, values in record.ordinary.items():
        ms = [1000 * v for v in values]
        lines.append(f"  {phase:9s} n = {len(ms):4d}  p50 {percentile(ms, 50):7.1f} ms  "
                     f"p95 {percentile(ms, 95):7.1f} ms  max {max(ms, default=0):7.1f} ms  "
                     f"statuses {json.dumps(record.statuses.get(phase, {}), sort_keys=True)}")
    ms = [1000 * v for v in record.limits]
    lines.append(f"  /api/limits n = {len(ms):4d}  p50 {percentile(ms, 50):7.1f} ms  "
                 f"p95 {percentile(ms, 95):7.1f} ms  max {max(ms, default=0):7.1f} ms")
    lines.append("worst-case requests (answer: time each):")
    for name, results in record.worst.items():
        text = ", ".join(f"{s}: {t:.2f} s" for s, t in results[:6])
        more = f" (+{len(results) - 6} more)" if len(results) > 6 else ""
        lines.append(f"  {name:38s} {text}{more}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="loaded phase (60)")
    parser.add_argument("--quiet", type=float, default=15, help="unloaded phase (15)")
    parser.add_argument("--warmup", type=float, default=20,
                        help="warm-up, reported apart (20: the arrival's queue drains)")
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=60, help="client timeout (60 s)")
    args = parser.parse_args()
    print(report(measure(args.quiet, args.seconds, args.students, args.timeout,
                         warmup=args.warmup)))


if __name__ == "__main__":
    main()
