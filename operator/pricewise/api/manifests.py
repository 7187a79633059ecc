"""Reading Kubernetes manifests from files, with errors that name the file, object and field."""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from pricewise.api import convert, fields, holds, podrequests, quotas
from pricewise.api import models as api
from pricewise.api.files import read_text
from pricewise.api.podfields import unknown_fields
from pricewise.core.snapshot import GPU, TPU
from pricewise.core.units import DURATION_PATTERN, parse_quantity

M = TypeVar("M", bound=BaseModel)


class YamlLoader(yaml.SafeLoader):
    """YAML as kubectl reads it: `1e12` is a number, and a time is a string. PyYAML follows
    YAML 1.1, whose floats need a dot and a signed exponent (`1.0e+12`), so it read `limit: 1e12`
    as a string, which the models then refused as "not a number"; and it made an unquoted time
    a datetime while reading, so that `deadline: 2026-13-45T08:00:00Z` stopped the command with
    a traceback instead of the models' message naming the field."""


def _unique_keys(loader: YamlLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    """A mapping whose keys are unique, as kubectl requires: PyYAML kept the last of two, so a
    `priority: 20` added under a spec that had `priority: 0` further down was silently lost."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark,
                f'key "{key}" is given twice: keep one', key_node.start_mark,
            )  # fmt: skip
        seen.add(key)
    return yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep=deep)


YamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_keys)
YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?([0-9][0-9_]*(\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)
YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in YamlLoader.yaml_implicit_resolvers.items()
}


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """`YamlLoader`'s reading on libyaml where it is installed: seven times as fast (3,000 jobs
    read in 0.55 s, not 3.9 s). Its errors are worded otherwise: a file it refuses is read again
    by `YamlLoader`, whose words the messages quote."""


_FastLoader.yaml_constructors = {**_FastLoader.yaml_constructors, **YamlLoader.yaml_constructors}
_FastLoader.yaml_implicit_resolvers = YamlLoader.yaml_implicit_resolvers


def load_yaml(text: str) -> list[Any]:
    """Every document of a YAML text, as `YamlLoader` reads them."""
    try:
        return list(yaml.load_all(text, _FastLoader))
    except (yaml.YAMLError, UnicodeError):  # libyaml refuses an undecodable byte so
        return list(yaml.load_all(text, YamlLoader))


class ManifestError(ValueError):
    """An object that cannot be used, with where it is and how to fix it."""


class HelmTemplateError(ManifestError):
    """A file that is a Helm template (`{{ ... }}`), YAML only once rendered."""


def field_path(loc: Sequence[int | str], obj: object = None) -> str:
    """`spec.options[0].throughput`: a pydantic error location as people write field paths.
    Given the object, a list item with a name of its own is named by it, as server-side apply
    names it (`spec.pools[name="l4"].prices`): the index made people count pools."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            items = obj if isinstance(obj, list) else []
            obj = items[part] if 0 <= part < len(items) else None
            name = obj.get("name") if isinstance(obj, dict) else None
            names = [item.get("name") for item in items if isinstance(item, dict)]
            # An empty name names nothing: `[name=""]` would hide which item it is.
            unique = isinstance(name, str) and name != "" and names.count(name) == 1
            path += f'[name="{name}"]' if unique else f"[{part}]"
        else:
            obj = obj.get(part) if isinstance(obj, dict) else None
            path += f".{part}" if path else str(part)
    return path


def field_errors(
    error: ValidationError, model: type[BaseModel] | None = None, obj: object = None
) -> list[str]:
    """`spec.options[0].throughput: must be > 0 (got 0)` for every problem, with the fix.
    Given the model and the object validated, an unknown field gets the nearest known name,
    a missing one or a string, list or mapping of the wrong kind its description, and a list
    item its name (see `field_path`)."""
    return [_located(field_path(p["loc"], obj), _describe(p, model)) for p in error.errors()]


def _located(path: str, text: str) -> str:
    """`path: text`, or the text alone where it names a field below the path already (a check
    of a whole spec about one of its fields read `spec: spec.work is required ...`)."""
    if path and text.startswith(f"{path}."):
        return text
    return f"{path or '(object)'}: {text}"


