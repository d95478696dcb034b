# ruff: noqa: B023 — every probe calls its lambda at once, inside the loop that made it
"""A census of bad inputs: try many mistakes a user (or an attacker) makes and count outcomes.

Issue 9's evidence asks, per area, for the number of bad inputs tried and how each ended.
Every probe below is a mistake that must be *refused*; its outcome is one of

* ``clear``     — a :class:`descentlab.errors.DescentlabError` (one line, exit 2 at the
                  command line) whose message names the culprit, and nothing changed;
* ``vague``     — refused with the library's error, but the message does not name the culprit;
* ``traceback`` — another exception (a bug's traceback where a user error belongs);
* ``changed``   — refused, but parameters, optimizer state or a file were changed;
* ``accepted``  — not refused at all (a possible silently wrong result);
* ``hang``      — still running after the time limit;
* ``harmless``  — accepted, and the result is exactly what the undamaged input gives (a
                  flipped byte in a zip header field that carries no data, say, or ``None``
                  for an option taken as its default, as torch takes it).

Issue 21 added the newer surfaces: ``compare`` at its limits (workers, steps, budget ×
seeds, a damaged study file, Ctrl-C mid-queue), manifests as untrusted input (FIFOs,
devices, huge files, storage URLs and data folders elsewhere, commands without outputs),
formulas undefined everywhere, 5,000-digit values, overflowing ranges, a stalled Adam
whose state overflowed, interrupted outputs and downloads, a trickling mirror.

Run: ``python benchmarks/attack_census.py [--quick]``. It prints a table per area and lists
every probe whose outcome is not ``clear``. Nothing here is a test: the tests assert each class
of mistake; this script counts how many concrete mistakes of each class end well.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import gzip
import inspect
import io
import json
import math
import os
import random
import signal
import struct
import sys
import tempfile
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from descentlab import cli, optim
from descentlab.errors import DescentlabError

LIMIT_S = 20
RESULTS: dict[str, Counter] = defaultdict(Counter)
BAD: list[tuple[str, str, str, str]] = []  # area, probe, outcome, detail


class Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Hang()


signal.signal(signal.SIGALRM, _alarm)


def record(area: str, probe: str, outcome: str, detail: str = "") -> None:
    RESULTS[area][outcome] += 1
    if outcome not in ("clear", "harmless"):
        BAD.append((area, probe, outcome, detail[:160]))


def probe(area: str, name: str, action: Callable[[], Any], culprit: str | None,
          snapshot: Callable[[], Any] | None = None,
          harmless: Callable[[], bool] | None = None) -> None:
    """Run ``action``, which must raise the library's error naming ``culprit``."""
    before = snapshot() if snapshot else None
    signal.alarm(LIMIT_S)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            action()
    except Hang:
        record(area, name, "hang")
        return
    except DescentlabError as e:
        signal.alarm(0)
        if snapshot and not same(before, snapshot()):
            record(area, name, "changed", str(e))
        elif culprit and culprit.lower() not in str(e).lower():
            record(area, name, "vague", str(e))
        else:
            record(area, name, "clear")
        return
    except Exception as e:  # noqa: BLE001 — the census counts exactly these
        signal.alarm(0)
        record(area, name, "traceback", f"{type(e).__name__}: {e}")
        return
    finally:
        signal.alarm(0)
    record(area, name, "harmless" if harmless and harmless() else "accepted")


def same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001
        return a is b


# ------------------------------------------------------------------ the Python API
BAD_NUMBERS = [None, "0.1", "no", float("nan"), 10**400, object(), complex(1, 1), [1.0, [2.0]]]
BAD_FLAGS = ["no", "false", "True", 2, 0.5, None, np.array([True, False])]
BAD_CHOICES = ["no-such-choice", 3, None, ["a"]]


def fresh(name: str, **kw: Any) -> tuple[optim.Optimizer, dict[str, np.ndarray]]:
    opt = optim.create(name, **kw)
    rng = np.random.default_rng(1)
    params = {"w": rng.normal(size=(3, 2))}
    return opt, params


def run_steps(opt: optim.Optimizer, params: dict[str, np.ndarray], k: int = 2) -> None:
    rng = np.random.default_rng(2)
    if type(opt).__name__ == "LBFGS":
        for _ in range(k):
            opt.update(params, closure=lambda: (float((params["w"] ** 2).sum()),
                                                {"w": 2 * params["w"]}))
        return
    for _ in range(k):
        opt.update(params, {"w": rng.normal(size=params["w"].shape)})


def snap(opt: optim.Optimizer, params: dict[str, np.ndarray]) -> Callable[[], Any]:
    def take() -> Any:
        return (copy.deepcopy(opt.state_dict()), {k: v.copy() for k, v in params.items()},
                {k: getattr(opt, k) for k in opt.hyperparameter_names()},
                dict(opt.options()))
    return take


