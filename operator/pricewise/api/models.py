"""The pricewise API (group `pricewise.dev`, version `v1alpha1`) as pydantic models.

These models are the one source of truth: `crdgen` turns them into the CRDs in `crds/`,
`pricewise plan` validates offline manifests with them, and the operator reads specs through them.
CEL rules (`x-kubernetes-validations`) repeat in the API server what the model validators check
offline, so that a bad object is rejected the same way in both places.

The file is long on purpose: the field descriptions and CEL rules are the CRDs' documentation
(`kubectl explain`), and the three kinds share `ApiModel`, `Condition` and the checks below.
Kept in one file, the schema is read, and reviewed against `crds/`, in one place; split by kind,
one schema would be four files importing each other's helpers. The helpers fields are declared
with (forms, CEL rules, durations, quantities) are in `fields`.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from pricewise.api.fields import (
    ACCELERATOR_PATTERN,
    CURRENCY_PATTERN,
    LABEL_VALUE_PATTERN,
    NAME_PATTERN,
    SUBDOMAIN_PATTERN,
    cel,
    check_duration,
    check_quantity,
    duration_field,
    quantity_field,
    quantity_text,
)
from pricewise.core import bounds
from pricewise.core.times import as_utc
from pricewise.core.units import (
    parse_duration,
    parse_quantity,
)

GROUP = "pricewise.dev"
VERSION = "v1alpha1"
API_VERSION: Final = "pricewise.dev/v1alpha1"

WORK_REQUIRED = (
    "spec.work is required when an option gives a throughput: add spec.work, the job's total "
    "work in the units of its options' throughput, or give each option a duration instead"
)
"""Said by the API server (a CEL rule) and by pricewise alike."""


class ApiModel(BaseModel):
    """Base of every API type: camelCase on the wire, unknown fields rejected offline."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class SpecModel(ApiModel):
    """Base of what users write (specs): scalars of the type the CRD schema gives, as the API
    server takes them; `allowSpot: 1` or `work: "2000000"` passed `pricewise plan` and then
    failed `kubectl apply`."""

    model_config = ConfigDict(strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _whole_floats_as_integers(cls, value: object, info: ValidationInfo) -> object:
        # The API server takes 2.0 where the schema says integer, and hands it back as 2.
        field = cls.model_fields.get(info.field_name or "")
        integer = field is not None and field.annotation in (int, int | None)
        if integer and isinstance(value, float) and value.is_integer():
            return int(value)
        return value


class Condition(ApiModel):
    """A condition in the Kubernetes convention (`type`, `status`, `reason`, `message`)."""

    type: str = Field(description="Kind of condition, in CamelCase, e.g. Admitted.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field("", description="One CamelCase word a program can switch on.")
    message: str = Field("", description="What happened, with the figures, for a person.")
    last_transition_time: datetime | None = Field(None, description="When the status last changed.")
    observed_generation: int | None = Field(
        None, description="The .metadata.generation the condition was set from."
    )


def conditions_field() -> Any:
    """A status's conditions: a map by type (`x-kubernetes-list-type: map`), as the API
    conventions ask, so that server-side apply merges one condition, not the whole list."""
    return Field(
        default_factory=list,
        description="Current conditions, one of each type.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )


# --- TrainingJob -------------------------------------------------------------------------------


class Workers(SpecModel):
    """How many workers the job may run with; pricewise picks the cheapest width that fits."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("self.min <= self.max", "workers.min must be less than or equal to workers.max")
            ]
        }
    )

    min: int = Field(
        1,
        ge=1,
        le=bounds.MAX_WORKERS,
        description="Fewest workers the job can run with (default 1).",
    )
    max: int = Field(
        1, ge=1, le=bounds.MAX_WORKERS, description="Most workers the job can use (default 1)."
    )

    @model_validator(mode="after")
    def _min_le_max(self) -> Workers:
        if self.min > self.max:
            raise ValueError(
                f"workers.min ({self.min}) must be less than or equal to workers.max ({self.max})"
            )
        return self


class JobOption(SpecModel):
    """One way the job can run: an accelerator kind, devices per worker, and its speed there."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "has(self.throughput) != has(self.duration)",
                    "give exactly one of throughput (with spec.work) or duration",
                )
            ]
        }
    )

    accelerator: str = Field(
        pattern=ACCELERATOR_PATTERN,
        max_length=63,
        description="Accelerator kind: `cpu`, or a GPU/TPU model such as nvidia-l4, "
        "nvidia-a100-80gb, nvidia-h100, tpu-v5e. Matched against PriceTable pools. A name "
        "starting with `tpu` requests google.com/tpu, any other but `cpu` nvidia.com/gpu.",
    )
    devices_per_worker: int = Field(
        1,
        ge=1,
        le=256,
        description="Devices each worker holds (GPUs, TPU chips; for `cpu`, CPU cores).",
    )
    throughput: float | None = Field(
        None,
        ge=bounds.MIN_THROUGHPUT,
        le=bounds.MAX_THROUGHPUT,
        description="Work units per second of one worker (needs spec.work).",
    )
    duration: str | None = duration_field(
        None, "Expected run time with one worker, e.g. 10h30m (instead of throughput)."
    )
    cpu: str | None = quantity_field(
        "CPU request of each worker; default: for cpu options devicesPerWorker (which replaces "
        "the template's request), otherwise the template's, else 1.",
        f"{bounds.MAX_CPU_CORES}",
    )
    memory: str | None = quantity_field(
        "Memory request of each worker, e.g. 64Gi; default: the template's, else 2Gi.",
        f"{bounds.MAX_MEMORY_GIB}Gi",
    )

    @field_validator("duration")
    @classmethod
    def _duration_in_range(cls, value: str | None) -> str | None:
        return check_duration(value)

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _whole_number_as_text(cls, value: object) -> object:
        return quantity_text(value)

    @field_validator("cpu")
    @classmethod
    def _cpu_in_range(cls, value: str | None) -> str | None:
        return check_quantity(value, bounds.MAX_CPU_CORES, "CPUs")

    @field_validator("memory")
    @classmethod
    def _memory_in_range(cls, value: str | None) -> str | None:
        return check_quantity(value, bounds.MAX_MEMORY_GIB, "GiB")

    @model_validator(mode="after")
    def _throughput_xor_duration(self) -> JobOption:
        if (self.throughput is None) == (self.duration is None):
            raise ValueError("give exactly one of throughput (with spec.work) or duration")
        return self

    @model_validator(mode="after")
    def _cpu_worker_requests_cpu(self) -> JobOption:
        # A cpu option's worker of no CPU paid for its memory alone, and one of no request at
        # all fitted no count of copies: it waited for room for ever.
        if self.accelerator == "cpu" and self.cpu is not None and parse_quantity(self.cpu) == 0:
            raise ValueError(
                "a cpu option's worker requests no CPU; remove cpu (it then requests "
                "devicesPerWorker cores) or set it above 0"
            )
        return self


