"""TrainingJob status as the operator writes it: phase, placement, conditions, options table."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pricewise.api.holds import SUSPENDED, SUSPENDED_HOLD
from pricewise.api.models import ACTIVE_PHASES, FINISHED_PHASES, BudgetStatus, TrainingJobStatus
from pricewise.api.wire import job_status_patch, option_row, read_job_status
from pricewise.core.explain import Decision
from pricewise.core.lookahead import plan_moved
from pricewise.core.times import dated, optional_timestamp, timestamp
from pricewise.core.units import format_duration, format_money, from_micros

Condition = dict[str, Any]

MAX_WAIT_EXCEEDED = "MaxWaitExceeded"
"""Condition of a job that has waited for room past its max wait (True, with a Warning event
when it turns so), or whose new wait, after a requeue, has not (False). It is what ops are paged
on in sum (PricewiseJobsPastMaxWait), said on the job for its owner."""

RESUMED = "Resumed"
"""Reason of a job resumed, until the cycle that sees it says why it waits or places it."""

COST_MOVES_SHARE = 0.01
"""A waiting job's option cost that moves by less than this share of itself (or by a cent or
less) is not news worth a status write: see `cost_moved`."""


_FIGURES_FROM = frozenset(
    TrainingJobStatus.model_fields[name].alias or name
    for name in (
        "phase",
        "currency",
        "estimated_cost",
        "accrued_cost",
        "accrued_before_run",
        "options",
    )
)
"""The status fields, as written, that the cost columns are made of (`figures`)."""


def _cents(micros: int) -> float:
    """Money as people read it in `kubectl get`: to the cent."""
    return round(from_micros(micros), 2)


def with_earlier_runs(message: str, previous: TrainingJobStatus, micros: int | None) -> str:
    """A placed or planned run's message, with what the job costs in all where its earlier
    runs cost something: the COST column counts them, and read 190.40 USD beside a message of
    a run planned for 175.66 USD. (A job has cost something only where it was placed, which
    wrote its currency.)"""
    spent = previous.accrued_cost
    if not spent or micros is None:
        return message
    money = previous.currency or ""
    total = format_money(spent + from_micros(micros), money).strip()
    earlier = format_money(spent, money).strip()
    return f"{message}; {total} in all, with the {earlier} its earlier runs cost"


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None = None,
) -> list[Condition]:
    """Conditions with one set; its transition time moves only when its status changes."""
    value = "True" if status else "False"
    out: list[Condition] = []
    found = False
    for cond in conditions:
        if cond.get("type") != type_:
            out.append(dict(cond))
            continue
        found = True
        changed = cond.get("status") != value
        out.append(
            {
                "type": type_,
                "status": value,
                "reason": reason,
                "message": message,
                "lastTransitionTime": timestamp(now) if changed else cond.get("lastTransitionTime"),
                "observedGeneration": generation,
            }
        )
    if not found:
        out.append(
            {
                "type": type_,
                "status": value,
                "reason": reason,
                "message": message,
                "lastTransitionTime": timestamp(now),
                "observedGeneration": generation,
            }
        )
    return out


def options_table(decision: Decision, now: datetime, with_finish: bool) -> list[dict[str, Any]]:
    """The options rows for the status (finish times only where they will not go stale)."""
    return [
        option_row(
            row,
            _cents,
            optional_timestamp(row.candidate.finish(row.start or now)) if with_finish else None,
        )
        for row in decision.options
    ]


def conditions_of(status: TrainingJobStatus | BudgetStatus) -> list[Condition]:
    """A typed status's conditions as `set_condition` takes them."""
    return [c.model_dump(by_alias=True, mode="json") for c in status.conditions]


def admitted_status(
    decision: Decision,
    previous: TrainingJobStatus,
    now: datetime,
    currency: str,
    generation: int | None,
    active_deadline_s: int | None = None,
) -> dict[str, Any]:
    """Status of a job the cycle just placed (one whose run is estimated to last past
    `active_deadline_s`, its spec's activeDeadlineSeconds, is told it will fail)."""
    chosen = decision.chosen
    assert chosen is not None
    message = with_earlier_runs(decision.message, previous, chosen.cost)
    if active_deadline_s is not None and chosen.duration_s > active_deadline_s:
        # Planning does not read the field (maxDuration is what it meets): admitted without a
        # word, such a run failed DeadlineExceeded for certain.
        message += (
            f"; estimated to run {format_duration(chosen.duration_s)}, past its "
            f"activeDeadlineSeconds ({format_duration(active_deadline_s)}): it fails "
            "DeadlineExceeded unless it ends sooner (set maxDuration too, to plan only options "
            "that end in time)"
        )
    conditions = set_condition(
        conditions_of(previous), "Admitted", True, "Admitted", message, now, generation
    )
    # What held it until now is turned False rather than removed, as Kueue does on
    # readmission: the API conventions read a missing condition as Unknown, and the False one
    # still says who preempted it, or how long it waited (True read as a wait still going on
    # beside a running job).
    for kind, reason in (
        ("Preempted", "Readmitted"),
        (MAX_WAIT_EXCEEDED, "Admitted"),
        # Planned again, the edit it ignored counts now: True beside this placement read as
        # an edit still ignored.
        ("SpecChangeIgnored", "Replanned"),
        (SUSPENDED, RESUMED),
    ):
        held = next((c for c in previous.conditions if c.type == kind), None)
        if held is not None and held.status == "True":
            conditions = set_condition(
                conditions, kind, False, reason, f"Previously: {held.message}", now, generation
            )
    return job_status_patch(
        phase="Admitted",
        pool=chosen.pool.name,
        accelerator=chosen.pool.accelerator,
        option_index=chosen.option.index,
        workers=chosen.workers,
        nodes=list(decision.nodes),
        currency=currency,
        estimated_cost=_cents(chosen.cost),
        estimated_duration=decision.duration,
        estimated_finish=optional_timestamp(chosen.finish(now)),
        accrued_cost=previous.accrued_cost,
        accrued_before_run=previous.accrued_cost,
        planned_start=None,
        admitted_at=timestamp(now),
        reason="Admitted",
        message=message,
        options=options_table(decision, now, with_finish=True),
        conditions=conditions,
        observed_generation=generation,
    )


