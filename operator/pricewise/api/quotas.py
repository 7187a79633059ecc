"""ResourceQuotas as the solver sees them: the resources pricewise counts against them, and
which of a namespace's jobs a quota's scopes count."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pricewise.core.snapshot import (
    GPU,
    TPU,
    Quota,
)
from pricewise.core.units import cpu_millis, memory_mib, parse_quantity

QUOTA_KEYS = {
    "requests.nvidia.com/gpu": GPU,
    "requests.google.com/tpu": TPU,
    "requests.cpu": "cpu",
    "cpu": "cpu",
    "requests.memory": "memory",
    "memory": "memory",
    "pods": "pods",
    "count/pods": "pods",
}
"""ResourceQuota keys the planner counts, and what each counts in a `Quota`."""


def _quota_amount(resource: str, value: Any, room: bool) -> int:
    if resource == "cpu":
        return cpu_millis(value)
    if resource == "memory":
        return memory_mib(value, room)
    return int(parse_quantity(value))


def _quota_field(path: str, resource: str, value: Any, room: bool = False) -> int:
    """`_quota_amount` (a limit is `room`), its error naming the field it came from."""
    try:
        return _quota_amount(resource, value, room)
    except (ValueError, ArithmeticError) as err:
        raise ValueError(f"{path}: {err}") from err


def quota_from(
    resource_quota: Mapping[str, Any],
    jobs: Iterable[tuple[str, str, Mapping[str, Any]]] = (),
) -> Quota:
    """What a ResourceQuota still allows: hard minus used, for the resources pricewise places;
    where it has scopes, which of `jobs` (namespace, name and pod template of each) it counts
    (`quota_counts`).

    Raises ValueError naming the field (`spec.hard.requests.cpu: ...`) for a quantity it cannot
    read."""
    meta = resource_quota.get("metadata") or {}
    spec = resource_quota.get("spec") or {}
    counted = None
    if spec.get("scopes") or spec.get("scopeSelector"):
        namespace = meta.get("namespace", "default")
        counted = frozenset(
            name
            for where, name, template in jobs
            if where == namespace and quota_counts(resource_quota, template)
        )
    status = resource_quota.get("status") or {}
    # The API server copies spec.hard into status.hard; users correct it in spec, so errors
    # name spec.hard either way.
    hard = status.get("hard") or (resource_quota.get("spec") or {}).get("hard") or {}
    used = status.get("used") or {}
    remaining: dict[str, int] = {}
    limits: dict[str, int] = {}
    for key, value in hard.items():
        resource = QUOTA_KEYS.get(key)
        if resource is not None:
            limit = _quota_field(f"spec.hard.{key}", resource, value, room=True)
            left = limit - _quota_field(f"status.used.{key}", resource, used.get(key, 0))
            remaining[resource] = min(left, remaining.get(resource, left))
            limits[resource] = min(limit, limits.get(resource, limit))
    return Quota(
        meta.get("namespace", "default"), meta.get("name", ""), remaining, hard=limits, jobs=counted
    )


def quota_counts(resource_quota: Mapping[str, Any], template: Mapping[str, Any]) -> bool:
    """Whether a ResourceQuota counts the workers pricewise makes from a TrainingJob's pod
    `template`, by its scopes (`spec.scopes`, `spec.scopeSelector`), as the API server matches
    them: every scope must. Workers always request what they run on (`workers.worker_pod`), so
    they are never BestEffort, and their affinity is pricewise's own, with no pod affinity
    across namespaces; a priority class is the template's own (a cluster's global default is
    not known here). A scope pricewise does not know counts them, as a limit must not be
    missed."""
    spec = resource_quota.get("spec") or {}
    pod = template.get("spec") or {}
    priority = pod.get("priorityClassName") or ""
    terminating = pod.get("activeDeadlineSeconds") is not None
    known: dict[str, bool] = {
        "Terminating": terminating,
        "NotTerminating": not terminating,
        "BestEffort": False,
        "NotBestEffort": True,
        "PriorityClass": bool(priority),
        "CrossNamespacePodAffinity": False,
    }
    if not all(known.get(scope, True) for scope in spec.get("scopes") or ()):
        return False
    for term in (spec.get("scopeSelector") or {}).get("matchExpressions") or ():
        scope, operator = term.get("scopeName"), term.get("operator")
        values = term.get("values") or ()
        if scope == "PriorityClass" and operator in ("In", "NotIn"):
            if (priority in values) != (operator == "In"):
                return False
        elif operator == "DoesNotExist":
            if known.get(scope, False):
                return False
        elif not known.get(scope, True):  # Exists
            return False
    return True