class ExitCodes(SpecModel):
    """Exit codes of a failed worker's container, as a batch/v1 podFailurePolicy names them."""

    operator: Literal["In", "NotIn"] = Field(
        description="In: the rule matches a code among the values; NotIn: a code not among them."
    )
    values: list[Annotated[int, Field(ge=1, le=255)]] = Field(
        min_length=1,
        max_length=255,
        description="Exit codes, each once (a worker that exits 0 has not failed).",
        # The API server refuses a code given twice, as the validator below does.
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )

    @field_validator("values")
    @classmethod
    def _each_once(cls, values: list[int]) -> list[int]:
        if len(set(values)) < len(values):
            twice = sorted({v for v in values if values.count(v) > 1})
            raise ValueError(f"{', '.join(map(str, twice))} given twice: list each code once")
        return values


class FailureRule(SpecModel):
    """What a worker that failed with some exit code does to its job."""

    action: Literal["FailJob", "Ignore", "Count"] = Field(
        description="FailJob: the job fails at once, without a restart (a bug in the code "
        "fails the same way again, on paid nodes); Ignore: it restarts without counting "
        "against maxRestarts (an exit an infrastructure signal caused); Count: it restarts, "
        "counted, as without a rule."
    )
    on_exit_codes: ExitCodes = Field(
        description="The exit codes of the failed worker's first container that exited with "
        "one. A worker failed without an exit code (evicted, lost with its node) matches no "
        "rule."
    )


class FailurePolicy(SpecModel):
    """What happens when a worker fails or its node goes away (JobSet's names)."""

    max_restarts: int = Field(
        3,
        ge=0,
        le=100,
        description="How many times the job is requeued and placed again after a lost or "
        "failed worker before it fails. 0: fail at once.",
    )
    rules: list[FailureRule] = Field(
        default_factory=list,
        max_length=20,
        description="Rules by a failed worker's exit code, as a batch/v1 podFailurePolicy's: "
        "the first that matches decides (FailJob, Ignore or Count); none matching counts the "
        "restart.",
    )


class Checkpoint(SpecModel):
    """How often the job saves its progress, so that a restart resumes from there."""

    interval: str = duration_field(..., "Time between checkpoints, e.g. 30m.")

    @field_validator("interval")
    @classmethod
    def _interval_in_range(cls, value: str) -> str:
        return check_duration(value) or value


PLACEMENT_FIELDS = frozenset({"nodeName", "nodeSelector", "affinity", "topologySpreadConstraints"})
"""Pod fields that decide where a worker goes, which pricewise decides (see `TrainingJobSpec`)."""


_DATE_ALONE = re.compile(r"\d{4}-\d{2}-\d{2}")
"""A calendar date with no time of day, which the API server's date-time format refuses."""
_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?")
"""A number, which pydantic would read as seconds since 1970 and the API server refuses."""
_ZONE = re.compile(r"([Zz]|[+-]\d{2}:\d{2})$")
"""The zone a date-time ends with for the API server (kube-openapi's `IsDateTime`)."""
_EXAMPLE = "2026-12-01T18:00:00Z"
_LEAP_SECOND = re.compile(r"T\d{2}:\d{2}:60")
_DAY = re.compile(r"(\d{4})-(0[1-9]|1[0-2])-(\d{2})")
"""The date a date-time starts with, its month a month of the year."""


