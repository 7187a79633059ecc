"""The cost model: what each way of running a job costs, how long it takes, and whether the
job's own constraints (deadline, throughput, maxCost, value, spot) allow it.

For job j on pool p with r workers:
    aggregate throughput = r * throughput_j(p) * scalingEfficiency ** log2(r)
    duration             = work_j / aggregate throughput
    cost                 = r * hourly price of one worker on p * duration
On a spot pool that declares an interruption rate, duration and cost are the expected ones
with reclaims, and the deadline is held to the likely worst run time (`spotrisk`).
Capacity, quotas and budgets are the solver's business; this module looks at one job at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum
from functools import cached_property

from pricewise.core.bounds import MAX_MONEY, MAX_RUN_S, MAX_WORKERS
from pricewise.core.snapshot import Job, JobOption, Node, Pool, Resources
from pricewise.core.spotrisk import SpotRisk, poisson_quantile, spot_risk
from pricewise.core.units import (
    MICROS,
    TimeLimit,
    format_duration,
    format_micros,
    format_micros_apart,
    format_rate,
)

MIB_PER_GIB = 1024


class Stage(IntEnum):
    """How far an option got through the job's own constraints; later stages are closer."""

    OUT_OF_RANGE = 0
    NO_FIT = 1
    GANG = 2
    """A worker fits a node, but even empty the pool holds fewer than the job's fewest."""
    NO_NODES = 3
    """The pool has no nodes at all: how it would run is not known."""
    SPOT = 4
    TIME = 5
    THROUGHPUT = 6
    MAX_COST = 7
    VALUE = 8
    QUOTA = 9
    """Meets the job's own constraints, but needs more than a ResourceQuota of its namespace
    allows in all (`spec.hard`): only a larger quota lets it run."""
    BUDGET = 10
    """Within its quotas, but costs more than a hard Budget of its namespace can ever take
    (`BudgetView.most`): only a larger budget lets it run."""
    NODES_DOWN = 11
    """Would meet the job's constraints, quotas and budgets, but every node of the pool is
    cordoned, NotReady or being reclaimed: a wait for them, closer than any exclusion."""
    FEASIBLE = 12


MAX_COST_MICROS = int(MAX_MONEY * MICROS)
"""The dearest way of running a job that is ever placed, in micro-units."""


@dataclass(frozen=True)
class Candidate:
    """One way to run one job: a pool and a width, with its price and time."""

    job: Job
    option: JobOption
    pool: Pool
    workers: int
    duration_s: float
    throughput: float
    cost: int
    """Estimated cost in micro-units of the currency."""
    stage: Stage
    note: str = ""
    """Why the job's constraints exclude this candidate; empty when it is feasible."""
    risk: SpotRisk | None = None
    """On a spot pool priced with reclaims: the run's time with them. `duration_s` and
    `cost` are then the expected ones."""

    @property
    def feasible(self) -> bool:
        """Whether the job's own constraints allow this candidate."""
        return self.stage is Stage.FEASIBLE

    @property
    def worker(self) -> Resources:
        """Requests of one worker."""
        return self.option.worker

    @property
    def run_s(self) -> float:
        """Seconds of the run with no reclaim."""
        return self.duration_s if self.risk is None else self.risk.run_s

    @property
    def worst_s(self) -> float:
        """Seconds the run takes at most, at the confidence `spotrisk` uses."""
        return self.duration_s if self.risk is None else self.risk.worst_s

    def checkpoints_would_help(self, limit_s: float) -> bool:
        """Whether `spec.checkpoint.interval` is advice worth giving for this run against a
        limit of `limit_s` seconds: a spot run of a job without checkpoints whose expected
        run fits the limit, so that what reclaims lose is what puts it past."""
        return (
            self.risk is not None
            and self.job.checkpoint_s is None
            and (0 < self.duration_s <= limit_s)
        )

    @property
    def list_cost(self) -> int:
        """Cost at the list price with no reclaim (micro-units)."""
        if self.risk is None or self.duration_s <= 0:
            return self.cost
        return round(self.cost * self.risk.run_s / self.duration_s)

    @cached_property
    def demand(self) -> Resources:
        """Requests of all workers together."""
        return self.option.worker.times(self.workers)

    def finish(self, now: datetime) -> datetime | None:
        """Estimated finish if started at `now`; None beyond the longest run planned for."""
        if self.duration_s > MAX_RUN_S:
            return None
        return now + timedelta(seconds=self.duration_s)

    def label(self) -> str:
        """`a100 x4`: pool and width, as people say it; `a100 x4 (options[1])` where another
        option of the job runs on the same accelerator, which two rows of one pool read alike."""
        options = self.job.options
        if sum(o.accelerator == self.option.accelerator for o in options) > 1:
            return f"{self.pool.name} x{self.workers} (options[{self.option.index}])"
        return f"{self.pool.name} x{self.workers}"

    def for_job(self, job: Job) -> Candidate:
        """This candidate for a copy of its job that differs only in what the cost model does
        not read (name, submission): a copy of its fields, many times cheaper than `replace`
        (which checks every field again), so that a sweep's thousand copies are costed once."""
        twin = object.__new__(Candidate)
        twin.__dict__.update(self.__dict__, job=job)
        return twin

    def restaged(self, stage: Stage, note: str) -> Candidate:
        """This candidate at another stage, with its note: `replace` without checking every
        field again (a third of the candidates of 1,000 jobs over 20 pools are spot ones their
        job may not use)."""
        twin = object.__new__(Candidate)
        twin.__dict__.update(self.__dict__, stage=stage, note=note)
        return twin