def condition_true(st: TrainingJobStatus, kind: str) -> bool:
    """Whether the status has a condition of type `kind` that is True."""
    return any(c.type == kind and c.status == "True" for c in st.conditions)


def max_wait_exceeded(st: TrainingJobStatus) -> bool:
    """Whether the status says the job has waited for room past its max wait."""
    return condition_true(st, MAX_WAIT_EXCEEDED)


def suspended_status(
    previous: TrainingJobStatus, now: datetime, generation: int | None
) -> dict[str, Any]:
    """Status of a pending job whose spec.suspend is true: not planned, so without a planned
    start or options, and waiting for no room (a MaxWaitExceeded condition turns False)."""
    message = SUSPENDED_HOLD[1]
    conditions = conditions_of(previous)
    for kind in ("Admitted", SUSPENDED):
        conditions = set_condition(
            conditions, kind, kind == SUSPENDED, SUSPENDED, message, now, generation
        )
    if max_wait_exceeded(previous):
        conditions = set_condition(
            conditions, MAX_WAIT_EXCEEDED, False, SUSPENDED, "suspended: waiting for no room",
            now, generation,
        )  # fmt: skip
    return unplanned_status(SUSPENDED, message, conditions, generation)


def unplanned_status(
    reason: str, message: str, conditions: list[Condition], generation: int | None
) -> dict[str, Any]:
    """Status of a pending job that is not planned (suspended, or held: an invalid spec, a
    limit that cannot be checked): why, and no planned start or options, which would keep the
    plan it had before in its columns and metrics."""
    return job_status_patch(
        phase="Pending",
        reason=reason,
        message=message,
        conditions=conditions,
        observed_generation=generation,
        planned_start=None,
        options=None,
    )


def resumed_status(
    previous: TrainingJobStatus, now: datetime, generation: int | None
) -> dict[str, Any]:
    """Status of a suspended pending job whose spec.suspend turned false: planned from this
    cycle on, its wait counted from now (`JobRecord.waiting_since`)."""
    message = f"resumed at {dated(now)}: planned from this cycle, its wait counted from then"
    conditions = conditions_of(previous)
    for kind in ("Admitted", SUSPENDED):
        conditions = set_condition(conditions, kind, False, RESUMED, message, now, generation)
    # Its words of before the suspend, or of the suspend, no longer tell its wait.
    if any(c.type == MAX_WAIT_EXCEEDED for c in previous.conditions):
        conditions = set_condition(
            conditions, MAX_WAIT_EXCEEDED, False, RESUMED, message, now, generation
        )
    return job_status_patch(
        phase="Pending",
        reason=RESUMED,
        message=message,
        conditions=conditions,
        observed_generation=generation,
    )


def told_suspended(st: TrainingJobStatus) -> bool:
    """Whether the status says the job is suspended (its Suspended condition True)."""
    return condition_true(st, SUSPENDED)


def pending_status(
    decision: Decision,
    previous: TrainingJobStatus,
    now: datetime,
    generation: int | None,
    past_max_wait: str | None = None,
) -> dict[str, Any]:
    """Status of a job that waits, with the reason and the options it has; `past_max_wait`
    says how it waited for room past its max wait (its MaxWaitExceeded condition turns True),
    None when it has not (a condition True from a wait before a requeue turns False)."""
    reservation = decision.reservation
    message = with_earlier_runs(
        decision.message, previous, None if reservation is None else reservation.candidate.cost
    )
    conditions = set_condition(
        conditions_of(previous), "Admitted", False, decision.reason, message, now, generation
    )
    if past_max_wait is not None:
        conditions = set_condition(
            conditions, MAX_WAIT_EXCEEDED, True, "PastMaxWait", past_max_wait, now, generation
        )
    elif max_wait_exceeded(previous):
        conditions = set_condition(
            conditions, MAX_WAIT_EXCEEDED, False, "WithinMaxWait",
            "not waiting for room past its max wait", now, generation,
        )  # fmt: skip
    return job_status_patch(
        phase="Pending",
        reason=decision.reason,
        message=message,
        options=options_table(decision, now, with_finish=False),
        conditions=conditions,
        observed_generation=generation,
        planned_start=None if reservation is None else timestamp(reservation.start),
    )


