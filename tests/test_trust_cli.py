"""Trust at the edges of the command line, manifests, formulas, CSV and the MNIST loader:
every bad input refused in one line naming the culprit, nothing changed on disk, bugs keep
their tracebacks, work bounded by documented limits."""

import csv
import gzip
import http.server
import io
import json
import os
import struct
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from descentlab import problems
from descentlab.cli import main
from descentlab.data import mnist as mn
from descentlab.errors import DescentlabError, FileFormatError, InputError
from descentlab.lab.manifest import read_manifest

from .test_data import idx_bytes, tiny_mnist, write_files

FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*")}


def refused(capsys, argv, culprit, where: Path | None = None):
    """Run argv: exit status 2, one line on stderr naming ``culprit``, no traceback, and
    nothing changed under ``where``."""
    before = snapshot(where) if where else None
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors (a flag's value)
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2, (argv, out, err)
    assert "Traceback" not in err and culprit in err, (argv, err)
    assert len(err.strip().splitlines()) == 1 or "optimizer spec" in err, err
    if where is not None:
        assert snapshot(where) == before
    return err


# ---------------------------------------------------------------------------- flags
RACE = ["race", "--problem", "bowl", "--optimizers", "sgd"]


@pytest.mark.parametrize("extra, culprit", [
    (["--steps", "0"], "--steps"), (["--steps", str(10**12)], "limit of 1,000,000 steps"),
    (["--steps", "9" * 5000], "--steps"), (["--fps", "0"], "--fps"), (["--fps", "-3"], "--fps"),
    (["--tol", "-1"], "--tol"), (["--tol", "nan"], "--tol"), (["--tol", "1e400"], "overflows"),
    (["--margin", "inf"], "--margin"), (["--start", "1e400,0"], "--start"),
    (["--steps", "3", "--steps", "4"], "--steps is given twice"),
    (["--window", "0:1,0:1"], "--window"),
    (["sgd"] * 100, "limit of 100 racers"),
])
def test_race_flags_refused_before_any_work(tmp_path, capsys, extra, culprit):
    refused(capsys, [*RACE, *extra, "--out", str(tmp_path / "o")], culprit, tmp_path)
    assert not (tmp_path / "o").exists()


def test_out_that_is_a_file_or_under_one(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("keep")
    refused(capsys, [*RACE, "--out", str(f)], "--out", tmp_path)
    refused(capsys, [*RACE, "--out", str(f / "sub")], "lies under the file", tmp_path)
    refused(capsys, ["sweep", "--problem", "quartic", "--optimizer", "adam", "--lr", "1",
                     "--json", str(tmp_path), "--out", str(tmp_path / "o")], "--json", tmp_path)
    assert f.read_text() == "keep"


def test_unwritable_out(tmp_path, capsys, monkeypatch):
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == str(tmp_path) else
                        real(p, m))  # root writes anywhere: pretend the folder is read-only
    refused(capsys, [*RACE, "--out", str(tmp_path / "o")], "cannot be written")


def test_sweep_refuses_what_it_would_silently_drop_or_cannot_hold(tmp_path, capsys):
    base = ["sweep", "--problem", "quartic", "--start=-8", "--out", str(tmp_path / "o")]
    refused(capsys, [*base, "--optimizer", "adam:lr=0.3", "--lr", "0.1,0.2"], "lr=0.3",
            tmp_path)
    refused(capsys, [*base, "--optimizer", "adam:beta2=0.9", "--lr", "0.1",
                     "--grid", "beta2=0.5,0.9"], "beta2", tmp_path)
    t0 = time.perf_counter()
    refused(capsys, [*base, "--optimizer", "adam", "--lr", "1e-6:1:1e-6", "--grid",
                     "beta2=0.1:0.9:0.1"], "--lr × --grid", tmp_path)
    refused(capsys, [*base, "--optimizer", "adam", "--lr", "1e-12:1:1e-12"], "limit", tmp_path)
    refused(capsys, [*base, "--optimizer", "adam", "--lr", "0.1", "--steps", "1000000",
                     "--starts", "4000"], "run-steps", tmp_path)
    assert time.perf_counter() - t0 < 5  # instant errors, not a MemoryError after minutes


def test_other_commands_flags(tmp_path, capsys):
    refused(capsys, ["init", "--layers", "0", "--skip-mnist", "--out", str(tmp_path / "o")],
            "--layers", tmp_path)
    refused(capsys, ["ewma", "--beta", "1", "--out", str(tmp_path / "o")], "--beta", tmp_path)
    refused(capsys, ["trace", "adam", "--problem", "bowl", "--steps", "100000"], "--steps")
    refused(capsys, ["trace", "adam", "--problem", "bowl", "--exact", "--steps", "1000"],
            "exact traced steps")
    refused(capsys, ["mnist", "--weight-init", "nan", "--out", str(tmp_path / "o")],
            "--weight-init", tmp_path)
    refused(capsys, ["mnist", "--hidden", "100," * 200, "--out", str(tmp_path / "o")],
            "--hidden", tmp_path)
    refused(capsys, ["schedules", "--noise", "-1", "--out", str(tmp_path / "o")], "--noise",
            tmp_path)
    refused(capsys, ["batches", "--seed", "-1", "--out", str(tmp_path / "o")], "--seed",
            tmp_path)
    refused(capsys, ["batches", "--scales", "1,1e400", "--out", str(tmp_path / "o")],
            "--scales", tmp_path)
    refused(capsys, ["mnist", "--optimizers", "sgd", "sgd", "--data-dir", str(tmp_path / "none"),
                     "--out", str(tmp_path / "o")], "given twice", tmp_path)
    refused(capsys, ["trace", "adam:lr=nan", "--problem", "bowl"], "optimizer spec 'adam:lr=nan'")
    refused(capsys, ["sweep", "--problem", "bowl", "--optimizer", "adam:beta2=1", "--lr", "0.1",
                     "--out", str(tmp_path / "o")], "optimizer spec 'adam:beta2=1'", tmp_path)
    refused(capsys, ["race", "--ou", str(tmp_path), "--problem", "bowl", "--optimizers",
                     "sgd"], "--ou")  # no abbreviations: a manifest's argv means one thing


BAD_NUMBERS = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-1", "0", "", " ", "1,2", "0x10",
                     "9" * 400]),
    st.integers(min_value=-10**30, max_value=0).map(str),
    st.integers(min_value=10**7, max_value=10**40).map(str),
    st.text(alphabet="abc-+.e_,", min_size=1, max_size=6))


