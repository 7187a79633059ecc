"""Generate the CustomResourceDefinitions in `crds/` from the pydantic models in `api`.

Run `python -m pricewise.api.crdgen crds` (or `make crds`) after changing the models; a test fails
when the committed YAML differs from what this module generates.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from pricewise.api.fields import bounds_phrase, with_bounds
from pricewise.api.models import (
    GROUP,
    VERSION,
    Budget,
    PriceTable,
    TrainingJob,
)

JsonSchema = dict[str, Any]

# Keys of pydantic's JSON Schema that a structural CRD schema must not carry.
_DROPPED_KEYS = {"title", "$defs"}


def _inline(schema: JsonSchema, defs: dict[str, JsonSchema]) -> JsonSchema:
    """Resolve `$ref`s and nullable unions into the structural form the API server requires."""
    if "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        merged = {**_inline(target, defs), **{k: v for k, v in schema.items() if k != "$ref"}}
        return _inline(merged, defs) if "$ref" in merged else merged
    if "anyOf" in schema:
        # Optional[X] is `anyOf: [X, null]`: in Kubernetes an unset field is simply absent.
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"cannot express union {schema['anyOf']} in a structural schema")
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        return _inline({**branches[0], **rest}, defs)
    out: JsonSchema = {}
    for key, value in schema.items():
        if key in _DROPPED_KEYS or (key == "default" and value is None):
            continue
        if key == "additionalProperties" and value is False:
            continue  # the API server prunes unknown fields instead
        if key == "properties":
            out[key] = {name: _inline(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _inline(value, defs)
        else:
            out[key] = value
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        # JSON Schema gives the bound as a number; OpenAPI v3.0, as the API server reads it,
        # wants the bound in minimum/maximum and a boolean flag.
        if isinstance(out.get(bound), int | float) and not isinstance(out[bound], bool):
            out[flag] = out.pop(bound)
            out[bound] = True
    low = out.get("minimum")
    if (
        out.get("type") == "number"
        and isinstance(low, float)
        and not low.is_integer()
        and not out.get("exclusiveMinimum")
    ):
        # The API server checks a whole number against the minimum cut to a whole number, so
        # `0` passes a minimum of 0.5: a CEL rule compares it as the number it is.
        rule = {"rule": f"self >= {low!r}", "message": f"must be at least {low:g}"}
        out["x-kubernetes-validations"] = [*out.get("x-kubernetes-validations", []), rule]
    _describe_bounds(out)
    if out.get("x-kubernetes-int-or-string"):
        # A structural schema gives an int-or-string as these two branches, with no type.
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("x-kubernetes-preserve-unknown-fields") and out.get("type") == "object":
        out.pop("additionalProperties", None)
    if (
        out.get("type") == "object"
        and "properties" not in out
        and "additionalProperties" not in out
    ):
        out.setdefault("x-kubernetes-preserve-unknown-fields", True)
    return out


def _number(value: float) -> str:
    """A bound as a description writes it: 1000, 0.5, 1e9, 1.024e15 (not 1e+09)."""
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    mantissa, _, exponent = f"{value:.6g}".partition("e")
    return f"{mantissa}e{int(exponent)}" if exponent else mantissa


def _range(schema: JsonSchema) -> str | None:
    """The range of a number schema in words, from its minimum and maximum; None if unbounded."""
    low, high = schema.get("minimum"), schema.get("maximum")
    if schema.get("type") not in ("integer", "number") or (low is None and high is None):
        return None
    return bounds_phrase(
        None if low is None else _number(low),
        None if high is None else _number(high),
        bool(schema.get("exclusiveMinimum")),
        bool(schema.get("exclusiveMaximum")),
    )


def _describe_bounds(schema: JsonSchema) -> None:
    """End the description of a bounded number (or list of them) with its range: `kubectl
    explain` is where users read what the API server refuses, and `priority: 5000` was refused
    while its description did not say why."""
    items = schema.get("items")
    own, each = _range(schema), _range(items) if isinstance(items, dict) else None
    if "description" in schema and (own or each):
        schema["description"] = with_bounds(schema["description"], own or each or "", not own)


def openapi_schema(model: type[BaseModel]) -> JsonSchema:
    """The OpenAPI v3 structural schema of one API object, as the CRD carries it."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema = _inline(raw, raw.get("$defs", {}))
    props = schema["properties"]
    for meta_field in ("apiVersion", "kind"):
        props[meta_field] = {"type": "string", "description": props[meta_field]["description"]}
    props["metadata"] = {"type": "object"}
    if "status" in props:
        props["status"] = _without_defaults(props["status"])
    schema["required"] = ["spec"]
    return schema


