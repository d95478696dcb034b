"""Your own optimizer, first-class: plugin files (``--plugin FILE``) and entry points.

A plugin written in tmp_path races, sweeps, traces, is compared and replayed from the command
line; manifests record its SHA-256 and ``rerun`` refuses a missing or changed file (and never
imports the file a manifest names); the lineage tree draws an optimizer whose parents are
not registered; an installed package's entry point registers its optimizer. Every test
leaves the registry as it found it (the ``registry_restored`` fixture checks that).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from descentlab import optim, plugins
from descentlab.cli import main
from descentlab.errors import FileFormatError, InputError

ROOT = Path(__file__).resolve().parents[1]

#: A sign-descent rule and a sign-of-momentum rule with a declared search range: what a
#: user writes.
RULES = '''
"""A user's own rules."""
import numpy as np

from descentlab import optim
from descentlab.optim.hyperparams import UNIT, Hyper


@optim.register
class MySignSGD(optim.Optimizer):
    """Sign descent: every coordinate moves by the rate against the sign of its gradient."""

    name = "my_signsgd"
    elementwise = True
    equations = ("p ← p − η·sign(g)",)
    lineage = optim.Lineage(parents=("sgd",), idea="the gradient's sign", year=2018,
                            paper="Bernstein et al. 2018")

    def __init__(self, lr=0.01, **options):
        super().__init__(lr, **options)

    def rule(self, p, g, state, h):
        p -= h.lr * np.sign(g)


@optim.register
class MySignum(optim.Optimizer):
    """Signum: the sign of a momentum of the gradients."""

    name = "my_signum"
    slots = ("m",)
    elementwise = True
    lineage = optim.Lineage(parents=("my_signsgd", "momentum"), idea="sign of momentum",
                            year=2018, paper="Bernstein et al. 2018")
    beta = Hyper(UNIT, "decay β of the momentum", search=(0.5, 0.99))

    def __init__(self, lr=0.01, beta=0.9, **options):
        super().__init__(lr, **options)
        self.beta = beta

    def rule(self, p, g, state, h):
        m = state["m"]
        m *= h.beta
        m += (1 - h.beta) * g
        p -= h.lr * np.sign(m)