@FAST
@given(flag=st.sampled_from(["--steps", "--fps", "--tol", "--margin"]), value=BAD_NUMBERS)
def test_hypothesis_bad_numeric_flags(tmp_path, capsys, flag, value):
    try:
        number = float(value)
    except ValueError:
        number = None
    valid = {"--steps": lambda v: v.strip().isdigit() and 1 <= int(v) <= 10**6,
             "--fps": lambda v: v.strip().isdigit() and 1 <= int(v) <= 100,
             "--tol": lambda v: number is not None and 0 < number < float("inf"),
             "--margin": lambda v: number is not None and 0 <= number <= 100}[flag]
    if valid(value):
        return
    refused(capsys, [*RACE, flag, value, "--out", str(tmp_path / "o")], flag, tmp_path)
    assert not (tmp_path / "o").exists()


@FAST
@given(spec=st.text(alphabet="adms:=,.0123456789lrbetaxyz -", max_size=20))
def test_hypothesis_spec_strings_never_traceback(capsys, spec):
    try:
        code = main(["trace", spec, "--problem", "bowl", "--steps", "1"])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:
        assert err.startswith("descentlab")


def test_a_bug_shows_its_traceback(monkeypatch):
    from descentlab.commands import race

    def broken(args):
        raise KeyError("internal")

    monkeypatch.setattr(race, "run", broken)
    with pytest.raises(KeyError):
        main(["race", "--problem", "bowl", "--optimizers", "sgd"])


# ---------------------------------------------------------------------------- CSV, formulas
def test_trajectories_csv_quotes_repeated_specs(tmp_path):
    assert main(["race", "--problem", "quartic", "--start=-8", "--steps", "3", "--optimizers",
                 "adam:lr=0.5,eps=1e-10", "adam:lr=1.3,eps=1e-10", "--out", str(tmp_path)]) == 0
    rows = list(csv.reader(io.StringIO((tmp_path / "trajectories.csv").read_text())))
    assert rows[0] == ["optimizer", "step", "x", "f"]
    assert all(len(r) == 4 for r in rows) and rows[1][0] == "adam:lr=0.5,eps=1e-10"