def aggregate_throughput(job: Job, option: JobOption, workers: int) -> float:
    """Work units per second of `workers` workers, with the job's scaling efficiency."""
    return workers * option.throughput * float(job.scaling_efficiency ** math.log2(workers))


def run_seconds(job: Job, option: JobOption, workers: int) -> float:
    """How long the job's work takes on `workers` workers of `option`, without reclaims."""
    return job.work / aggregate_throughput(job, option, workers)


def worker_hourly_price(pool: Pool, worker: Resources) -> float:
    """Micro-units per hour that one worker costs on `pool`."""
    prices = pool.prices
    rate = (
        worker.devices * prices.per_device_hour
        + worker.cpu / 1000 * prices.per_cpu_hour
        + worker.memory / MIB_PER_GIB * prices.per_gib_hour
    )
    if prices.per_node_hour:
        shares = [need / size for need, size in worker.pairs(pool.node_shape) if size > 0]
        rate += min(1.0, max(shares, default=1.0)) * prices.per_node_hour
    return rate


def time_limit_s(job: Job, now: datetime) -> float | None:
    """Seconds the job may run if it starts now: the tighter of deadline and maxDuration."""
    limits = []
    if job.deadline is not None:
        limits.append((job.deadline - now).total_seconds())
    if job.max_duration_s is not None:
        limits.append(job.max_duration_s)
    return min(limits) if limits else None


def time_limit(job: Job, now: datetime) -> TimeLimit | None:
    """The tighter limit of `time_limit_s`, to print runs beside: a maxDuration as the user
    wrote it, or the time left to the deadline."""
    if deadline_binds(job, now) and job.deadline is not None:
        return TimeLimit.left((job.deadline - now).total_seconds())
    return None if job.max_duration_s is None else TimeLimit.written(job.max_duration_s)


def _candidate(
    job: Job, option: JobOption, pool: Pool, workers: int, stage: Stage, note: str = ""
) -> Candidate:
    throughput = aggregate_throughput(job, option, workers)
    duration = job.work / throughput  # `run_seconds`, with the throughput kept
    risk = None
    if pool.is_spot and pool.interruption_rate > 0:
        # A node holds at least one worker: as many nodes as workers is the most at risk.
        risk = spot_risk(duration, workers, pool.interruption_rate, job.checkpoint_s)
        duration = risk.expected_s
    raw = workers * worker_hourly_price(pool, option.worker) * duration / 3600
    # Bounded inputs keep `raw` finite; the guard keeps one bad figure from raising anyway.
    cost = round(raw) if math.isfinite(raw) else MAX_COST_MICROS + 1
    # Its fields set at once, as `for_job` does: the frozen class's `__init__` sets each
    # through `object.__setattr__` (a tenth of costing 1,000 jobs over 20 pools).
    cand = object.__new__(Candidate)
    cand.__dict__.update(
        job=job,
        option=option,
        pool=pool,
        workers=workers,
        duration_s=duration,
        throughput=throughput,
        cost=cost,
        stage=stage,
        note=note,
        risk=risk,
    )
    return cand


