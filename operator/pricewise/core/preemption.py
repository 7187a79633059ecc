"""Preemption by priority: which running jobs to requeue so that a waiting job can start.

After a cycle's plan, a job that can neither start now nor be planned for later only because
the room is taken (`WaitingForCapacity`) may preempt: running jobs of strictly lower priority on
one of its feasible pools are requeued until its workers fit, node by node and whole gangs at a
time. Among the ways to make room, the one whose lost work plus the preemptor's own cost is
least wins: victims are tried cheapest lost work first, then any victim the others make
unnecessary is spared, as kube-scheduler's preemption spares them.

Never a victim: a reservation (it is not running yet), or a job whose run started less than
`min_run_s` ago, so that two jobs cannot preempt each other in turn. `preemptionPolicy: Never`
keeps a job from preempting, as it does for Pods; what protects a job is its priority. A
preemptor whose victims still hold their nodes does not preempt again (see the scheduler).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pricewise.core.costmodel import Candidate
from pricewise.core.explain import Decision
from pricewise.core.greedy import Ledger
from pricewise.core.packing import gang_of, pack
from pricewise.core.snapshot import Node, Resources, Snapshot
from pricewise.core.timeline import Frees, Run, given_back, pack_over_time
from pricewise.core.times import clock
from pricewise.core.units import format_duration, format_micros

PREEMPTING = "Preempting"
"""Reason of a job that waits for the workers it evicts to go."""


@dataclass(frozen=True)
class RunningJob:
    """A placed job, as preemption sees it."""

    key: str
    priority: int
    pool: str
    worker: Resources
    nodes: tuple[str, ...]
    """The node of each worker."""
    since: datetime
    """When its current run was admitted."""
    per_second: float
    """What its run costs a second (micro-units)."""
    run_s: float = 0.0
    """How long the run was planned to take."""
    checkpoint_s: float | None = None
    accrued: int | None = None
    """What the run has cost so far (micro-units), where known: the most cutting it can lose."""
    reported_s: float = 0.0
    """Seconds of the run its trainer says are saved (`pricewise.dev/progress`); inf where
    it says all the work is."""

    def ran_s(self, now: datetime) -> float:
        """Seconds the run has gone on."""
        return max((now - self.since).total_seconds(), 0.0)

    def saved_s(self, now: datetime) -> float:
        """Seconds of the run its checkpoints have kept, or its trainer says it has saved,
        whichever is more (none without either)."""
        ran = self.ran_s(now)
        kept = ran - ran % self.checkpoint_s if self.checkpoint_s else 0.0
        return max(kept, min(self.reported_s, ran))

    def lost(self, now: datetime) -> int:
        """What requeueing it now loses (micro-units): the run since its last checkpoint, never
        more than the run has cost."""
        lost = round((self.ran_s(now) - self.saved_s(now)) * self.per_second)
        return lost if self.accrued is None else min(lost, self.accrued)

    def progress(self, now: datetime, before: float) -> float:
        """The job's share of work saved if the run stops now, given `before` at its start:
        the run was planned for the rest of the work."""
        if self.run_s <= 0:
            return before
        return before + (1 - before) * min(self.saved_s(now) / self.run_s, 1.0)


def preemption_note(
    decision: Decision,
    running: Mapping[str, Sequence[RunningJob]],
    min_run_s: float,
    now: datetime,
) -> str:
    """Why a job that waits for room preempts no running job this cycle, for its message:
    it may not (`preemptionPolicy: Never`), no job of lower priority runs where it could go,
    those that do have not run `min_run_s` yet, or requeueing them would not free enough room
    (what `preemption.preemptions` found, given `running` by pool but for this cycle's
    victims). Empty for any other decision, and for a job of priority 0 or less that outranks
    nothing there: preemption is not what it waits for."""
    if decision.reason != "WaitingForCapacity":
        return ""
    job = decision.job
    pools = list(
        dict.fromkeys(r.candidate.pool.name for r in decision.options if r.verdict == "feasible")
    )
    lower = [r for p in pools for r in running.get(p, ()) if r.priority < job.priority]
    if not pools or (job.priority <= 0 and not lower):
        return ""
    if not job.preempts:
        return "; it does not preempt (spec.preemptionPolicy: Never)"
    where = f"pool {pools[0]}" if len(pools) == 1 else f"pools {', '.join(pools)}"
    if not lower:
        return (
            f"; it cannot preempt: no job of lower priority than its {job.priority} runs on {where}"
        )
    young = [r.since for r in lower if r.ran_s(now) < min_run_s]
    # The guard is what stands in the way only where requeueing them all would make room: a
    # gang of two nodes was promised a preemption that one young run's node could not give.
    if young and _room_once_requeued(decision, running):
        when = min(young) + timedelta(seconds=min_run_s)
        return (
            f"; it preempts only runs of {format_duration(min_run_s)} or more, which the jobs "
            f"of lower priority on {where} reach from ~{clock(when, now)}"
        )
    return f"; requeueing the jobs of lower priority on {where} would not free enough room for it"


def _room_once_requeued(decision: Decision, running: Mapping[str, Sequence[RunningJob]]) -> bool:
    """Whether some feasible option of the waiting job fits its pool's nodes with every run of
    lower priority there requeued, however young (the room the plan left aside)."""
    for row in decision.options:
        cand = row.candidate
        if row.verdict != "feasible":
            continue
        lower = [r for r in running.get(cand.pool.name, ()) if r.priority < cand.job.priority]
        if lower and pack(_freed(cand.pool.nodes, lower), [gang_of(cand)]) is not None:
            return True
    return False


@dataclass(frozen=True)
class PreemptionSettings:
    """When preemption may happen."""

    enabled: bool = True
    min_run_s: float = 600.0
    """A run younger than this is never a victim: the guard against thrash."""


@dataclass(frozen=True)
class Preemption:
    """Victims to requeue so that `candidate` fits, and the work they lose (micro-units)."""

    candidate: Candidate
    victims: tuple[RunningJob, ...]
    lost: int


def preemptor_message(made: Preemption, currency: str) -> str:
    """What a preemptor is told: whom it requeues, where it starts and what their lost work
    costs."""
    names = ", ".join(f"{v.key} (priority {v.priority})" for v in made.victims)
    return (
        f"preempting {names} to start on {made.candidate.label()} "
        f"({format_micros(made.candidate.cost, currency)}); their lost work: "
        f"{format_micros(made.lost, currency)}"
    )


def told(
    decisions: Iterable[Decision],
    preempting: Mapping[str, tuple[tuple[str, ...], str]],
    running: Iterable[RunningJob],
    min_run_s: float,
    now: datetime,
) -> tuple[Decision, ...]:
    """The decisions as a cycle tells them: a waiting preemptor (`preempting`: its victims'
    keys and its message, by job key) says whom it preempts (`Preempting`); a job that waits
    for room says why it preempts none (`preemption_note`), given the runs its victims leave."""
    going = {v for victims, _ in preempting.values() for v in victims}
    staying: dict[str, list[RunningJob]] = {}
    for run in running:
        if run.key not in going:
            staying.setdefault(run.pool, []).append(run)
    return tuple(
        replace(d, reason=PREEMPTING, message=preempting[d.job.key][1])
        if d.job.key in preempting and d.chosen is None
        else replace(d, message=d.message + note)
        if (note := preemption_note(d, staying, min_run_s, now))
        else d
        for d in decisions
    )


def preemptions(
    snapshot: Snapshot,
    decisions: Sequence[Decision],
    running: Sequence[RunningJob],
    settings: PreemptionSettings | None = None,
) -> list[Preemption]:
    """The preemptions this cycle makes, highest-priority preemptor first; each victim once."""
    settings = settings or PreemptionSettings()
    if not settings.enabled:
        return []
    ledger = Ledger.of(snapshot)
    later = _Later(snapshot)
    for d in decisions:
        if d.chosen is not None:
            ledger.take(d.chosen, d.nodes)
            later.ends(d.chosen, d.nodes)
        if d.reservation is not None:
            ledger.hold(d.reservation.candidate)  # its budget is spoken for, as in the plan
            later.reserve(d)
    waiting = [d for d in decisions if d.reason == "WaitingForCapacity" and d.job.preempts]
    waiting.sort(key=lambda d: (-d.job.priority, d.job.created or snapshot.now, d.job.key))
    free = list(running)
    ranked = _ranked(free, snapshot.now, settings)
    made = []
    for d in waiting:
        found = _cheapest_room(d, ledger, later, ranked, snapshot.now)
        if found is None:
            continue
        made.append(found)
        gone = {v.key for v in found.victims}
        free = [r for r in free if r.key not in gone]
        ranked = _ranked(free, snapshot.now, settings)
        pool = found.candidate.pool.name
        ledger.set_free(pool, _freed(ledger.nodes[pool], found.victims))
        later.gone.update(gone)
        nodes = ledger.fit(found.candidate)
        assert nodes is not None, "victims were chosen to make the candidate fit"
        ledger.take(found.candidate, nodes)
        later.ends(found.candidate, nodes)
    return made


class _Later:
    """The plan's later starts by pool, and the room given back on each node by then: room a
    preemption frees must leave the later starts of its preemptor's priority room to start,
    and those of a higher priority room to start now (the next cycle serves them first: a
    preemptor that took the room one was planned on evicted a run for nothing, and waited)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.now = snapshot.now
        self.releases = {p.name: p.releases for p in snapshot.pools}
        self.runs: dict[str, list[tuple[int, Run]]] = {}
        self.given: dict[str, list[Frees]] = {}
        self.gone: set[str] = set()
        """Running jobs this cycle's preemptions requeue: their room is free now."""

    def ends(self, cand: Candidate, nodes: Sequence[str]) -> None:
        """A run started now on `nodes`, giving its room back when it ends."""
        given = self.given.setdefault(cand.pool.name, [])
        given += [Frees(n, cand.duration_s, cand.worker) for n in nodes]

    def reserve(self, d: Decision) -> None:
        """A later start of the plan."""
        assert d.reservation is not None
        cand, start = d.reservation.candidate, d.reservation.wait_s(self.now)
        run = Run(gang_of(cand), start, start + cand.duration_s)
        self.runs.setdefault(cand.pool.name, []).append((d.job.priority, run))

    def fits(
        self, cand: Candidate, nodes: tuple[Node, ...], priority: int, victims: set[str]
    ) -> bool:
        """Whether `cand` fits `nodes` now, `victims` requeued, beside the pool's later starts
        of `priority` or higher; not checked past a release that does not say where, as the
        solver does."""
        gang = gang_of(cand)
        if pack(nodes, [gang]) is None:
            return False  # the common case, without the plan's later starts to read
        planned = [
            (level, run) for level, run in self.runs.get(cand.pool.name, ()) if level >= priority
        ]
        if not planned:
            return True
        first = [Run(gang, 0.0, cand.duration_s)]
        gone = self.gone | victims
        releases = [r for r in self.releases[cand.pool.name] if r.job not in gone]
        frees, unknown = given_back(releases, self.now)
        # A later start of a higher priority that the room freed now holds takes it first (the
        # next cycle starts it now); one that it does not hold, or of the same priority, keeps
        # its start (moved to now, one too wide for the room refused every preemption there).
        ahead = [
            replace(run, start_s=0.0, end_s=run.end_s - run.start_s)
            if level > priority and pack(nodes, [run.gang]) is not None
            else run
            for level, run in planned
            if run.start_s < unknown
        ]
        if not ahead:
            return True
        frees += self.given.get(cand.pool.name, ())
        return pack_over_time(nodes, frees, first + ahead) is not None