def api_probes(quick: bool) -> None:
    from descentlab.optim.hyperparams import Choice, Count, Flag, Number

    for name in optim.available():
        cls = type(optim.create(name))
        hypers = cls.hyperparameter_names()
        options = cls.option_descriptors()
        # constructor: bad hyperparameters and options
        defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
        for h in hypers:
            for v in BAD_NUMBERS[: 4 if quick else None]:
                if v is None and defaults.get(h, 0) is None:
                    continue  # None is this argument's documented default
                probe("api: constructor", f"{name}({h}={v!r})",
                      lambda h=h, v=v: optim.create(name, **{h: v}), h)
        for o, d in options.items():
            bads: list[Any]
            if isinstance(d, Flag):
                bads = BAD_FLAGS
            elif isinstance(d, Choice):
                bads = [b for b in BAD_CHOICES if not (b is None and getattr(d, "optional", False))]
            elif isinstance(d, (Number, Count)):
                bads = [b for b in BAD_NUMBERS
                        if not (b is None and getattr(d, "optional", False))]
            else:
                continue
            if defaults.get(o, 0) is None:
                bads = [b for b in bads if b is not None]  # None: the documented default
            for v in bads[: 3 if quick else None]:
                probe("api: constructor", f"{name}({o}={v!r})",
                      lambda o=o, v=v: optim.create(name, **{o: v}), o,
                      harmless=lambda o=o, v=v: v is None and same(
                          getattr(optim.create(name, **{o: v}), o),
                          getattr(optim.create(name), o)))
        # foreign names
        for foreign in ("betas", "learning_rate", "beta_1", "epsilon", "decay_rate", "rho",
                        "alpha", "lr_typo"):
            if foreign in hypers or foreign in options:
                continue
            probe("api: constructor", f"{name}({foreign}=...)",
                  lambda f=foreign: optim.create(name, **{f: 0.5}), foreign)
        if name == "lbfgs":
            continue  # its update takes a closure; its state probes are below
        # update with bad gradients after two good steps: nothing may change
        opt, params = fresh(name)
        try:
            run_steps(opt, params)
        except Exception as e:  # noqa: BLE001
            record("api: update", f"{name} good steps", "traceback", repr(e))
            continue
        take = snap(opt, params)
        w = params["w"]
        grads_list: list[tuple[str, Any, str]] = [
            ("nan", {"w": np.full(w.shape, np.nan)}, "w"),
            ("inf", {"w": np.full(w.shape, np.inf)}, "w"),
            ("one nan", {"w": np.where(np.arange(w.size).reshape(w.shape) == 3, np.nan, 1.0)},
             "w"),
            ("wrong shape", {"w": np.ones((2, 3))}, "w"),
            ("complex", {"w": np.ones(w.shape, complex)}, "w"),
            ("strings", {"w": np.full(w.shape, "1")}, "w"),
            ("object", {"w": object()}, "w"),
            ("None", {"w": None}, "w"),
            ("missing key", {}, "w"),
            ("extra key", {"w": np.ones(w.shape), "zz": np.ones(2)}, "zz"),
            ("list", [np.ones(w.shape)], "grad"),
        ]
        for label, g, culprit in grads_list:
            probe("api: update", f"{name}.update({label})",
                  lambda g=g: opt.update(params, g), culprit, take)
        # float32 parameter, float64 gradient that overflows float32
        opt32 = optim.create(name)
        p32 = {"w": np.ones((3, 2), np.float32)}
        try:
            opt32.update(p32, {"w": np.full((3, 2), 0.5)})
        except Exception:  # noqa: BLE001
            pass
        probe("api: update", f"{name}.update(1e300 into float32)",
              lambda: opt32.update(p32, {"w": np.full((3, 2), 1e300)}), "w", snap(opt32, p32))
        # assignments mid-run of bad values: refused, nothing changed
        for h in hypers:
            for v in BAD_NUMBERS[: 3 if quick else None]:
                probe("api: assignment", f"{name}.{h} = {v!r}",
                      lambda h=h, v=v: setattr(opt, h, v), h, take)
        for o, d in options.items():
            if isinstance(d, Flag):
                bads = BAD_FLAGS[:3]
            elif isinstance(d, Choice):
                bads = ["no-such-choice"]
            else:
                continue
            for v in bads:
                probe("api: assignment", f"{name}.{o} = {v!r}",
                      lambda o=o, v=v: setattr(opt, o, v), o, take)
        # a typo'd attribute that would be silently ignored
        probe("api: assignment", f"{name}.learning_rate = 0.1",
              lambda: setattr(opt, "learning_rate", 0.1), "learning_rate", take)


