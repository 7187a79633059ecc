"""The one place where a status meets its wire form (camelCase JSON).

The operator reads a TrainingJob status as `TrainingJobStatus` and writes it as a merge patch
built from the same model; Budget and PriceTable statuses are written whole from
`BudgetStatus` and `PriceTableStatus`. Every field written is a field of the CRD, in the CRD's
spelling, with its type checked on the way out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, get_args

from pydantic import ValidationError

from pricewise.api.models import (
    BudgetStatus,
    OptionRow,
    Phase,
    PriceTableStatus,
    TrainingJobStatus,
)
from pricewise.core.explain import OptionVerdict
from pricewise.core.times import timestamp

log = logging.getLogger(__name__)
_WIRE_NAMES = {info.alias or name for name, info in TrainingJobStatus.model_fields.items()}


def read_job_status(raw: Mapping[str, Any] | None) -> TrainingJobStatus:
    """A status as the API server returned it, typed. Fields this version does not know (a newer
    operator wrote them) are ignored; a status that does not parse reads as its phase alone."""
    known = {k: v for k, v in (raw or {}).items() if k in _WIRE_NAMES}
    try:
        return TrainingJobStatus.model_validate(known)
    except ValidationError as err:
        log.warning("status not understood, read as its phase only: %s", err)
        phase = known.get("phase")
        return TrainingJobStatus(phase=phase if phase in get_args(Phase) else "Pending")


def option_row(
    verdict: OptionVerdict, money: Callable[[int], float], finish: str | None
) -> dict[str, Any]:
    """One row of an options table as `OptionRow` writes it, with its costs (from micro-units
    by `money`) and finish time as the caller prints them (`plan` keeps the micro-units; a
    status rounds to the cent and omits times that would go stale)."""
    cand = verdict.candidate
    row = OptionRow(
        pool=cand.pool.name,
        accelerator=cand.pool.accelerator,
        capacity_type=cand.pool.capacity_type,
        workers=cand.workers,
        devices=cand.workers * cand.option.devices_per_worker,
        cost=money(cand.cost),
        list_cost=None if cand.risk is None else money(cand.list_cost),
        duration=verdict.duration,
        verdict=verdict.verdict,
        note=verdict.note,
    )
    # A row with nothing to say (the chosen one, mostly): `kubectl describe` showed an empty
    # `Note:` there.
    wire: dict[str, Any] = row.model_dump(
        by_alias=True,
        mode="json",
        exclude={"finish", "start"} | ({"note"} if not row.note else set()),
        exclude_none=True,
    )
    if finish is not None:
        wire["finish"] = finish
    if verdict.start is not None:
        wire["start"] = timestamp(verdict.start)
    return wire


def job_status_patch(**fields: Any) -> dict[str, Any]:
    """A merge patch of a TrainingJob status from the model's field names: only the fields
    given, None to remove one."""
    status = TrainingJobStatus.model_validate({k: v for k, v in fields.items() if v is not None})
    patch: dict[str, Any] = status.model_dump(by_alias=True, mode="json", exclude_unset=True)
    fields_info = TrainingJobStatus.model_fields
    for name, value in fields.items():
        if value is None:
            patch[fields_info[name].alias or name] = None  # a merge patch removes it
    return patch


def status_wire(status: BudgetStatus | PriceTableStatus) -> dict[str, Any]:
    """A whole Budget or PriceTable status as written. A top-level field without a value is
    written as null, which a merge patch reads as "remove": a forecast that no longer applies
    must not linger."""
    wire: dict[str, Any] = status.model_dump(by_alias=True, mode="json", exclude_none=True)
    for name, info in type(status).model_fields.items():
        if getattr(status, name) is None:
            wire[info.alias or name] = None
    return wire
