"""A manifest is untrusted input: read bounded, regular files only; its outputs land in the
--out the user chose; its storage URLs and data folders are never used unless given again."""

import json
import os
import threading
import time

import pytest

from descentlab.cli import main
from descentlab.commands.rerun import EXTERNAL, MOVED, NOT_RERUN
from descentlab.errors import FileFormatError
from descentlab.files import read_bounded
from descentlab.lab.manifest import MAX_BYTES, read_manifest


def refused(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    return err


def race_manifest(tmp_path, capsys):
    a = tmp_path / "a"
    assert main(["race", "--problem", "bowl", "--steps", "3", "--optimizers", "sgd:lr=0.1",
                 "--out", str(a)]) == 0
    capsys.readouterr()
    return json.loads((a / "manifest.json").read_text())


def test_a_fifo_is_refused_at_once(tmp_path, capsys):
    fifo = tmp_path / "manifest.json"
    os.mkfifo(fifo)
    done = []
    worker = threading.Thread(target=lambda: done.append(
        refused(capsys, ["rerun", str(fifo), "--out", str(tmp_path / "o")])), daemon=True)
    start = time.monotonic()
    worker.start()
    worker.join(10)
    assert done, "rerun of a FIFO blocked"
    assert time.monotonic() - start < 10
    assert f"{fifo} is a FIFO (named pipe), not a regular file; not a manifest" in done[0]
    # the folder holding it: the same
    assert "FIFO" in refused(capsys, ["rerun", str(tmp_path), "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("path, culprit", [
    ("/dev/zero", "/dev/zero is a character device, not a regular file"),
    ("/dev/null", "/dev/null is a character device, not a regular file"),
])
def test_devices_are_refused(tmp_path, capsys, path, culprit):
    assert culprit in refused(capsys, ["rerun", path, "--out", str(tmp_path / "o")])


def test_a_huge_file_is_refused_after_reading_one_byte_past_the_limit(tmp_path, capsys,
                                                                     monkeypatch):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(MAX_BYTES + 5000)  # sparse: st_size says what it holds
    err = refused(capsys, ["rerun", str(big), "--out", str(tmp_path / "o")])
    assert f"holds more than {MAX_BYTES:,} bytes, too large for a manifest" in err
    # st_size is not trusted: a file claiming 0 bytes is read to the limit + 1 and no further
    reads = []
    real = os.read

    def counting(fd, n):
        reads.append(n)
        return real(fd, n)

    monkeypatch.setattr(os, "read", counting)
    with pytest.raises(FileFormatError, match="more than 10 bytes"):
        read_bounded(big, 10, "manifest")
    assert sum(reads) == 11
    exact = tmp_path / "exact"
    exact.write_bytes(b"x" * 10)
    assert read_bounded(exact, 10) == b"x" * 10


def test_a_folder_without_manifest_and_a_missing_file(tmp_path):
    with pytest.raises(FileFormatError, match="no manifest at"):
        read_manifest(tmp_path)
    with pytest.raises(FileFormatError, match="is a folder"):
        read_bounded(tmp_path, 10, "manifest")


def test_outputs_stay_in_out(tmp_path, capsys):
    """A tampered sweep manifest whose --json points elsewhere writes it into --out."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    doc = race_manifest(tmp_path, capsys)
    doc.update(command="sweep", argv=["sweep", "--problem", "bowl", "--steps", "3",
                                      "--optimizer", "sgd", "--lr", "0.1,0.2",
                                      f"--json={elsewhere / 'runs.json'}",
                                      "--out", str(elsewhere)])
    m = tmp_path / "m.json"
    m.write_text(json.dumps(doc))
    out = tmp_path / "o"
    assert main(["rerun", str(m), "--out", str(out)]) == 0
    capsys.readouterr()
    assert (out / "runs.json").exists() and (out / "manifest.json").exists()
    assert list(elsewhere.iterdir()) == []
    doc["argv"][-3] = "--json=.."
    m.write_text(json.dumps(doc))
    assert "--json '..', not a file name" in refused(
        capsys, ["rerun", str(m), "--out", str(tmp_path / "p")])


def test_a_manifests_storage_is_not_used_silently(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    a = tmp_path / "a"
    argv = ["compare", "--problem", "bowl", "--optimizers", "sgd", "--budget", "3",
            "--seeds", "1", "--steps", "5", "--out", str(a)]
    assert main(argv) == 0
    capsys.readouterr()
    doc = json.loads((a / "manifest.json").read_text())
    url = f"sqlite:///{elsewhere / 'x.db'}"
    doc["argv"] = [*doc["argv"][:-2], "--storage", url, *doc["argv"][-2:]]
    m = tmp_path / "m.json"
    m.write_text(json.dumps(doc))
    err = refused(capsys, ["rerun", str(m), "--out", str(tmp_path / "b")])
    assert f"--storage {url!r}" in err and "pass --storage to rerun" in err
    assert list(elsewhere.iterdir()) == [] and not (tmp_path / "b").exists()
    # given again on the command line, the user's own storage is used
    mine = f"sqlite:///{tmp_path / 'mine.db'}"
    assert main(["rerun", str(m), "--out", str(tmp_path / "b"), "--storage", mine]) == 0
    assert (tmp_path / "mine.db").exists() and list(elsewhere.iterdir()) == []
    assert (tmp_path / "b" / "report.txt").exists()


def test_a_manifests_data_folder_is_not_used_silently(tmp_path, capsys):
    doc = race_manifest(tmp_path, capsys)
    elsewhere = tmp_path / "elsewhere"
    doc.update(command="mnist", argv=["mnist", "--optimizers", "sgd", "--iterations", "2",
                                      "--data-dir", str(elsewhere), "--out", "x"])
    m = tmp_path / "m.json"
    m.write_text(json.dumps(doc))
    err = refused(capsys, ["rerun", str(m), "--out", str(tmp_path / "o")])
    assert f"a data folder outside --out (--data-dir {str(elsewhere)!r})" in err
    assert "pass --data-dir to rerun" in err
    assert not elsewhere.exists()  # no download started there
    # a flag the command does not take
    err = refused(capsys, ["rerun", str(m), "--out", str(tmp_path / "o"), "--data-dir",
                           str(tmp_path), "--storage", "sqlite:///x.db"])
    assert "rerun --storage: `descentlab mnist` takes no --storage" in err


def test_a_serve_manifest_is_refused_in_one_line(tmp_path, capsys):
    doc = race_manifest(tmp_path, capsys)
    doc.update(command="serve", argv=["serve", "--port", "0"])
    m = tmp_path / "m.json"
    m.write_text(json.dumps(doc))
    err = refused(capsys, ["rerun", str(m), "--out", str(tmp_path / "o")])
    assert "`descentlab serve` writes no outputs into --out, so there is nothing to rerun" \
        in err and "unrecognized arguments" not in err


def test_a_manifest_asking_to_redraw_a_folder_in_place_is_refused(tmp_path, capsys):
    """`benchmark --report-only DIR` rewrites DIR's report and figures and writes no
    manifest; a manifest carrying it (crafted) would have rerun write into DIR."""
    doc = race_manifest(tmp_path, capsys)
    target = tmp_path / "victim"
    target.mkdir()
    doc.update(command="benchmark", argv=["benchmark", "--report-only", str(target)])
    m = tmp_path / "m.json"
    m.write_text(json.dumps(doc))
    err = refused(capsys, ["rerun", str(m), "--out", str(tmp_path / "o")])
    assert "key 'argv' has --report-only" in err and "not a run to rerun" in err
    assert list(target.iterdir()) == [] and not (tmp_path / "o").exists()


def test_every_path_flag_of_every_command_is_moved_or_external():
    """A new flag naming a place must be classified, or a manifest could point it anywhere."""
    import argparse

    from descentlab.cli import build_parser

    sub = next(a for a in build_parser()._actions
               if isinstance(a, argparse._SubParsersAction))
    seen = set()
    for name, parser in sub.choices.items():
        if name == "rerun" or "--out" not in parser._option_string_actions:
            continue
        for action in parser._actions:
            flag = action.option_strings[-1] if action.option_strings else None
            looks_like_a_place = action.metavar in ("DIR", "FILE", "URL", "PATH") or any(
                w in action.dest for w in ("dir", "file", "path", "storage", "json",
                                           "export", "url"))
            if flag and looks_like_a_place:
                seen.add(flag)
                assert flag in MOVED or flag in EXTERNAL or flag in NOT_RERUN, (name, flag)
    assert {"--out", "--json", "--storage", "--data-dir"} <= seen