# ------------------------------------------------------------------ checkpoints
#: Entries a state dict may leave out by design (documented defaults: no skipped steps, no
#: schedule state, no rule globals); leaving out a *needed* global is still probed below.
OPTIONAL_KEYS = ("skipped_steps", "schedules", "globals")


def state_damage(sd: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    out: list[tuple[str, dict[str, Any], str]] = []
    for key in [k for k in sd if k not in OPTIONAL_KEYS]:
        d = copy.deepcopy(sd)
        del d[key]
        out.append((f"without {key!r}", d, key))
    for bad in (-1, 1.5, "3", None, True, float("nan")):
        d = copy.deepcopy(sd)
        d["step"] = bad
        out.append((f"step={bad!r}", d, "step"))
    state = sd.get("state", {})
    for path, slots in state.items() if isinstance(state, dict) else []:
        if not isinstance(slots, dict):
            continue
        for slot, arr in slots.items():
            a = np.asarray(arr)
            for label, new in (("int", a.astype(np.int64)), ("complex", a.astype(complex)),
                               ("str", a.astype(str)), ("shape", np.ones(a.shape + (2,))),
                               ("nan", np.full(a.shape, np.nan))):
                if label == "nan" and slot in ("step",):
                    continue
                d = copy.deepcopy(sd)
                d["state"][path][slot] = new
                out.append((f"{path}/{slot} {label}", d, slot))
    for h in list(sd.get("hyperparameters", {}) or {}):
        d = copy.deepcopy(sd)
        d["hyperparameters"][h] = float("nan")
        out.append((f"hyper {h}=nan", d, h))
    for g in list(sd.get("globals", {}) or {}):
        d = copy.deepcopy(sd)
        del d["globals"][g]
        out.append((f"without global {g!r}", d, g))
        d = copy.deepcopy(sd)
        d["globals"][g] = float("nan")
        out.append((f"global {g}=nan", d, g))
    return out


def checkpoint_probes(quick: bool) -> None:
    for name in optim.available():
        if name == "lbfgs":
            continue
        src, params = fresh(name)
        run_steps(src, params, 3)
        sd = src.state_dict()
        for label, d, culprit in state_damage(sd)[: 12 if quick else None]:
            dst, p2 = fresh(name)
            run_steps(dst, p2, 1)
            # a state entry with NaN moments may be a legal state: only count NaN in hypers
            if label.endswith(" nan") and "hyper" not in label and "global" not in label:
                continue
            probe("checkpoints: load_state_dict", f"{name} {label}",
                  lambda dst=dst, d=d: dst.load_state_dict(d), culprit, snap(dst, p2))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}.npz"
            src.save(path)
            blob = path.read_bytes()
            rng = random.Random(7)
            damages: list[tuple[str, bytes]] = [("empty", b""), ("random", os.urandom(500)),
                                                ("json", b'{"step": 3}'),
                                                ("npy", _npy_bytes())]
            cuts = sorted({1, 10, 100, len(blob) // 2, len(blob) - 1} |
                          {rng.randrange(len(blob)) for _ in range(3 if quick else 20)})
            damages += [(f"truncated at {c}", blob[:c]) for c in cuts if c < len(blob)]
            for off in sorted(rng.sample(range(len(blob)), 3 if quick else 30)):
                b = bytearray(blob)
                b[off] ^= 0xFF
                damages.append((f"flipped byte {off}", bytes(b)))
            for label, data in damages:
                bad = Path(tmp) / f"bad-{name}.npz"
                bad.write_bytes(data)
                dst, p2 = fresh(name)
                run_steps(dst, p2, 1)
                probe("checkpoints: files", f"{name} {label}",
                      lambda dst=dst, bad=bad: dst.load(bad), bad.name, snap(dst, p2),
                      harmless=lambda dst=dst: same(dst.state_dict(), sd))


def _npy_bytes() -> bytes:
    f = io.BytesIO()
    np.save(f, np.ones(3))
    return f.getvalue()


# ------------------------------------------------------------------ command line
def cli_probe(area: str, argv: list[str], culprit: str | None,
              files: list[Path] | None = None) -> None:
    before = {p: (p.read_bytes() if p.is_file() else None) for p in files or []}
    out, err = io.StringIO(), io.StringIO()
    signal.alarm(LIMIT_S)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                code = cli.main(argv)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 2
    except Hang:
        record(area, " ".join(argv), "hang")
        return
    except Exception as e:  # noqa: BLE001
        signal.alarm(0)
        record(area, " ".join(argv), "traceback", f"{type(e).__name__}: {e}")
        return
    finally:
        signal.alarm(0)
    text = err.getvalue().strip()
    after = {p: (p.read_bytes() if p.is_file() else None) for p in files or []}
    if code == 0:
        record(area, " ".join(argv), "accepted", out.getvalue()[-120:])
    elif "Traceback" in text or code not in (1, 2):
        record(area, " ".join(argv), "traceback", text[-160:])
    elif before != after:
        record(area, " ".join(argv), "changed", text)
    elif culprit and culprit.lower() not in (out.getvalue() + text).lower():
        record(area, " ".join(argv), "vague", text)
    else:
        last = text.splitlines()[-1] if text else ""
        record(area, " ".join(argv), "clear" if last else "vague", last)


def cli_probes(quick: bool) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="census-"))
    a_file = tmp / "a-file"
    a_file.write_text("keep me")
    out = str(tmp / "out")
    race = ["race", "--problem", "bowl", "--steps", "3", "--out", out]
    sgd = ["--optimizers", "sgd"]
    cases: list[tuple[list[str], str | None]] = [
        (race + ["--optimizers", "sgd:maximize=no"], "maximize"),
        (race + ["--optimizers", "adam:amsgrad=off"], "amsgrad"),
        (race + ["--optimizers", "rmsprop:centered=maybe"], "centered"),
        (race + ["--optimizers", "nosuch"], "nosuch"),
        (race + ["--optimizers", "adam:betas=0.9"], "betas"),
        (race + ["--optimizers", "adam:lr=nan"], "lr"),
        (race + ["--optimizers", "adam:lr=1e400"], "lr"),
        (race + ["--optimizers", "adam:lr"], "lr"),
        (race + ["--optimizers", "adam:lr=0.1,lr=0.2"], "lr"),
        (race + ["--optimizers", "adam:=3"], None),
        (["race", "--problem", "nosuch", "--out", out, *sgd], "nosuch"),
        (["race", "--f", "x + 0/0", "--out", out], None),
        (["race", "--f", "__import__('os').system('true')", "--out", out], None),
        (["race", "--f", "x**", "--out", out], None),
        (["race", "--f", "(" * 10000 + "x" + ")" * 10000, "--out", out], None),
        (["race", "--f", "x**99999999999", "--out", out], None),
        (["race", "--problem", "bowl", "--steps", "-1", "--out", out], "--steps"),
        (["race", "--problem", "bowl", "--steps", "1e400", "--out", out], "--steps"),
        (["race", "--problem", "bowl", "--steps", "1000000000000", "--out", out], "--steps"),
        (["race", "--problem", "bowl", "--tol", "-1", "--out", out], "--tol"),
        (["race", "--problem", "bowl", "--tol", "nan", "--out", out], "--tol"),
        (["race", "--problem", "bowl", "--fps", "0", "--animate", "gif", "--out", out],
         "--fps"),
        (["race", "--problem", "bowl", "--start", "1,2,3", "--out", out, *sgd], "--start"),
        (["race", "--problem", "bowl", "--start", "nan,1", "--out", out, *sgd], "--start"),
        (["race", "--problem", "bowl", "--window", "1:0,0:1", "--out", out, *sgd], "--window"),
        (["race", "--problem", "bowl", "--noise", "-1", "--out", out, *sgd], "--noise"),
        (["race", "--problem", "bowl", "--seeds", "0", "--out", out, *sgd], "--seeds"),
        (["race", "--problem", "bowl", "--out", str(a_file)], "--out"),
        (["race", "--problem", "bowl", "--out", str(a_file / "sub")], "--out"),
        (["race", "--problem", "bowl", "--steps", "3", "--steps", "4", "--out", out, *sgd],
         "--steps"),
        (["sweep", "--problem", "bowl", "--optimizer", "adam:lr=0.5", "--lr", "0.1,0.2",
          "--out", out], "lr"),
        (["sweep", "--problem", "bowl", "--optimizer", "adam", "--lr", "1:0:0.1",
          "--out", out], "--lr"),
        (["sweep", "--problem", "bowl", "--optimizer", "adam", "--lr", "0.1:1000000:1e-9",
          "--out", out], "--lr"),
        (["sweep", "--problem", "bowl", "--optimizer", "adam", "--lr", "0.1",
          "--grid", "nosuch=1,2", "--out", out], "nosuch"),
        (["sweep", "--problem", "bowl", "--optimizer", "adam", "--starts", "1000000",
          "--out", out], "--starts"),
        (["trace", "--problem", "bowl", "--steps", "100000000", "--out", out], "--steps"),
        (["init", "--layers", "0", "--skip-mnist", "--out", out], "--layers"),
        (["mnist", "--iterations", "0", "--out", out], "--iterations"),
        (["mnist", "--hidden", "100,-3", "--out", out], "--hidden"),
        (["mnist", "--blas-threads", "zero", "--out", out], "--blas-threads"),
        (["mnist", "--data-dir", str(a_file), "--iterations", "1", "--out", out], "a-file"),
        (["compare", "--problem", "bowl", "--optimizers", "sgd", "--budget", "0",
          "--out", out], "--budget"),
        (["compare", "--problem", "bowl", "--optimizers", "sgd:lr=1:0", "--budget", "2",
          "--out", out], "lr"),
        (["compare", "--problem", "bowl", "--optimizers", "sgd", "--storage",
          "postgresql://nobody@127.0.0.1:1/none", "--budget", "2", "--out", out], "storage"),
        (["rerun", str(a_file), "--out", str(tmp / "re")], "a-file"),
    ]
    # damaged manifests for rerun
    good = tmp / "good"
    code = cli.main(["race", "--problem", "bowl", "--steps", "3", "--optimizers", "sgd",
                     "--out", str(good)]) if not quick else 0
    manifest = good / "manifest.json"
    if manifest.is_file():
        m = json.loads(manifest.read_text())
        variants: list[tuple[str, str]] = [
            ("truncated", manifest.read_text()[: 40]),
            ("list", json.dumps([m])),
            ("argv not a list", json.dumps({**m, "argv": "race"})),
            ("argv with a bad flag", json.dumps({**m, "argv": ["race", "--steps", "-5"]})),
            ("deep", "[" * 100000 + "]" * 100000),
            ("not utf-8", "\udcff"),
        ]
        for label, text in variants:
            bad = tmp / f"manifest-{label.replace(' ', '-')}.json"
            bad.write_bytes(text.encode("utf-8", "surrogateescape"))
            cases.append((["rerun", str(bad), "--out", str(tmp / "re")], bad.name))
    del code
    for argv, culprit in cases:
        if argv[0] in ("race", "compare") and "--optimizers" not in argv:
            argv = [*argv, *sgd]
        cli_probe("command line", argv, culprit, [a_file])


