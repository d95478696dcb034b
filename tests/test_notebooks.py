"""The lesson notebooks (notebooks/*.ipynb) run top to bottom, and are stored without outputs.

Each runs in a fresh Jupyter kernel (nbclient + ipykernel, test extra). A notebook that raises
fails the test with the cell's traceback; so a change to the API that breaks a lesson fails
the suite.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_there_is_one_notebook_per_experiment():
    """E1–E9, one lesson each; the other notebooks are tutorials (plugins_...)."""
    names = [p.name.split("_")[0] for p in NOTEBOOKS if p.name[0] == "e"]
    assert names == [f"e{i}" for i in range(1, 10)]
    assert {p.name for p in NOTEBOOKS if p.name[0] != "e"} == {
        "plugins_your_own_optimizer.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    book = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(book["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, (
                f"{path.name} cell {i} has stored outputs: strip them")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(path, as_version=4)
    env_data = os.environ.pop("DESCENTLAB_DATA", None)  # the lesson's no-MNIST path
    try:
        NotebookClient(book, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        if env_data is not None:
            os.environ["DESCENTLAB_DATA"] = env_data
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    # Every lesson shows something: a figure, an animation or a printed table.
    shown = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert shown, f"{path.name} displays nothing"