'''


@pytest.fixture(autouse=True)
def registry_restored():
    """Every test leaves the built-in registry as it found it."""
    before = optim.available()
    yield
    for plugin in plugins.active():
        plugins.unload(plugin)
    plugins.unload_entry_points()
    assert optim.available() == before


@pytest.fixture
def rules(tmp_path) -> Path:
    path = tmp_path / "my_rules.py"
    path.write_text(RULES)
    return path


def error_of(capsys, argv, one_line: bool = True) -> str:
    capsys.readouterr()  # what earlier commands printed
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("descentlab: error: ") and "Traceback" not in err
    assert err.count("\n") == 1 or not one_line, err
    return err


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# -- loading -----------------------------------------------------------------------------------

def test_load_registers_reports_the_hash_and_unloads(rules):
    plugin = plugins.load(rules)
    assert plugin.names == ("my_signsgd", "my_signum")
    assert plugin.sha256 == hashlib.sha256(rules.read_bytes()).hexdigest()
    assert plugin.path == rules.resolve() and plugins.active() == [plugin]
    assert plugins.load(rules) is plugin  # the same bytes again: already loaded
    assert {"my_signsgd", "my_signum"} <= set(optim.available())
    # It is an optimizer like the others: the rule on a plain dict of floats.
    params = {"x": 1.0, "y": -2.0}
    optim.create("my_signsgd", lr=0.25).update(params, {"x": 3.0, "y": -0.001})
    assert params == {"x": 0.75, "y": -1.75}
    plugins.unload(plugin)
    assert "my_signsgd" not in optim.available() and plugins.active() == []


def test_a_changed_file_is_not_loaded_over_the_old_one(rules):
    plugins.load(rules)
    rules.write_text(RULES + "\n# edited\n")
    with pytest.raises(InputError, match="has changed since it was loaded"):
        plugins.load(rules)


BAD = [
    ("missing.py", None, "no such file"),
    ("rules.txt", "x = 1\n", "expected a Python file ending in .py"),
    ("broken.py", "import numpy as np\nraise RuntimeError('no GPU\\nhere')\n",
     "raised RuntimeError: no GPU here when it was run"),
    ("syntax.py", "x = 1\ndef f(:\n", "line 2: invalid syntax"),
    ("nothing.py", "from descentlab import optim\nx = 1\n", "registered no optimizer"),
    ("clash.py", RULES.replace('"my_signum"', '"adam"'), "'adam'"),
]


@pytest.mark.parametrize("name,source,message", BAD, ids=[b[0] for b in BAD])
def test_bad_plugin_files_are_one_line_errors_naming_the_file(tmp_path, capsys, name, source,
                                                             message):
    path = tmp_path / name
    if source is not None:
        path.write_text(source)
    before = optim.available()
    with pytest.raises(InputError, match=re.escape(message)) as e:
        plugins.load(path)
    assert name in str(e.value) and "\n" not in str(e.value)
    # Nothing changed: the clash file registered my_signsgd before it failed; gone again.
    assert optim.available() == before and plugins.active() == []
    err = error_of(capsys, ["race", "--plugin", str(path), "--problem", "bowl",
                            "--optimizers", "adam", "--out", str(tmp_path / "o")])
    assert name in err and not (tmp_path / "o").exists()


def test_one_bad_file_of_two_loads_neither(tmp_path, rules, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("raise ImportError('nope')\n")
    with pytest.raises(InputError, match="bad.py"), plugins.loaded([rules, bad]):
        pass
    assert "my_signsgd" not in optim.available()


# -- every command -----------------------------------------------------------------------------

def test_race_trace_and_sweep_take_the_plugin(rules, tmp_path, capsys, monkeypatch):
    out = tmp_path / "race"
    assert main(["race", "--plugin", str(rules), "--problem", "bowl", "--start=-7,2",
                 "--steps", "3", "--optimizers", "my_signsgd:lr=0.5", "adam:lr=0.3",
                 "--out", str(out)]) == 0
    path = [r for r in rows_of(out / "trajectories.csv") if r["optimizer"] == "my_signsgd"]
    # By hand: f = x²/20 + y², g = (x/10, 2y); from (−7, 2) the signs stay (−, +) for 3
    # steps of 0.5: x = −7 + 0.5·k, y = 2 − 0.5·k.
    assert [(float(r["x"]), float(r["y"])) for r in path] == [(-7, 2), (-6.5, 1.5),
                                                              (-6, 1), (-5.5, 0.5)]
    capsys.readouterr()
    # The exact trace: f = x·y from (1, 2); g = (2, 1) → (0, 1); g = (1, 0) → (−1, 1)
    # (sign(0) = 0).
    assert main(["trace", "--plugin", str(rules), "my_signsgd:lr=1", "--f", "x*y",
                 "--start", "1,2", "--steps", "2", "--exact"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"step 1.*new point\s+0\s+1\n", text, re.S)
    assert re.search(r"step 2.*new point\s+-1\s+1\n", text, re.S) and "≈" not in text
    # The sweep: element-wise, so the 2 × 2 grid runs as one vectorised batch: one update
    # call per step (a loop over runs would make four).
    cls = optim.get_class(plugins.load(rules).names[1])
    calls = []
    monkeypatch.setattr(cls, "update", lambda self, *a, _u=cls.update, **k: (
        calls.append(np.shape(a[0])), _u(self, *a, **k))[1])
    js = tmp_path / "s.json"
    assert main(["sweep", "--plugin", str(rules), "--problem", "bowl", "--steps", "4",
                 "--optimizer", "my_signum", "--lr", "0.1,0.2", "--grid", "beta=0.5,0.9",
                 "--json", str(js), "--out", str(tmp_path / "sweep")]) == 0
    assert json.loads(js.read_text())["optimizer"].startswith("my_signum")
    assert calls == [(4, 2)] * 4


def test_race_manifest_records_the_plugin_and_rerun_checks_it(rules, tmp_path, capsys):
    a = tmp_path / "a"
    argv = ["race", "--plugin", str(rules), "--problem", "bowl", "--steps", "5",
            "--optimizers", "my_signum:lr=0.3", "--out", str(a)]
    assert main(argv) == 0
    doc = json.loads((a / "manifest.json").read_text())
    assert doc["plugins"] == [{"file": str(rules.resolve()),
                               "sha256": hashlib.sha256(rules.read_bytes()).hexdigest(),
                               "optimizers": ["my_signsgd", "my_signum"]}]
    assert "my_signum" not in optim.available()  # loaded for that command only
    # Without the file: refused, saying which file and what to pass.
    err = error_of(capsys, ["rerun", str(a / "manifest.json"), "--out", str(tmp_path / "b")])
    assert "my_rules.py" in err and "--plugin my_rules.py" in err
    # The same bytes under another path: replayed, byte for byte.
    copy = tmp_path / "elsewhere" / "rules_copy.py"
    copy.parent.mkdir()
    shutil.copy(rules, copy)
    assert main(["rerun", str(a / "manifest.json"), "--plugin", str(copy),
                 "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "trajectories.csv").read_bytes() == \
        (a / "trajectories.csv").read_bytes()
    # A changed file: refused, naming it; nothing written.
    rules.write_text(RULES.replace("m *= h.beta", "m *= h.beta * 0.5"))
    err = error_of(capsys, ["rerun", str(a / "manifest.json"), "--plugin", str(rules),
                            "--out", str(tmp_path / "c")])
    assert "my_rules.py" in err and "is not the file the run used" in err
    assert not (tmp_path / "c").exists()
    # A file the run did not use: refused too.
    other = tmp_path / "other.py"
    other.write_text(RULES.replace("my_sign", "their_sign"))
    err = error_of(capsys, ["rerun", str(a / "manifest.json"), "--plugin", str(copy),
                            "--plugin", str(other), "--out", str(tmp_path / "d")])
    assert "other.py" in err and "was not run with this file" in err


def test_a_manifest_never_imports_code_by_itself(tmp_path, capsys):
    """A manifest whose argv names a plugin file (edited by hand, or from elsewhere) does
    not load it: the recorded --plugin flags are dropped; only the user's files load."""
    marker = tmp_path / "imported"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').close()\n" + RULES)
    doc = {"format": "descentlab-manifest/1", "command": "race",
           "argv": ["race", "--plugin", str(evil), "--problem", "bowl", "--steps", "2",
                    "--optimizers", "my_signsgd", "--out", "x"]}
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    err = error_of(capsys, ["rerun", str(tmp_path / "manifest.json"), "--out",
                            str(tmp_path / "o")], one_line=False)  # the spec, with a caret
    assert "unknown optimizer 'my_signsgd'" in err and not marker.exists()
    doc["arguments"], doc["argv"] = {"plugin": [str(evil)], "problem": "bowl",
                                        "optimizers": ["my_signsgd"]}, None
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    error_of(capsys, ["rerun", str(tmp_path / "manifest.json"), "--out", str(tmp_path / "o")],
             one_line=False)
    assert not marker.exists()


@pytest.mark.parametrize("plugins_value,key", [
    ("x", "plugins"), ([1], "plugins[0]"), ([{"file": "a.py", "sha256": "00"}],
                                              "plugins[0].sha256"),
    ([{"file": "a.py", "sha256": "0" * 64, "optimizers": "a"}], "plugins[0].optimizers"),
])
def test_malformed_plugin_records_name_the_key(tmp_path, plugins_value, key):
    from descentlab.lab.manifest import read_manifest

    doc = {"format": "descentlab-manifest/1", "command": "race", "argv": ["race"],
           "plugins": plugins_value}
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(FileFormatError, match=re.escape(f"key '{key}")):
        read_manifest(tmp_path / "manifest.json")


def test_compare_tunes_the_declared_space_in_workers_too(rules, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--plugin", str(rules), "--problem", "bowl", "--optimizers",
                 "my_signum", "adam", "--budget", "4", "--seeds", "2", "--steps", "10",
                 "--workers", "2", "--out", str(out)]) == 0
    assert "worker process(es) failed" not in capsys.readouterr().err  # it loaded the plugin
    doc = json.loads((out / "manifest.json").read_text())
    spaces = {s["name"]: s for s in doc["settings"]["spaces"]}
    assert set(spaces) == {"my_signum", "adam"}
    dims = {d["key"]: (d["low"], d["high"]) for d in spaces["my_signum"]["dims"]}
    assert dims["beta"] == (0.5, 0.99) and "lr" in dims  # declared in the class
    trials = rows_of(out / "trials.csv")
    assert {r["optimizer"] for r in trials} == {"my_signum", "adam"}
    assert all(0.5 <= float(r["beta"]) <= 0.99 for r in trials if r["optimizer"] ==
               "my_signum")
    capsys.readouterr()
    assert main(["rerun", str(out / "manifest.json"), "--plugin", str(rules),
                 "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "results.csv").read_bytes() == \
        (out / "results.csv").read_bytes()
    # The plugin's SHA-256 is part of each study's protocol: resuming the study (or a worker
    # joining it) with other code for the same name is refused.
    edited = tmp_path / "edited.py"
    edited.write_text(RULES.replace("m *= h.beta", "m *= h.beta * 0.5"))
    err = error_of(capsys, ["compare", "--plugin", str(edited), "--problem", "bowl",
                            "--optimizers", "my_signum", "adam", "--budget", "4", "--seeds",
                            "2", "--steps", "10", "--out", str(out)])
    assert "differs in plugin_sha256" in err


def test_optimizers_lists_it_and_the_tree_draws_unregistered_parents(tmp_path, capsys):
    orphan = tmp_path / "orphan.py"
    orphan.write_text(RULES.replace('parents=("sgd",)', 'parents=("my_unpublished_idea",)'))
    assert main(["optimizers", "--plugin", str(orphan)]) == 0
    assert "my_signum" in capsys.readouterr().out
    out = tmp_path / "tree"
    assert main(["optimizers", "--tree", "--plugin", str(orphan), "--out", str(out)]) == 0
    table = {r["name"]: r for r in rows_of(out / "lineage.csv")}
    assert table["my_signsgd"]["parents"] == ""  # its parent is not registered
    assert table["my_signum"]["parents"] == "my_signsgd momentum"
    assert table["my_signsgd"]["group"] == table["my_signum"]["group"] == "yours"
    assert table["adam"]["group"] == "builtin"
    assert (out / "lineage.png").stat().st_size > 0
    assert re.search(r"^my_signsgd +← \(yours\)", capsys.readouterr().out, re.M)
    assert json.loads((out / "manifest.json").read_text())["plugins"][0]["file"] == \
        str(orphan.resolve())


def test_mnist_trains_a_network_with_it(rules, tmp_path, capsys):
    from .test_data import tiny_mnist, write_files

    write_files(tmp_path / "mnist", tiny_mnist(n_train=40, n_test=12))
    out = tmp_path / "race"
    assert main(["mnist", "--plugin", str(rules), "--optimizers", "my_signum:lr=0.01", "adam",
                 "--iterations", "5", "--batch-size", "8", "--hidden", "6",
                 "--data-dir", str(tmp_path / "mnist"), "--out", str(out),
                 "--no-progress"]) == 0
    header = (out / "history.csv").read_text().splitlines()[0]
    assert header.split(",")[:3] == ["iteration", "my_signum", "adam"]
    assert json.loads((out / "manifest.json").read_text())["plugins"][0]["optimizers"] == [
        "my_signsgd", "my_signum"]


def test_checkpoint_of_a_plugin_optimizer(rules, tmp_path):
    plugins.load(rules)
    params = {"w": np.array([1.0, -2.0, 3.0])}
    opt = optim.create("my_signum", lr=0.1, beta=0.5)
    for g in ([1.0, 1.0, -1.0], [-3.0, 2.0, 0.5]):
        opt.update(params, {"w": np.array(g)})
    opt.save(tmp_path / "ck.npz")
    again = optim.create("my_signum", lr=0.1, beta=0.5)
    again.load(tmp_path / "ck.npz")
    # m after two steps of β = 1/2, by hand: ½·(½·g1) + ½·g2.
    np.testing.assert_array_equal(again.state["w"]["m"], [-1.25, 1.25, 0.0])
    assert again.step == 2


def test_the_playground_lists_races_and_exports_it(rules, tmp_path, capsys):
    """As under ``descentlab serve --plugin my_rules.py``: the page's list, a race, an
    export whose manifest records the plugin, and its rerun with the file."""
    from fastapi.testclient import TestClient

    from descentlab.playground.app import create_app

    plugins.load(rules)
    client = TestClient(create_app(tmp_path / "exports"), raise_server_exceptions=True)
    body = client.get("/api/optimizers").json()
    assert "my_signum" in body["names"]
    assert "beta" in json.dumps(body["describe"]["my_signum"])
    race = {"surface": {"problem": "bowl"}, "steps": 4, "start": [-7.0, 2.0],
            "racers": [{"name": "my_signum", "hyper": {"lr": 0.5, "beta": 0.5}}]}
    assert client.post("/api/race", json=race).status_code == 200
    info = client.post("/api/export", json={**race, "animate": False}).json()
    assert info["command"].endswith(f"--plugin {rules.resolve()}")
    folder = tmp_path / "exports" / info["folder"]
    assert json.loads((folder / "manifest.json").read_text())["plugins"][0]["optimizers"] == [
        "my_signsgd", "my_signum"]
    plugins.unload(plugins.active()[0])  # a new process: only what the user passes
    error_of(capsys, ["rerun", str(folder), "--out", str(tmp_path / "b")])
    assert main(["rerun", str(folder), "--plugin", str(rules), "--out", str(tmp_path / "b")]) \
        == 0
    assert (tmp_path / "b" / "trajectories.csv").read_bytes() == \
        (folder / "trajectories.csv").read_bytes()


def test_serve_loads_the_plugin_while_it_serves(rules, monkeypatch, tmp_path):
    import uvicorn
    from fastapi.testclient import TestClient

    seen = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.append(
        TestClient(app).get("/api/optimizers").json()["names"]))
    assert main(["serve", "--plugin", str(rules), "--port", "0",
                 "--exports", str(tmp_path)]) == 0
    assert "my_signum" in seen[0] and "my_signum" not in optim.available()


# -- entry points ------------------------------------------------------------------------------

def test_an_installed_package_entry_point_registers_its_optimizer(tmp_path, monkeypatch,
                                                                  capsys):
    """A tiny installed distribution (a dist-info folder on sys.path, no pip)."""
    import importlib

    (tmp_path / "my_pkg_rules.py").write_text(RULES.replace("@optim.register\n", ""))
    info = tmp_path / "my_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[descentlab.optimizers]\nmy_signsgd = my_pkg_rules:MySignSGD\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    plugins.unload_entry_points()
    assert plugins.load_entry_points() == ["my_signsgd"]
    assert plugins.load_entry_points() == ["my_signsgd"]  # once per process
    plugins.unload_entry_points()
    assert "my_signsgd" not in optim.available()
    assert main(["optimizers", "my_signsgd"]) == 0  # the command line loads them itself
    assert "sign of its gradient" in capsys.readouterr().out
    assert main(["race", "--problem", "bowl", "--steps", "2", "--optimizers", "my_signsgd",
                 "--out", str(tmp_path / "race")]) == 0
    doc = json.loads((tmp_path / "race" / "manifest.json").read_text())
    assert doc["plugins"] == [] and doc["installed_plugins"] == [
        {"entry_point": "my_signsgd = my_pkg_rules:MySignSGD", "distribution": "my-pkg",
         "version": "0.1", "optimizers": ["my_signsgd"]}]
    # A broken entry point names the package and the entry point; all or none are loaded.
    plugins.unload_entry_points()
    (info / "entry_points.txt").write_text(
        "[descentlab.optimizers]\nmy_signsgd = my_pkg_rules:MySignSGD\n"
        "zz_broken = my_pkg_rules:NoSuchClass\n")
    importlib.invalidate_caches()
    with pytest.raises(InputError, match=r"entry point zz_broken = my_pkg_rules:NoSuchClass "
                       r"of my-pkg .*AttributeError"):
        plugins.load_entry_points()
    assert "my_signsgd" not in optim.available()
    plugins.unload_entry_points()
    monkeypatch.undo()  # (entry points of sys.path as it was)
    sys.modules.pop("my_pkg_rules", None)
    importlib.invalidate_caches()


# -- the tutorial ------------------------------------------------------------------------------

def tutorial() -> tuple[str, list[list[str]]]:
    """docs/plugins.md: the plugin file (the ```py block) and its $ descentlab commands."""
    text = (ROOT / "docs" / "plugins.md").read_text()
    source = re.search(r"^```py\n(.*?)^```", text, re.S | re.M).group(1)
    shell = "\n".join(m.group(1) for m in re.finditer(r"^```console\n(.*?)^```", text,
                                                      re.S | re.M))
    lines = shell.replace("\\\n", " ").splitlines()  # continued lines joined
    return source, [shlex.split(line[2:]) for line in lines if line.startswith("$ ")]


def test_the_tutorial_runs_as_written(tmp_path, monkeypatch, capsys):
    source, commands = tutorial()
    assert len(source.strip().splitlines()) <= 30  # "in ~20 lines", docstring included
    monkeypatch.chdir(tmp_path)
    Path("my_rules.py").write_text(source)
    assert [c[:2] for c in commands][:1] == [["descentlab", "race"]]
    assert {c[1] for c in commands} >= {"race", "compare", "rerun", "optimizers"}
    for argv in commands:
        assert argv[0] == "descentlab"
        assert main(argv[1:]) == 0, (argv, capsys.readouterr().err)
    # The replays reproduce what they replay.
    for run, again, file in (("laprop-race", "laprop-race-again", "trajectories.csv"),
                             ("laprop-vs-adam", "laprop-vs-adam-again", "results.csv")):
        assert (Path("out") / again / file).read_bytes() == (Path("out") / run /
                                                             file).read_bytes()


def test_readme_links_the_tutorial():
    assert "docs/plugins.md" in (ROOT / "README.md").read_text()