# ------------------------------------------------------------------ MNIST files
def idx_bytes(magic: int, dims: list[int], payload: bytes) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


def mnist_probes(quick: bool) -> None:
    from descentlab.data import mnist

    tmp = Path(tempfile.mkdtemp(prefix="census-idx-"))
    images = np.zeros((5, 28, 28), np.uint8).tobytes()
    cases: list[tuple[str, bytes]] = [
        ("wrong magic", idx_bytes(0x0809, [5, 28, 28], images)),
        ("truncated payload", idx_bytes(0x0803, [5, 28, 28], images[:100])),
        ("overflowing dims", idx_bytes(0x0803, [2**31, 2**31, 2**31], b"")),
        ("extra bytes", idx_bytes(0x0803, [5, 28, 28], images + b"xx")),
        ("empty", b""),
        ("header only", struct.pack(">I", 0x0803)),
        ("unknown dtype", idx_bytes(0x0F03, [5, 28, 28], images)),
    ]
    for label, data in cases:
        path = tmp / f"{label.replace(' ', '-')}-images-idx3-ubyte.gz"
        path.write_bytes(gzip.compress(data))
        probe("MNIST files", label, lambda path=path: mnist.read_idx(path), path.name)
    bomb = tmp / "bomb-images-idx3-ubyte.gz"
    with gzip.open(bomb, "wb") as f:
        f.write(idx_bytes(0x0803, [5, 28, 28], images))
        chunk = b"\0" * (1 << 20)
        for _ in range(64 if quick else 512):
            f.write(chunk)
    probe("MNIST files", "gzip bomb", lambda: mnist.read_idx(bomb), bomb.name)
    notgz = tmp / "plain-images-idx3-ubyte.gz"
    notgz.write_bytes(b"not gzip at all")
    probe("MNIST files", "not gzip", lambda: mnist.read_idx(notgz), notgz.name)