class TrainingJobSpec(SpecModel):
    """What the job needs: its worker template, the ways it can run, and its constraints."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.options.all(o, !has(o.throughput)) || has(self.work)",
                    WORK_REQUIRED,
                    ".work",
                )
            ]
        }
    )

    template: dict[str, Any] = Field(
        description="Pod template of a worker (a PodTemplateSpec) with its containers: the "
        "training program. pricewise adds the node "
        "selector, tolerations and device requests of the pool it chooses (a device request of "
        "the first container's own gets a TemplateDeviceRequest Warning event), and picks "
        "each worker's node: nodeName, nodeSelector, affinity and topologySpreadConstraints are "
        "refused.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    workers: Workers = Field(
        default_factory=Workers, description="Range of worker counts (default: one worker)."
    )
    work: float | None = Field(
        None,
        ge=bounds.MIN_WORK,
        le=bounds.MAX_WORK,
        description="Total work units (e.g. samples or steps) the job must do.",
    )
    options: list[JobOption] = Field(
        min_length=1, max_length=16, description="Acceptable ways to run, in any order."
    )
    scaling_efficiency: float = Field(
        1.0,
        ge=0.5,
        le=1,
        description="Share of linear speed-up kept at each doubling of workers: 1 (the "
        "default) is linear, which few jobs reach; 0.5 means more workers do not go faster.",
    )
    deadline: datetime | None = Field(
        None,
        strict=False,  # a time is a string on the wire, checked by `_deadline_with_a_time`
        description="Finish by this time (RFC 3339, e.g. 2026-12-01T08:00:00Z).",
    )
    max_duration: str | None = duration_field(None, "Finish within this long of starting, e.g. 8h.")
    min_throughput: float | None = Field(
        None,
        gt=0,
        le=bounds.MAX_THROUGHPUT * bounds.MAX_WORKERS,
        description="Least aggregate work units per second acceptable.",
    )
    max_cost: float | None = Field(
        None,
        ge=0,
        le=bounds.MAX_MONEY,
        description="Place the job only where its run costs at most this (PriceTable "
        "currency). Each run is checked: after a restart the run is checked afresh, so the "
        "job's total may reach (maxRestarts + 1) x maxCost. A price rise after it is placed "
        "does not stop the run: a PastMaxCost Warning event says so.",
    )
    value: float | None = Field(
        None,
        ge=0,
        le=bounds.MAX_MONEY,
        description="What finishing is worth; the job does not run if its cheapest option costs "
        "more.",
    )
    priority: int = Field(
        0, ge=-1000, le=1000, description="Higher priority jobs are placed first under contention."
    )
    when_late: Literal["Wait", "Run"] = Field(
        "Wait",
        description="Once no option can meet the deadline any more: Wait (default) holds the job "
        "with reason DeadlineUnreachable until its spec changes; Run places it anyway, as a job "
        "without a deadline, and says so in its status.",
    )
    allow_spot: bool = Field(False, description="Whether spot (preemptible) pools may be used.")
    preemption_policy: Literal["PreemptLowerPriority", "Never"] = Field(
        "PreemptLowerPriority",
        description="PreemptLowerPriority (default, as for Pods): when the job cannot be placed "
        "or planned, pricewise may requeue running jobs of strictly lower priority to make room, "
        "choosing those whose lost work costs least. Never: the job waits instead.",
    )
    active_deadline_seconds: int | None = Field(
        None,
        ge=1,
        le=int(bounds.MAX_RUN_S),
        description="Longest a run may last from its admission, in seconds: past it its "
        "workers are stopped and the job fails with reason DeadlineExceeded, without a "
        "restart, so that a hung run stops billing. Unlike a batch/v1 Job's, each run is "
        "counted on its own: one requeued (a failed worker, a lost node, a preemption, a "
        "suspend) counts afresh, so that a job may run up to (maxRestarts + 1) times it in "
        "all. An edit applies to the run under way. Unlike deadline and maxDuration, which "
        "planning meets, it is enforced on the run only: set maxDuration too for options too "
        "slow for it to be left out.",
    )
    suspend: bool = Field(
        False,
        description="Keep the job from running, as a batch/v1 Job's suspend: a pending job is "
        "not planned and holds no room; a placed one is stopped (its workers deleted, its "
        "progress and accrued cost kept, no restart counted), as a preemption stops it. Set "
        "back to false, it is planned again, its wait counted from then. Its Suspended "
        "condition says which.",
    )
    ttl_seconds_after_finished: int | None = Field(
        None,
        ge=0,
        le=int(bounds.MAX_RUN_S),
        description="Delete the job this many seconds after it finishes (Succeeded or "
        "Failed), as a batch/v1 Job's: its workers go with it; its cost stays counted in its "
        "namespace's Budgets and in the metrics. Only where the admin lets the operator "
        "delete TrainingJobs (the chart's ttlAfterFinished.enabled); elsewhere the job is "
        "kept, and a TTLNotEnforced Warning event says so once.",
    )
    max_wait: str | None = duration_field(
        None,
        "Longest pricewise may hold the job back for cheaper capacity, from its submission "
        "(or its resume after a suspend), "
        "e.g. 6h (default: the operator's scheduler.maxWait, 24h unless set); it waits only "
        "for room that frees within a day, its planning horizon. From eight tenths of it on, a "
        "job without a deadline starts before the others of its priority, oldest first, so "
        "that it starts within it; "
        "where no room is free, it holds the earliest room that frees for it. Where none frees "
        "in time it waits longer, counted in pricewise_pending_jobs_past_max_wait.",
    )
    failure_policy: FailurePolicy = Field(
        default_factory=FailurePolicy, description="Restarts after lost or failed workers."
    )
    checkpoint: Checkpoint | None = Field(
        None,
        description="How often the job checkpoints: a restart then loses at most one interval "
        "of work, and spot options are priced with that. Without it a restart starts over.",
    )

    @field_validator("max_duration", "max_wait")
    @classmethod
    def _max_duration_in_range(cls, value: str | None) -> str | None:
        return check_duration(value)

    @field_validator("deadline", mode="before")
    @classmethod
    def _deadline_with_a_time(cls, value: object) -> object:
        # The API server's date-time format refuses a date alone (which pydantic would take as
        # midnight) and a number: `pricewise plan` accepted jobs `kubectl apply` then refused.
        if isinstance(value, datetime) or value is None:
            return value
        text = str(value).strip()
        if isinstance(value, date) or (isinstance(value, str) and _DATE_ALONE.fullmatch(text)):
            raise ValueError(f"{text} is a date without a time: give both, e.g. {text}T18:00:00Z")
        # No digit at all (`tomorrow`, `EOD`): read as a time without a zone, it was told to
        # add one.
        if not isinstance(value, str) or _NUMBER.fullmatch(text) or not any(map(str.isdigit, text)):
            raise ValueError(f"{text} is not a time: give one as RFC 3339, e.g. {_EXAMPLE}")
        # Both refused by the API server; read as UTC, a time without a zone was off by its
        # writer's offset from UTC.
        if "T" not in text.upper():
            raise ValueError(f"{text}: put a T between the date and the time, e.g. {_EXAMPLE}")
        if not _ZONE.search(text):
            raise ValueError(
                f"{text} has no time zone (or one without a colon): end it with Z for UTC or an "
                f"offset such as +01:00, e.g. {_EXAMPLE}"
            )
        if _LEAP_SECOND.search(text):  # RFC 3339 has them; Go's parser, the API server's, not
            raise ValueError(f"{text}: a leap second (:60) is not taken: end the minute at :59")
        day = _DAY.match(text)
        if day:
            year, month = int(day[1]), int(day[2])
            days = calendar.monthrange(year, month)[1]
            if int(day[3]) > days:
                raise ValueError(f"{text}: {calendar.month_name[month]} {year} has {days} days")
        return value

    @field_validator("deadline")
    @classmethod
    def _deadline_in_range(cls, value: datetime | None) -> datetime | None:
        # 9999-12-31T23:59:59-10:00 is past the last time Python holds in UTC: every message
        # that gave it as a clock time failed, and the cycle set the job aside each time.
        if value is not None and (wrong := bounds.time_out_of_range(value)) is not None:
            raise ValueError(f"{value.isoformat()} {wrong}")
        return value

    @field_validator("template")
    @classmethod
    def _nodes_left_to_pricewise(cls, value: dict[str, Any]) -> dict[str, Any]:
        # pricewise picks each worker's node and pins the pod to it: a selector of the
        # template's own was merged into the pod but not planned with, so a worker on a node
        # it did not match stayed unschedulable while the job said Admitted, with an ETA.
        spec = value.get("spec")
        # Empty ones, as charts render them (`nodeSelector: {}`), pin nothing.
        pinned = (
            sorted(k for k in PLACEMENT_FIELDS if spec.get(k)) if isinstance(spec, dict) else []
        )
        if pinned:
            raise ValueError(
                f"spec.{pinned[0]}: pricewise chooses each worker's node, among "
                "the nodes of the pool it picks; remove it (to run on certain nodes only, ask "
                "the cluster admin for a PriceTable pool of those nodes)"
            )
        # Without one, a worker ran a placeholder that exits at once: the job "succeeded"
        # having trained nothing, and paid for its nodes' start.
        if not isinstance(spec, dict) or not spec.get("containers"):
            raise ValueError(
                "spec.containers: a worker needs at least one container, the training program "
                "(e.g. {name: trainer, image: ..., command: [...]})"
            )
        # Restarted by the kubelet whenever it exits, a worker never ends: its job never
        # completed, and was billed until someone deleted it.
        if spec.get("restartPolicy") == "Always":
            raise ValueError(
                "spec.restartPolicy: Always restarts a worker that has finished, so its job "
                "never completes: leave it out (Never) or use OnFailure"
            )
        return value

    @model_validator(mode="after")
    def _work_with_throughput(self) -> TrainingJobSpec:
        if self.work is None and any(o.throughput is not None for o in self.options):
            raise ValueError(WORK_REQUIRED)
        return self


Phase = Literal["Pending", "Admitted", "Running", "Succeeded", "Failed"]
ACTIVE_PHASES: Final = ("Admitted", "Running")
"""The phases of a placed job: it holds its nodes."""
FINISHED_PHASES: Final = ("Succeeded", "Failed")
"""The phases of a job that has ended."""


class OptionRow(ApiModel):
    """One row of the options table: what running the job this way would cost and when."""

    pool: str = Field(description="PriceTable pool.")
    accelerator: str = Field(description="Accelerator kind of the pool.")
    capacity_type: str = Field(description="on-demand or spot.")
    workers: int = Field(description="Workers at the width shown.")
    devices: int = Field(description="Devices in all (workers x devices per worker).")
    cost: float = Field(
        description="Estimated cost of the whole run; on spot, with the work reclaims lose."
    )
    list_cost: float | None = Field(
        None, description="Spot priced with reclaims: the cost at list price with none."
    )
    duration: str = Field(description="Estimated run time, e.g. 11h20m.")
    finish: datetime | None = Field(
        None, description="Estimated finish if started now, or from its planned start."
    )
    verdict: Literal["chosen", "planned", "feasible", "excluded"] = Field(
        description="chosen; planned to start later (see start); feasible but not chosen; "
        "or excluded (see note)."
    )
    note: str = Field("", description="Why this option was not chosen, with the figures.")
    start: datetime | None = Field(None, description="Planned start of a planned option.")


def _amount(value: Any) -> bool:
    """Whether a status amount read back is one the operator could have written: a finite
    number from 0 to `bounds.MAX_ACCRUED`."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 <= value <= bounds.MAX_ACCRUED
    )