def _out_of_range(cand: Candidate, currency: str) -> Candidate | None:
    """The candidate marked excluded when it runs or costs more than pricewise places."""
    if cand.duration_s > MAX_RUN_S:
        longest = format_duration(MAX_RUN_S)
        note = (
            f"needs {format_duration(cand.duration_s)}, more than the {longest} pricewise plans for"
        )
    elif cand.cost > MAX_COST_MICROS:
        note = (
            f"costs {format_micros(cand.cost, currency)}, more than the "
            f"{format_micros(MAX_COST_MICROS, currency)} pricewise places"
        )
    else:
        return None
    return replace(cand, stage=Stage.OUT_OF_RANGE, note=note)


def _reclaims_past_restarts(cand: Candidate) -> Candidate | None:
    """The spot candidate marked excluded when the reclaims of 9 runs in 10 would use up more
    restarts than the job has left: it would likely fail instead of finishing."""
    left = cand.job.restarts_left
    if cand.risk is None or left is None:
        return None
    likely = poisson_quantile(cand.risk.restarts)
    if likely <= left:
        return None
    note = (
        f"expects up to {likely} reclaim(s) (9 runs in 10), more than the {left} restart(s) "
        "left (spec.failurePolicy.maxRestarts)"
    )
    return replace(cand, stage=Stage.SPOT, note=note)


def fastest_run_s(job: Job, option: JobOption, pool: Pool) -> float:
    """The shortest run of `option` on `pool` at any width the job accepts and the pool's
    nodes hold, with the reclaims of 9 runs in 10 on spot (where more workers risk more
    reclaims, the widest need not be the fastest): the least time a deadline must leave."""
    widths = range(job.min_workers, job.max_workers + 1)
    if option.worker != Resources():
        held = workers_held(option.worker, pool)
        widths = range(job.min_workers, max(job.min_workers, min(job.max_workers, held)) + 1)
    return min(_candidate(job, option, pool, w, Stage.FEASIBLE).worst_s for w in widths)


def workers_held(worker: Resources, pool: Pool) -> int:
    """How many workers of this shape the pool's nodes hold when empty: the widest gang that
    can ever run there."""
    return sum(worker.copies_in(n.allocatable) for n in pool.nodes)


_NEEDS_NODES = frozenset({Stage.NO_FIT, Stage.GANG, Stage.TIME, Stage.THROUGHPUT})
"""Stages a pool's nodes decide (a worker too large, a gang or a width they cannot hold): the
nodes that are down may be what is missing."""


def candidate_for(
    job: Job, option: JobOption, pool: Pool, now: datetime, currency: str
) -> Candidate:
    """The narrowest width of `option` on `pool` that meets the job's constraints.

    A narrower width never costs more (scaling efficiency is at most 1) and never needs more
    capacity, so it dominates every wider one: only the narrowest feasible width is kept. When
    no width is feasible, the returned candidate says why, with the figures. Where the pool's
    nodes that are down (cordoned, NotReady or being reclaimed) would let it run, it waits for
    them (`Stage.NODES_DOWN`).
    """
    if not pool.unavailable:
        return _candidate_on_nodes(job, option, pool, now, currency)
    here = _candidate_on_nodes(job, option, pool, now, currency) if pool.nodes else None
    if here is not None and not _down_may_help(job, option.worker, pool, here):
        return here
    # Costed on every node as if back and empty: at the width that would qualify.
    back = pool.nodes + tuple(Node(n.name, n.allocatable, n.allocatable) for n in pool.unavailable)
    run = _candidate_on_nodes(job, option, replace(pool, nodes=back, unavailable=()), now, currency)
    down = len(pool.unavailable)
    if here is None:
        down_text = f"all {down} node(s) of the pool are cordoned, NotReady or being reclaimed"
    else:
        # A gang that lost a node to a reclaim read GangTooLarge, as if it could never run.
        down_text = (
            f"{down} of the pool's {len(back)} node(s) are cordoned, NotReady or being "
            f"reclaimed, and it needs them ({here.note})"
        )
    if run.feasible:
        return replace(run, pool=pool).restaged(Stage.NODES_DOWN, down_text)
    if here is not None:  # the nodes coming back would not help: as the nodes up say
        return here
    return replace(run, pool=pool).restaged(run.stage, f"{run.note}; {down_text} too")