def cost_moved(before: float | None, after: float | None) -> bool:
    """Whether a cost written to the cent moved enough to be rewritten: it appears or goes, or
    moves by more than a cent and by more than `COST_MOVES_SHARE` of itself.

    Compared in whole cents, so that float representation never reads as a move. A cent is
    what rounding flips when a figure sits on a half cent. The share is for spot options,
    whose costs drift with no price changed: a pool's observed reclaim rate, once above the
    declared one, re-prices them every cycle as its node-hours grow, and on a large job that
    is more than a cent now and then; rewritten, it would cost waiting jobs a write each, again
    and again. A price a person changes moves costs by whole percents; a smaller move is
    written at the next refresh (`teller.REFRESH_EVERY_S`).
    """
    if before is None or after is None:
        return before != after
    old, new = round(before * 100), round(after * 100)
    return abs(new - old) > max(1.0, COST_MOVES_SHARE * max(abs(old), abs(new)))


_FIGURE = re.compile(r"\d[\d.,:]*(?:[dhms]\d[\d.,:]*)*[dhms%]?")
"""A figure in a message: a number, a time of day, a duration (`1d9h33m`) or a share. A
message whose words change says something new: a reserved job told "no room now: ... planned
at ~10:15" kept saying so for five minutes after room appeared elsewhere and it waited by
choice ("waiting for ... saves ..."), its reason, options and plan unchanged."""


def pending_changed(
    previous: TrainingJobStatus, new: Mapping[str, Any], now: datetime, refresh: bool = False
) -> bool:
    """Whether a waiting job's status is worth a write: its reason, options (which, or what
    they cost: `cost_moved`), plan or the words of its message changed, or, with `refresh`,
    its message's figures.

    Messages carry figures that drift as time passes ("deadline in 7h59m") or as other jobs
    run (what a budget has left); rewriting them every cycle would cost an API write per waiting
    job per cycle for no decision that changed, so they are rewritten only when the caller says
    the status is due a `refresh` (one told 2 GPUs left by a quota that now has 4 kept saying 2
    for as long as it waited). A planned start is a plan re-made every cycle: it is rewritten
    as `plan_moved` says.
    """

    def shape(status: TrainingJobStatus) -> tuple[object, ...]:
        rows = tuple((r.pool, r.workers, r.verdict) for r in status.options)
        words = _FIGURE.sub("#", status.message or "")
        past = max_wait_exceeded(status)
        return (status.phase, status.reason, rows, status.observed_generation, words, past)

    after = read_job_status(new)
    if shape(previous) != shape(after) or (refresh and previous.message != after.message):
        return True
    # A PriceTable change moves the costs of the same options: the table must say so as soon
    # as it is written, not at the next refresh.
    if any(
        cost_moved(was.cost, row.cost) or cost_moved(was.list_cost, row.list_cost)
        for was, row in zip(previous.options, after.options, strict=True)
    ):
        return True
    return plan_moved(previous.planned_start, after.planned_start, now)


def job_cost(status: TrainingJobStatus, currency: str) -> str | None:
    """The COST column of `kubectl get tj`: what an ended job cost; ~ what a placed or planned
    job is expected to cost in all, its accrual so far with its run's estimate or its plan's;
    what a job waiting without a plan has cost so far, if anything. `currency` is the
    cluster's, for a job never placed."""
    money, spent = status.currency or currency, status.accrued_cost
    if status.phase in FINISHED_PHASES:
        return format_money(spent, money)
    if status.phase in ACTIVE_PHASES and status.estimated_cost is not None:
        # A run past its estimate is expected to cost at least what it has.
        expected = max(spent, (status.accrued_before_run or 0.0) + status.estimated_cost)
        return "~" + format_money(expected, money)
    planned = next((r for r in status.options if r.verdict == "planned"), None)
    if planned is not None:
        return "~" + format_money(spent + planned.cost, money)
    return format_money(spent, money) if spent else None


def figures(previous: Mapping[str, Any], patch: Mapping[str, Any], currency: str) -> dict[str, Any]:
    """The preformatted cost fields (`cost`, `accrued`) of the status a merge `patch` makes of
    `previous` (both as written), where they differ from `previous`'s: every status write
    carries them, so that the columns are as current as the figures they show, and they never
    cost a write of their own."""
    fields = {k: v for k, v in {**previous, **patch}.items() if k in _FIGURES_FROM}
    after = read_job_status({k: v for k, v in fields.items() if v is not None})
    shown = {
        "cost": job_cost(after, currency),
        # A job that never ran has accrued nothing worth a column of "0.00 USD".
        "accrued": format_money(after.accrued_cost, after.currency or currency)
        if after.accrued_cost or after.phase != "Pending"
        else None,
    }
    return {k: v for k, v in shown.items() if previous.get(k) != v}
