"""The simulator's data: trace jobs as the solver sees them, and what became of each."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pricewise.core.costmodel import Candidate
from pricewise.core.snapshot import Job, JobOption, Pool, Resources, Snapshot
from pricewise.offline.traces import (
    Throughputs,
    TraceJob,
    fastest_runtime_s,
    throughputs_of,
)

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""Simulated time 0: only differences of times matter."""
CPU_PER_GPU = 4000
MEMORY_PER_GPU = 24 * 1024
"""Host share of one GPU a worker requests (4 CPUs, 24 GiB): small enough that GPUs bind."""
EPSILON_S = 1e-6
"""Times closer than this are one event."""


@dataclass(frozen=True)
class SimJob:
    """A job of the simulation: the solver's view of it, and when it arrives and is due."""

    job: Job
    """Placement view, without a deadline: the simulator sets it at each cycle."""
    label: str
    arrival_s: float
    deadline_s: float | None
    gpus: int

    @property
    def name(self) -> str:
        """The job's key."""
        return self.job.key


@dataclass(frozen=True)
class CycleResult:
    """What a policy decided in one cycle."""

    placements: list[tuple[Candidate, tuple[str, ...]]]
    status: str = ""
    seconds: float = 0.0
    reservations: dict[str, datetime] = field(default_factory=dict)
    """Jobs the policy plans to start later (key to planned start): its promises."""


Policy = Callable[[Snapshot], CycleResult]


@dataclass
class SimOutcome:
    """What happened to one job."""

    name: str
    label: str
    gpus: int
    arrival_s: float
    deadline_s: float | None
    start_s: float | None = None
    finish_s: float | None = None
    pool: str | None = None
    workers: int = 0
    cost: int = 0
    """Micro-units of the currency."""
    late_s: float | None = None
    """When its deadline became unreachable while it waited (None: it never did)."""
    seen: bool = False
    """A cycle has looked at it."""
    first_promise_s: float | None = None
    """The start promised by the first cycle that saw it wait (None: no promise)."""
    promise_s: float | None = None
    """The start the latest cycle promised."""
    restarts: int = 0
    """Runs cut short by a spot reclaim."""
    lost_cost: int = 0
    """Micro-units paid for work a reclaim threw away (part of `cost`)."""
    failed: bool = False
    """Reclaimed more often than its restarts allow: it never finished."""

    @property
    def missed(self) -> bool:
        """Finished after its deadline, or never ran although it had one."""
        if self.deadline_s is None:
            return False
        return self.finish_s is None or self.finish_s > self.deadline_s + EPSILON_S


@dataclass
class SimResult:
    """The outcome of one policy on one trace."""

    policy: str
    pools: tuple[Pool, ...]
    records: list[SimOutcome]
    currency: str = "USD"
    cycles: int = 0
    solver_seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    wall_seconds: float = 0.0


def sim_jobs(
    trace: Sequence[TraceJob],
    table: Throughputs,
    factors: Sequence[float] | None,
) -> tuple[list[SimJob], list[TraceJob]]:
    """Simulation jobs of the trace, and the trace jobs left out (no measured throughput).

    One worker holding all the job's GPUs: Gavel's throughput for a scale factor is that of
    the whole job. A job's deadline is its arrival plus its factor times its fastest runtime.
    """
    out: list[SimJob] = []
    skipped: list[TraceJob] = []
    for i, tj in enumerate(trace):
        speeds = throughputs_of(tj, table)
        fastest = fastest_runtime_s(tj, table)
        if not speeds or fastest is None:
            skipped.append(tj)
            continue
        worker = Resources(
            cpu=CPU_PER_GPU * tj.scale_factor,
            memory=MEMORY_PER_GPU * tj.scale_factor,
            gpu=tj.scale_factor,
        )
        options = tuple(
            JobOption(accelerator, tj.scale_factor, worker, speed, index)
            for index, (accelerator, speed) in enumerate(sorted(speeds.items()))
        )
        job = Job(namespace="trace", name=f"job-{tj.index:05d}", options=options, work=tj.steps)
        deadline = None if factors is None else tj.arrival_s + factors[i] * fastest
        label = f"{tj.job_type} x{tj.scale_factor}"
        out.append(SimJob(job, label, tj.arrival_s, deadline, tj.scale_factor))
    return out, skipped