# ------------------------------------------------------------------ issue 21: the newer surfaces
def _outcome(area: str, name: str, ok: bool, detail: str = "",
             failure: str = "accepted") -> None:
    """A probe judged by its effect (a stall reported, a folder left clean, a deadline met)
    rather than by an exception: ``clear`` if ``ok``, else ``failure``."""
    record(area, name, "clear" if ok else failure, detail)


def compare_limit_probes(quick: bool) -> None:
    """`compare` at its limits: every one refused before any study is opened or changed."""
    import sqlite3

    from descentlab.lab.compare import SurfaceTask, prepare

    tmp = Path(tempfile.mkdtemp(prefix="census-compare-"))
    out = str(tmp / "out")
    base = ["compare", "--problem", "bowl", "--optimizers", "sgd", "--out", out]
    cases: list[tuple[list[str], str]] = [
        (["--workers", "100000"], "--workers"), (["--workers", "0"], "--workers"),
        (["--workers", "-3"], "--workers"), (["--workers", "1e9"], "--workers"),
        (["--workers", "many"], "--workers"),
        (["--steps", "1000000000"], "--steps"), (["--steps", "0"], "--steps"),
        (["--steps", "1e400"], "--steps"),
        (["--budget", "3000", "--seeds", "10000"], "--seeds"),
        (["--budget", "3000", "--seeds", "10000", "--chunk", "10"], "--seeds"),
        (["--budget", "100001"], "--budget"), (["--budget", "20000", "--seeds", "100000"],
                                               "--seeds"),
        (["--seeds", "1000000"], "--seeds"), (["--test-seeds", "900000", "--steps", "1000"],
                                              "--test-seeds"),
        (["--test-seeds", "0"], "--test-seeds"), (["--chunk", "0"], "--chunk"),
        (["--chunk", "100001"], "--chunk"), (["--heartbeat", "0"], "--heartbeat"),
        (["--heartbeat", "100000"], "--heartbeat"), (["--iterations", "0"], "--iterations"),
        (["--check-every", "0"], "--check-every"),
        (["--optimizers", "adam:beta2=0.9..0.9999/lin/log"], "/log or /lin"),
        (["--optimizers", "adam:beta2=0.9..0.9999/log/lin"], "/log or /lin"),
        (["--optimizers", "adam:lr=1e-3..1/exp"], "/log or /lin"),
        (["--optimizers", "sgd:lr=" + "1" * 5000], "lr"),
    ]
    for extra, culprit in cases:
        argv = [*base, *extra]
        if "--optimizers" in extra:  # the extra spec replaces sgd
            argv = ["compare", "--problem", "bowl", *extra, "--out", out]
        cli_probe("compare at its limits", argv, culprit)
    # a damaged study file and a file that is not a database: refused, bytes unchanged
    folder = tmp / "damaged"
    url = f"sqlite:///{folder / 'study.db'}"
    folder.mkdir()
    store, _, _ = prepare([SurfaceTask(_problem("bowl"), steps=5)], ["sgd"], budget=200,
                          seeds=1, test_seeds=1, seed=0, sampler="random", storage=url,
                          study="s")
    store.engine.dispose()
    db = folder / "study.db"
    with sqlite3.connect(db) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.seek(size - 3 * 4096 + 8)
        f.write(b"\xff" * 64)
    cli_probe("compare at its limits", ["compare", "--problem", "bowl", "--optimizers", "sgd",
                                        "--budget", "200", "--seeds", "1", "--steps", "5",
                                        "--study", "s", "--out", str(folder)],
              "integrity check", [db])
    other = tmp / "notdb"
    other.mkdir()
    (other / "study.db").write_text("my notes")
    cli_probe("compare at its limits", [*base[:-1], str(other), "--budget", "3"],
              "not a database", [other / "study.db"])
    # an error in the middle of queueing leaves the storage as it was
    import optuna

    url = f"sqlite:///{tmp / 'q.db'}"
    real = optuna.distributions.FloatDistribution.to_internal_repr
    calls = []

    def failing(self: Any, value: float) -> Any:
        calls.append(value)
        if len(calls) == 20:
            raise KeyboardInterrupt
        return real(self, value)

    for bulk in (True, False):
        calls.clear()
        optuna.distributions.FloatDistribution.to_internal_repr = failing
        try:
            prepare([SurfaceTask(_problem("bowl"), steps=5)], ["sgd"], budget=30, seeds=1,
                    test_seeds=1, seed=0, sampler="random", storage=url, study=f"b{bulk}",
                    bulk=bulk)
        except KeyboardInterrupt:
            pass
        finally:
            optuna.distributions.FloatDistribution.to_internal_repr = real
        left = [s.study_name for s in optuna.get_all_study_summaries(url)]
        _outcome("compare at its limits", f"Ctrl-C mid-queue (bulk={bulk})",
                 f"b{bulk}/bowl/sgd" not in left, f"studies left: {left}", "changed")