def _ranked(
    running: Sequence[RunningJob], now: datetime, settings: PreemptionSettings
) -> dict[str, list[RunningJob]]:
    """By pool, the runs that may be victims (run `min_run_s` or more), cheapest lost work
    first (then lowest priority, then key: one order, whoever asks): ranked once per
    preemption made, not for every option of every waiting job (each walked every run)."""
    by_pool: dict[str, list[tuple[tuple[int, int, str], RunningJob]]] = {}
    for r in running:
        if (now - r.since).total_seconds() >= settings.min_run_s:
            by_pool.setdefault(r.pool, []).append(((r.lost(now), r.priority, r.key), r))
    return {pool: [r for _, r in sorted(runs)] for pool, runs in by_pool.items()}


def _cheapest_room(
    d: Decision,
    ledger: Ledger,
    later: _Later,
    ranked: Mapping[str, Sequence[RunningJob]],
    now: datetime,
) -> Preemption | None:
    """The feasible option of `d` whose room costs least in lost work plus its own cost;
    `ranked`, the runs that may be victims (`_ranked`)."""
    best: Preemption | None = None
    for row in d.options:
        cand = row.candidate
        if row.verdict != "feasible" or ledger.quota_blocker(cand) or ledger.budget_blocker(cand):
            continue
        eligible = [r for r in ranked.get(cand.pool.name, ()) if r.priority < d.job.priority]
        victims = _victims(cand, ledger.nodes[cand.pool.name], eligible, now, later)
        if victims is None:
            continue
        lost = sum(v.lost(now) for v in victims)
        if best is None or lost + cand.cost < best.lost + best.candidate.cost:
            best = Preemption(cand, victims, lost)
    return best


