"""The placement solver: which pending jobs run now or later, where, and how wide, at least cost.

Objective, lexicographic, per priority level from the highest (priority is strict): start its
overdue jobs, plan as many of its jobs as possible (now, or at a later start where their pool
frees: see `lookahead`), at the least total price, keeping as many of its earlier promises as
that price allows and starting as early as it allows; then the next level (one CP-SAT objective
per phase). Models too large for CP-SAT whole count every level before pricing all of them at
once (see `phases`). CP-SAT decides at pool level (capacity sums, per-shape slot counts,
quotas, hard budgets; capacity over time for later starts); every pool's choice for now is then
packed node by node, and a choice that cannot be packed is cut off and the model solved again,
so that every placement returned fits real nodes. Later starts are packed beside the starts now
over time (`timeline`); one that does not fit moves to its job's next offered start, or waits for
the next cycle (`_pack_later`). They are plans: each cycle plans again.

Every coefficient stays inside CP-SAT's 64-bit range for any input the API accepts: money is
counted in a unit large enough that the sum of every candidate's cost fits in 2^60
(`model.money_unit`: one micro-unit on any real cluster, so costs are exact there), and
priorities are never multiplied into one weighted sum.
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from pricewise.core.classes import ChoiceKey
from pricewise.core.costmodel import Candidate, candidates
from pricewise.core.cpsat import WorkClock
from pricewise.core.explain import Decision, explain
from pricewise.core.greedy import (
    Ledger,
    place_greedily,
    quota_demand,
    within_budgets,
    within_quotas,
)
from pricewise.core.lookahead import (
    LookAhead,
    Reservation,
    counted_wait,
    due_s,
    duration_units,
    later_starts,
    overdue_hours,
    release_slots,
)
from pricewise.core.model import (
    PlacementModel,
    admission_key,
    choice_key,
    overdue_weight,
)
from pricewise.core.packing import gang_of, pack_pools
from pricewise.core.phases import Round, solve_round
from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import Job, Quota, Snapshot
from pricewise.core.timeline import Frees, Run, fit_in_order, given_back, pack_over_time
from pricewise.core.times import FAR_FUTURE

LOOK_AHEAD_BUDGET = 0.3
"""Share of the time limit that may be spent before the look-ahead starts. Past it (thousands
of pending jobs) the cycle decides only what starts now, a model a fraction of the size that
CP-SAT can still improve on the greedy plan within the limit; later cycles look ahead again."""
REFINE_WITHIN = 0.4
"""Share of the time limit within which a first plan lets the solve take one more round, with
the ends of what that plan starts as later starts for what waits (that round's plan replaces
the first: keeping the first where it ranked better cost the contended replay 330 USD and 15
deadlines). Not where CP-SAT was given a shortlist: on 1,000 jobs over 20 pools the second
round took 3.7 s more, where on 300-500 jobs over 5-20 pools (every choice left to CP-SAT) it
costs 1-8 % less in 1-2 s more. A quarter of the limit instead moved three rows of the policy
grid, one of them 551 USD dearer. One round only, though a chain of three jobs planned one after
another behind a busy cheap pool then has no slot for the third (it starts on a dear pool now):
two or three rounds cost the contended replay of benchmarks/README.md 5 and 7 more deadline
misses (157 and 159 against 152), its first promises' median error 15.2 % and 20.5 % against
14.4 %, and solves of 90 s and 81 s against 49 s, for 0.0 % and 0.9 % less cost. Slots where such
a chain would follow, found without a round (the jobs left off their cheapest pool queued there
in Python), erred more on first promises too, and cost more on one setting (benchmarks/README.md,
"A chain of jobs behind a busy cheap pool")."""
TAIL = 0.15
"""Share of the time limit kept, at least, for packing and explaining the result."""


@dataclass(frozen=True)
class Plan:
    """The outcome of one scheduling cycle."""

    decisions: tuple[Decision, ...]
    status: str
    """`optimal` (within `relative_gap` of the bound, or `relaxed_gap` beside a relaxation),
    `feasible` (time limit hit), `greedy` (CP-SAT found nothing better) or `empty`."""
    total_cost: int
    """Estimated cost of the jobs placed now (micro-units)."""
    best_bound: int | None
    """Lowest cost CP-SAT proved possible for the planned work, now and later (micro-units):
    the objective's bound less what the plan's waits count for in it (`LookAhead.wait_cost`),
    so that the plan's cost less it is the plan's distance from the optimum; None when nothing
    was proved (the greedy plan, or a solve cut short before its cost phase)."""
    seconds: float
    rounds: int
    """Rounds begun: 0 where no model was needed (every job started now on its cheapest
    option, or no job has a feasible one)."""
    reserved_cost: int = 0
    """Estimated cost of the jobs planned for later (micro-units)."""
    looked_ahead: bool = True
    """False when the cycle had no time left for later starts (see `LOOK_AHEAD_BUDGET`)."""

    @property
    def placed(self) -> tuple[Decision, ...]:
        """The decisions that place a job."""
        return tuple(d for d in self.decisions if d.chosen is not None)

    @property
    def reserved(self) -> tuple[Decision, ...]:
        """The decisions that plan a job for later."""
        return tuple(d for d in self.decisions if d.reservation is not None)


def solve(snapshot: Snapshot, settings: SolverSettings | None = None) -> Plan:
    """Decide every pending job of the snapshot: a placement, a later start, or why it waits."""
    with _collector_paused():
        return _solve(snapshot, settings)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off for the block (on again after, if it was on). A solve
    makes hundreds of thousands of containers (the model's rows, its choices' keys) and few
    cycles: the collector's passes over them, as they were made, were a tenth of the solve of
    1,000 jobs over 20 pools. What they would free is freed after the block."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _solve(snapshot: Snapshot, settings: SolverSettings | None) -> Plan:
    settings = settings or SolverSettings()
    wall = time.monotonic()
    clock: Callable[[], float] = WorkClock() if settings.deterministic else time.monotonic
    started = clock()
    snapshot, queued = _window(snapshot, settings.max_jobs)
    all_options = _options(snapshot)
    # Explaining walks every option again, and building a round's model about as many: each
    # may take as long as costing them did (1 s on 1,000 jobs over 100 pools).
    costed = clock() - started
    tail = max(TAIL * settings.time_limit_s, 2 * costed)
    timing = _Timing(clock, started, started + settings.time_limit_s - tail, costed)
    feasible = {k: [c for c in opts if c.feasible] for k, opts in all_options.items()}
    feasible = {k: v for k, v in feasible.items() if v}
    jobs = _placing_order(snapshot, feasible, settings.look_ahead.max_wait_s)
    levels = sorted({j.priority for j in jobs}, reverse=True)
    greedy = _greedy_start(snapshot, [feasible[j.key] for j in jobs], levels)
    looks_ahead = clock() - started <= LOOK_AHEAD_BUDGET * settings.time_limit_s
    if _cheapest_for_all(greedy, feasible):
        # Every job starting now on its cheapest option (a burst on a roomy cluster, a new job
        # that fits: a third of a replay's cycles) is optimal in every phase: no plan admits
        # more, starts more overdue jobs, costs less (a later start costs what a start now
        # does: prices do not vary over time), keeps more promises or starts anything sooner.
        best = _cheapest_now(greedy)
    elif feasible:
        greedy_keys = [choice_key(c) for c, _ in greedy.placed.values()]
        later = _later_starts(snapshot, feasible, settings, greedy_keys, {}) if looks_ahead else {}
        best = _search(snapshot, feasible, later, levels, greedy, settings, timing)
    else:
        best = _Best(dict(greedy.placed))
    # A cycle that had no time to plan later starts explains itself as one that plans none.
    look = settings.look_ahead if settings.look_ahead.enabled and looks_ahead else None
    decisions = explain(snapshot, all_options, best.placement, best.reserved, look)
    total = sum(c.cost for c, _ in best.placement.values())
    later_total = sum(r.candidate.cost for r in best.reserved.values())
    bound = (
        0
        if not feasible
        else (None if best.bound is None else min(best.bound, total + later_total))
    )
    return Plan(
        decisions=decisions + queued,
        status=best.status if feasible else "empty",
        total_cost=total,
        best_bound=bound,
        seconds=time.monotonic() - wall,
        rounds=best.rounds,
        reserved_cost=later_total,
        looked_ahead=look is not None,
    )


@dataclass(frozen=True)
class _Timing:
    """A solve's clock: when it started, when its rounds must end (the tail kept for packing
    and explaining), and how long costing the options took (about what building a round's
    model takes)."""

    clock: Callable[[], float]
    started: float
    until: float
    costed: float

    def left(self) -> float:
        """Seconds left for rounds."""
        return self.until - self.clock()

    def early(self, settings: SolverSettings) -> bool:
        """Whether a first plan came soon enough to allow one more round (`REFINE_WITHIN`)."""
        return self.clock() - self.started < REFINE_WITHIN * settings.time_limit_s


@dataclass
class _Best:
    """The plan kept so far: what starts now, on which nodes, what starts later, its status
    and the bound proved for it, and the rounds begun."""

    placement: dict[str, tuple[Candidate, tuple[str, ...]]]
    reserved: dict[str, Reservation] = field(default_factory=dict)
    status: str = "greedy"
    bound: int | None = None
    rounds: int = 0


def _placing_order(
    snapshot: Snapshot, feasible: Mapping[str, list[Candidate]], wait_s: float
) -> list[Job]:
    """The jobs with a feasible option, as the greedy start takes them: by priority, the most
    overdue first, then smallest first. Smallest first, the greedy start admits about as many
    jobs as the optimum does, which leaves CP-SAT mostly a bound to prove."""
    return sorted(
        (j for j in snapshot.jobs if j.key in feasible),
        key=lambda j: (
            -j.priority,
            -overdue_hours(j, snapshot.now, wait_s),
            min(c.demand.devices for c in feasible[j.key]),
            j.key,
        ),
    )


def _cheapest_now(greedy: Ledger) -> _Best:
    """The greedy plan that starts every job on its cheapest option, proved optimal: packed
    as a solved plan is, where that packs, else on the greedy's nodes."""
    nodes, failed = pack_pools([c for c, _ in greedy.placed.values()])
    placement = dict(greedy.placed)
    if not failed:
        placement = {k: (c, nodes[k]) for k, (c, _) in greedy.placed.items()}
    return _Best(placement, status="optimal", bound=sum(c.cost for c, _ in placement.values()))