_FORMS = {
    fields.NAME_PATTERN: "use lowercase letters, digits and '-', e.g. nvidia-l4-spot",
    fields.SUBDOMAIN_PATTERN: "use lowercase letters, digits, '-' and '.', e.g. llm-finetune",
    fields.ACCELERATOR_PATTERN: "use lowercase letters, digits, '-' and '.', e.g. nvidia-l4",
    fields.CURRENCY_PATTERN: "use an ISO 4217 code in capitals, e.g. USD",
    fields.QUANTITY_PATTERN: "use a Kubernetes quantity, e.g. 8, 500m or 64Gi",
    DURATION_PATTERN: fields.DURATION_FORM,
}
"""What each pattern of the models accepts, in words: users were shown the regex."""


def _pattern(about: FieldInfo | None) -> str | None:
    """The regex a string field must match, if it has one."""
    metadata = about.metadata if about is not None else []
    return next((m.pattern for m in metadata if getattr(m, "pattern", None)), None)


def _describe(problem: Mapping[str, Any], model: type[BaseModel] | None) -> str:
    """One pydantic problem as what is wrong and how to fix it."""
    kind, loc = problem["type"], tuple(problem["loc"])
    ctx: Mapping[str, Any] = problem.get("ctx") or {}
    got = f" (got {_show(problem['input'])})"
    if kind == "value_error":
        # The models' own checks already say what is wrong and how to fix it.
        return str(problem["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        parent = _walk(model, loc[:-1])[0]
        if not (isinstance(parent, type) and issubclass(parent, BaseModel)):
            return "unknown field; remove it"
        known = _known(parent)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        if close:
            return f"unknown field; did you mean {close[0]}?"
        return f"unknown field; remove it or use one of {', '.join(known)}"
    held, about = _walk(model, loc)
    described = (about.description or "").rstrip(".") if about else ""
    # What the field is for, where the error alone does not tell what to write: a missing
    # field, a string, a list or a mapping (a number or a boolean says it itself).
    what = f": {described}" if described else ""
    if kind == "missing":
        # A misspelt field the model ignores (`specs:` at the top of an object) left the real
        # one missing, and the error did not say why.
        parent = _walk(model, loc[:-1])[0]
        ignores = isinstance(parent, type) and issubclass(parent, BaseModel)
        ignores = ignores and parent.model_config.get("extra") != "forbid"  # else said already
        given = problem["input"] if ignores and isinstance(problem["input"], Mapping) else {}
        strays = [str(k) for k in given if str(k) not in _known(parent)]  # namespace is no typo
        close = difflib.get_close_matches(str(loc[-1]), strays, n=1)
        misspelt = f" ({close[0]} is given: a misspelling of it?)" if close else ""
        return f"required; add it{what}{misspelt}"
    if kind == "string_pattern_mismatch":
        form = _FORMS.get(ctx.get("pattern", "")) or described
        return f"{_show(problem['input'])} is not valid" + (f": {form}" if form else "")
    if kind == "less_than_equal":
        return f"{_show(problem['input'])} is too large: at most {_show(ctx['le'])}"
    if kind in {"greater_than_equal", "greater_than"}:
        sign, bound = (">=", ctx["ge"]) if kind == "greater_than_equal" else (">", ctx["gt"])
        return f"must be {sign} {_show(bound)}{got}"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return f"must be a whole number{got}"
    if kind in {"float_type", "float_parsing"}:
        return f"must be a number{got}"
    if kind == "finite_number":
        return f"must be a finite number{got}"
    if kind in {"bool_type", "bool_parsing"}:
        return f"must be true or false{got}"
    if kind == "string_type":
        number = problem["input"]
        if (
            _pattern(about) == DURATION_PATTERN
            and isinstance(number, int | float)
            and not isinstance(number, bool)
            and 0 < number < 1e6
        ):
            # `maxDuration: 12` read "must be a string": the unit is what is missing.
            return f"{number} has no unit: write a duration, e.g. {number}h, {number}m or {number}s"
        return f"must be a string{got}{what}"
    if kind == "literal_error":
        return f"must be {ctx['expected']}{got}"
    if kind in {"dict_type", "model_type"}:
        if isinstance(held, type) and issubclass(held, BaseModel):
            return f"must be a mapping with {', '.join(_known(held))}{got}"
        return f"must be a mapping of fields{got}{what}"
    if kind == "list_type":
        return f"must be a list{got}{what}"
    if kind == "too_short":
        least = ctx["min_length"]
        return f"must have at least {'one entry' if least == 1 else f'{least} entries'}{what}"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} entries (got {ctx['actual_length']})"
    if kind == "string_too_short":
        least = ctx["min_length"]
        return ("must not be empty" if least == 1 else f"must be {least} characters or more") + what
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters long"
    if kind.startswith("datetime_"):
        return f"must be an RFC 3339 time, e.g. 2026-12-01T08:00:00Z{got}"
    return f"{problem['msg']}{got}"


def _known(model: type[BaseModel]) -> list[str]:
    """The field names a model takes, as written in files (`unitCost`, not `unit_cost`)."""
    return [info.alias or name for name, info in model.model_fields.items()]


def _show(value: object) -> str:
    """A value as an error message quotes it: a number as written, text quoted and cut short."""
    if isinstance(value, float) and math.isinf(value):  # YAML reads 1e400 as inf
        return "a number past 1.8e308" if value > 0 else "a number below -1.8e308"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g}".replace("e+", "e")  # 1e12, as the API's descriptions write it
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _walk(model: type[BaseModel] | None, loc: Sequence[int | str]) -> tuple[Any, FieldInfo | None]:
    """What `loc` holds in `model` (a model class, for its field names) and the last field it
    passes, for its description; `(None, None)` past what the model declares."""
    held: Any = model
    about: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            held = get_args(held)[0] if get_origin(held) is list else None
        elif isinstance(held, type) and issubclass(held, BaseModel):
            about = next(
                (f for name, f in held.model_fields.items() if (f.alias or name) == part), None
            )
            held = about.annotation if about else None
        else:
            return None, None
        # `Checkpoint | None` holds a Checkpoint's fields.
        options = [a for a in get_args(held) if a is not type(None)]
        if get_origin(held) in {Union, UnionType} and len(options) == 1:
            held = options[0]
    return held, about