def _amounts(value: Any) -> Any:
    """An hour-keyed map of amounts with those left out that `_amount` refuses: one hand-edited
    entry of 1e308 stopped every Budget's status from being written."""
    if not isinstance(value, dict):
        return value
    return {k: v for k, v in value.items() if _amount(v)}


Amount = Annotated[float, Field(ge=0, le=bounds.MAX_ACCRUED)]
"""An amount of money a status keeps (see `bounds.MAX_ACCRUED`)."""
ReadAmount = Annotated[Amount, BeforeValidator(lambda v: v if _amount(v) else 0.0)]
"""An amount read back as 0 where it is none the operator writes (a hand edit, or one stored
before the CRD bounded it), so that the rest of its status still reads: a Budget's spend of
1e308 in its current period failed every cycle as it was counted in money."""
OptionalReadAmount = Annotated[
    Amount | None, BeforeValidator(lambda v: v if v is None or _amount(v) else None)
]
"""`ReadAmount` where none may be written: such a figure reads as none."""


_DATETIME = TypeAdapter(datetime)


def _time(value: Any) -> Any:
    """A status time read back, or None where it is none the operator writes (a hand edit):
    outside `bounds.EARLIEST_TIME` to `LATEST_TIME`, sums with it overflowed."""
    try:
        moment = _DATETIME.validate_python(value)
    except ValidationError:
        return None
    try:
        return moment if bounds.in_time_range(as_utc(moment)) else None
    except OverflowError:  # year 1 at +14:00 is before year 1 in UTC
        return None