def _search(
    snapshot: Snapshot,
    feasible: dict[str, list[Candidate]],
    later: dict[str, list[tuple[Candidate, int]]],
    levels: Sequence[int],
    greedy: Ledger,
    settings: SolverSettings,
    timing: _Timing,
) -> _Best:
    """CP-SAT rounds from the greedy plan while time is left: a round whose choices for now do
    not pack on the nodes is cut and solved again; a first plan found early is solved once
    more with the ends of what it starts as later starts (`REFINE_WITHIN`); the plan found
    replaces the greedy one where it ranks better (`_better`)."""
    best = _Best(dict(greedy.placed))
    hint = {choice_key(c) for c, _ in greedy.placed.values()}
    refined = not later
    cuts: list[list[Candidate]] = []
    classes = settings.job_classes
    look = settings.look_ahead
    while best.rounds < settings.max_rounds:
        best.rounds += 1
        if timing.left() <= timing.costed:
            break
        problem = PlacementModel(
            snapshot,
            feasible,
            later,
            cuts,
            classes,
            settings.whole_model_up_to,
            look.max_wait_s,
            look.wait_cost,
            look.horizon_s,
        )
        if timing.left() <= 0:
            break
        outcome = solve_round(problem, levels, hint, settings, timing.left(), timing.clock)
        if outcome is None:
            break
        keys = outcome.keys
        chosen = [problem.choices[k] for k in keys if k[3] == 0]
        nodes, failed = pack_pools(chosen)
        if failed:
            cuts.extend(failed)
            classes = classes and all(_cut_is_exact(problem, group) for group in failed)
            unpacked = {group[0].pool.name for group in failed}
            hint = {k for k in keys if k[3] or k[2] not in unpacked}
            continue
        if not refined and not outcome.shortlisted and timing.early(settings):
            refined = True
            more = _later_starts(snapshot, feasible, settings, keys, problem.choices)
            if more != later:
                later, hint = more, set(keys)
                best.rounds -= 1
                continue
        planned = [(problem.choices[k], k[3]) for k in keys]
        current = [*best.placement.values()]
        if _better(planned, current, levels, outcome.by_level, snapshot.now, look):
            _keep(best, problem, outcome, chosen, nodes, snapshot, feasible, look)
        break
    return best