def _without_defaults(schema: JsonSchema) -> JsonSchema:
    """A status schema without defaults: the API server fills a default into every status it
    returns, so a Budget whose figures were never written read SPENT 0, REMAINING 0 (as if
    exhausted) instead of nothing; only the operator writes a status, whole."""
    out = {k: v for k, v in schema.items() if k != "default"}
    if "properties" in out:
        out["properties"] = {k: _without_defaults(v) for k, v in out["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _without_defaults(out[key])
    return out


def _describe(model: type[BaseModel]) -> None:
    """Give apiVersion and kind the standard descriptions `kubectl explain` shows."""
    model.model_fields[
        "api_version"
    ].description = "APIVersion defines the versioned schema of this representation of an object."
    model.model_fields[
        "kind"
    ].description = "Kind is a string value representing the REST resource this object represents."
    model.model_rebuild(force=True)


def _column(name: str, path: str, kind: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "jsonPath": path, "type": kind, **extra}


_AGE = _column("Age", ".metadata.creationTimestamp", "date")
# An object pricewise cannot use (an invalid spec, another currency) says so at a glance.
_READY = _column("Ready", '.status.conditions[?(@.type=="Ready")].status')
_READY_REASON = _column("Reason", '.status.conditions[?(@.type=="Ready")].reason')

_KINDS: list[dict[str, Any]] = [
    {
        "model": TrainingJob,
        "plural": "trainingjobs",
        "short": ["tj"],
        "scope": "Namespaced",
        "columns": [
            _column("Phase", ".status.phase"),
            _column("Pool", ".status.pool"),
            _column("Workers", ".status.workers", "integer"),
            # Strings the operator formats, with their currency: a number column prints a float
            # as it is stored (14.327651, 0, 2.5) and cannot say in what, nor switch from an
            # estimate to what an ended job cost.
            _column("Cost", ".status.cost"),
            _column("Accrued", ".status.accrued", priority=1),
            _column("Planned-Start", ".status.plannedStart"),
            # Where a Reserved job will start: POOL is where a placed job runs.
            _column("Planned-Pool", '.status.options[?(@.verdict=="planned")].pool', priority=1),
            # WORKERS is a placed job's: a later start may be planned wider than a start now.
            _column(
                "Planned-Workers",
                '.status.options[?(@.verdict=="planned")].workers',
                "integer",
                priority=1,
            ),
            _column("ETA", ".status.estimatedFinish"),
            _column("Reason", ".status.reason"),
            _AGE,
        ],
    },
    {
        "model": PriceTable,
        "plural": "pricetables",
        "short": ["pt"],
        "scope": "Cluster",
        "columns": [
            _column("Currency", ".spec.currency"),
            # A table set aside, or whose selectors match fewer nodes than the admin expects,
            # shows at a glance (a column lists one value of an array: counts are fields).
            _column("Pools", ".status.poolsInUse", "integer"),
            _column("Nodes", ".status.nodes", "integer"),
            _READY,
            _READY_REASON,
            _AGE,
        ],
    },
    {
        "model": Budget,
        "plural": "budgets",
        "short": ["bgt"],
        "scope": "Namespaced",
        "columns": [
            _column("Limit", ".spec.limit", "number"),
            _column("Currency", ".spec.currency"),
            _column("Period", ".spec.period"),
            # Beside Exceeded: whether an exceeded Budget holds jobs back or only warns.
            _column("Enforcement", ".spec.enforcement"),
            _column("Spent", ".status.spent", "number"),
            _column("Committed", ".status.committed", "number"),
            _column("Remaining", ".status.remaining", "number"),
            # Ready says the budget is counted; whether it is spent is this column's.
            _column("Exceeded", '.status.conditions[?(@.type=="Exceeded")].status'),
            _READY,
            {**_READY_REASON, "priority": 1},
            _AGE,
        ],
    },
]


def crd(kind: dict[str, Any]) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    model: type[BaseModel] = kind["model"]
    _describe(model)
    name = model.__name__
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind['plural']}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": name,
                "listKind": f"{name}List",
                "plural": kind["plural"],
                "singular": name.lower(),
                "shortNames": kind["short"],
                "categories": ["pricewise"],
            },
            "scope": kind["scope"],
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": kind["columns"],
                    "schema": {"openAPIV3Schema": openapi_schema(model)},
                }
            ],
        },
    }


def render_all() -> dict[str, str]:
    """File name -> YAML text of every CRD, exactly as committed in `crds/`."""
    header = "# Generated by `make crds` from operator/pricewise/api/models.py; do not edit.\n"
    return {
        f"{GROUP}_{kind['plural']}.yaml": header
        + yaml.safe_dump(crd(kind), sort_keys=False, width=100)
        for kind in _KINDS
    }


def main(argv: list[str] | None = None) -> int:
    """Write every CRD into the directory given (default `crds`)."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "crds")
    if out.exists() and not out.is_dir():
        print(
            f"error: {out} is a file: give the directory to write the CRDs into, one file "
            "per kind (default crds)",
            file=sys.stderr,
        )
        return 2
    try:
        out.mkdir(parents=True, exist_ok=True)
        for file_name, text in render_all().items():
            (out / file_name).write_text(text)
            print(f"wrote {out / file_name}")
    except OSError as err:
        print(
            f"error: {err.filename or out}: cannot write the CRDs: {err.strerror}", file=sys.stderr
        )
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
