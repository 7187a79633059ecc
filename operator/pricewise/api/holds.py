"""Limits pricewise cannot check, and the namespaces whose jobs wait for them; suspended jobs.

Shared by the operator's cache and `pricewise plan`, so that a dry run holds the jobs the
operator would hold, with the same reason and message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from pricewise.api import models as api
from pricewise.core.explain import Decision
from pricewise.core.snapshot import Job

UNCHECKED = {
    "hard": "the namespace's jobs wait",
    "soft": "it does not alert",
}
"""What a Budget that cannot be counted does, by its enforcement (see `namespace_holds`)."""


SUSPENDED = "Suspended"
"""Reason of a job whose spec.suspend is true, and its condition's type (True while it is,
False once resumed), as batch/v1 Jobs say it."""
SUSPENDED_HOLD = (
    SUSPENDED,
    "suspended (spec.suspend is true): not planned, holding no room; set spec.suspend to false "
    "to plan it again",
)
"""What a suspended pending job is told, in the operator's status and `pricewise plan`."""


def enforcement_of(body: Mapping[str, Any]) -> str:
    """A Budget's enforcement as written, for one the model refuses: anything not marked soft
    is taken as hard (the default), so that a typo elsewhere cannot lift a limit."""
    return "soft" if (body.get("spec") or {}).get("enforcement") == "soft" else "hard"


def foreign_currency(budget: api.Budget, currency: str) -> str | None:
    """Why a Budget in another currency than the prices' cannot be counted, or None."""
    if budget.spec.currency == currency:
        return None
    return (
        f"limit in {budget.spec.currency}, prices in {currency}: costs cannot be counted "
        f"against it. Write spec.limit in {currency} and set spec.currency: {currency}; "
        "until then "
        f"{UNCHECKED[budget.spec.enforcement]}"
    )


QUOTA_INVALID, BUDGET_INVALID = "QuotaInvalid", "BudgetInvalid"
NAMESPACE_HOLDS = (QUOTA_INVALID, BUDGET_INVALID)
"""The reasons of jobs a namespace's unreadable limit holds (`namespace_holds`)."""


def namespace_holds(
    quota_errors: Mapping[tuple[str, str], str],
    hard_budget_errors: Mapping[tuple[str, str], str],
    budgets: Iterable[api.Budget],
    currency: str,
) -> dict[str, tuple[str, str]]:
    """Namespaces whose pending jobs wait because a limit there cannot be checked, with the
    reason and message those jobs show: a ResourceQuota pricewise cannot read
    (`QuotaInvalid`), or a hard Budget it cannot read (`hard_budget_errors`, by namespace and
    name) or whose currency is not the prices' (`BudgetInvalid`).

    pricewise cannot write a ResourceQuota's status, so the quota's own namespace is where
    the error is shown; and since such a limit is unknown, placing the namespace's jobs as
    if it were absent could overrun what the cluster's owner meant to allow. A soft Budget
    only alerts, so one that cannot be read holds nothing.
    """
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for (namespace, name), error in sorted(quota_errors.items()):
        found[namespace].append(
            (
                QUOTA_INVALID,
                f"ResourceQuota {name}: {error}. pricewise cannot enforce a quota it cannot "
                f"read, so no job of namespace {namespace} is placed until the quota is "
                "corrected (a quantity such as 64, 500m or 128Gi) or deleted",
            )
        )
    foreign = [
        (
            (b.metadata.namespace, b.metadata.name),
            f"spec.currency: {b.spec.currency} is not the prices' currency; set {currency}",
        )
        for b in budgets
        if b.spec.enforcement == "hard" and b.spec.currency != currency
    ]
    for (namespace, name), error in sorted([*hard_budget_errors.items(), *foreign]):
        found[namespace].append(
            (
                BUDGET_INVALID,
                f"Budget {name}: {error}. pricewise cannot enforce a hard budget it cannot "
                f"read, so no job of namespace {namespace} is placed until the budget is "
                "corrected, deleted or made soft (spec.enforcement: soft)",
            )
        )
    return {
        namespace: (holds[0][0], "; ".join(message for _, message in holds))
        for namespace, holds in found.items()
    }


def held_decision(job: Job, hold: tuple[str, str]) -> Decision:
    """The decision for a job its namespace's hold keeps waiting: not planned, no options."""
    reason, message = hold
    return Decision(job, None, (), reason, message, ())
