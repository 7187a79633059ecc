"""The last line of isolation: a solve that raises is retried without the jobs that make it raise.

The API's bounds and the solver's scaling keep every figure in range, and the property tests hunt
for inputs that still break a solve. Should one be found in production anyway, it must cost one
job its placement, not the whole cluster its scheduling: each job is tried alone, the ones that
raise are set aside with the error, and the rest are solved together.

A plan found by several CP-SAT workers is checked by the independent validator before it is used
(one worker's plans are reproducible, and the tests check those): should one
ever break a rule, the cycle plans again with one worker and says so in the log.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import Snapshot
from pricewise.core.solver import Plan, solve
from pricewise.core.validate import violations

log = logging.getLogger(__name__)


def solve_isolated(
    snapshot: Snapshot, settings: SolverSettings | None = None
) -> tuple[Plan, dict[str, str]]:
    """The plan, and the jobs set aside (`namespace/name` -> error) because planning them raised.

    Raises when the snapshot fails even without its jobs: then the fault is not a job's.
    """
    settings = settings or SolverSettings()
    try:
        return _checked(snapshot, settings), {}
    except Exception:
        log.exception("solve failed; retrying job by job to set aside the jobs that fail")
    alone = replace(settings, time_limit_s=min(settings.time_limit_s, 1.0))
    solve(replace(snapshot, jobs=()), alone)
    failed: dict[str, str] = {}
    for job in snapshot.jobs:
        try:
            solve(replace(snapshot, jobs=(job,)), alone)
        except Exception as err:
            failed[job.key] = f"{type(err).__name__}: {err}"
    rest = replace(snapshot, jobs=tuple(j for j in snapshot.jobs if j.key not in failed))
    return _checked(rest, settings), failed


def _checked(snapshot: Snapshot, settings: SolverSettings) -> Plan:
    plan = solve(snapshot, settings)
    if settings.num_workers == 1:
        return plan
    problems = violations(snapshot, plan)
    if not problems:
        return plan
    log.error(
        "the plan of %d solver workers breaks %d rules (first: %s); planning again with one",
        settings.num_workers,
        len(problems),
        problems[0],
    )
    return solve(snapshot, replace(settings, num_workers=1))