class TrainingJobStatus(ApiModel):
    """Where the job went, what it costs, and why."""

    phase: Phase = Field("Pending", description="Pending, Admitted, Running, Succeeded or Failed.")
    pool: str | None = Field(None, description="The pool chosen.")
    accelerator: str | None = Field(None, description="Accelerator kind of the chosen pool.")
    option_index: int | None = Field(
        None, description="Index in spec.options of the option the job was placed with."
    )
    workers: int | None = Field(
        None, ge=0, le=bounds.MAX_WORKERS, description="Number of workers chosen."
    )
    nodes: list[str] = Field(default_factory=list, description="Node planned for each worker.")
    currency: str | None = Field(None, description="Currency of the costs.")
    estimated_cost: float | None = Field(
        None,
        description="Estimated cost of the current run, at the prices it was placed at; after "
        "a price change under it, what it has cost so far plus the rest at the new price.",
    )
    estimated_duration: str | None = Field(None, description="Estimated run time.")
    estimated_finish: datetime | None = Field(
        None, description="Estimated finish time; once the job has ended, when it ended."
    )
    cost: str | None = Field(
        None,
        description="What the job costs, with its currency, as `kubectl get tj` shows it: once "
        "it has ended, what it cost; while it is placed or planned, ~ what it is expected to "
        "cost in all (what it has accrued, plus its run's estimate or its plan's); while it "
        "waits without a plan, what it has cost so far, if anything.",
    )
    accrued: str | None = Field(
        None,
        description="accruedCost to the cent (an amount under a cent to 4 decimals), with its "
        "currency, as `kubectl get tj -o wide` shows it.",
    )
    accrued_cost: ReadAmount = Field(0.0, description="Cost accrued so far from real run time.")
    accrued_until: datetime | None = Field(None, description="Time up to which cost is accrued.")
    accrued_before_run: OptionalReadAmount = Field(
        None,
        description="accruedCost when the current run was admitted: what the job's earlier runs "
        "cost (each cut by a preemption or a lost or failed worker). accruedCost less this is "
        "what the current run has cost, and what cutting it can lose at most.",
    )
    cost_buckets: dict[str, Amount] = Field(
        default_factory=dict,
        description="Accrued cost per UTC hour (YYYY-MM-DDTHH); an hour a Budget's period starts "
        "in off the hour (a time zone half an hour off UTC) is split there (YYYY-MM-DDTHH:MM "
        "from then on).",
    )
    energy_kwh: float = Field(
        0.0, alias="energyKWh", description="Energy drawn by the job's devices so far (kWh)."
    )
    emissions_kg: float = Field(
        0.0, description="CO2 emitted for that energy (kg), from the PriceTable's intensity."
    )
    planned_start: datetime | None = Field(
        None, description="When a waiting job is planned to start (see the planned option)."
    )
    admitted_at: datetime | None = Field(None, description="When the job was admitted.")
    started_at: datetime | None = Field(None, description="When all workers were running.")
    finished_at: datetime | None = Field(None, description="When the job ended.")
    reason: str = Field("", description="Why the job is in this phase, as one CamelCase word.")
    message: str = Field("", description="Why, for a person, with the figures.")
    options: list[OptionRow] = Field(
        default_factory=list,
        description="The options considered: those that qualify first, each group cheapest first.",
    )
    conditions: list[Condition] = conditions_field()
    observed_generation: int | None = Field(None, description="Generation last planned.")
    restarts: int = Field(
        0, description="Times the job was requeued after a lost or failed worker."
    )
    progress: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of the work saved across restarts: from spec.checkpoint (the "
        "checkpoints a cut run had passed), or the trainer's pricewise.dev/progress annotation, "
        "whichever is more. A restarted job is planned for the rest.",
    )
    restart_history: list[str] = Field(
        default_factory=list, description="Why each restart happened, oldest first."
    )

    @field_validator("cost_buckets", mode="before")
    @classmethod
    def _buckets_as_written(cls, value: Any) -> Any:
        return _amounts(value)

    # What a hand edit may have made of the operator's own record, read as unknown rather than
    # refused, so the rest of the status still reads: 2**31 workers hung every cycle in a loop
    # over them, a negative count lifted a Budget's headroom, an unreadable estimatedDuration
    # turned preemption off cluster-wide.
    @field_validator("workers", mode="before")
    @classmethod
    def _workers_as_written(cls, value: Any) -> Any:
        plausible = isinstance(value, int) and not isinstance(value, bool)
        return value if plausible and 0 <= value <= bounds.MAX_WORKERS else None

    @field_validator("estimated_duration", mode="before")
    @classmethod
    def _duration_as_written(cls, value: Any) -> Any:
        try:
            seconds = parse_duration(value)
        except (TypeError, ValueError, AttributeError):
            return None
        return value if 0 <= seconds <= bounds.MAX_RUN_S else None

    @field_validator(
        "estimated_finish",
        "accrued_until",
        "planned_start",
        "admitted_at",
        "started_at",
        "finished_at",
        mode="before",
    )
    @classmethod
    def _time_as_written(cls, value: Any) -> Any:
        return _time(value)