def _keep(
    best: _Best,
    problem: PlacementModel,
    outcome: Round,
    chosen: Sequence[Candidate],
    nodes: Mapping[str, tuple[str, ...]],
    snapshot: Snapshot,
    feasible: dict[str, list[Candidate]],
    look: LookAhead,
) -> None:
    """Make a round's plan the one kept: its starts now on their packed nodes, its later
    starts packed beside them over time (moved or left out where they do not fit)."""
    keys = outcome.keys
    packed, moved = _pack_later(snapshot, problem.choices, keys, nodes, look.max_wait_s)
    best.placement = {c.job.key: (c, packed[c.job.key]) for c in chosen}
    planned_later = [_reservation(problem, k, snapshot.now) for k in keys if k[3]]
    later_keys = (moved.get(k, k) for k in keys if k[3])
    best.reserved = {
        k[0]: _reservation(problem, k, snapshot.now) for k in later_keys if k is not None
    }
    best.status = outcome.status
    # The objective's bound, less what the waits it counted count for: a bound on the cost of
    # what it plans (a later start moved or left out costs no more).
    best.bound = (
        None
        if outcome.bound is None
        else outcome.bound - counted_waits(planned_later, feasible, snapshot.now, look.wait_cost)
    )


def _cheapest_for_all(greedy: Ledger, feasible: dict[str, list[Candidate]]) -> bool:
    """Whether the greedy plan starts every job now, each on its cheapest feasible option."""
    if not feasible or len(greedy.placed) != len(feasible):
        return False
    return all(
        cand.cost == min(c.cost for c in feasible[key]) for key, (cand, _) in greedy.placed.items()
    )