def parse_model(model: type[M], obj: dict[str, Any], where: str) -> M:
    """Validate one object against an API model, or raise a ManifestError naming each field."""
    try:
        return model.model_validate(obj)
    except ValidationError as err:
        problems = "\n  ".join(field_errors(err, model, obj))
        raise ManifestError(
            f"{where}: {model.__name__} {_named(obj, model.__name__)}:\n  {problems}"
        ) from None


_CLUSTER_SCOPED = frozenset({"PriceTable", "Node"})
"""Kinds without a namespace: a PriceTable was named `default/prices`, which it is not."""


def _named(obj: dict[str, Any], kind: str) -> str:
    """`namespace/name` of an object in a file, as errors name it; `name` of a cluster-scoped
    kind."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name = str(meta.get("name", "?"))
    return name if kind in _CLUSTER_SCOPED else f"{meta.get('namespace', 'default')}/{name}"


RENDER_FIRST = "render its chart first, `helm template RELEASE CHART | pricewise plan - ...`"
"""How to give pricewise the manifests of a Helm chart."""
HELM_TEMPLATE = "a Helm template"
"""Why a folder's file was skipped: see `RENDER_FIRST`."""


def read_objects(
    path: str | Path, error: type[ValueError] = ManifestError
) -> Iterator[dict[str, Any]]:
    """The Kubernetes objects of a YAML file, lists (`kubectl get ... -o yaml`) unpacked;
    `error` (with the file's name) for a file that cannot be read or is not such objects."""
    path = Path(path)
    text = read_text(path, error)
    try:
        docs = load_yaml(text)
    except yaml.YAMLError as err:
        if "{{" in text:
            message = f"{path}: a Helm template, YAML only once rendered: {RENDER_FIRST}"
            raise (HelmTemplateError if error is ManifestError else error)(message) from None
        raise error(f"{path}: not valid YAML: {err}") from None
    for number, doc in enumerate(docs, 1):
        if doc is None:
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
            # Which one: a file of many documents said only that one of them was wrong.
            raise error(
                f"{path}: document {number} of {len(docs)} is not a Kubernetes object with a "
                "kind: every document must be one"
            )
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
            f"{self.path}: Budget {self.namespace}/{self.name}: invalid spec: {self.error}"
            f"{'' if self.error.endswith('?') else '.'} "
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
    skipped_files: dict[Path, str] = field(default_factory=dict)
    """Files of a folder given that hold no Kubernetes object (a chart's Chart.yaml, values and
    templates), with why."""

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
        lines += [f"skipped {path}: {why}" for path, why in self.skipped_files.items()
                  if why != HELM_TEMPLATE]  # fmt: skip
        # A chart's templates, one line for each folder of them: a line a file was ten.
        folders = Counter(p.parent for p, why in self.skipped_files.items() if why == HELM_TEMPLATE)
        lines += [
            f"skipped {n} Helm template(s) in {folder}: YAML only once rendered, {RENDER_FIRST}"
            for folder, n in folders.items()
        ]
        return lines

    def template_warnings(self) -> list[str]:
        """A line per job whose pod template has fields the Kubernetes API does not: kubectl
        applies it, and the API server refuses its workers (a typo inside the template ran
        the image's own entrypoint, before workers were created strictly)."""
        lines = []
        for job in self.jobs:
            bad = unknown_fields(job.spec.template)
            if bad:
                lines.append(
                    f"TrainingJob {job.metadata.namespace}/{job.metadata.name}: "
                    f"{', '.join(f'spec.template.{b}' for b in bad)}: not a field of a pod in "
                    "the Kubernetes API; the API server refuses its workers (WorkerRejected) "
                    "until it is fixed"
                )
        return lines

    def missing(self, message: str) -> ManifestError:
        """The error that a kind the command needs is missing, with the kinds skipped, which
        it would otherwise hide (`kind: Pricetable`)."""
        return ManifestError(
            "".join([message, *(f"\n  {line}" for line in self.skipped_warnings())])
        )


