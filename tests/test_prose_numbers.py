"""Numbers in README.md and docs/*.md that describe a committed gallery file are that file's.

Each test reads the prose and the file it describes (docs/figures/...) and compares, so a
regenerated gallery with different results fails here, with the sentence to write instead.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"
README = (ROOT / "README.md").read_text()
DOC = {p.stem: p.read_text() for p in (ROOT / "docs").glob("*.md")}


def flat(text: str) -> str:
    return " ".join(text.split())


def shown(value: float, text: str) -> bool:
    """``text`` is ``value`` rounded to the decimals ``text`` shows."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"{value:.{decimals}f}" == text


def significant(value: float, text: str) -> bool:
    """``text`` is ``value`` rounded to the significant digits ``text`` shows."""
    digits = len(text.replace(".", "").lstrip("0")) or 1
    return float(f"{value:.{digits}g}") == float(text)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- E5
E5_NAMES = {"SGD": "sgd", "Momentum": "momentum", "Nesterov": "nesterov", "AdaGrad": "adagrad",
            "RMSprop": "rmsprop", "Adam": "adam"}
E5_CLAIM = re.compile(r"(\*\*)?(SGD|Momentum|Nesterov|AdaGrad|RMSprop|Adam) (0\.\d+)(\*\*)?")


@pytest.mark.parametrize("text", [README, DOC["nn"]], ids=["README", "nn.md"])
def test_e5_test_accuracies_are_the_gallerys(text: str) -> None:
    manifest = json.loads((FIGURES / "e5_mnist" / "manifest.json").read_text())
    acc = manifest["settings"]["results"]["test_accuracy"]
    at = flat(text).index("test accuracy", flat(text).index("SGD 0.") - 60)
    claims = E5_CLAIM.findall(flat(text)[at:at + 200])
    assert {name for _, name, _, _ in claims} == set(E5_NAMES), claims
    best = max(acc.values())
    expected = ", ".join(f"{n} {acc[k]:.4f}" for n, k in E5_NAMES.items())
    for bold, name, value, _ in claims:
        assert shown(acc[E5_NAMES[name]], value), f"{name} {value}; the gallery: {expected}"
        assert bool(bold) == (acc[E5_NAMES[name]] == best), f"bold marks the best: {name}"


# --------------------------------------------------------------------------- compare
def test_compare_mnist_paragraph_is_the_gallerys() -> None:
    folder = FIGURES / "compare_mnist"
    by_name = {r["optimizer"]: r for r in rows(folder / "results.csv")}
    manifest = json.loads((folder / "manifest.json").read_text())
    text = flat(DOC["compare"])
    text = text[text.index("Test accuracy after"):]
    text = text[:text.index("## ")]
    claim = re.search(
        r"tuned SGD \(lr (\S+)\) (\S+) \[(\S+), (\S+)\], Momentum \(lr (\S+), μ (\S+)\) (\S+) "
        r"\[(\S+), (\S+)\], Adam \(lr (\S+), β1 (\S+), β2 (\S+)\) (\S+) \[(\S+), (\S+)\]; at the "
        r"library defaults (\S+), (\S+) and (\S+)\.", text)
    assert claim, "the MNIST study sentence is not found in docs/compare.md"
    got = claim.groups()
    sgd, mom, adam = by_name["sgd"], by_name["momentum"], by_name["adam"]
    pairs = [(sgd["lr"], got[0]), (sgd["test_median"], got[1]), (sgd["test_q25"], got[2]),
             (sgd["test_q75"], got[3]), (mom["lr"], got[4]), (mom["momentum"], got[5]),
             (mom["test_median"], got[6]), (mom["test_q25"], got[7]), (mom["test_q75"], got[8]),
             (adam["lr"], got[9]), (adam["beta1"], got[10]), (adam["beta2"], got[11]),
             (adam["test_median"], got[12]), (adam["test_q25"], got[13]),
             (adam["test_q75"], got[14]), (sgd["default_median"], got[15]),
             (mom["default_median"], got[16]), (adam["default_median"], got[17])]
    for value, prose in pairs:
        assert significant(float(value), prose), f"{prose} in docs/compare.md; results.csv: {value}"
    medians = [float(r["test_median"]) for r in (sgd, mom, adam)]
    spread = re.search(r"the three medians are within (\S+) \((\d+) of the 10,000", text)
    assert spread and shown(max(medians) - min(medians), spread.group(1))
    assert round((max(medians) - min(medians)) * 10_000) == int(spread.group(2))
    budget, seeds = manifest["settings"]["budget"], len(manifest["settings"]["tuning_seeds"])
    tests = len(manifest["settings"]["test_seeds"])
    runs = re.search(r"\((\d+) tuning runs \+ (\d+) test runs\)", text)
    assert runs and (int(runs.group(1)), int(runs.group(2))) == (
        3 * budget * seeds, 3 * 2 * tests), runs