def _options(snapshot: Snapshot) -> dict[str, list[Candidate]]:
    """Every job's candidates. Copies of one job (a sweep, a team's nightly runs) differ only
    in what the cost model does not read, so each shape is costed once."""
    costed: dict[Job, list[Candidate]] = {}
    out = {}
    for job in snapshot.jobs:
        shape = replace(job, namespace="", name="", created=None, promised_start=None)
        first = costed.get(shape)
        if first is None:
            first = costed[shape] = out[job.key] = candidates(
                job, snapshot.pools, snapshot.now, snapshot.currency
            )
        else:
            out[job.key] = [c.for_job(job) for c in first]
        if snapshot.quotas:  # per job: copies may be in namespaces with other quotas
            out[job.key] = within_quotas(out[job.key], snapshot.quotas)
        if snapshot.budgets:
            out[job.key] = within_budgets(out[job.key], snapshot.budgets)
    return out


def _window(snapshot: Snapshot, size: int) -> tuple[Snapshot, tuple[Decision, ...]]:
    """The snapshot with the first `size` pending jobs in the order a cycle serves them, and a
    `Queued` decision for each of the others (its message stays the same from cycle to cycle,
    so that its status is written once). A job no pool offers an accelerator of is not one of
    the `size`: it is told so (`NoMatchingPool`) at no cost, and a thousand of them at the top
    priority had every other job of the cluster queued behind them."""
    offered = {p.accelerator for p in snapshot.pools}
    runnable: list[Job] = []
    unmatched: list[Job] = []
    for job in snapshot.jobs:
        matched = any(o.accelerator in offered for o in job.options)
        (runnable if matched else unmatched).append(job)
    if len(runnable) <= size:
        return snapshot, ()
    order = sorted(
        runnable,
        key=lambda j: (-j.priority, j.deadline or FAR_FUTURE, j.created or snapshot.now, j.key),
    )
    message = (
        f"more than {size} jobs a pool could run are pending: this one is planned once it is "
        f"among the first {size} by priority, deadline and age"
    )
    queued = tuple(Decision(j, None, (), "Queued", message, ()) for j in order[size:])
    return replace(snapshot, jobs=(*order[:size], *unmatched)), queued


def _greedy_start(
    snapshot: Snapshot, order: list[list[Candidate]], levels: Sequence[int]
) -> Ledger:
    """The better of two greedy plans, by jobs admitted per level, then cost: each job on its
    cheapest candidate that fits, or on its fewest devices (cheapest among those). The first
    is best when the cluster has room; the second admits far more when it has not (on 1,000
    jobs over 20 pools, 795 jobs against 523), which leaves CP-SAT less to find."""
    plans = [
        place_greedily(snapshot, order),
        place_greedily(snapshot, order, lambda c: (c.demand.devices, c.cost, c.pool.order)),
    ]

    def rank(ledger: Ledger) -> tuple[tuple[int, ...], int]:
        chosen = [c for c, _ in ledger.placed.values()]
        return admission_key(chosen, levels), -sum(c.cost for c in chosen)

    return max(plans, key=rank)


def counted_waits(
    reserved: Iterable[Reservation],
    feasible: Mapping[str, list[Candidate]],
    now: datetime,
    wait_cost: float,
) -> int:
    """What the waits of `reserved` count for in the objective (`counted_wait`, each job's
    dearest option now from `feasible`): the objective's bound less it bounds the cost."""
    return sum(
        counted_wait(
            r.candidate,
            int(r.wait_s(now)),
            wait_cost,
            max(c.cost for c in feasible[r.candidate.job.key]),
        )
        for r in reserved
    )


