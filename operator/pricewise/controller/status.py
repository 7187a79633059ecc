"""TrainingJob status as the operator writes it: phase, placement, conditions, options table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pricewise.core.explain import Decision
from pricewise.core.times import optional_timestamp, timestamp
from pricewise.core.units import format_duration, from_micros

Condition = dict[str, Any]


def _cents(micros: int) -> float:
    """Money as people read it in `kubectl get`: to the cent."""
    return round(from_micros(micros), 2)


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
        row.as_dict(
            _cents(row.candidate.cost),
            optional_timestamp(row.candidate.finish(now)) if with_finish else None,
        )
        for row in decision.options
    ]


def admitted_status(
    decision: Decision,
    previous: Mapping[str, Any],
    now: datetime,
    currency: str,
    generation: int | None,
) -> dict[str, Any]:
    """Status of a job the cycle just placed."""
    chosen = decision.chosen
    assert chosen is not None
    conditions = set_condition(
        previous.get("conditions") or [],
        "Admitted",
        True,
        "Admitted",
        decision.message,
        now,
        generation,
    )
    return {
        "phase": "Admitted",
        "pool": chosen.pool.name,
        "accelerator": chosen.pool.accelerator,
        "optionIndex": chosen.option.index,
        "workers": chosen.workers,
        "nodes": list(decision.nodes),
        "currency": currency,
        "estimatedCost": _cents(chosen.cost),
        "estimatedDuration": format_duration(chosen.duration_s),
        "estimatedFinish": optional_timestamp(chosen.finish(now)),
        "accruedCost": previous.get("accruedCost", 0.0),
        "admittedAt": timestamp(now),
        "reason": "Admitted",
        "message": decision.message,
        "options": options_table(decision, now, with_finish=True),
        "conditions": conditions,
        "observedGeneration": generation,
    }


def pending_status(
    decision: Decision, previous: Mapping[str, Any], now: datetime, generation: int | None
) -> dict[str, Any]:
    """Status of a job that waits, with the reason and the options it has."""
    conditions = set_condition(
        previous.get("conditions") or [],
        "Admitted",
        False,
        decision.reason,
        decision.message,
        now,
        generation,
    )
    return {
        "phase": "Pending",
        "reason": decision.reason,
        "message": decision.message,
        "options": options_table(decision, now, with_finish=False),
        "conditions": conditions,
        "observedGeneration": generation,
    }


def pending_changed(previous: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether a waiting job's status is worth a write: its reason or options changed.

    Messages carry figures that drift as time passes ("deadline in 7h59m"); rewriting them every
    cycle would cost an API write per waiting job per cycle for no decision that changed.
    """

    def shape(status: Mapping[str, Any]) -> tuple[object, ...]:
        rows = tuple(
            (r.get("pool"), r.get("workers"), r.get("verdict")) for r in status.get("options") or []
        )
        return (status.get("phase"), status.get("reason"), rows, status.get("observedGeneration"))

    return shape(previous) != shape(new)