def _victims(
    cand: Candidate,
    nodes: tuple[Node, ...],
    eligible: Sequence[RunningJob],
    now: datetime,
    later: _Later,
) -> tuple[RunningJob, ...] | None:
    """The fewest-loss victims among `eligible` (cheapest first) that make `cand` fit, beside
    the later starts of its priority or higher."""

    def fits(victims: list[RunningJob]) -> bool:
        gone = {v.key for v in victims}
        return later.fits(cand, _freed(nodes, victims), cand.job.priority, gone)

    taken: list[RunningJob] = []
    for victim in eligible:
        taken.append(victim)
        if fits(taken):
            break
    else:
        return None
    for victim in sorted(taken, key=lambda v: -v.lost(now)):  # spare the dearest first
        rest = [v for v in taken if v is not victim]
        if fits(rest):
            taken = rest
    return tuple(taken)


def _freed(nodes: tuple[Node, ...], victims: Iterable[RunningJob]) -> tuple[Node, ...]:
    """The nodes with the victims' workers gone."""
    extra: dict[str, Resources] = {}
    for victim in victims:
        for name in victim.nodes:
            extra[name] = extra.get(name, Resources()) + victim.worker
    return tuple(replace(n, free=n.free + extra[n.name]) if n.name in extra else n for n in nodes)
