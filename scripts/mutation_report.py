"""Mutation score of the science core from mutmut's results (mutants/**/*.meta).

score = detected / (checked - documented equivalents), per module and in total, where detected
is killed or timed out (the tests noticed), checked is every mutant mutmut ran on (killed,
survived, timeout, no tests, suspicious), and the documented equivalents are the mutant names
written in backticks in docs/mutation.md's "Equivalent mutants" section. Survivors that are
neither killed nor documented are listed, so each is either killed by a test or documented
(a documented mutant that a test kills counts as killed).

Usage: python scripts/mutation_report.py [GLOB ...]   (default: the science core's globs)
"""

from __future__ import annotations

import fnmatch
import json
import pathlib
import re
import signal
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The science core of issue 16 (mutmut's mutant names are module.x_function__mutmut_N).
CORE = [
    "nc_mixup.mixup.*",
    "nc_mixup.losses.*",
    "nc_mixup.train.x_step_randomness__mutmut_*",
    "nc_mixup.analysis.calibration.*",
    "nc_mixup.analysis.geometry.*",
    "nc_mixup.analysis.projection.*",
    "nc_mixup.analysis.neural_collapse.*",
    "theory.projection.*",
    "theory.etf.*",
    "theory.fixed_classifier.*",
    "experiments.claims.*",
]
DETECTED = {1, 3, 36, 24, -24, 152, 255, -9, -11, 37}  # killed, timeout, crash, type check
SURVIVED = {0}
NO_TESTS = {5, 33}


def equivalents(doc: pathlib.Path = ROOT / "docs" / "mutation.md") -> set[str]:
    """Mutant names in backticks in the 'Equivalent mutants' section of docs/mutation.md."""
    if not doc.exists():
        return set()
    text = doc.read_text()
    section = text.split("## Equivalent mutants", 1)[-1].split("\n## ", 1)[0]
    return set(re.findall(r"`([\w.]+__mutmut_\d+)`", section))


def results(globs: list[str]) -> dict[str, int | None]:
    """{mutant name: mutmut exit code (None: not run)} of the mutants matching any glob."""
    out: dict[str, int | None] = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if any(fnmatch.fnmatch(name, g) for g in globs):
                out[name] = code
    return out


def module_of(name: str) -> str:
    return name.split(".x_")[0].split(".xǁ")[0]


def main(argv: list[str]) -> int:
    globs = argv or CORE
    res = results(globs)
    equiv = equivalents()
    rows: dict[str, dict[str, int]] = {}
    undocumented = []
    for name, code in sorted(res.items()):
        r = rows.setdefault(
            module_of(name),
            dict.fromkeys(
                ("total", "killed", "survived", "no_tests", "other", "not_run", "equivalent"), 0
            ),
        )
        r["total"] += 1
        if code is None:
            r["not_run"] += 1
        elif code in DETECTED:
            r["killed"] += 1
        elif name in equiv:
            r["equivalent"] += 1
        elif code in SURVIVED or code in NO_TESTS:
            r["survived" if code in SURVIVED else "no_tests"] += 1
            undocumented.append(name)
        else:
            r["other"] += 1
            undocumented.append(name)
    head = (
        f"{'module':40} {'total':>6} {'killed':>6} {'surv':>5} {'notest':>6} {'other':>5} "
        f"{'equiv':>5} {'notrun':>6} {'score':>7}"
    )
    print(head)
    tot = dict.fromkeys(next(iter(rows.values()), {}), 0)
    for mod, r in sorted(rows.items()):
        for k in tot:
            tot[k] += r[k]
        print(_line(mod, r))
    if rows:
        print(_line("TOTAL (run mutants only)", tot))
    print(f"\n{len(undocumented)} undocumented survivors:")
    for name in undocumented:
        print("  ", name)
    return 0


def _line(mod: str, r: dict[str, int]) -> str:
    run = r["total"] - r["not_run"] - r["equivalent"]
    score = f"{100 * r['killed'] / run:6.1f}%" if run else "    n/a"
    return (
        f"{mod:40} {r['total']:6} {r['killed']:6} {r['survived']:5} {r['no_tests']:6} "
        f"{r['other']:5} {r['equivalent']:5} {r['not_run']:6} {score:>7}"
    )


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    sys.exit(main(sys.argv[1:]))
