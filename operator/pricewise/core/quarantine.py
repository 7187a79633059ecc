"""The last line of isolation: a solve that raises is retried without the jobs that make it raise.

The API's bounds and the solver's scaling keep every figure in range, and the property tests hunt
for inputs that still break a solve. Should one be found in production anyway, it must cost one
job its placement, not the whole cluster its scheduling: each job is tried alone, the ones that
raise are set aside with the error, and the rest are solved together.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from pricewise.core.snapshot import Snapshot
from pricewise.core.solver import Plan, SolverSettings, solve

log = logging.getLogger(__name__)


def solve_isolated(
    snapshot: Snapshot, settings: SolverSettings | None = None
) -> tuple[Plan, dict[str, str]]:
    """The plan, and the jobs set aside (`namespace/name` -> error) because planning them raised.

    Raises when the snapshot fails even without its jobs: then the fault is not a job's.
    """
    settings = settings or SolverSettings()
    try:
        return solve(snapshot, settings), {}
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
    return solve(rest, settings), failed