def test_compare_bowl_ranges_are_the_gallerys() -> None:
    results = rows(FIGURES / "compare_bowl" / "results.csv")
    text = flat(DOC["compare"])
    claim = re.search(r"Tuned, all six end between (\S+) and (\S+) above the minimum .*? at "
                      r"the library defaults they end between (\S+) and (\S+) —", text)
    assert claim and len(results) == 6
    tuned = sorted(float(r["test_median"]) for r in results)
    default = sorted(float(r["default_median"]) for r in results)
    lo, hi, dlo, dhi = claim.groups()
    for value, prose in ((tuned[0], lo), (tuned[-1], hi), (default[0], dlo),
                         (default[-1], dhi)):
        assert shown(value, prose), f"{prose} in docs/compare.md; results.csv: {value}"


# --------------------------------------------------------------------------- E1
@pytest.mark.parametrize("text", [README, DOC["lab"]], ids=["README", "lab.md"])
def test_e1_thresholds_are_the_gallerys(text: str) -> None:
    sweep = json.loads((FIGURES / "e1_sweep" / "sweep.json").read_text())
    for t in sweep["thresholds"]:
        row = re.search(rf"^\| {t['value']} *\|(.*)\|\s*$", text, re.M)
        assert row, f"no E1 table row for beta2 = {t['value']}"
        cells = [c.strip() for c in row.group(1).split("|")]
        numbers = [float(re.match(r"[\d.]+", c).group()) for c in cells[:3]
                   if re.match(r"[\d.]+", c)]
        if len(cells) >= 4:  # docs/lab.md: reach, global, bounce, counts (bounced)
            assert numbers == [t["first_reach"], t["first_global"], t["first_bounce"]], cells
            c = t["counts"]
            assert flat(cells[3]) == (f"{c['global']} / {c['local']} / {c['moving']} / "
                                      f"{c['diverged']} ({t['bounced']})"), cells
        else:  # README: first ending at the global minimum, first bounce
            assert numbers == [t["first_global"], t["first_bounce"]], cells


def test_e1_sweep_setting_is_the_gallerys() -> None:
    sweep = json.loads((FIGURES / "e1_sweep" / "sweep.json").read_text())
    text = flat(DOC["lab"])
    claim = re.search(r"(\d+) updates \(100 frames\).*?tol = (\S+) \(1 % of the window "
                      r"\[−10, 12\]\)\. One vectorised run of (\d+) grid points", text)
    assert claim
    assert int(claim.group(1)) == sweep["steps"] and float(claim.group(2)) == sweep["tol"]
    assert int(claim.group(3)) == len(sweep["records"])


# --------------------------------------------------------------------------- AdaGrad
def _final_f(folder: str, optimizer: str) -> float:
    last = [r for r in rows(FIGURES / folder / "trajectories.csv") if r["optimizer"] == optimizer]
    return float(last[-1]["f"])


