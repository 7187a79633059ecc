"""Fields of a worker's pod template that the Kubernetes API does not have.

The CRD keeps a TrainingJob's `spec.template` as it is written, so `kubectl apply` takes a
typo inside it (`comand:`); the operator creates workers with strict field validation, so the
API server then refuses them. `pricewise plan` says so before the job is applied, from the
Kubernetes client's models of the API (a field newer than the client's models is said to be
unknown too: a warning, never a refusal).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from kubernetes.client import models

_OBJECT = re.compile(r"^(?:[Ll]ist\[)?((?:CoreV1|V)\w+)\]?$")
"""An openapi type naming a model, or a list of one: `V1PodSpec`, `List[V1Container]` (or
`list[...]`, as clients before 32 write it), `List[CoreV1ResourceClaim]`."""


def unknown_fields(template: Mapping[str, Any]) -> list[str]:
    """`spec.containers[0].comand (did you mean command?)`: each field of the pod template
    that its model in the Kubernetes API lacks, by its path under `spec.template`."""
    return _unknown(template, models.V1PodTemplateSpec, "")


def _unknown(value: Mapping[str, Any], model: Any, path: str) -> list[str]:
    keys: dict[str, str] = {json: attr for attr, json in model.attribute_map.items()}
    types: dict[str, str] = model.openapi_types
    found = []
    for key, inner in value.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in keys:
            found.append(where + _guess_of(str(key), list(keys), 0.75))
            continue
        if model is models.V1ResourceRequirements and key in ("requests", "limits"):
            if isinstance(inner, Mapping):
                found += [
                    f"{where}.{name}" + _guess_of(name, list(_RESOURCES), 0.6)
                    for name in inner
                    if _odd(name)
                ]
            continue
        named = _OBJECT.match(types[keys[key]])
        child = getattr(models, named[1], None) if named else None
        if child is None or not hasattr(child, "attribute_map"):
            continue  # a map, a quantity, a string: nothing named to check
        items = inner if isinstance(inner, list) else [inner]
        for i, item in enumerate(items):
            if isinstance(item, Mapping):
                at = f"{where}[{i}]" if isinstance(inner, list) else where
                found += _unknown(item, child, at)
    return found


_RESOURCES = ("cpu", "memory", "ephemeral-storage")
"""Resource names without a domain; others (nvidia.com/gpu) have one, or are hugepages-*."""


def _odd(name: str) -> bool:
    return "/" not in name and name not in _RESOURCES and not name.startswith("hugepages-")


def _guess_of(name: str, names: list[str], cutoff: float) -> str:
    """` (did you mean command?)`, where one of `names` is close enough; else empty."""
    close = difflib.get_close_matches(name, names, n=1, cutoff=cutoff)
    return f" (did you mean {close[0]}?)" if close else ""