def _problem(name: str) -> Any:
    from descentlab import problems

    return problems.get(name)


def manifest_probes(quick: bool) -> None:
    """Manifests as untrusted input: refused in one line, or replayed inside --out only."""
    tmp = Path(tempfile.mkdtemp(prefix="census-manifest-"))
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    area = "manifests (untrusted)"
    fifo = tmp / "fifo.json"
    os.mkfifo(fifo)
    (tmp / "zero-link.json").symlink_to("/dev/zero")
    sparse = tmp / "sparse.json"
    with open(sparse, "wb") as f:
        f.truncate(17 << 20)
    empty_folder = tmp / "empty-folder"
    empty_folder.mkdir()
    for path, culprit in [(fifo, "FIFO"), (Path("/dev/zero"), "character device"),
                          (Path("/dev/urandom"), "character device"),
                          (Path("/dev/null"), "character device"),
                          (tmp / "zero-link.json", "character device"),
                          (sparse, "too large"), (empty_folder, "no manifest")]:
        cli_probe(area, ["rerun", str(path), "--out", str(tmp / "re")], culprit)
    good = tmp / "good"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cli.main(["race", "--problem", "bowl", "--steps", "3", "--optimizers", "sgd",
                  "--out", str(good)])
    doc = json.loads((good / "manifest.json").read_text())
    url = f"sqlite:///{elsewhere / 'x.db'}"
    compare = ["compare", "--problem", "bowl", "--optimizers", "sgd", "--budget", "2",
               "--seeds", "1", "--steps", "3"]
    variants: list[tuple[str, str, list[str], str]] = [
        ("compare --storage elsewhere", "compare", [*compare, "--storage", url], "--storage"),
        ("compare --storage=elsewhere", "compare", [*compare, f"--storage={url}"],
         "--storage"),
        ("mnist --data-dir elsewhere", "mnist", ["mnist", "--optimizers", "sgd",
                                                 "--iterations", "1", "--data-dir",
                                                 str(elsewhere / "mnist")], "--data-dir"),
        ("init --data-dir=elsewhere", "init", ["init", f"--data-dir={elsewhere / 'm'}"],
         "--data-dir"),
        ("compare mnist --data-dir", "compare", ["compare", "--problem", "mnist",
                                                 "--optimizers", "sgd", "--data-dir",
                                                 str(elsewhere / "m2")], "--data-dir"),
        ("serve", "serve", ["serve", "--port", "0"], "serve"),
        ("serve --exports elsewhere", "serve", ["serve", "--exports", str(elsewhere)],
         "serve"),
        ("trace", "trace", ["trace", "sgd", "--problem", "bowl"], "trace"),
        ("problems", "problems", ["problems"], "problems"),
        ("sweep --json ..", "sweep", ["sweep", "--problem", "bowl", "--optimizer", "sgd",
                                      "--lr", "0.1", "--json=.."], "--json"),
        ("argv of another command", "race", ["sweep", "--problem", "bowl"], "argv"),
    ]
    for label, command, argv, culprit in variants:
        m = tmp / f"m-{label.replace(' ', '-').replace('/', '_')}.json"
        m.write_text(json.dumps({**doc, "command": command, "argv": argv}))
        cli_probe(area, ["rerun", str(m), "--out", str(tmp / "re")], culprit)
    # outputs named elsewhere land in --out: judged by where the files are
    for label, argv in [
        ("sweep --json elsewhere", ["sweep", "--problem", "bowl", "--steps", "3", "--optimizer",
                                    "sgd", "--lr", "0.1", f"--json={elsewhere / 'r.json'}",
                                    "--out", str(elsewhere)]),
        ("race --out elsewhere", ["race", "--problem", "bowl", "--steps", "3", "--optimizers",
                                  "sgd", "--out", str(elsewhere)]),
    ]:
        m = tmp / f"m-{label.replace(' ', '-')}.json"
        m.write_text(json.dumps({**doc, "command": argv[0], "argv": argv}))
        target = tmp / f"re-{label.replace(' ', '-')}"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = cli.main(["rerun", str(m), "--out", str(target)])
        _outcome(area, label, code == 0 and not any(elsewhere.iterdir())
                 and (target / "manifest.json").exists(),
                 f"exit {code}; elsewhere holds {sorted(p.name for p in elsewhere.iterdir())}",
                 "changed")


