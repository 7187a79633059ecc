"""Mutation testing of the pure core with mutmut: `make mutants` (minutes; not part of `make test`).

mutmut looks for code under `src/` (or the top folder) only, so the package is copied into a
scratch tree `build/mutation/src/pricewise` with the unit tests beside it, and mutmut runs
there. The report gives, per module, the mutants the tests killed and those that survived;
`cd build/mutation && mutmut show <name>` prints one survivor's change.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "mutation"
CORE = ("costmodel", "accounting", "packing", "solver", "cpsat", "lookahead")
"""The modules mutated: the cost model, accrual and budget periods, node packing, the
solver's constraints and objectives, its CP-SAT backend (with the completion of a relaxation's
rounded plan), and which later starts it may plan."""
TESTS = (
    "tests/unit/test_figures.py",
    "tests/unit/test_costmodel.py",
    "tests/unit/test_isolation.py",
    "tests/unit/test_packing.py",
    "tests/unit/test_solver.py",
    "tests/unit/test_solver_properties.py",
    "tests/unit/test_accounting.py",
    "tests/unit/test_refusal_edges.py",
    "tests/unit/test_explain_edges.py",
    "tests/unit/test_preemption_edges.py",
    "tests/unit/test_phases_status.py",
    "tests/unit/test_relaxation_floor.py",
    "tests/unit/test_operator_core.py",
    "tests/unit/test_planning_status.py",
    "tests/unit/test_timeline.py",
    "tests/unit/test_preemption.py",
    "tests/unit/test_faults.py",
    "tests/unit/test_job_figures.py",
    "tests/unit/test_explain_messages.py",
    "tests/unit/test_lifecycle_edges.py",
    "tests/unit/test_timeline_edges.py",
    "tests/unit/test_rooms_edges.py",
    "tests/unit/test_run_policy.py",
    "tests/unit/test_units.py",
    "tests/unit/test_spotrisk.py",
    "tests/unit/test_validate_edges.py",
    "tests/unit/test_units_edges.py",
    "tests/unit/test_snapshot_edges.py",
    "tests/unit/test_greedy_edges.py",
    "tests/unit/test_spotrisk_edges.py",
    "tests/unit/test_reclaims_edges.py",
    "tests/unit/test_quarantine_edges.py",
    "tests/unit/test_failure_rules.py",
)
CONFIG = """
[tool.mutmut]
source_paths = ["src"]
only_mutate = [{paths}]
pytest_add_cli_args_test_selection = [{tests}]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]
also_copy = ["examples"]
do_not_mutate_patterns = ["^\\\\s*log\\\\."]
"""


def prepare(modules: list[str]) -> None:
    """A fresh scratch tree: the package under src/, the unit tests, the examples."""
    shutil.rmtree(WORK, ignore_errors=True)
    shutil.copytree(ROOT / "operator" / "pricewise", WORK / "src" / "pricewise")
    shutil.copytree(ROOT / "tests", WORK / "tests", ignore=shutil.ignore_patterns("e2e"))
    shutil.copytree(ROOT / "examples", WORK / "examples")
    paths = ", ".join(f'"src/pricewise/core/{m}.py"' for m in modules)
    tests = ", ".join(f'"{t}"' for t in TESTS)
    (WORK / "pyproject.toml").write_text(CONFIG.format(paths=paths, tests=tests))
    # Made before mutmut starts: a folder on PYTHONPATH missing at start-up is cached as absent,
    # and the tests imported an installed (editable) pricewise instead, covering no mutant.
    (WORK / "mutants" / "src").mkdir(parents=True)


def report() -> dict[str, Counter[str]]:
    """Mutant outcomes per module, from `mutmut results --all true`."""
    listing = subprocess.run(
        ["mutmut", "results", "--all", "true"],
        cwd=WORK,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    for line in listing.splitlines():
        if ":" not in line:
            continue
        name, status = (part.strip() for part in line.rsplit(":", 1))
        module = name.split(".x")[0].removeprefix("pricewise.core.")
        outcomes[module][status] += 1
    return outcomes


def main(argv: list[str] | None = None) -> int:
    """Prepare, run mutmut, print the score per module."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", default=list(CORE), help="core modules to mutate")
    parser.add_argument("--jobs", default="2", help="parallel test runs")
    args = parser.parse_args(argv)
    prepare(args.modules)
    # Tests that run `python -m pricewise` as a process must import the mutated package, not
    # the installed one: without it they killed no mutant.
    env = {**os.environ, "PYTHONPATH": str(WORK / "mutants" / "src")}
    run = subprocess.run(
        ["mutmut", "run", "--max-children", args.jobs], cwd=WORK, check=False, env=env
    )
    if run.returncode != 0:
        return run.returncode
    print(f"\n{'module':<12} {'killed':>7} {'survived':>9} {'other':>6} {'score':>7}")
    for module, counts in sorted(report().items()):
        killed = counts["killed"] + counts["timeout"]
        survived = counts["survived"]
        other = sum(counts.values()) - killed - survived
        score = killed / (killed + survived) if killed + survived else 0.0
        print(f"{module:<12} {killed:>7} {survived:>9} {other:>6} {score:>7.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