def load(paths: Iterable[str | Path], namespace: str = "default") -> Manifests:
    """Read every object in the files (directories for *.yaml and *.yml, hidden ones left
    out), those of a namespaced kind without a namespace in `namespace`, as `kubectl apply`
    puts them in its context's; a ManifestError lists every object and file that cannot be
    used, not only the first, so that one run shows all there is to fix."""
    found = Manifests()
    files: list[Path] = []
    walked: set[Path] = set()  # found in a folder given, not named
    read: set[Path] = set()  # a file given by name and through its folder is read once
    for raw in paths:
        path = Path(raw)
        # A folder's hidden ones (.github, .git) hold no manifests: a CI workflow failed the plan.
        found_in = (
            sorted(f for f in path.rglob("*.y*ml") if not _hidden(f.relative_to(path)))
            if path.is_dir()
            else [path]
        )
        for each in found_in:
            if str(each) == "-" or each.resolve() not in read:
                read.add(each.resolve())
                files.append(each)
                if path.is_dir():
                    walked.add(each)
    seen: dict[tuple[str, str], Path] = {}
    errors: list[str] = []
    for path in files:
        try:
            objects = list(read_objects(path))
        except HelmTemplateError as err:
            if path in walked:
                found.skipped_files[path] = HELM_TEMPLATE
            else:
                errors.append(str(err))
            continue
        except ManifestError as err:
            # A folder's other YAML (a chart's Chart.yaml, values and templates, a
            # kustomization) failed the whole plan; a file given by name that holds none is
            # still an error.
            if path in walked and _no_object_in(path):
                found.skipped_files[path] = "it holds no Kubernetes object"
            else:
                errors.append(str(err))
            continue
        for obj in objects:
            meta = obj.get("metadata")
            if obj["kind"] not in _CLUSTER_SCOPED and isinstance(meta, dict):
                meta.setdefault("namespace", namespace)
            try:
                _read(found, obj, path, seen)
            except ManifestError as err:
                errors.append(str(err))
    if len(errors) > 1:
        # Under one heading, each indented, as `prices import` lists the pools it left out.
        listed = "\n".join(errors).replace("\n", "\n  ")
        raise ManifestError(f"{len(errors)} errors in the files:\n  {listed}")
    if errors:
        raise ManifestError(errors[0])
    return found


