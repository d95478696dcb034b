"""The smaller attacks of issue 21: formulas undefined everywhere, huge or malformed values,
a stalled Adam whose state overflowed, interrupted outputs and downloads."""

import numpy as np
import pytest

from descentlab import optim, problems
from descentlab.cli import main
from descentlab.errors import InputError
from descentlab.lab.compare.space import parse_space
from descentlab.lab.engine import run_batch
from descentlab.lab.race import race
from descentlab.lab.spec import parse_optimizer_spec


def error_of(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("expr, culprit", [
    ("(x*0)**-1", "a negative power of 'x*0', which is zero everywhere"),
    ("(x-x)/(x-x)", "division by 'x - x', which is zero everywhere"),
    ("y + 1/(x*0)", "division by 'x*0', which is zero everywhere"),
    ("log(x - x)", "log of 'x - x', which is zero everywhere"),
    ("log(-1 - x**2)", "undefined (nan) at every one of 4,097 points"),
    ("sqrt(-1 - x**2 - y**2)", "at every one of 16,641 points"),
])
def test_formulas_undefined_everywhere_are_refused(expr, culprit):
    with pytest.raises(InputError, match="invalid expression") as e:
        problems.from_expression(expr)
    assert culprit in str(e.value)


@pytest.mark.parametrize("expr", ["1/x", "x**-1", "sqrt(x)", "log(x) + y**2",
                                  "x**2 + 0*log(x)", "1/(x - 0.5)", "1e200*(1e200*x)",
                                  "sqrt(0.01 - x**2)", "sqrt(1 - x*x - y*y)"])
def test_formulas_undefined_somewhere_are_still_accepted(expr):
    problems.from_expression(expr)


def test_a_huge_spec_value_is_one_clear_error(capsys):
    digits = "1" * 5000
    with pytest.raises(InputError, match="the value of 'lr' is 5,000 characters long"):
        parse_optimizer_spec(f"sgd:lr={digits}")
    err = error_of(capsys, ["race", "--problem", "bowl", "--steps", "2", "--optimizers",
                            f"sgd:lr={digits}"])
    assert "5,000 characters long; at most 100" in err and len(err) < 400


@pytest.mark.parametrize("lr, culprit", [
    ("1e-300:1e300:1e-300", "(STOP - START)/STEP = inf, more than the limit of 1,000,000"),
    ("0.1:0.2:1e-300", "(STOP - START)/STEP = 1e+299"),
    ("0.1,,0.2", "an empty value between commas"),
    ("0.1,0.2,", "an empty value between commas"),
])
def test_sweep_rates_refused(tmp_path, capsys, lr, culprit):
    err = error_of(capsys, ["sweep", "--problem", "bowl", "--optimizer", "sgd", "--lr", lr,
                            "--steps", "2", "--out", str(tmp_path / "o")])
    assert culprit in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("spec", ["adam:beta2=0.9..0.9999/lin/log",
                                  "adam:beta2=0.9..0.9999/log/lin", "adam:lr=1e-3..1/exp"])
def test_a_range_takes_one_scale(spec):
    with pytest.raises(InputError, match="give one of /log or /lin, once"):
        parse_space(spec)
    assert parse_space("adam:lr=1e-3..1/lin").dims[0].log is False


def test_adam_state_overflow_is_reported_as_a_stall(tmp_path, capsys):
    """g = 2e200·x: g² overflows, v = inf, every later step is 0 — the point is finite, so
    nothing diverged; the race says the state overflowed."""
    p = problems.from_expression("1e200*x**2 + y**2")
    r = race(p, ["adam", "sgd:lr=1e-201"], steps=10)
    adam, sgd = r.entries
    assert adam.overflowed and adam.diverged_at is None
    assert np.isinf(adam.optimizer.state[""]["v"][0, 0])
    assert adam.path[-1][0] == adam.path[1][0]  # x never moves again
    assert adam.ended == "state overflowed (inf/nan): stalled"
    assert not sgd.overflowed and sgd.ended == ""
    assert "state overflowed (inf/nan): stalled" in r.table()
    assert r.summary_rows()[0]["state_overflowed"] is True
    # per run in a batch: only the run whose gradient overflows is flagged
    b = run_batch(p, optim.create("adam"), np.array([[-3.0, 2.0], [0.0, 2.0]]), 5)
    assert b.overflowed.tolist() == [True, False]
    # the command's table and manifest
    assert main(["race", "--f", "1e200*x**2 + y**2", "--optimizers", "adam", "--steps", "5",
                 "--out", str(tmp_path / "r")]) == 0
    assert "state overflowed (inf/nan): stalled" in capsys.readouterr().out


def test_an_interrupted_race_leaves_no_outputs_without_a_manifest(tmp_path, capsys,
                                                                   monkeypatch):
    import descentlab.viz.animate as animate

    def interrupted(*args, **kwargs):  # Ctrl-C while the animation is being made
        raise KeyboardInterrupt

    monkeypatch.setattr(animate, "animate", interrupted)
    out = tmp_path / "r"
    code = main(["race", "--problem", "bowl", "--optimizers", "sgd", "adam", "--steps", "5",
                 "--animate", "gif", "--out", str(out)])
    assert code != 0 and "interrupted" in capsys.readouterr().err
    assert list(out.iterdir()) == []  # trajectories.csv and the figures removed again
    monkeypatch.undo()
    assert main(["race", "--problem", "bowl", "--optimizers", "sgd", "--steps", "5",
                 "--out", str(out)]) == 0
    assert (out / "manifest.json").exists() and (out / "trajectories.csv").exists()


class _Trickle:
    """An HTTP 'mirror' on 127.0.0.1 that sends one byte of its status line every 0.3 s,
    forever (scaled down from one byte every 2 s): no read ever times out."""

    def __init__(self):
        import socket
        import threading

        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        import itertools

        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                for byte in itertools.cycle(b"HTTP/1.1 200 OK-slow"):
                    if self.stop.wait(0.3):
                        return
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break

    def close(self):
        self.stop.set()
        self.server.close()


def test_a_trickling_mirror_is_given_up_on_at_the_deadline(tmp_path):
    """The deadline covers the status line and headers too, not only the body."""
    import time

    from descentlab.data import mnist as mn

    server = _Trickle()
    target = tmp_path / "new" / "mnist"
    t0 = time.monotonic()
    try:
        with pytest.raises(mn.DataError) as info:
            mn.download_mnist(target, mirrors=[f"http://127.0.0.1:{server.port}/"],
                              progress=False, deadline=1.0)
    finally:
        server.close()
    took = time.monotonic() - t0
    assert "not done within the 1 s deadline" in str(info.value)
    assert took < 10  # one file's mirror given up on after ~1 s (not SOCKET_TIMEOUT = 30 s)
    assert not (tmp_path / "new").exists()  # no .part file, no folder made for it


def test_an_interrupted_download_leaves_no_part_file(tmp_path, monkeypatch):
    from descentlab.data import mnist as mn

    served = tmp_path / "served"
    served.mkdir()
    (served / "t10k-labels-idx1-ubyte.gz").write_bytes(b"anything")
    target = tmp_path / "data"
    target.mkdir()

    def interrupted(*args, **kwargs):  # Ctrl-C while the download is being checked
        raise KeyboardInterrupt

    monkeypatch.setattr(mn, "_read_idx", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mn.download_mnist(target, mirrors=[served.as_uri()], progress=False,
                          names=["t10k-labels-idx1-ubyte"])
    assert list(target.iterdir()) == []


def test_a_huge_value_in_a_compare_space_is_one_clear_error():
    with pytest.raises(InputError, match="the value of 'lr': a value of 5,000 characters"):
        parse_space("sgd:lr=" + "1" * 5000)
