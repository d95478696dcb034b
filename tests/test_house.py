"""The house rules, checked: `descentlab --help` stays light, commands do not import each
other, and no module uses another module's private names."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "descentlab"


def test_help_imports_neither_numba_nor_the_networks_nor_matplotlib():
    code = ("import sys\nfrom descentlab.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "import json\nprint(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = json.loads(out.splitlines()[-1])
    assert "usage: descentlab" in out
    heavy = [m for m in loaded if m.split(".")[0] in ("numba", "matplotlib", "torch")
             or m.startswith(("descentlab.nn", "descentlab.viz"))]
    assert heavy == []


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(PACKAGE.rglob("*.py"))]


def test_commands_share_helpers_only_through_common():
    commands = {p.stem for p in (PACKAGE / "commands").glob("*.py")} - {"__init__", "_common"}
    offenders = []
    for path, tree in _modules():
        if path.parent.name != "commands":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = {node.module} if node.module else {a.name for a in node.names}
                if names & commands:
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_no_module_uses_another_modules_private_names():
    offenders = []
    for path, tree in _modules():
        ours = set()  # names bound to descentlab modules/packages in this file
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or
                                                     (node.module or "").startswith("descentlab")):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__") \
                            and a.name != "_common":  # the commands' shared module
                        offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {a.name}")
                    ours.add(a.asname or a.name)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in ours and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} "
                                 f"{node.value.id}.{node.attr}")
    assert offenders == []
