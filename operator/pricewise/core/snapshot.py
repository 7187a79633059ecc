"""Plain, immutable data the solver works on: no Kubernetes client, no pydantic.

The operator's cache and `pricewise plan` both build a `Snapshot`; the solver turns it into
decisions. Quantities are integers in the units the solver needs to be exact: CPU in
millicores, memory in MiB, devices as counts, money in micro-units of the currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from pricewise.core.units import format_cpu, format_memory

GPU = "nvidia.com/gpu"
TPU = "google.com/tpu"


@dataclass(frozen=True, order=True)
class Resources:
    """Requests or capacity: CPU millicores, memory MiB, GPUs and TPU chips."""

    cpu: int = 0
    memory: int = 0
    gpu: int = 0
    tpu: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu + other.cpu,
            self.memory + other.memory,
            self.gpu + other.gpu,
            self.tpu + other.tpu,
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu - other.cpu,
            self.memory - other.memory,
            self.gpu - other.gpu,
            self.tpu - other.tpu,
        )

    def times(self, count: int) -> Resources:
        """These resources `count` times over."""
        return Resources(self.cpu * count, self.memory * count, self.gpu * count, self.tpu * count)

    def fits_in(self, free: Resources) -> bool:
        """Whether every resource here is at most what `free` has."""
        return (
            self.cpu <= free.cpu
            and self.memory <= free.memory
            and self.gpu <= free.gpu
            and self.tpu <= free.tpu
        )

    def copies_in(self, free: Resources) -> int:
        """How many copies of these requests fit in `free` side by side."""
        # Resource by resource, without the lists `pairs` builds: packing and the model's
        # slot rows ask this for every node of a pool, many times over.
        least: int | None = None
        for need, amount in (
            (self.cpu, free.cpu),
            (self.memory, free.memory),
            (self.gpu, free.gpu),
            (self.tpu, free.tpu),
        ):
            if need > 0:
                count = amount // need
                if least is None or count < least:
                    least = count
        return 0 if least is None else max(0, least)

    def pairs(self, other: Resources) -> list[tuple[int, int]]:
        """(this, other) for each resource, in a fixed order."""
        return [
            (self.cpu, other.cpu),
            (self.memory, other.memory),
            (self.gpu, other.gpu),
            (self.tpu, other.tpu),
        ]

    @property
    def devices(self) -> int:
        """GPUs plus TPU chips (a worker holds one kind)."""
        return self.gpu + self.tpu

    @property
    def size(self) -> tuple[int, int, int]:
        """Devices, then CPU, then memory: how workers and nodes are ranked by size."""
        return self.devices, self.cpu, self.memory

    def describe(self) -> str:
        """`8 nvidia.com/gpu, 96 CPU, 680Gi`: what a person reads."""
        parts = []
        if self.gpu:
            parts.append(f"{self.gpu} {GPU}")
        if self.tpu:
            parts.append(f"{self.tpu} {TPU}")
        parts.append(f"{format_cpu(self.cpu)} CPU")
        parts.append(format_memory(self.memory))
        return ", ".join(parts)


@dataclass(frozen=True)
class Node:
    """One node of a pool, with what is still free on it."""

    name: str
    allocatable: Resources
    free: Resources


@dataclass(frozen=True)
class Release:
    """Room a running job gives back to its pool when it is estimated to finish."""

    at: datetime
    frees: Resources
    nodes: tuple[tuple[str, Resources], ...] = ()
    """Where: each node's share of `frees`, when known (empty when not)."""
    job: str = ""
    """The running job's key, where known: the jobs that wait for its room name it."""


def on_nodes(releases: Iterable[Release], nodes: Iterable[Node]) -> tuple[Release, ...]:
    """What `releases` free on `nodes` (a pool's schedulable nodes): room a job gives back on
    a cordoned, NotReady or departed node takes no worker. A release that does not say where
    is kept whole."""
    names = {n.name for n in nodes}
    out = []
    for release in releases:
        kept = tuple((name, frees) for name, frees in release.nodes if name in names)
        if kept == release.nodes:
            out.append(release)
        elif kept:
            out.append(replace(release, frees=sum((f for _, f in kept), Resources()), nodes=kept))
    return tuple(out)


def node_shares(worker: Resources, nodes: Sequence[str]) -> tuple[tuple[str, Resources], ...]:
    """What workers of this shape, one on each of `nodes` (a node may repeat), hold on each
    node: a `Release`'s `nodes`."""
    return tuple((n, worker.times(nodes.count(n))) for n in dict.fromkeys(nodes))


@dataclass(frozen=True)
class PoolPrices:
    """Hourly prices in micro-units of the currency."""

    per_device_hour: int = 0
    per_cpu_hour: int = 0
    per_gib_hour: int = 0
    per_node_hour: int = 0


