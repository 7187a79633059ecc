"""From TrainingJobs and Budgets to the solver's snapshot types, and a job's progress as its
workers report it (pods in `podrequests`, pools in `nodepools`, ResourceQuotas in `quotas`).

Shared by `pricewise plan` (objects read from files) and the operator (objects from watches).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pricewise.api import models as api
from pricewise.api.naming import PROGRESS_ANNOTATION
from pricewise.api.podrequests import worker_resources
from pricewise.core.accounting import period_bounds
from pricewise.core.lifecycle import ExitRule
from pricewise.core.snapshot import (
    BudgetView,
    Job,
    JobOption,
)
from pricewise.core.times import as_utc
from pricewise.core.units import parse_duration, to_micros

MOST_SAVED = 0.99
"""Most of a job's work taken as saved: a restarted job always has some left to plan."""


def exit_rules(policy: api.FailurePolicy) -> tuple[ExitRule, ...]:
    """A failure policy's rules by exit code, in its order, as the lifecycle reads them."""
    return tuple(
        ExitRule(r.action, frozenset(r.on_exit_codes.values), r.on_exit_codes.operator == "In")
        for r in policy.rules
    )


def reported_progress(body: Mapping[str, Any]) -> float | None:
    """The share of work the trainer says it has saved (`pricewise.dev/progress`), None when
    it says nothing; a value that is not a number from 0 to 1 raises ValueError naming it."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(PROGRESS_ANNOTATION)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise ValueError(
            f"annotation {PROGRESS_ANNOTATION}={text!r} is not a share of the work from 0 to 1 "
            "(e.g. 0.4): it is ignored"
        )
    return value


def job_from(tj: api.TrainingJob, created: datetime | None = None) -> Job:
    """The solver's view of a TrainingJob."""
    spec = tj.spec
    work = spec.work or 1.0
    # What checkpoints saved before a restart is not done again; the speeds stay per unit.
    left = work * (1 - min(tj.status.progress, MOST_SAVED))
    options = tuple(
        JobOption(
            accelerator=o.accelerator,
            devices_per_worker=o.devices_per_worker,
            worker=worker_resources(o, spec.template),
            throughput=o.throughput
            if o.throughput is not None
            else work / parse_duration(o.duration or "0s"),
            index=i,
            duration_s=None if o.duration is None else parse_duration(o.duration),
        )
        for i, o in enumerate(spec.options)
    )
    return Job(
        namespace=tj.metadata.namespace,
        name=tj.metadata.name,
        options=options,
        work=left,
        min_workers=spec.workers.min,
        max_workers=spec.workers.max,
        scaling_efficiency=spec.scaling_efficiency,
        deadline=spec.deadline and as_utc(spec.deadline),
        max_duration_s=parse_duration(spec.max_duration) if spec.max_duration else None,
        min_throughput=spec.min_throughput,
        max_cost=None if spec.max_cost is None else to_micros(spec.max_cost),
        value=None if spec.value is None else to_micros(spec.value),
        priority=spec.priority,
        allow_spot=spec.allow_spot,
        preempts=spec.preemption_policy == "PreemptLowerPriority",
        created=created and as_utc(created),
        max_wait_s=parse_duration(spec.max_wait) if spec.max_wait else None,
        checkpoint_s=parse_duration(spec.checkpoint.interval) if spec.checkpoint else None,
        restarts_left=max(spec.failure_policy.max_restarts - tj.status.restarts, 0),
        runs_late=spec.when_late == "Run",
    )


def budget_from(
    budget: api.Budget,
    spent: float | None = None,
    committed: float | None = None,
    now: datetime | None = None,
) -> BudgetView:
    """The solver's view of a Budget; spent and committed default to its status, and the end
    of its period, without `now` to tell the current one, too."""
    end = budget.status.period_end
    if now is not None:
        _, end = period_bounds(budget.spec.period, budget.spec.time_zone, now)
    return BudgetView(
        namespace=budget.metadata.namespace,
        name=budget.metadata.name,
        limit=to_micros(budget.spec.limit),
        spent=to_micros(budget.status.spent if spent is None else spent),
        committed=to_micros(budget.status.committed if committed is None else committed),
        hard=budget.spec.enforcement == "hard",
        currency=budget.spec.currency,
        period=budget.spec.period,
        period_end=end,
    )