@pytest.mark.parametrize("path", sorted(Path("docs/figures").glob("*/*.csv")), ids=str)
def test_shipped_csv_files_are_well_formed(path):
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert len(rows) > 1 and all(len(r) == len(rows[0]) for r in rows)


@pytest.mark.parametrize("expr", ["x + 0/0", "x*0 + 0/0", "0/0*x", "x + log(0)",
                                  "x + sqrt(-1)*0", "y + 0*(1/0)", "x + (0/0)**0",
                                  "x - 0**-1"])
def test_non_finite_constant_parts_are_refused(expr):
    with pytest.raises(InputError, match="constant part .* is not finite"):
        problems.from_expression(expr)


def test_variable_parts_keep_their_domain():
    p = problems.from_expression("x**2 + 0*log(x)")  # undefined for x <= 0, like log(x)
    with np.errstate(all="ignore"):
        assert np.isnan(p.f(np.array([[-1.0]]))[0]) and p.f(np.array([[2.0]]))[0] == 4
    assert problems.from_expression("x - x + y").dim == 2


# ---------------------------------------------------------------------------- manifests
def test_manifest_records_argv_and_environment_and_rerun_reparses(tmp_path, capsys):
    a = tmp_path / "a"
    argv = ["race", "--problem", "bowl", "--steps", "3", "--optimizers", "sgd:lr=0.1",
            "--out", str(a)]
    assert main(argv) == 0
    capsys.readouterr()
    doc = json.loads((a / "manifest.json").read_text())
    assert doc["argv"] == argv
    assert {"numba", "cpu", "blas", "git_commit"} <= set(doc["versions"])
    assert "name" in doc["versions"]["blas"] or "threadpools" in doc["versions"]["blas"]
    from threadpoolctl import threadpool_info  # the BLAS kernel picked for this CPU
    arch = {p.get("architecture") for p in threadpool_info() if p["user_api"] == "blas"}
    assert {p["architecture"] for p in doc["versions"]["blas"]["threadpools"]
            if p["internal_api"] in ("openblas", "mkl")} == arch
    # a manifest asking for work beyond the limits gets the same refusal as a command line
    doc["argv"] = [*argv[:4], str(10**12), *argv[5:]]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    refused(capsys, ["rerun", str(bad), "--out", str(tmp_path / "b")], "limit", tmp_path)
    # an old manifest (arguments only) still replays, through the parser
    old = json.loads((a / "manifest.json").read_text())
    del old["argv"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert main(["rerun", str(tmp_path / "old.json"), "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "trajectories.csv").read_bytes() == (
        a / "trajectories.csv").read_bytes()


@pytest.mark.parametrize("content, culprit", [
    (b'{"format": "descentlab-manifest/1", "command": "race"', "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "holds a list"),
    (b'{"format": "descentlab-manifest/1", "command": ["race"]}', "'command'"),
    (b'{"format": "descentlab-manifest/1", "command": "race", "argv": "race"}', "'argv'"),
    (b'{"format": "descentlab-manifest/1", "command": "race", "arguments": []}',
     "'arguments'"),
    (b'{"format": "descentlab-manifest/1", "command": "race", "arguments": {"steps": {}}}',
     "'arguments.steps'"),
    (b'{"format": "descentlab-manifest/1", "command": "race", "arguments": {"nope": 1}}',
     "'arguments.nope'"),
    (b'{"format": "descentlab-manifest/1", "command": "rerun", "argv": ["rerun"]}',
     "'command'"),
    (b"[" * 100000 + b"]" * 100000, "nested"),
])
def test_malformed_manifests_name_file_and_key(tmp_path, capsys, content, culprit):
    m = tmp_path / "m.json"
    m.write_bytes(content)
    err = refused(capsys, ["rerun", str(m), "--out", str(tmp_path / "o")], culprit, tmp_path)
    assert str(m) in err


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                         c, max_size=3),
                    max_leaves=10)


@FAST
@given(body=st.dictionaries(st.sampled_from(["format", "command", "argv", "arguments"]),
                            JSON, max_size=4))
def test_hypothesis_manifests(tmp_path, body):
    body.setdefault("format", "descentlab-manifest/1")
    m = tmp_path / "m.json"
    m.write_text(json.dumps(body))
    try:
        doc = read_manifest(m)
    except FileFormatError as e:
        assert str(m) in str(e)
        return
    assert isinstance(doc["command"], str)


# ---------------------------------------------------------------------------- MNIST
def test_gzip_bomb_stops_at_the_declared_size(tmp_path):
    header = bytes([0, 0, 8, 3]) + struct.pack(">III", 10, 28, 28)
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(bomb, "wb") as f:
        f.write(header + bytes(10 * 784))
        for _ in range(200):  # 200 MB of zeros beyond the declared 7,840 bytes
            f.write(bytes(1 << 20))
    assert bomb.stat().st_size < 1 << 20
    tracemalloc.start()
    with pytest.raises(mn.DataError, match="train-images-idx3-ubyte.gz: oversized"):
        mn.read_idx(bomb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 << 20


@FAST
@given(magic=st.sampled_from([0x08, 0x09, 0x0C, 0x42]), dims=st.lists(
    st.integers(0, 2**32 - 1) | st.integers(0, 5), max_size=4), extra=st.integers(-3, 3))
def test_hypothesis_idx_headers(tmp_path, magic, dims, extra):
    size = int(np.prod(dims, dtype=object)) if dims else 1
    item = {0x08: 1, 0x09: 1, 0x0C: 4}.get(magic, 1)
    body = bytes(max(0, min(size * item, 1000) + extra))
    path = tmp_path / "f.idx"
    path.write_bytes(bytes([0, 0, magic, len(dims)]) + b"".join(struct.pack(">I", d)
                                                                for d in dims) + body)
    try:
        a = mn.read_idx(path)
    except mn.DataError as e:
        assert str(path) in str(e)
        return
    assert magic != 0x42 and list(a.shape) == dims and len(body) == size * item


@pytest.mark.parametrize("change, culprit", [
    (lambda a: a.update({"train-labels-idx1-ubyte": np.full(6, 12)}), "is not a digit"),
    (lambda a: a.update({"t10k-images-idx3-ubyte": np.zeros((4, 27, 28))}), "28×28"),
])
def test_label_and_shape_errors_name_the_file(tmp_path, change, culprit):
    arrays = tiny_mnist()
    change(arrays)
    write_files(tmp_path, arrays)
    with pytest.raises(mn.DataError, match=culprit):
        mn.load_mnist(tmp_path, download=False)


def test_official_size_files_are_verified_once(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    arrays = tiny_mnist(n_test=10_000)  # the official test count: its checksum applies
    write_files(tmp_path / "d", arrays)
    with pytest.raises(mn.DataError, match="t10k-images-idx3-ubyte.gz: SHA-256 mismatch"):
        mn.load_mnist(tmp_path / "d", download=False)
    sums = {b: __import__("hashlib").sha256(idx_bytes(a)).hexdigest()
            for b, a in arrays.items()}
    monkeypatch.setattr(mn, "SHA256", sums)
    mn.load_mnist(tmp_path / "d", download=False)
    assert (tmp_path / "cache" / "descentlab" / "verified-mnist.txt").is_file()
    hashed = []
    real = mn._read_idx
    monkeypatch.setattr(mn, "_read_idx", lambda p, keep=True, hashed_=True, **kw: (
        hashed.append(kw.get("hashed", True)), real(p, keep, **kw))[1])
    mn.load_mnist(tmp_path / "d", download=False)
    assert hashed == [True, True, False, False]  # the stamped test files are not hashed
    os.utime(tmp_path / "d" / "t10k-images-idx3-ubyte.gz", ns=(1, 1))  # changed: hash again
    hashed.clear()
    mn.load_mnist(tmp_path / "d", download=False)
    assert hashed == [True, True, True, False]


def test_data_dir_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(mn.DataError, match=f"data directory {f}"):
        mn.load_mnist(f)
    with pytest.raises(mn.DataError, match="is a file"):
        mn.download_mnist(f / "sub")


class _Cut(http.server.BaseHTTPRequestHandler):
    """Declares 1 MB, sends 1 KB and closes; or (slow) trickles bytes forever."""

    def do_GET(self):  # noqa: N802 - the http.server API
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        try:
            if self.server.slow:
                for _ in range(40):
                    self.wfile.write(b"x" * 100)
                    self.wfile.flush()
                    time.sleep(0.05)
            else:
                self.wfile.write(b"x" * 1024)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up, as the test wants it to. Printing this thread's traceback
            # would land in whatever test captures stderr next on this worker (it did: a
            # later test that asserts "no Traceback" in the CLI's stderr saw this one).
            pass

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("slow", [False, True])
def test_cut_connection_and_deadline_leave_nothing(tmp_path, slow):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Cut)
    server.slow = slow
    server.daemon_threads = False  # server_close() joins the handler: nothing outlives the test
    threading.Thread(target=server.serve_forever, daemon=True).start()
    mirror = f"http://127.0.0.1:{server.server_address[1]}/"
    target = tmp_path / "new" / "mnist"
    try:
        with pytest.raises(mn.DataError) as info:
            mn.download_mnist(target, mirrors=[mirror], progress=False, deadline=0.5)
    finally:
        server.shutdown()
        server.server_close()
    assert mirror in str(info.value)
    assert ("deadline" if slow else "connection was cut") in str(info.value)
    assert not (tmp_path / "new").exists()  # no partial file, no folder made for it


def test_every_error_class_is_a_descentlab_error():
    assert issubclass(mn.DataError, DescentlabError)
    from descentlab.lab.spec import SpecError

    assert issubclass(SpecError, InputError)


def test_blas_threads_flag_and_default(tmp_path, capsys, monkeypatch):
    from threadpoolctl import threadpool_info

    from descentlab.commands.mnist import blas_threads

    refused(capsys, ["mnist", "--blas-threads", "0", "--out", str(tmp_path / "o")],
            "--blas-threads", tmp_path)
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(variable, raising=False)
    np.ones((64, 64)) @ np.ones((64, 64))  # BLAS loaded
    blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
    assert blas, "NumPy's BLAS is not visible to threadpoolctl"
    before = blas[0]["num_threads"]
    with blas_threads("auto") as n:
        assert n == 1 and [p["num_threads"] for p in threadpool_info()
                           if p["user_api"] == "blas"][0] == 1
    with blas_threads(2) as n:
        assert n == 2
    assert [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"][0] == before
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    with blas_threads("auto") as n:  # the environment's choice is kept
        assert n == before


VOCAB = ["race", "sweep", "trace", "problems", "optimizers", "--problem", "bowl", "quartic",
         "--f", "x**2", "x/0", "0/0", "--start", "-7,2", "nan", "--steps", "0", "3", "1e9",
         "--optimizers", "--optimizer", "sgd", "adam:lr=", "adam:lr=nan", "--lr", "0.1:1:0",
         "--grid", "beta2=", "--tol", "-1", "--exact", "--window", "1:0", "--starts", "--json",
         "--fps", "--margin", "--", "-x", "=", ""]


@FAST
@given(argv=st.lists(st.sampled_from(VOCAB), min_size=1, max_size=8))
def test_hypothesis_argument_vectors(tmp_path, capsys, monkeypatch, argv):
    """Random command lines: never a traceback, never a hang, nothing written but under
    --out (which is in tmp_path), exit 0 or 2."""
    argv = [a for a in argv if a not in ("--out",)]
    if argv[0] in ("race", "sweep") and ("--optimizers" in argv or "--optimizer" in argv):
        argv += ["--out", str(tmp_path / "o")]
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)  # a default --out would land here
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code in (0, 2, None) and "Traceback" not in err
    assert not list(cwd.iterdir())


def test_f_is_evaluated_as_written():
    """Simplification serves the derivative and the printed formula; f itself follows the
    text's order of operations (no reassociation: no overflow the text does not have, no
    last-bit change)."""
    x = np.array([[0.0], [1e-300], [7.0]])
    p = problems.from_expression("1e200*(1e200*x)")
    np.testing.assert_array_equal(p.f(x), [0.0, 1e200 * (1e200 * 1e-300), 1e200 * (1e200 * 7)])
    q = problems.from_expression("0.1*(0.3*x)")
    assert q.f(x)[2] == 0.1 * (0.3 * 7.0) != 0.03 * 7.0  # the two orders differ in the last bit
