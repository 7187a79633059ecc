"""Planning over time: which later starts a waiting job may be planned at, and what they cost.

A pool's capacity over the horizon is a step function: what is free now, plus what each running
job gives back at its estimated finish (`Pool.releases`). Capacity only grows at those instants,
so they are the only starts worth planning at: a start between two releases could move to the
earlier one and lose nothing. A job may start now or at one of its pool's release instants
("slots", at most `max_slots` per pool, spread over the horizon), and the solver keeps every
pool's planned use within the step function at every instant with one cumulative constraint per
resource. Ends of jobs planned in the same solve also free room: the ends of the greedy start's
placements are slots from the first round, and once a plan is found the ends of what it starts
become slots too, for one more round when time allows (so a reserved job can follow another).
What no slot catches, the next cycle's re-plan does.

A later start is planned only when the job still meets its deadline with a margin (`margin` of
its run time: estimates err, and a job that waited has no slack left to absorb the error) and
starts within its max wait of its submission (so a job waits for cheaper capacity for a bounded
time, never without end). An overdue job (`DUE_SHARE`) with no room now is planned at its
earliest room instead, which the jobs after it may use only by ending first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pricewise.core.costmodel import Candidate, widened
from pricewise.core.snapshot import Job, Pool, Release
from pricewise.core.units import format_duration

PLAN_MOVES_S = 300.0
"""A planned start that moves less than this is not a new promise: the operator does not
rewrite the job's status for it, so the next cycle still holds the job to the start it was
told (and the simulator does the same)."""


def plan_moved(before: datetime | None, after: datetime | None, now: datetime) -> bool:
    """Whether a new plan's start is a new promise against the one told: it appears, goes,
    moves by more than `PLAN_MOVES_S`, or moves at all once the one told has passed (a planned
    start shown in the past, to a job still waiting, read as a plan gone wrong for minutes).

    Not sooner: behind a job past its estimate a start slides two seconds a second
    (`due_s`), so one told a few minutes ahead is past for up to a cycle before it is
    rewritten. Rewritten from a minute ahead for any move, it was never past, but every such
    rewrite let the promise slip further: on the contended replay of benchmarks/README.md the
    first promises' median error rose from 14.4 % to 16.3 % (for 0.8 % less cost)."""
    if before is None or after is None:
        return before != after
    if before <= now:
        return after != before
    return abs((after - before).total_seconds()) > PLAN_MOVES_S


@dataclass(frozen=True)
class LookAhead:
    """How far and how finely the solver plans ahead. `enabled=False` is the `pricewise-now`
    policy: every cycle decides only what starts now."""

    enabled: bool = True
    horizon_s: float = 86_400.0
    """How far ahead later starts are planned: a day, as long as a job may be held back by
    default. In the simulator a 4-hour horizon saved less (and lost to `pricewise-now` on two
    settings), a 7-day one saved a little more but made the solves slower, some of them cut
    short by the time limit."""
    max_slots: int = 12
    """Later starts considered per pool: a bound on the model's size."""
    margin: float = 0.2
    """A later start must leave this fraction of the run time before the deadline."""
    max_wait_s: float = 86_400.0
    """The cluster's default bound on a job's wait, from submission to planned start."""
    wait_cost: float = 0.3
    """What the wait of a job without a deadline counts for in the plan's cost, as a share of
    its price over the wait: at 0.3, a later start of a job priced 10 USD an hour, two hours
    away, counts 6 USD more, so the job waits for it only if that saves more. Without it a job
    waited five hours to save 0.40 USD. A deadline says how long its job may wait, so the waits
    of jobs that have one count for nothing, as do a late job's (one whose deadline has passed):
    counting the late jobs' waits as well moved the first promises of the others (on the
    contended replay of benchmarks/README.md, their median error rose from 14.4 % to 23.6 %),
    and counting every job's waited cost deadlines (845 misses against 812 over the policy
    grid's eight settings of seed 0)."""
    starts_per_job: int = 12
    """Later starts considered per job: the earliest slot of each of its candidates, cheapest
    first, then the second of each, and so on. A day of slots on every pool gave 1,000 jobs
    over 20 pools 90,000 later starts, too many to solve in a cycle; a job planned at a slot
    left out is re-planned the next cycle anyway. On the policy grid of benchmarks/README.md,
    12 cost 0.9 % less in all than 6 and about as little as 24, with half the later starts of
    24."""
    keep_within_s: float = 300.0
    """A new plan keeps a promise when it starts the job no later than this after it."""
    earliest_work: float = 0.25
    """How much CP-SAT work (deterministic time: about seconds, but the same on any machine and
    load, so plans stay reproducible) moving reservations earlier may take once the cost is
    settled."""