def test_full_matrix_adagrad_numbers_are_the_gallerys() -> None:
    text = flat(DOC["optimizers"])
    claim = re.search(r"diagonal AdaGrad is left at f = (\S+) after 30 steps, (\d+) times "
                      r"higher than on the bowl.*?\(f = (\S+)·10⁻⁴ on the bowl, (\S+)·10⁻⁴ on "
                      r"the turned one", text)
    assert claim
    diag_rot, diag_bowl = _final_f("adagrad_full_rotated", "adagrad"), _final_f(
        "adagrad_full_bowl", "adagrad")
    assert shown(diag_rot, claim.group(1))
    assert round(diag_rot / diag_bowl, -2) == int(claim.group(2)), diag_rot / diag_bowl
    assert shown(_final_f("adagrad_full_bowl", "adagrad_full") * 1e4, claim.group(3))
    assert shown(_final_f("adagrad_full_rotated", "adagrad_full") * 1e4, claim.group(4))
    readme = flat(README)
    assert "both end below f = 10⁻³" in readme
    assert max(_final_f("adagrad_full_bowl", o) for o in ("adagrad", "adagrad_full")) < 1e-3
    turned = re.search(r"\(f = (\S+) after 30 steps\); the full matrix.*?reaches (\S+)·10⁻⁴",
                       readme)
    assert turned and shown(diag_rot, turned.group(1))
    assert shown(_final_f("adagrad_full_rotated", "adagrad_full") * 1e4, turned.group(2))


# --------------------------------------------------------------------------- E3
def _path(folder: str, optimizer: str) -> list[dict[str, str]]:
    return [r for r in rows(FIGURES / folder / "trajectories.csv") if r["optimizer"] == optimizer]


def test_e3_nesterov_panels_as_described() -> None:
    text = flat(DOC["lab"])
    claim = re.search(r"swings further across the valley \(to y = (\S+), against (\S+) by "
                      r"Nesterov's rule\), .*? overshoots less along it \(to x = (\S+), against "
                      r"(\S+)\)", text)
    assert claim
    old, new = _path("e3_textbook", "nesterov"), _path("e3_race", "nesterov")
    lowest = [min(float(r["y"]) for r in p) for p in (old, new)]
    furthest = [max(float(r["x"]) for r in p) for p in (old, new)]
    for value, prose in zip(lowest + furthest, claim.groups()):
        assert shown(value, prose.replace("−", "-")), (prose, value)


def test_e3_rmsprop_ends_near_1e_12() -> None:
    assert "RMSprop is at 10⁻¹² after 30 steps" in flat(DOC["lab"])
    last = _path("e3_race", "rmsprop")[-1]
    assert last["step"] == "30" and 1e-12 <= float(last["f"]) < 1e-11


def test_e1_race_caption_is_the_gallerys() -> None:
    """README: "Adam at lr 0.5 (stuck), 1.3 (reaches the global minimum), 8.3 (bounces)"."""
    claim = re.search(r"Adam at lr (\S+) \(stuck\), (\S+) \(reaches the global minimum\), "
                      r"(\S+) \(bounces\)", flat(README))
    assert claim
    manifest = json.loads((FIGURES / "e1_race" / "manifest.json").read_text())
    outcome = {re.search(r"lr=([\d.]+)", r["optimizer"]).group(1): r
               for r in manifest["settings"]["summary"]}
    path = {lr: [float(r["x"]) for r in rows(FIGURES / "e1_race" / "trajectories.csv")
                 if f"lr={lr}," in r["optimizer"]] for lr in outcome}
    stuck, reaches, bounces = claim.groups()
    assert outcome[stuck]["outcome"] == "local" and max(path[stuck]) < -0.49  # never over the hump
    assert outcome[reaches]["outcome"] == "global"
    assert outcome[bounces]["outcome"] == "local"
    assert min(abs(x - 6.335) for x in path[bounces]) < 0.2  # through the global minimum


# --------------------------------------------------------------------------- torch_ulps
def test_torch_ulps_ranges_are_the_committed_tables() -> None:
    """README's and docs/optimizers.md's "5–59% ... 1–6 ulp" are the ranges of the
    benchmarks/torch_ulps.py output committed in docs/optimizers.md."""
    block = DOC["optimizers"].split("torch 2.13.0+cpu, 100000 elements", 1)[1].split("```")[0]
    cells = re.findall(r"([\d.]+)%\s+(\d+)\s+\d+", block)
    assert len(cells) == 10 * 4, len(cells)
    shares = [float(s) for s, _ in cells]
    ulps = [int(u) for _, u in cells]
    share_range = f"{round(min(shares))}–{round(max(shares))}%"
    ulp_range = f"{min(ulps)}–{max(ulps)} ulp"
    for text in (flat(README), flat(DOC["optimizers"])):
        assert share_range in text and ulp_range in text, (share_range, ulp_range)