def _no_object_in(path: Path) -> bool:
    """Whether a YAML file that reads holds no document with a kind (none is a manifest)."""
    try:
        docs = load_yaml(read_text(path, ManifestError))
    except (ManifestError, yaml.YAMLError):
        return False
    return not any(isinstance(doc, dict) and "kind" in doc for doc in docs)


def _hidden(relative: Path) -> bool:
    """Whether a path inside a folder is in, or is, a hidden one (its name starts with a dot)."""
    return any(part.startswith(".") for part in relative.parts)


def _read(
    found: Manifests, obj: dict[str, Any], path: Path, seen: dict[tuple[str, str], Path]
) -> None:
    """Add one object to `found` by its kind, or raise a ManifestError naming it."""
    kind = obj["kind"]
    key = (kind, _named(obj, kind))
    if kind in _KINDS and key in seen:
        # kubectl would keep the last; planning both would book one job's room twice.
        raise ManifestError(f"{path}: {kind} {key[1]} is also in {seen[key]}: keep one")
    seen[key] = path
    if (wrong := _misshapen(obj, _SHAPES.get(kind, ()))) is not None:
        raise ManifestError(f"{path}: {kind} {key[1]}: {wrong}")
    if kind == "TrainingJob":
        job = parse_model(api.TrainingJob, obj, str(path))
        _convertible(obj, path, convert.job_from, job)
        found.jobs.append(job)
    elif kind == "PriceTable":
        found.price_tables.append(parse_model(api.PriceTable, obj, str(path)))
    elif kind == "Budget":
        _add_budget(found, obj, path)
    elif kind == "Node":
        found.nodes.append(checked_node(obj, path))
    elif kind == "Pod":
        spec = obj.get("spec") or {}
        _quantities(obj, path, [
            (f"spec.{kind}[{i}].resources.{part}", (c.get("resources") or {}).get(part) or {})
            for kind in ("containers", "initContainers")
            for i, c in enumerate(spec.get(kind) or [])
            for part in ("requests", "limits")
        ])  # fmt: skip
        _convertible(obj, path, podrequests.pod_requests, spec)
        found.pods.append(obj)
    elif kind == "ResourceQuota":
        _convertible(obj, path, quotas.quota_from, obj)
        found.quotas.append(obj)
    elif kind not in _OTHER_COMMANDS:
        found.skipped[kind] += 1


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
                "; ".join(field_errors(err, api.Budget, obj)),
                holds.enforcement_of(obj),
            )
        )


_KINDS = ("TrainingJob", "PriceTable", "Budget", "Node", "Pod", "ResourceQuota")
"""The kinds `load` reads; any other is skipped, and counted in `Manifests.skipped`."""
_OTHER_COMMANDS = frozenset({"ResourceMix", "NodePools"})
"""Kinds `plan mix` and `simulate` read, skipped without a warning: `pricewise plan examples/`
reads a folder that holds them too."""


_SHAPES: dict[str, tuple[tuple[str, type], ...]] = {
    "Node": (
        ("metadata", dict),
        ("metadata.name", str),
        ("metadata.labels", dict),
        ("metadata.labels.*", str),
        ("spec", dict),
        ("status", dict),
        ("status.conditions", list),
        ("status.conditions.*", dict),
        ("status.allocatable", dict),
    ),
    "Pod": (
        ("metadata", dict),
        ("spec", dict),
        ("spec.nodeName", str),
        *(
            shape
            for each in ("containers", "initContainers")
            for shape in (
                (f"spec.{each}", list),
                (f"spec.{each}.*", dict),
                (f"spec.{each}.*.resources", dict),
                (f"spec.{each}.*.resources.requests", dict),
                (f"spec.{each}.*.resources.limits", dict),
            )
        ),
        ("status", dict),
    ),
    "ResourceQuota": (
        ("metadata", dict),
        ("spec", dict),
        ("spec.hard", dict),
        ("spec.scopes", list),
        ("spec.scopeSelector", dict),
        ("spec.scopeSelector.matchExpressions", list),
        ("spec.scopeSelector.matchExpressions.*", dict),
        ("status", dict),
    ),
    "Budget": (("metadata", dict), ("spec", dict)),
}
"""The form of the fields pricewise reads of the kinds it reads as they are, as the API server
would have them (`*`: each item or value): a hand-written Node whose labels were a list ended
`plan` in a traceback."""
TYPE_NAMES: dict[type, str] = {dict: "a map", list: "a list", str: "text"}
"""What a value of a file is, for a message (`must be a map`)."""


