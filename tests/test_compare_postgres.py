"""Many workers on one study in a real PostgreSQL server, started here on 127.0.0.1.

The server comes from Debian's ``postgresql`` package (``make test`` installs it when
missing); as root it runs as the package's ``postgres`` user. It lives in a temporary folder
on a free port and is stopped at the end of the module.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest

from descentlab import problems
from descentlab.cli import main
from descentlab.lab.compare import SurfaceTask, parse_space


def _binary(name):
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail(f"PostgreSQL's {name} is not installed: run `make test` (it installs "
                    "Debian's postgresql package) or apt-get install postgresql")
    return found if isinstance(found, str) else found[-1]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    as_user = []
    folder = Path(tempfile.mkdtemp(prefix="descentlab-pg-"))
    if os.geteuid() == 0:  # postgres refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()
    run = dict(check=True, capture_output=True, timeout=60)
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "lab",
                    "--no-sync"], **run)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-o", options, "-w", "-l",
                    str(folder / "log"), "start"], **run)
    try:
        yield f"postgresql://lab@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def _worker(*argv):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "descentlab", "compare", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _trials(url, name):
    return optuna.load_study(study_name=name, storage=url).get_trials()


STUDY = ["--problem", "bowl", "--optimizers", "sgd", "adam", "--budget", "10", "--seeds", "2",
         "--steps", "30", "--noise", "0.2", "--start-spread", "0.5"]


def test_three_workers_share_one_study_exactly(postgres, tmp_path):
    procs = [_worker(*STUDY, "--storage", postgres, "--study", "three", "--chunk", "2",
                     "--out", str(tmp_path / f"w{i}"), *(["--worker-only"] if i else []))
             for i in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    for name in ("sgd", "adam"):
        trials = _trials(postgres, f"three/bowl/{name}")
        assert len(trials) == 10                               # none lost, none duplicated
        assert sorted(t.user_attrs["plan_index"] for t in trials) == list(range(10))
        assert all(t.state.name == "COMPLETE" for t in trials)
    assert main(["compare", *STUDY, "--out", str(tmp_path / "one")]) == 0   # one worker
    for f in ("results.csv", "trials.csv", "report.txt"):
        assert (tmp_path / "w0" / f).read_bytes() == (tmp_path / "one" / f).read_bytes()


def test_a_killed_worker_loses_nothing(postgres, tmp_path):
    slow = ["--problem", "bowl", "--optimizers", "adam", "--budget", "4", "--seeds", "1",
            "--steps", "3000", "--noise", "0.1", "--chunk", "1", "--heartbeat", "1"]
    def worker(i):
        return _worker(*slow, "--storage", postgres, "--study", "kill", "--worker-only",
                       "--out", str(tmp_path / f"w{i}"))

    # one worker first, killed while it holds a running trial (a fixed order: with all three
    # started at once, a fast first worker could finish trials before the last one starts)
    procs = [worker(0)]
    deadline = time.monotonic() + 120
    while True:
        try:
            running = [t for t in _trials(postgres, "kill/bowl/adam")
                       if t.state.name == "RUNNING"]
        except KeyError:
            running = []
        if running:
            break
        assert time.monotonic() < deadline, "the worker never started"
        time.sleep(0.02)
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait()
    assert sum(t.state.name == "COMPLETE" for t in _trials(postgres, "kill/bowl/adam")) < 4
    procs += [worker(1), worker(2)]
    for p in procs[1:]:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    trials = _trials(postgres, "kill/bowl/adam")
    failed = [t for t in trials if t.state.name == "FAIL"]
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(failed) == 1 and len(done) == 4 and len(trials) == 5
    assert sorted(t.user_attrs["plan_index"] for t in done) == list(range(4))
    retry = next(t for t in done if "failed_trial" in t.system_attrs)
    assert retry.system_attrs["failed_trial"] == failed[0].number
    assert retry.params == failed[0].params
    # the re-run gives what the plan's configuration gives here, bit for bit
    task = SurfaceTask(problems.get("bowl"), steps=3000, noise=0.1)
    value = task.evaluate(parse_space("adam"), [retry.params], [0]).values[0, 0]
    assert retry.value == value


def test_unreachable_server_and_bad_credentials(postgres, tmp_path, capsys):
    port = postgres.rsplit(":", 1)[1].split("/")[0]
    url = f"postgresql://nobody:secret@127.0.0.1:{port}/postgres"
    code = main(["compare", *STUDY, "--storage", url, "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "--storage postgresql://nobody:***@127.0.0.1" in err
    assert "secret" not in err and len(err.strip().splitlines()) == 1