MOST_WAIT_COST = 10.0
"""The largest `LookAhead.wait_cost` the operator and the commands take: a wait counted at ten
times the job's price over it, where hardly any job waits to save."""


def waits_count(job: Job) -> bool:
    """Whether the job's waits count in a plan's cost (`LookAhead.wait_cost`): not where a
    deadline says how long it may wait, nor once it is past one."""
    return job.deadline is None and job.missed_deadline is None


DUE_SHARE = 0.8
"""A job without a deadline is overdue, and starts before the others of its priority (or holds
the earliest room that frees for it), once it has waited this share of its max wait: the room
it then needs may take a while to free. Overdue only past the whole of it, on the replay
without deadlines at x1 of benchmarks/README.md three jobs of 4 GPUs each waited 0.9-1.6 h
longer for a node. From nine tenths of it, none did (23.6 h at most) until later starts were
packed with the starts now; then one job waited 26.1 h (it was promised a node that an overdue
job took, and no node freed in the 2.4 h left). From eight tenths: 22.6 h at most, for 1.4 %
more (47,416 USD against 46,778); at x0.5 without deadlines 68.8 h against 80.6 h, for 0.8 %
less. From half of it: 27.7 h at x1 and 85.8 h at x0.5. Jobs with a deadline are never
overdue: the replays with deadlines do not move."""


def max_wait_of(job: Job, default_s: float) -> float:
    """The job's max wait in seconds: its `spec.maxWait`, else the cluster's default."""
    return job.max_wait_s if job.max_wait_s is not None else default_s


def max_wait_text(job: Job, default_s: float, counted: str) -> str:
    """The job's max wait and where it comes from: `spec.maxWait 1h from submission`, or `1d
    from submission, the default of spec.maxWait` (the operator's scheduler.maxWait)."""
    if job.max_wait_s is not None:
        return f"spec.maxWait {format_duration(job.max_wait_s)} {counted}"
    return f"{format_duration(default_s)} {counted}, the default of spec.maxWait"


def past_max_wait(job: Job, since: datetime, now: datetime, default_s: float) -> bool:
    """Whether the job, waiting since `since`, has waited past the bound its wait is kept
    within: it has no deadline ahead of it (none, or one it runs late past) and has waited
    longer than its max wait. Where arrivals outrun the cluster no schedule keeps that bound
    (benchmarks/README.md, "The longest wait any schedule has"), so the operator reports such
    jobs for ops to act on."""
    if job.deadline is not None and job.deadline > now:
        return False
    return (now - since).total_seconds() > max_wait_of(job, default_s)