def _down_may_help(job: Job, worker: Resources, pool: Pool, here: Candidate) -> bool:
    """Whether the pool's nodes that are down could turn what the nodes up decide: a node that
    holds a worker none up does, a gang or a width they complete. Cheap checks, as costing
    again over every node doubled the costing of every job where a node of the pool was down."""
    if here.stage not in _NEEDS_NODES or not any(
        worker.fits_in(n.allocatable) for n in pool.unavailable
    ):
        return False
    if here.stage is Stage.NO_FIT:
        return True
    if worker == Resources():
        return False  # no width is held back by nodes
    if here.stage is Stage.GANG:
        down = sum(worker.copies_in(n.allocatable) for n in pool.unavailable)
        return workers_held(worker, pool) + down >= job.min_workers
    # Too slow or too little throughput: at a width the nodes up held back, or at the widest.
    return here.workers < job.max_workers


def _candidate_on_nodes(
    job: Job, option: JobOption, pool: Pool, now: datetime, currency: str
) -> Candidate:
    """`candidate_for` on the pool's nodes that are up."""
    worker = option.worker

    def excluded(stage: Stage, note: str) -> Candidate:
        return _candidate(job, option, pool, job.min_workers, stage, note)

    if not pool.nodes:
        return excluded(Stage.NO_NODES, "the pool has no nodes")
    if not any(worker.fits_in(n.allocatable) for n in pool.nodes):
        return excluded(
            Stage.NO_FIT,
            f"a worker needs {worker.describe()}; the largest node of the pool has "
            f"{pool.node_shape.describe()}",
        )
    limit = time_limit_s(job, now)

    def fast_enough(run: Candidate) -> bool:
        on_time = limit is None or run.worst_s <= limit
        return on_time and (job.min_throughput is None or run.throughput >= job.min_throughput)

    # Throughput grows with the width (scaling efficiency >= 0.5), so the first run that is
    # fast enough is the narrowest. One longer than pricewise plans for is kept only if no
    # wider one is shorter (it is then excluded, with why, below).
    found = too_long = None
    for width in range(job.min_workers, job.max_workers + 1):
        run = _candidate(job, option, pool, width, Stage.FEASIBLE)
        if fast_enough(run):
            if run.duration_s <= MAX_RUN_S:
                found = run
                break
            too_long = too_long or run
    found = found or too_long
    # A gang wider than the pool holds when empty never runs there. Counted only where more
    # than one worker is needed (one fits, as checked above): it walks the pool's nodes, and
    # for every candidate it tripled the costing of 1,000 jobs over 20 pools.
    widest_width = job.max_workers
    needed = job.max_workers if found is None else found.workers
    if needed > 1 and worker != Resources():
        held = workers_held(worker, pool)
        if held < job.min_workers:
            return excluded(
                Stage.GANG,
                f"the job needs at least {job.min_workers} worker(s) of {worker.describe()}; "
                f"the pool's {len(pool.nodes)} node(s) hold {held} such worker(s)",
            )
        if held < needed:
            found, widest_width = None, held
    # A spot pool the job may not use is said so at the width it would need, or with why no
    # width would do: "set spec.allowSpot" is advice only where it would help.
    blocked = pool.is_spot and not job.allow_spot
    if found is None:
        bound = time_limit(job, now)
        widest = _candidate(job, option, pool, widest_width, Stage.TIME)
        if limit is not None and limit <= 0 and job.deadline is not None:
            note = f"the deadline passed {format_duration(-limit)} ago"
        elif bound is not None and widest.worst_s > bound.seconds:
            late = bound.overrun(widest.worst_s)
            if deadline_binds(job, now):
                note = f"needs {late.need}, {late.over} past the deadline"
            else:
                note = f"needs {late.need}, {late.over} over maxDuration {late.limit}"
            if widest.risk is not None:
                note += " (with the reclaims of 9 runs in 10" + (
                    "; spec.checkpoint.interval would lose less to them)"
                    if widest.checkpoints_would_help(bound.seconds)
                    else ")"
                )
        else:
            required = f"{format_rate(job.min_throughput or 0)}/s required"
            note = f"reaches {format_rate(widest.throughput)}/s of the {required}"
            widest = replace(widest, stage=Stage.THROUGHPUT)
        if widest_width < job.max_workers:
            note += f", at x{widest_width}, as many as the pool's {len(pool.nodes)} node(s) hold"
        if blocked:
            return replace(widest, stage=Stage.SPOT, note=f"spot pool, and even allowed it {note}")
        return replace(widest, note=note)
    if blocked:
        return found.restaged(Stage.SPOT, "spot pool; set spec.allowSpot: true")
    return _checked(found, currency)


