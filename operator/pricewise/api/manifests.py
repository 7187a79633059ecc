"""Reading Kubernetes manifests from files, with errors that name the file, object and field."""

from __future__ import annotations

import difflib
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from pricewise.api import convert, holds
from pricewise.api import models as api

M = TypeVar("M", bound=BaseModel)


class YamlLoader(yaml.SafeLoader):
    """YAML as kubectl reads it: `1e12` is a number. PyYAML follows YAML 1.1, whose floats need
    a dot and a signed exponent (`1.0e+12`), so it read `limit: 1e12` as a string, which the
    models then refused as "not a number"."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?([0-9][0-9_]*(\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


class ManifestError(ValueError):
    """An object that cannot be used, with where it is and how to fix it."""


def field_path(loc: Sequence[int | str]) -> str:
    """`spec.options[0].throughput`: a pydantic error location as people write field paths."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def field_errors(error: ValidationError) -> list[str]:
    """`spec.options[0].throughput: Input should be greater than 0` for every problem."""
    lines = []
    for problem in error.errors():
        path = field_path(problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        bound = (problem.get("ctx") or {}).get("le")
        if problem["type"] == "less_than_equal" and bound is not None:
            message = f"{problem['input']:g} is too large: at most {bound:g}"
        lines.append(f"{path or '(object)'}: {message}")
    return lines


def parse_model(model: type[M], obj: dict[str, Any], where: str) -> M:
    """Validate one object against an API model, or raise a ManifestError naming each field."""
    try:
        return model.model_validate(obj)
    except ValidationError as err:
        problems = "\n  ".join(field_errors(err))
        raise ManifestError(f"{where}: {model.__name__} {_named(obj)}:\n  {problems}") from None


def _named(obj: dict[str, Any]) -> str:
    """`namespace/name` of an object in a file, as errors name it."""
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', 'default')}/{meta.get('name', '?')}"


def read_objects(
    path: str | Path, error: type[ValueError] = ManifestError
) -> Iterator[dict[str, Any]]:
    """The Kubernetes objects of a YAML file, lists (`kubectl get ... -o yaml`) unpacked;
    `error` (with the file's name) for a file that cannot be read or is not such objects."""
    path = Path(path)
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
        docs = list(yaml.load_all(text, YamlLoader))
    except OSError as err:
        raise error(f"{path}: cannot read: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML: {err}") from None
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
            raise error(f"{path}: every document must be a Kubernetes object with a kind")
        items = doc.get("items")
        if not (doc["kind"].endswith("List") and isinstance(items, list)):
            items = [doc]  # not a list, as `kubectl get ... -o yaml` prints
        for obj in items:
            if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str):
                raise error(f"{path}: every item of a {doc['kind']} must be an object with a kind")
            yield obj


@dataclass(frozen=True)
class RefusedBudget:
    """A Budget the model refuses: set aside as the operator sets it aside, so that the rest
    is planned; unless it is soft, its namespace's jobs wait (see `holds.namespace_holds`)."""

    path: Path
    namespace: str
    name: str
    error: str
    """Each field at fault and its fix, `; `-joined as the operator writes it."""
    enforcement: str

    def warning(self) -> str:
        """What `pricewise plan` says of it, as the operator says it in the Budget's status."""
        return (
            f"{self.path}: Budget {self.namespace}/{self.name}: invalid spec: {self.error}. "
            f"Until it is corrected, {holds.UNCHECKED[self.enforcement]}"
        )


@dataclass
class Manifests:
    """The objects `pricewise plan` reads, by kind."""

    jobs: list[api.TrainingJob] = field(default_factory=list)
    price_tables: list[api.PriceTable] = field(default_factory=list)
    budgets: list[api.Budget] = field(default_factory=list)
    refused_budgets: list[RefusedBudget] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    quotas: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    """How many objects of each other kind the files hold, in the order first found."""

    def skipped_warnings(self) -> list[str]:
        """A line per kind skipped, with the kind it may be a typo of: a Budget spelled
        `BudGet` was left out of the plan without a word, and the jobs went over it."""
        known = {kind.lower(): kind for kind in _KINDS}
        lines = []
        for kind, count in self.skipped.items():
            close = difflib.get_close_matches(kind.lower(), known, n=1)
            guess = f" (did you mean {known[close[0]]}?)" if close else ""
            objects = "1 object" if count == 1 else f"{count} objects"
            lines.append(f"skipped {objects} of a kind pricewise does not read: {kind}{guess}")
        return lines


def load(paths: Iterable[str | Path]) -> Manifests:
    """Read every object in the files (directories are read for *.yaml and *.yml)."""
    found = Manifests()
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        files.extend(sorted(path.rglob("*.y*ml")) if path.is_dir() else [path])
    seen: dict[tuple[str, str], Path] = {}
    for path in files:
        for obj in read_objects(path):
            kind = obj["kind"]
            key = (kind, _named(obj))
            if kind in _KINDS and key in seen:
                # kubectl would keep the last; planning both would book one job's room twice.
                raise ManifestError(f"{path}: {kind} {key[1]} is also in {seen[key]}: keep one")
            seen[key] = path
            if kind == "TrainingJob":
                job = parse_model(api.TrainingJob, obj, str(path))
                _convertible(obj, path, convert.job_from, job)
                found.jobs.append(job)
            elif kind == "PriceTable":
                found.price_tables.append(parse_model(api.PriceTable, obj, str(path)))
            elif kind == "Budget":
                _add_budget(found, obj, path)
            elif kind == "Node":
                allocatable = (obj.get("status") or {}).get("allocatable") or {}
                _convertible(obj, path, convert.resources_of, allocatable)
                found.nodes.append(obj)
            elif kind == "Pod":
                _convertible(obj, path, convert.pod_requests, obj.get("spec") or {})
                found.pods.append(obj)
            elif kind == "ResourceQuota":
                _convertible(obj, path, convert.quota_from, obj)
                found.quotas.append(obj)
            elif kind not in _OTHER_COMMANDS:
                found.skipped[kind] += 1
    return found


def _add_budget(found: Manifests, obj: dict[str, Any], path: Path) -> None:
    try:
        found.budgets.append(api.Budget.model_validate(obj))
    except ValidationError as err:
        meta = obj.get("metadata") or {}
        found.refused_budgets.append(
            RefusedBudget(
                path,
                str(meta.get("namespace", "default")),
                str(meta.get("name", "?")),
                "; ".join(field_errors(err)),
                holds.enforcement_of(obj),
            )
        )


_KINDS = ("TrainingJob", "PriceTable", "Budget", "Node", "Pod", "ResourceQuota")
"""The kinds `load` reads; any other is skipped, and counted in `Manifests.skipped`."""
_OTHER_COMMANDS = frozenset({"ResourceMix", "NodePools"})
"""Kinds `plan mix` and `simulate` read, skipped without a warning: `pricewise plan examples/`
reads a folder that holds them too."""


def _convertible(
    obj: dict[str, Any], path: Path, convert_it: Callable[[Any], object], part: Any
) -> None:
    """Raise a ManifestError naming the object when pricewise cannot read its figures (a
    quantity such as `lots`), as the operator says it in the object's status."""
    try:
        convert_it(part)
    except (ValueError, TypeError, AttributeError, ArithmeticError) as err:
        raise ManifestError(f"{path}: {obj['kind']} {_named(obj)}: {err}") from None