def _later_starts(
    snapshot: Snapshot,
    feasible: dict[str, list[Candidate]],
    settings: SolverSettings,
    planned: list[ChoiceKey],
    known: dict[ChoiceKey, Candidate],
) -> dict[str, list[tuple[Candidate, int]]]:
    """Each job's later starts, given the choices of a plan (whose ends are slots too)."""
    look = settings.look_ahead
    if not look.enabled:
        return {}
    by_key = {choice_key(c): c for cands in feasible.values() for c in cands}
    ends: dict[str, list[int]] = defaultdict(list)
    for key in planned:
        cand = known.get(key) or by_key[(*key[:3], 0)]
        ends[key[2]].append(key[3] + duration_units(cand))
    pools, now, currency = snapshot.pools, snapshot.now, snapshot.currency
    slots = {p.name: release_slots(p, now, look, ends[p.name]) for p in pools}
    # A quota frees when its namespace's jobs end, on any pool: a start then, on every pool,
    # for a job it holds now (one on a pool with room had no start at a job's end on another
    # pool, and waited with no plan or was told a later one). Not for a job it does not hold:
    # those instants took the place of its pool's own releases among its earliest starts.
    freed = [(q, [due_s(at, now) for at, _ in q.frees]) for q in snapshot.quotas if q.frees]
    out = {}
    for k, v in feasible.items():
        extra = [s for q, at in freed if q.counts(v[0].job) and _holds(q, v) for s in at]
        mine = slots
        if extra:
            mine = {p.name: release_slots(p, now, look, [*ends[p.name], *extra]) for p in pools}
        out[k] = later_starts(v, mine, now, look, currency)
    return out


def _holds(quota: Quota, options: Sequence[Candidate]) -> bool:
    """Whether the quota leaves room now for none of a job's options."""
    return all(
        any(
            need > quota.remaining[r] for r, need in quota_demand(c).items() if r in quota.remaining
        )
        for c in options
    )


def _pack_later(
    snapshot: Snapshot,
    choices: Mapping[ChoiceKey, Candidate],
    keys: Sequence[ChoiceKey],
    nodes: Mapping[str, tuple[str, ...]],
    max_wait_s: float,
) -> tuple[dict[str, tuple[str, ...]], dict[ChoiceKey, ChoiceKey | None]]:
    """A plan's starts now on nodes where its later starts fit the nodes then too, and the
    later starts that do not, each moved to a later start of its job where it fits, or None
    (`timeline`). `nodes` are where the starts now were packed alone.

    Per pool with later starts that do not fit beside the starts now where those were packed,
    those and the starts now are packed together; the starts now go where that packing puts
    them (best fit alone put a job started now on the node a higher-priority job was planned
    on, though another had the same room). Where they cannot
    all fit, the starts now keep `nodes` and the later starts fit in turn, highest priority,
    then the longest overdue (`PlacementModel.overdue`), then earliest first, each at the
    first start the model offered its job from the planned one on (within its deadline, max
    wait and horizon: the same cost, held by its budgets as it was; not moved where a
    ResourceQuota counts it, whose rows held it at its planned start only).
    Cut off and solved again instead, such plans cost a round each, and the rounds left too
    few for a plan with later starts: on the contended replay of benchmarks/README.md, 65 % of
    the jobs that waited had a promise, not 76 %. A later start from when a release that does
    not say where is due is not checked (the model's per-shape rows stop there too)."""
    packed = dict(nodes)
    moved: dict[ChoiceKey, ChoiceKey | None] = {}
    by_pool: dict[str, list[ChoiceKey]] = defaultdict(list)
    for k in keys:
        by_pool[k[2]].append(k)
    pools = {p.name: p for p in snapshot.pools}
    offered: dict[ChoiceKey, list[int]] | None = None
    for name, mine in by_pool.items():
        pool, now = pools[name], snapshot.now
        frees, unknown = given_back(pool.releases, now)
        later = sorted(
            (k for k in mine if 0 < k[3] < unknown),
            key=lambda k: (
                -choices[k].job.priority,
                -overdue_hours(choices[k].job, now, max_wait_s),
                k[3],
                k,
            ),
        )
        if not later:
            continue
        starts = [k for k in mine if not k[3]]
        # What starts now where it was packed alone, giving its room back when it ends.
        left = {n.name: n.free for n in pool.nodes}
        ends = []
        for k in starts:
            cand = choices[k]
            for node in nodes[k[0]]:
                left[node] = left[node] - cand.worker
                ends.append(Frees(node, duration_units(cand), cand.worker))
        room = [replace(n, free=left[n.name]) for n in pool.nodes]
        if pack_over_time(room, frees + ends, [_run(k, choices[k]) for k in later]) is not None:
            continue  # the later starts fit beside the starts now as they are
        together = pack_over_time(pool.nodes, frees, [_run(k, choices[k]) for k in starts + later])
        if together is not None:
            packed.update((k[0], tuple(together[k[0]])) for k in starts)
            continue
        if offered is None:  # once a plan, and only where a pool's starts do not all fit
            offered = defaultdict(list)
            for k in sorted(choices):
                offered[(*k[:3], 0)].append(k[3])
        frees += ends
        runs = [
            _runs(k, choices, offered[(*k[:3], 0)], unknown)
            if not any(q.counts(choices[k].job) for q in snapshot.quotas)
            else [_run(k, choices[k])]
            for k in later
        ]
        fitted, _ = fit_in_order(room, frees, runs)
        for k in later:
            run = fitted.get(k[0])
            if run is None or run.start_s != k[3]:
                moved[k] = None if run is None else (*k[:3], int(run.start_s))
    return packed, moved