def _checked(cand: Candidate, currency: str) -> Candidate:
    """A run fast enough for the job, marked excluded where its reclaims, its range, the job's
    maxCost or its value rule it out."""
    job = cand.job
    beyond = _reclaims_past_restarts(cand) or _out_of_range(cand, currency)
    if beyond is not None:
        return beyond
    if job.max_cost is not None and cand.cost > job.max_cost:
        cost, limit = format_micros_apart(cand.cost, job.max_cost, currency)
        note = f"costs {cost}, over maxCost {limit}"
        return replace(cand, stage=Stage.MAX_COST, note=note)
    if job.value is not None and cand.cost > job.value:
        cost, value = format_micros_apart(cand.cost, job.value, currency)
        note = f"costs {cost}, more than the job's value {value}"
        return replace(cand, stage=Stage.VALUE, note=note)
    return cand


def widened(cand: Candidate, currency: str) -> Candidate | None:
    """The next wider run of a feasible candidate's option and pool, checked as the narrowest
    was; None where the job's `spec.workers.max` or the pool's nodes allow no wider gang. A
    later start leaves less time before the deadline than now, and may need it: a job planned
    only at its narrowest width from now was never planned where its pool frees, though two
    workers from then met its deadline (and, urgent, it preempted instead of waiting)."""
    job, option, pool, workers = cand.job, cand.option, cand.pool, cand.workers + 1
    if workers > job.max_workers:
        return None
    if option.worker != Resources() and workers > workers_held(option.worker, pool):
        return None
    return _checked(_candidate(job, option, pool, workers, Stage.FEASIBLE), currency)


def wider_run(
    job: Job, option: JobOption, pool: Pool, now: datetime, currency: str
) -> Candidate | None:
    """The narrowest run of `option` on `pool` wider than the job's `spec.workers.max` that
    meets the job's own constraints, if the pool's nodes hold it: what raising
    `spec.workers.max` would do for a job that no width it allows runs fast enough for."""
    held = min(workers_held(option.worker, pool), MAX_WORKERS)
    if held <= job.max_workers:
        return None
    found = candidate_for(replace(job, max_workers=held), option, pool, now, currency)
    return found if found.feasible and found.workers > job.max_workers else None


def deadline_binds(job: Job, now: datetime) -> bool:
    """Whether the deadline, not maxDuration, is the tighter limit of `time_limit_s`."""
    return job.deadline is not None and (
        job.max_duration_s is None or (job.deadline - now).total_seconds() <= job.max_duration_s
    )


def without_missed_deadline(job: Job, pools: tuple[Pool, ...], now: datetime, currency: str) -> Job:
    """The job as it is planned once no option can meet its deadline any more, even on an empty
    pool, when it runs late (`runs_late`): without the deadline, which is kept to say so.
    Unchanged while some option still can, or when something else than time excludes them."""
    if job.deadline is None or not job.runs_late:
        return job
    reached = [c.stage for c in candidates(job, pools, now, currency) if c.stage >= Stage.TIME]
    if not reached or any(stage > Stage.TIME for stage in reached):
        return job
    late = replace(job, deadline=None, missed_deadline=job.deadline)
    # maxDuration may be what no option meets: whenLate does not lift it, and the deadline,
    # which can still be met, is not missed.
    if not any(c.stage > Stage.TIME for c in candidates(late, pools, now, currency)):
        return job
    return late


def candidates(job: Job, pools: tuple[Pool, ...], now: datetime, currency: str) -> list[Candidate]:
    """Every (option, pool) pairing of the job, feasible or not, cheapest feasible first."""
    found = [
        candidate_for(job, option, pool, now, currency)
        for option in job.options
        for pool in pools
        if pool.accelerator == option.accelerator
    ]
    return sorted(found, key=lambda c: (not c.feasible, c.cost, c.duration_s, c.pool.order))