def overdue_hours(job: Job, now: datetime, max_wait_s: float) -> int:
    """Hours a job without a deadline has waited, once overdue (`DUE_SHARE` of its max wait;
    else 0): how much it weighs when overdue jobs are started first (see
    `PlacementModel.overdue`)."""
    if not waits_count(job) or job.created is None:
        return 0
    waited = (now - job.created).total_seconds()
    return max(1, int(waited // 3600)) if waited > DUE_SHARE * max_wait_of(job, max_wait_s) else 0


def wait_premium(cand: Candidate, wait_s: int, wait_cost: float) -> int:
    """What a later start of `cand`, `wait_s` from now, counts for beyond its cost
    (`LookAhead.wait_cost`), where its job's waits count at all (`waits_count`)."""
    if not wait_s or not waits_count(cand.job):
        return 0
    return math.ceil(cand.cost * wait_cost * wait_s / duration_units(cand))


def counted_wait(cand: Candidate, wait_s: int, wait_cost: float, most: int) -> int:
    """What a later start's wait counts for in the plan's objective: its `wait_premium`, at
    most the larger of the start's own cost and a micro-unit more than the most it could save
    (`most`, the job's dearest option now, less its cost). Counted for more, the wait would
    change no plan of the job's own: every start now of it beats the wait either way. The cap
    keeps the objective's terms within twice the costs' range. (Capped at the start's own cost
    alone, a job whose dear option cost more than twice its cheap one waited whatever the wait
    cost.)"""
    return min(wait_premium(cand, wait_s, wait_cost), max(most - cand.cost + 1, cand.cost))


@dataclass(frozen=True)
class Reservation:
    """A job planned to start later: its candidate and the planned start."""

    candidate: Candidate
    start: datetime

    def wait_s(self, now: datetime) -> float:
        """Seconds from `now` to the planned start."""
        return (self.start - now).total_seconds()


def release_slots(
    pool: Pool, now: datetime, settings: LookAhead, planned_ends: Iterable[int] = ()
) -> list[int]:
    """Seconds from now at which the pool's capacity grows, within the horizon: its running
    jobs' releases, and `planned_ends`, the ends of jobs a plan starts on it.

    Releases count as `release_s` says. More instants than `max_slots` are thinned to evenly
    spread ones (the first and the last kept).
    """
    due = [release_s(r, now) for r in pool.releases]
    seconds = sorted({max(60, s) for s in [*due, *planned_ends] if s <= settings.horizon_s})
    if len(seconds) <= settings.max_slots:
        return seconds
    last = len(seconds) - 1
    picks = {round(i * last / (settings.max_slots - 1)) for i in range(settings.max_slots)}
    return [seconds[i] for i in sorted(picks)]


def release_s(release: Release, now: datetime) -> int:
    """Whole seconds from now until a release frees its room (see `due_s`)."""
    return due_s(release.at, now)


def due_s(at: datetime, now: datetime) -> int:
    """Whole seconds from now until a running job's estimated end at `at`, at least a minute
    (its job is still running: the room is not free yet). One past its estimate is expected to
    run as long again as it has overrun: counted as due in a minute, a job that overran by 15
    minutes had a waiting job promised a start that was always a minute away, and always
    already past by the time it was read."""
    left = (at - now).total_seconds()
    return max(60, math.ceil(abs(left)))


def waits_until_s(job: Job, now: datetime, settings: LookAhead) -> float:
    """The latest start (seconds from now) any candidate of the job may be planned at: within
    the horizon and the job's max wait from its submission; anywhere in the horizon once it is
    overdue, where a later start holds its earliest room (`PlacementModel.overdue`), not a
    cheaper one."""
    if overdue_hours(job, now, settings.max_wait_s):
        return settings.horizon_s
    created = job.created or now
    bound = max_wait_of(job, settings.max_wait_s)
    return min(settings.horizon_s, (created + timedelta(seconds=bound) - now).total_seconds())


def deadline_start_s(job: Job, cand: Candidate, now: datetime, settings: LookAhead) -> float:
    """The latest start at which the candidate still meets the job's deadline with the margin
    (infinite without a deadline)."""
    if job.deadline is None:
        return math.inf
    # A spot option's likely worst run already counts its reclaims; the margin is for
    # estimates that err.
    run_s = max(cand.worst_s, cand.duration_s * (1 + settings.margin))
    return (job.deadline - now).total_seconds() - run_s


def later_starts(
    feasible: list[Candidate],
    slots: dict[str, list[int]],
    now: datetime,
    settings: LookAhead,
    currency: str,
) -> list[tuple[Candidate, int]]:
    """The (candidate, start in seconds from now) a job may be planned at later: at most
    `starts_per_job`, earliest slots first, cheapest candidates first among equals. A start
    past what a candidate's width allows takes the narrowest wider run that still meets the
    deadline from there (`widened`), as the job is costed again from its start when it comes."""
    ranked: list[tuple[int, int, int, Candidate, int]] = []
    for order, cand in enumerate(feasible):
        run: Candidate | None = cand
        waits_until = waits_until_s(cand.job, now, settings)
        latest = deadline_start_s(cand.job, cand, now, settings)
        # Slots ascend: past the job's wait for one, or too narrow for it and no wider run,
        # the same for the rest.
        for rank, start in enumerate(slots.get(cand.pool.name, [])):
            if start > waits_until:
                break
            while run is not None and start > latest:
                run = widened(run, currency)
                if run is not None and run.feasible:
                    latest = deadline_start_s(run.job, run, now, settings)
                else:
                    run = None
            if run is None:
                break
            ranked.append((rank, run.cost, order, run, start))
    # (rank, cost, order) differ between any two entries (order and rank do), so the tuples
    # sort as their first three items do, without a key function.
    ranked.sort()
    return [(cand, s) for _, _, _, cand, s in ranked[: settings.starts_per_job]]


def duration_units(cand: Candidate) -> int:
    """A candidate's run time in whole seconds, at least one."""
    return max(1, math.ceil(min(cand.duration_s, 2**40)))
