"""Every ```python block in README.md and docs/*.md runs.

The blocks of one file run in order in one namespace (like a notebook), in a scratch
directory; a block written as a doctest (``>>>`` lines) has its printed output checked.
``load_mnist()`` finds small IDX files the test writes ($DESCENTLAB_DATA).
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

from .test_data import tiny_mnist, write_files

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(doc: Path) -> list[str]:
    return [m.group(1) for m in BLOCK.finditer(doc.read_text())]


@pytest.mark.parametrize("doc", [d for d in DOCS if python_blocks(d)], ids=lambda d: d.name)
def test_doc_examples_run(doc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # Examples that load MNIST read small IDX files written here (no download in tests).
    write_files(tmp_path / "mnist-data", tiny_mnist(n_train=300, n_test=50))
    monkeypatch.setenv("DESCENTLAB_DATA", str(tmp_path / "mnist-data"))
    namespace: dict = {"__name__": "__doc_example__"}
    for i, code in enumerate(python_blocks(doc)):
        if code.lstrip().startswith(">>>"):
            test = doctest.DocTestParser().get_doctest(code, namespace, f"{doc.name}#{i}",
                                                       str(doc), 0)
            flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
            runner = doctest.DocTestRunner(optionflags=flags)
            runner.run(test, clear_globs=False)
            assert runner.failures == 0, f"{doc.name} block {i}: doctest output differs"
        else:
            exec(compile(code, f"{doc.name}#{i}", "exec"), namespace)


def test_readme_has_examples():
    assert python_blocks(ROOT / "README.md")


def test_the_optimizer_tables_are_the_generated_ones():
    """README.md's and docs/optimizers.md's optimizer tables are generated from the registry
    (`make docs`); a class changed without regenerating them fails here, naming the file."""
    from descentlab.optim import available, docs

    assert docs.stale() == [], "run `make docs` (python -m descentlab.optim.docs)"
    table = docs.readme_table()
    listed = [line.split("`")[1] for line in table.splitlines()[2:]]
    assert listed == available()  # every registered optimizer, aliases included
