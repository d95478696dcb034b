"""The structure of optim/: each idea in one place, no import cycles, the class as the source
of its equations, element-wise promise and kernel name."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from descentlab import optim
from descentlab.optim import blocks, fused
from descentlab.optim.fused import steps_cautious
from descentlab.optim.moments import bias_correction, ema, ema_square

OPTIM = Path(optim.__file__).parent


def descentlab_imports(path: Path) -> set[str]:
    """The descentlab modules a file imports (relative imports resolved), at any level."""
    package = ".".join(path.relative_to(OPTIM.parents[1]).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("descentlab"):
                found.add(name)
                found.update(f"{name}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("descentlab"))
    return found


def test_the_fused_package_imports_no_optimizer_class():
    """fused/ maps kernel names to steps; the classes name their kernel. (It used to import
    every class, a cycle base → fused → steps → classes → base.)"""
    allowed = ("descentlab.optim.fused", "descentlab.optim.tree", "descentlab.optim.moments",
               "descentlab.errors")  # (the user-mistake exceptions: errors.py imports nothing)
    for path in sorted((OPTIM / "fused").glob("*.py")):
        for name in descentlab_imports(path):
            assert name.startswith(allowed), f"{path.name} imports {name}"
    assert descentlab_imports(OPTIM / "moments.py") == set()
    assert not any("fused" in n for n in descentlab_imports(OPTIM / "blocks.py"))


def test_every_optimizer_states_its_equations_elementwise_flag_and_kernel():
    for name, cls in optim.OPTIMIZERS.items():
        assert cls.equations and all(isinstance(line, str) and line for line in cls.equations)
        if cls.kernel is not None:  # (or a kernel that counts over its whole array)
            assert cls.elementwise or cls.kernel in steps_cautious.WHOLE_ARRAY, (
                f"{name}: a kernel needs an element-wise rule")
            assert cls.kernel in fused.registry(), f"{name}: kernel {cls.kernel!r}"
    assert optim.Nesterov.kernel == "momentum" and optim.AdamW.kernel == "adam"


def test_a_subclass_with_its_own_rule_loses_kernel_and_elementwise_flag():
    class Halved(optim.Adam):
        def rule(self, p, g, state, h):
            p -= 0.5 * h.lr * g

    class Renamed(optim.Adam):  # same rule: keeps both
        name = "renamed"

    class Declared(optim.SGD):  # its own rule, declared element-wise (no kernel)
        elementwise = True

        def rule(self, p, g, state, h):
            p -= 2 * h.lr * g

    assert (Halved.kernel, Halved.elementwise) == (None, False)
    assert (Renamed.kernel, Renamed.elementwise) == ("adam", True)
    assert (Declared.kernel, Declared.elementwise) == (None, True)
    assert optim.Adam.kernel == "adam"  # the parent is untouched
    p, g = np.ones(8), np.ones(8)
    opt = Declared(lr=0.1)
    h = opt.resolve(0)
    blocks_before = blocks.BLOCK_BYTES
    try:
        blocks.BLOCK_BYTES = 16
        assert len(list(blocks.blocks(opt, p, g, {}, h))) == 4
        assert len(list(blocks.blocks(Halved(), p, g, {}, h))) == 1
    finally:
        blocks.BLOCK_BYTES = blocks_before


def test_the_family_declares_beta1_beta2_eps_once():
    from descentlab.optim.adam import AdamFamily

    for cls in (optim.Adam, optim.Nadam, optim.Adamax):
        assert issubclass(cls, AdamFamily)
        for name in ("beta1", "beta2", "eps"):
            # a member may say what the β means for it (Adamax: of the infinity norm) through
            # the family's declaration (.replace), never a second check or range
            own, family = vars(cls).get(name), getattr(AdamFamily, name)
            assert own is None or (own.check is family.check and own.search == family.search
                                   and own.tunable == family.tunable), \
                f"{cls.__name__} re-declares {name}"
        assert cls.hyperparameter_names()[:5] == ("lr", "weight_decay", "beta1", "beta2", "eps")


def test_moment_helpers_against_a_hand_computation_and_on_exact_numbers():
    from fractions import Fraction as F

    m = np.array([F(1), F(-2)], dtype=object)
    ema(m, np.array([F(3), F(0)], dtype=object), F(1, 4))  # ¼·m + ¾·g
    assert list(m) == [F(1, 4) + F(9, 4), F(-1, 2)]
    v = np.array([F(2)], dtype=object)
    ema_square(v, np.array([F(3)], dtype=object), F(1, 2))  # ½·2 + ½·9
    assert list(v) == [F(11, 2)]
    assert bias_correction(F(1, 2), 3) == F(7, 8)


def test_duplicate_kernel_names_are_refused(tmp_path):
    code = (
        "import sys, types; from descentlab.optim import fused; "
        "import descentlab.optim.fused.steps as s; "
        "m = types.ModuleType('descentlab.optim.fused.steps_dup'); m.STEPS = {'adam': None}; "
        "sys.modules[m.__name__] = m; "
        f"open({str(tmp_path / 'steps_dup.py')!r}, 'w').close(); "
        f"fused.__path__.append({str(tmp_path)!r}); "
        "fused.registry()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode != 0 and "fused kernel 'adam' is registered twice" in out.stderr


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_the_cli_prints_the_class_equations(name, capsys):
    from descentlab.cli import main

    assert main(["optimizers", name]) == 0
    out = capsys.readouterr().out
    for line in optim.OPTIMIZERS[name].equations:
        assert line in out


def test_new_rules_run_on_exact_numbers():
    """The rules without roots run on object arrays of fractions (the exact trace's need)."""
    from fractions import Fraction as F
    from types import SimpleNamespace

    cases = [(optim.Rprop(), dict(etaminus=F(1, 2), etaplus=F(6, 5), step_size_min=F(0),
                                  step_size_max=F(50)), ("prev", "step_size")),
             (optim.ASGD(), dict(lambd=F(0), eta=F(1, 10), mu=F(1, 2)), ("ax",))]
    for opt, extra, slots in cases:
        p = np.array([F(1), F(-2)], dtype=object)
        state = {s: np.array([F(0), F(0)], dtype=object) for s in slots}
        for t in (1, 2):
            h = SimpleNamespace(t=t, lr=F(1, 10), weight_decay=0, **extra)
            opt.rule(p, np.array([F(3), F(-1)], dtype=object), state, h)
        assert all(isinstance(x, F) for x in [*p, *(x for a in state.values() for x in a)])
        if isinstance(opt, optim.Rprop):  # Δ: 1/10, then 6/50 where the sign held
            assert list(p) == [1 - F(1, 10) - F(12, 100), -2 + F(1, 10) + F(12, 100)]
        else:  # p − ηg twice (λ = 0); μ = ½ both times: a₁ = ½p₁, a₂ = a₁ + ½(p₂ − a₁)
            assert list(p) == [F(4, 10), F(-18, 10)]
            a1 = [F(7, 20), F(-19, 20)]
            assert list(state["ax"]) == [a1[0] + (F(4, 10) - a1[0]) / 2,
                                         a1[1] + (F(-18, 10) - a1[1]) / 2]