def small_probes(quick: bool) -> None:
    """Formulas undefined everywhere, huge or malformed values, a stalled Adam, interrupted
    outputs and downloads, a trickling mirror."""
    from descentlab import problems
    from descentlab.data import mnist
    from descentlab.lab.race import race

    area = "formulas, values, stalls, Ctrl-C"
    tmp = Path(tempfile.mkdtemp(prefix="census-small-"))
    for expr in ["(x*0)**-1", "(x-x)/(x-x)", "1/(x*0)", "y + 1/(x - x)", "0/(y-y) + x",
                 "(x*0)**-0.5", "(y - y)**-2 + x", "log(-1 - x**2)", "sqrt(-1 - x**2 - y**2)",
                 "acos(2 + x**2)", "log(x - x)", "1/(abs(x) - abs(x))"]:
        probe(area, f"formula {expr}", lambda: problems.from_expression(expr),
              "invalid expression")
    digits = "1" * 5000
    out = str(tmp / "o")
    for spec in [f"sgd:lr={digits}", f"adam:beta1=0.{digits}", f"sgd:lr=-{digits}",
                 f"adam:eps=1e-{digits}"]:
        cli_probe(area, ["race", "--problem", "bowl", "--steps", "2", "--optimizers", spec,
                         "--out", out], spec.split(":")[1].split("=")[0])
    for lr in ["1e-300:1e300:1e-300", "0:1e308:1e-308", "0.1,,0.2", "0.1,", ",0.1", " , ",
               "0.1:0.2:1e-300"]:
        cli_probe(area, ["sweep", "--problem", "bowl", "--optimizer", "sgd", "--lr", lr,
                         "--steps", "2", "--out", out], "--lr")
    for name in ["adam", "rmsprop", "adagrad", "nadam", "adamax", "adabelief"]:
        signal.alarm(LIMIT_S)
        try:
            r = race(problems.from_expression("1e200*x**2 + y**2"), [name], steps=10)
            e = r.entries[0]
            broken = any(not np.isfinite(v).all() for slots in e.optimizer.state.values()
                         for v in slots.values())
            label = f"{name} race on 1e200*x**2 + y**2"
            if not broken:  # its state held (Adamax: a max, no square): an honest result
                record(area, label, "harmless")
            else:
                _outcome(area, label, e.diverged_at is not None or e.overflowed,
                         f"ended {e.ended!r}, outcome {e.outcome}")
        except Exception as ex:  # noqa: BLE001
            record(area, f"{name} race on 1e200*x**2 + y**2", "traceback", repr(ex))
        finally:
            signal.alarm(0)
    # Ctrl-C while the animation is made: no outputs without a manifest
    import descentlab.viz.animate as animate

    real = animate.animate

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    animate.animate = interrupted
    folder = tmp / "interrupted"
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            cli.main(["race", "--problem", "bowl", "--optimizers", "sgd", "--steps", "3",
                      "--animate", "gif", "--out", str(folder)])
    finally:
        animate.animate = real
    left = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    _outcome(area, "race --animate interrupted", not left, f"left {left}", "changed")
    # Ctrl-C while a download is checked: no .part file
    served = tmp / "served"
    served.mkdir()
    (served / "t10k-labels-idx1-ubyte.gz").write_bytes(b"x")
    data = tmp / "data"
    data.mkdir()
    real_read = mnist._read_idx
    mnist._read_idx = interrupted  # type: ignore[assignment]
    try:
        mnist.download_mnist(data, mirrors=[served.as_uri()], progress=False,
                             names=["t10k-labels-idx1-ubyte"])
    except KeyboardInterrupt:
        pass
    finally:
        mnist._read_idx = real_read  # type: ignore[assignment]
    left = sorted(p.name for p in data.iterdir())
    _outcome(area, "download interrupted", not left, f"left {left}", "changed")
    # a mirror that sends one byte of its status line every 2 s: given up on at the deadline
    import socket
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def trickle() -> None:
        with contextlib.suppress(OSError):
            conn, _ = server.accept()
            with conn:
                for byte in b"HTTP/1.1 200 OK" * 100:
                    if stop.wait(2.0):
                        return
                    conn.sendall(bytes([byte]))

    threading.Thread(target=trickle, daemon=True).start()
    t0 = time.monotonic()
    try:
        probe(area, "mirror sending 1 byte / 2 s (deadline 3 s)", lambda: mnist.download_mnist(
            tmp / "slow", mirrors=[f"http://127.0.0.1:{server.getsockname()[1]}/"],
            progress=False, names=["t10k-labels-idx1-ubyte"], deadline=3.0), "deadline")
    finally:
        stop.set()
        server.close()
    took = time.monotonic() - t0
    if took > 10:
        record(area, "mirror deadline took", "hang", f"{took:.1f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer probes per kind")
    args = ap.parse_args()
    api_probes(args.quick)
    checkpoint_probes(args.quick)
    cli_probes(args.quick)
    mnist_probes(args.quick)
    compare_limit_probes(args.quick)
    manifest_probes(args.quick)
    small_probes(args.quick)
    kinds = ["clear", "harmless", "vague", "traceback", "changed", "accepted", "hang"]
    print(f"{'area':34s} {'tried':>6s} " + " ".join(f"{k:>9s}" for k in kinds))
    total: Counter = Counter()
    for area, counts in RESULTS.items():
        total.update(counts)
        print(f"{area:34s} {sum(counts.values()):6d} "
              + " ".join(f"{counts[k]:9d}" for k in kinds))
    print(f"{'all':34s} {sum(total.values()):6d} " + " ".join(f"{total[k]:9d}" for k in kinds))
    if BAD:
        print("\nnot clear:")
        for area, name, outcome, detail in BAD:
            print(f"  [{outcome}] {area}: {name}  —  {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