def _runs(
    key: ChoiceKey, choices: Mapping[ChoiceKey, Candidate], starts: Sequence[int], until: float
) -> list[Run]:
    """A later start as a run, then the same run at the job's later `starts`: of the same
    width (another start may need a wider gang, at another cost), and ending by `until`, from
    when later starts are not checked node by node."""
    out = [_run(key, choices[key])]
    for start in starts:
        other = (*key[:3], start)
        cand = choices[other]
        same = start > key[3] and cand.workers == choices[key].workers
        if same and start + duration_units(cand) <= until:
            out.append(_run(other, cand))
    return out


def _reservation(problem: PlacementModel, key: ChoiceKey, now: datetime) -> Reservation:
    """A later start of a round's plan."""
    return Reservation(problem.choices[key], now + timedelta(seconds=key[3]))


def _run(key: ChoiceKey, cand: Candidate) -> Run:
    """A choice as a run of its workers on its pool, from its start to its end."""
    return Run(gang_of(cand), key[3], key[3] + duration_units(cand))


def _cut_is_exact(model: PlacementModel, group: list[Candidate]) -> bool:
    """Whether the cut of a group that did not pack is exact on the model's classes. On one
    class choice it bounds that count; over several choices of classes with copies it bounds
    their total, which also cuts off mixes that pack (2 of 4 jobs placed where 3 fit, found
    by hypothesis): the rounds after such a cut solve job by job, where a cut is exact."""
    keys = {model.classes.class_key(choice_key(c)) for c in group}
    return len(keys) == 1 or all(model.size[k[0]] == 1 for k in keys)


def _better(
    planned: list[tuple[Candidate, int]],
    current: list[tuple[Candidate, tuple[str, ...]]],
    levels: Sequence[int],
    by_level: bool,
    now: datetime,
    look: LookAhead,
) -> bool:
    """Whether a round's plan (each choice with its start, seconds from now) beats the current
    one, which starts all it plans now, as its phases ranked plans: per level, highest first,
    the overdue jobs planned, weighted by their hours and how early they start (see
    `PlacementModel.overdue`), the jobs planned and, for a round priced level by level
    (`by_level`), less cost; for a round priced over all levels at once, less cost in all after
    every level's counts. (Ranked by the overdue jobs started now alone, a plan that held an
    overdue job its earliest room lost to the greedy one, which holds nothing.)"""

    def ranks(plan: list[tuple[Candidate, int]]) -> tuple[int, ...]:
        counts = admission_key([c for c, _ in plan], levels)
        out: list[int] = []
        for level, count in zip(levels, counts, strict=True):
            mine = [(c, s) for c, s in plan if c.job.priority == level]
            overdue = sum(
                overdue_weight(overdue_hours(c.job, now, look.max_wait_s), s, look.horizon_s)
                for c, s in mine
            )
            out += [overdue, count]
            if by_level:
                out.append(-sum(c.cost for c, _ in mine))
        if not by_level:
            out.append(-sum(c.cost for c, _ in plan))
        return tuple(out)

    return ranks(planned) >= ranks([(c, 0) for c, _ in current])