# --- PriceTable --------------------------------------------------------------------------------


def _not_defaulted(schema: dict[str, Any]) -> None:
    """Leave a field's default out of the CRD: the API server would store it, and a price
    never written would read as a price of 0 written on purpose."""
    schema.pop("default", None)


class Prices(SpecModel):
    """Prices of what a worker holds on the pool, per hour; unset prices are zero, and a pool
    with none set is told it has no price (`PoolWithoutPrice`)."""

    per_device_hour: float = Field(
        0.0,
        ge=0,
        le=bounds.MAX_PRICE_PER_HOUR,
        description="Per GPU or TPU chip per hour.",
        json_schema_extra=_not_defaulted,
    )
    per_cpu_hour: float = Field(
        0.0,
        ge=0,
        le=bounds.MAX_PRICE_PER_HOUR,
        description="Per requested CPU core per hour.",
        json_schema_extra=_not_defaulted,
    )
    per_gib_hour: float = Field(
        0.0,
        ge=0,
        le=bounds.MAX_PRICE_PER_HOUR,
        alias="perGiBHour",
        description="Per requested GiB of memory per hour.",
        json_schema_extra=_not_defaulted,
    )
    per_node_hour: float = Field(
        0.0,
        ge=0,
        le=bounds.MAX_PRICE_PER_HOUR,
        description="Per node per hour, charged by the share of the node a worker takes "
        "(its largest share of devices, CPU or memory).",
        json_schema_extra=_not_defaulted,
    )


_ANY_KEY = "a toleration without a key must have operator: Exists"
_NO_VALUE = "a toleration with operator: Exists takes no value"


class Toleration(SpecModel):
    """A toleration the pool's workers get, as core/v1 spells it."""

    # Checked here, so that a bad one is refused at `kubectl apply`, not by the API server at
    # each worker's creation (where it was blamed on the job's template).

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("has(self.key) || self.operator == 'Exists'", _ANY_KEY, ".operator"),
                cel("self.operator != 'Exists' || !has(self.value)", _NO_VALUE, ".value"),
            ]
        }
    )

    key: str | None = Field(None, max_length=317, description="The taint key; empty: any.")
    operator: Literal["Exists", "Equal"] = Field(
        "Equal", description="Equal (to value) or Exists (any value)."
    )
    value: str | None = Field(None, max_length=63, description="The taint value, with Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="The taint effect; empty: all."
    )
    toleration_seconds: int | None = Field(
        None, ge=0, description="With NoExecute: how long it stays bound."
    )

    @model_validator(mode="after")
    def _as_core_v1_checks(self) -> Toleration:
        if self.key is None and self.operator != "Exists":
            raise ValueError(_ANY_KEY)
        if self.operator == "Exists" and self.value is not None:
            raise ValueError(_NO_VALUE)
        return self