@dataclass(frozen=True)
class Pool:
    """A set of interchangeable nodes with one accelerator kind and one price."""

    name: str
    accelerator: str
    capacity_type: str
    prices: PoolPrices
    nodes: tuple[Node, ...]
    order: int = 0
    """Position in the admin's PriceTable order: what a first-fit policy would try first."""
    power_per_device_watts: float | None = None
    unavailable: tuple[Node, ...] = ()
    """Nodes the pool's selector matches that are cordoned, NotReady or being reclaimed (not in
    `nodes`): they take no worker, but are still there, and billed."""
    releases: tuple[Release, ...] = ()
    """What the jobs running on the pool free, and when: the pool's capacity over time. Only
    room on `nodes` counts, where a release says where (see `on_nodes`)."""
    interruption_rate: float = 0.0
    """Reclaims per node-hour a spot pool is priced with (see `spotrisk`); 0 prices none."""

    @property
    def is_spot(self) -> bool:
        """Whether this pool sells preemptible capacity."""
        return self.capacity_type == "spot"

    @property
    def node_shape(self) -> Resources:
        """The largest node's allocatable: the share a worker takes is measured against it;
        while every node is out (a drain), the largest of those, as it was before."""
        return max(
            (n.allocatable for n in self.nodes or self.unavailable),
            key=lambda r: r.size,  # not the dataclass order, which ranks by CPU first
            default=Resources(),
        )

    @property
    def free(self) -> Resources:
        """What no pod requests on the pool's schedulable nodes, summed: devices for an
        accelerator pool, CPU cores (in millicores) for a CPU pool, whose devices are 0."""
        return sum((n.free for n in self.nodes), Resources())


@dataclass(frozen=True)
class Quota:
    """What a namespace may still request (a ResourceQuota's hard minus used)."""

    namespace: str
    name: str
    remaining: dict[str, int]
    """Resource name (`nvidia.com/gpu`, `google.com/tpu`, `cpu`, `memory`) to what is left."""
    frees: tuple[tuple[datetime, dict[str, int]], ...] = ()
    """What the namespace's placed jobs give back to it, by resource name, and when they are
    estimated to finish: when a later start has room in the quota."""
    hard: dict[str, int] = field(default_factory=dict)
    """What the quota allows in all (its `spec.hard`), by resource name: a job that needs more
    never runs in this namespace, however long it waits. Empty when not known."""
    jobs: frozenset[str] | None = None
    """The names of the namespace's jobs whose workers the quota counts, where its scopes
    (`spec.scopes`, `spec.scopeSelector`) leave some out; None where it counts every pod."""

    def counts(self, job: Job) -> bool:
        """Whether the quota counts the job's workers."""
        return job.namespace == self.namespace and self.counts_name(job.name)

    def counts_name(self, name: str) -> bool:
        """Whether the quota counts the workers of its namespace's job `name`."""
        return self.jobs is None or name in self.jobs


@dataclass(frozen=True)
class BudgetView:
    """A money budget with what it has left, in micro-units."""

    namespace: str
    name: str
    limit: int
    spent: int
    committed: int
    hard: bool
    currency: str = "USD"
    period: str = "month"
    """`day`, `week`, `month`, or `total` (it never resets)."""
    period_end: datetime | None = None
    """When the current period ends, and the next starts from the whole limit: when a job
    the budget holds back may run. None for `total`, or when not known."""

    @property
    def remaining(self) -> int:
        """What the budget can still take."""
        return self.limit - self.spent - self.committed

    @property
    def most(self) -> int:
        """The most one job may ever cost against the budget, however long it waits: the
        whole limit, which every period starts with, or for a `total` budget, which never
        resets, what is not spent yet (what admitted jobs are committed to may still come
        back, when they cost less than estimated)."""
        return self.limit - self.spent if self.period == "total" else self.limit


@dataclass(frozen=True)
class JobOption:
    """One acceptable way to run: accelerator kind, requests per worker, speed per worker."""

    accelerator: str
    devices_per_worker: int
    worker: Resources
    """Requests of one worker, devices included."""
    throughput: float
    """Work units per second of one worker."""
    index: int = 0
    """Position in the job's `spec.options`: what a placement records as its option."""
    duration_s: float | None = None
    """The run of one worker the option gives (its `duration`), None where it gives a
    throughput instead (with the job's `spec.work`): what a message tells to shorten."""


@dataclass(frozen=True)
class Job:
    """A pending training job, reduced to what placement needs."""

    namespace: str
    name: str
    options: tuple[JobOption, ...]
    work: float
    min_workers: int = 1
    max_workers: int = 1
    scaling_efficiency: float = 1.0
    deadline: datetime | None = None
    max_duration_s: float | None = None
    min_throughput: float | None = None
    max_cost: int | None = None
    value: int | None = None
    priority: int = 0
    allow_spot: bool = False
    preempts: bool = True
    """Whether the job may requeue running jobs of lower priority to make room for itself."""
    created: datetime | None = None
    max_wait_s: float | None = None
    """Longest the job may be held back for cheaper capacity; None takes the cluster's."""
    promised_start: datetime | None = None
    """The start the last plan promised it: later plans keep it unless a higher priority
    needs the room."""
    checkpoint_s: float | None = None
    """How often the job saves its progress; None when it never does (a reclaim loses all)."""
    restarts_left: int | None = None
    """Requeues the job may still take before it fails (`spec.failurePolicy`); None: no bound."""
    runs_late: bool = False
    """Whether the job runs anyway once its deadline cannot be met (`spec.whenLate: Run`)."""
    missed_deadline: datetime | None = None
    """The deadline a late job was planned without (see `costmodel.without_missed_deadline`)."""

    @property
    def key(self) -> str:
        """`namespace/name`."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Snapshot:
    """Everything one scheduling cycle looks at."""

    now: datetime
    pools: tuple[Pool, ...]
    jobs: tuple[Job, ...]
    quotas: tuple[Quota, ...] = ()
    budgets: tuple[BudgetView, ...] = ()
    currency: str = "USD"