def _inside(at: str, holder: Any, step: str) -> list[tuple[str, Any]]:
    """What `step` of `holder` (named `at`) holds, each with its name: `*` is every item."""
    if step == "*" and isinstance(holder, list):
        return [(f"{at}[{i}]", v) for i, v in enumerate(holder)]
    if step == "*" and isinstance(holder, dict):
        return [(f"{at}[{k!r}]", v) for k, v in holder.items()]
    if isinstance(holder, dict):
        return [(f"{at}.{step}".lstrip("."), holder.get(step))]
    return []


def read_nodes(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """The Nodes of YAML files (other kinds left out), each checked as `checked_node` does."""
    return [
        checked_node(obj, Path(path))
        for path in paths
        for obj in read_objects(path)
        if obj["kind"] == "Node"
    ]


def checked_node(obj: dict[str, Any], path: Path) -> dict[str, Any]:
    """A Node of a file, or a ManifestError naming the first field of it pricewise cannot read
    (`metadata.labels must be a map, not list`, `status.allocatable.cpu: 'lots' is not a
    quantity`): the commands that read Nodes say it alike, with no traceback."""
    named = f"{path}: Node {_named(obj, 'Node')}"
    if (wrong := misshapen(obj)) is not None:
        raise ManifestError(f"{named}: {wrong}")
    if not (obj.get("metadata") or {}).get("name"):
        raise ManifestError(f"{named}: metadata.name is required")
    allocatable = (obj.get("status") or {}).get("allocatable") or {}
    _quantities(obj, path, [("status.allocatable", allocatable)])
    _convertible(obj, path, podrequests.resources_of, allocatable)
    return obj


def misshapen(obj: Mapping[str, Any]) -> str | None:
    """What of an object of a kind `load` reads does not have its form (`metadata.labels must
    be a map, not list`), or None: the same words wherever such a file is read."""
    return _misshapen(obj, _SHAPES.get(str(obj.get("kind")), ()))


def _misshapen(obj: Mapping[str, Any], shapes: Sequence[tuple[str, type]]) -> str | None:
    """What of `obj` does not have its form in `shapes` (a missing field is fine), or None."""
    for path, form in shapes:
        found: list[tuple[str, Any]] = [("", obj)]
        for step in path.split("."):
            found = [inner for at, holder in found for inner in _inside(at, holder, step)]
        for where, value in found:
            if value is not None and not isinstance(value, form):
                return f"{where} must be {TYPE_NAMES[form]}, not {type(value).__name__}"
    return None


def _quantities(
    obj: dict[str, Any], path: Path, where: Sequence[tuple[str, Mapping[str, Any]]]
) -> None:
    """Raise a ManifestError naming the field of the first quantity pricewise reads that it
    cannot (`status.allocatable.memory: 'lots' is not a quantity`): the object alone was named."""
    for prefix, amounts in where:
        for key in ("cpu", "memory", GPU, TPU):
            if key in amounts:
                try:
                    parse_quantity(amounts[key])
                except (ValueError, TypeError, ArithmeticError) as err:
                    named = f"{obj['kind']} {_named(obj, obj['kind'])}"
                    raise ManifestError(f"{path}: {named}: {prefix}.{key}: {err}") from None


def _convertible(
    obj: dict[str, Any], path: Path, convert_it: Callable[[Any], object], part: Any
) -> None:
    """Raise a ManifestError naming the object when pricewise cannot read its figures (a
    quantity such as `lots`), as the operator says it in the object's status."""
    try:
        convert_it(part)
    except (ValueError, TypeError, AttributeError, ArithmeticError) as err:
        raise ManifestError(f"{path}: {obj['kind']} {_named(obj, obj['kind'])}: {err}") from None