class Pool(SpecModel):
    """A set of nodes with one accelerator kind and one price."""

    name: str = Field(pattern=NAME_PATTERN, max_length=63, description="Pool name, unique.")
    accelerator: str = Field(
        pattern=ACCELERATOR_PATTERN,
        max_length=63,
        description="cpu, or the GPU/TPU model: a name starting with `tpu` means its nodes "
        "offer google.com/tpu, any other but cpu nvidia.com/gpu.",
    )
    node_selector: dict[str, str] = Field(
        min_length=1,
        description="Labels that pick the pool's nodes; also set on its workers.",
        # Values checked by the API server at apply; a table stored before is read as it is,
        # its pool set aside if a label is one no node can carry (`nodepools.pools_from`).
        json_schema_extra={
            "minProperties": 1,
            "additionalProperties": {
                "type": "string",
                "maxLength": 63,
                "pattern": LABEL_VALUE_PATTERN,
            },
        },
    )
    capacity_type: Literal["on-demand", "spot"] = Field(
        "on-demand", description="on-demand, or spot (used only by jobs that allow spot)."
    )
    interruption_rate: float = Field(
        0.0,
        ge=0,
        le=100,
        description="Spot pools: expected reclaims per node-hour (e.g. 0.05). Spot options are "
        "priced and planned with the work reclaims lose; 0 prices none, unless pricewise has "
        "seen a higher rate (status.pools[].observedInterruptionRate).",
    )
    prices: Prices = Field(description="Prices of the pool.")
    power_per_device_watts: float | None = Field(
        None,
        ge=0,
        le=bounds.MAX_POWER_WATTS,
        description="Power drawn by one device, for energy accounting.",
    )
    instance_type: str | None = Field(
        None,
        max_length=128,
        description="Machine type of the pool's nodes, where its price comes from "
        "(`pricewise prices import` looks it up in a catalog).",
    )
    region: str | None = Field(
        None, max_length=64, description="Region of the pool's nodes, for the price lookup."
    )
    devices_per_node: int | None = Field(
        None,
        ge=0,
        le=1024,
        description="GPUs or TPU chips on each of the pool's nodes, as `pricewise prices init` "
        "found them: a catalog row of a machine with attached GPUs does not count them.",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        max_length=32,
        description="Tolerations workers need on this pool; default: one for the device taint.",
    )


class PriceTableSpec(SpecModel):
    """Pools and their prices, set by the cluster admin."""

    currency: str = Field("USD", pattern=CURRENCY_PATTERN, description="ISO 4217 code, e.g. USD.")
    pools: list[Pool] = Field(
        min_length=1,
        max_length=128,
        description="The pools, in the admin's order of preference (first-fit order).",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )
    carbon_intensity: float | None = Field(
        None,
        ge=0,
        le=bounds.MAX_CARBON_INTENSITY,
        description="Grams of CO2 per kWh of the power the pools draw.",
    )

    @field_validator("pools")
    @classmethod
    def _unique_pool_names(cls, pools: list[Pool]) -> list[Pool]:
        seen: set[str] = set()
        for pool in pools:
            if pool.name in seen:
                raise ValueError(f"pool name {pool.name!r} appears twice; pool names are unique")
            seen.add(pool.name)
        return pools


class PoolStatus(ApiModel):
    """What the operator sees of one pool."""

    name: str = Field(description="Pool name.")
    nodes: int = Field(
        0,
        description="Nodes matched by the selector that take workers (not cordoned, NotReady "
        "or being reclaimed).",
    )
    free_devices: int | None = Field(
        None,
        description="Devices not requested by any pod; absent for a cpu pool, which has none "
        "(what it has free is freeCpu).",
    )
    free_cpu: float = Field(
        0, description="CPU cores not requested by any pod: what a CPU pool has free."
    )
    observed_interruption_rate: float | None = Field(
        None,
        description="Spot pools: reclaims per node-hour seen under pricewise's workers, once "
        "there are 10 node-hours to tell; spot is priced with it when above the declared rate.",
    )
    observed_reclaims: int | None = Field(
        None,
        ge=0,
        le=bounds.MAX_NODE_HOURS,
        description="Spot pools: nodes reclaimed under pricewise's workers, counted over "
        "observedNodeHours. Kept here so that a restarted operator, or a standby taking over, "
        "goes on from them rather than from none.",
    )
    observed_node_hours: float | None = Field(
        None,
        ge=0,
        le=bounds.MAX_NODE_HOURS,
        description="Spot pools: node-hours pricewise's workers have held on the pool (to 3 "
        "significant figures): what observedInterruptionRate is measured over.",
    )


class PriceTableStatus(ApiModel):
    """Pools as the operator sees them."""

    pools: list[PoolStatus] = Field(default_factory=list, description="Per pool.")
    pools_in_use: int = Field(
        0,
        description="Pools of this table that pricewise uses (not set aside for a problem the "
        "Ready condition names), with nodes or not: the POOLS column.",
    )
    nodes: int = Field(
        0,
        description="Nodes its pools match that take workers, all pools together: the NODES "
        "column.",
    )
    observed_generation: int | None = Field(
        None, description="The spec's generation these pools and conditions are for."
    )
    conditions: list[Condition] = conditions_field()


# --- Budget ------------------------------------------------------------------------------------


class BudgetSpec(SpecModel):
    """A money limit for the jobs of this namespace, per period."""

    limit: float = Field(
        ge=0, le=bounds.MAX_MONEY, description="Most that may be spent per period."
    )
    currency: str = Field("USD", pattern=CURRENCY_PATTERN, description="ISO 4217 code.")
    period: Literal["day", "week", "month", "total"] = Field(
        "month", description="day, week, month, or total (never resets)."
    )
    time_zone: str = Field(
        "UTC",
        pattern=r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$",
        max_length=64,
        description="IANA time zone of the period boundaries, e.g. Europe/Paris.",
    )
    thresholds: list[Annotated[float, Field(gt=0, le=bounds.MAX_THRESHOLD_PERCENT)]] = Field(
        default=[50.0, 80.0, 100.0],
        max_length=10,
        description="Percentages of the limit at which to alert, none twice.",
        # The API server refuses a percentage given twice: two alerts of one threshold, and
        # two metric series of the same labels.
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    enforcement: Literal["hard", "soft"] = Field(
        "hard", description="hard: jobs that would exceed the limit wait; soft: they run, alert."
    )

    @field_validator("thresholds")
    @classmethod
    def _each_threshold_once(cls, value: list[float]) -> list[float]:
        # A Budget stored before the schema refused repeats is read with each once.
        return list(dict.fromkeys(value))

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        # Files of the zone database that are no zone of their own: `right/` ones count leap
        # seconds, which Python's clock does not (right/Europe/Paris kept +02:00 all winter),
        # and the others are whatever the machine the operator runs on makes them.
        if value.startswith(("right/", "posix/")) or value in {
            "localtime",
            "posixrules",
            "Factory",
        }:
            raise ValueError(
                f"time zone {value!r} is not one to count periods in: use an IANA name such as "
                "UTC or Europe/Paris"
            )
        try:
            ZoneInfo(value)
        # A region alone (`America`) is a folder of the zone database: IsADirectoryError.
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as UTC or Europe/Paris"
            ) from None
        return value


class BudgetStatus(ApiModel):
    """Spending in the current period."""

    period_start: datetime | None = Field(None, description="Start of the current period.")
    period_end: datetime | None = Field(None, description="End of the current period.")
    spent: ReadAmount = Field(0.0, description="Accrued by jobs in this period.")
    committed: ReadAmount = Field(0.0, description="Estimated cost still to come of admitted jobs.")
    remaining: float = Field(0.0, description="limit - spent - committed.")
    utilisation: float = Field(0.0, description="(spent + committed) / limit.")
    forecast_exhaustion: datetime | None = Field(
        None,
        description="When the limit runs out if the namespace keeps spending at its current "
        "burn rate: a projection, which the admitted jobs' own estimates (committed) may end "
        "sooner; absent where that would be after the period ends.",
    )
    burn_rate: float = Field(0.0, description="What the namespace's running jobs cost per hour.")
    thresholds_crossed: list[float] = Field(
        default_factory=list, description="Thresholds (percent) reached in this period."
    )
    retained: dict[str, Amount] = Field(
        default_factory=dict,
        description="Cost per UTC hour of deleted jobs, kept so that deleting a job does not "
        "give its money back.",
    )
    unwritten_accrual: OptionalReadAmount = Field(
        None,
        description="Of spent, what running jobs had accrued past their own status's "
        "accruedCost when this was written (a minute's worth at most): it tells an operator "
        "started afresh the cost of a job deleted while none ran from the others' growth.",
    )
    observed_generation: int | None = Field(
        None, description="The spec's generation these figures and conditions are for."
    )
    conditions: list[Condition] = conditions_field()

    @field_validator("retained", mode="before")
    @classmethod
    def _retained_as_written(cls, value: Any) -> Any:
        # A negative amount lifted a hard limit: 100 USD read 1,000,100 left.
        return _amounts(value)

    @field_validator("period_start", "period_end", "forecast_exhaustion", mode="before")
    @classmethod
    def _time_as_written(cls, value: Any) -> Any:
        return _time(value)


# --- Objects -----------------------------------------------------------------------------------


class ObjectMeta(BaseModel):
    """The part of metadata pricewise reads."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    # Any name the API server accepts, dots included: `api.naming` derives valid pod and
    # Service names from it.
    name: str = Field(pattern=SUBDOMAIN_PATTERN, max_length=253)
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: datetime | None = Field(None, alias="creationTimestamp")


class TrainingJob(ApiModel):
    """A training job to place on the cheapest pool that meets its needs."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["pricewise.dev/v1alpha1"] = API_VERSION
    kind: Literal["TrainingJob"] = "TrainingJob"
    metadata: ObjectMeta
    spec: TrainingJobSpec
    status: TrainingJobStatus = Field(default_factory=TrainingJobStatus)


class PriceTable(ApiModel):
    """Prices of the cluster's node pools."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["pricewise.dev/v1alpha1"] = API_VERSION
    kind: Literal["PriceTable"] = "PriceTable"
    metadata: ObjectMeta
    spec: PriceTableSpec
    status: PriceTableStatus = Field(default_factory=PriceTableStatus)


class Budget(ApiModel):
    """A team's money limit per period."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["pricewise.dev/v1alpha1"] = API_VERSION
    kind: Literal["Budget"] = "Budget"
    metadata: ObjectMeta
    spec: BudgetSpec
    status: BudgetStatus = Field(default_factory=BudgetStatus)
