"""The solve in phases, on either backend (CP-SAT, or the relaxation of models too large for it
whole): per priority level its overdue jobs, its count, its cost, its promises and its earliest
starts, each phase's optimum bounding the next (`solve_in_phases`), and one round of it with the
relaxation beside CP-SAT where the model is large (`solve_round`)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import NamedTuple

from pricewise.core.classes import ChoiceKey
from pricewise.core.cpsat import SAFETY, Backend, CpSat, WorkClock
from pricewise.core.model import (
    Linear,
    PlacementModel,
)
from pricewise.core.relaxation import SLACK, WHOLE, Floor, Relaxation
from pricewise.core.settings import SolverSettings


@dataclass
class Outcome:
    """How the phases ended: `complete` when every phase ran (or was not needed), `priced`
    when every cost phase did, the cost bound they proved, and whether the cost is within the
    gap of it; `counts` are the jobs admitted per level."""

    complete: bool = True
    priced: bool = True
    bound: int = 0
    within_gap: bool = True
    counts: list[int] = field(default_factory=list)
    floor: Floor | None = None
    """The last cost phase's optimum as a bound for other counts, where the backend knows one
    (the relaxation's)."""


def solve_in_phases(
    backend: Backend,
    model: PlacementModel,
    levels: Sequence[int],
    settings: SolverSettings,
    deadline: float,
    tie_break: bool,
    by_level: bool = True,
    *,
    clock: Callable[[], float],
    floor: Floor | None = None,
    ceilings: Sequence[int] = (),
    early_starts: bool = True,
    completion: Callable[[list[ChoiceKey]], None] | None = None,
) -> Outcome | None:
    """Solve in phases, each bounding the next. Per level from the highest: its overdue jobs
    started, the most of its jobs planned (with `tie_break`, the count less the cost: see
    `_admission`), then its least cost, the most of its promises kept and its earliest starts;
    then the next level. Priority is strict: a level is planned as if the levels below did not
    exist, so it may take a lower priority's room or reservation, and a lower priority never
    delays it (when every level's count came first, a job of priority 0 that had to start now
    to meet its deadline pushed a job of priority 10 to a later start). Within a level,
    promises are kept where price allows. None when nothing is found in time; an outcome that
    is not `complete` when time ran out later (its plan is still valid).

    Without `by_level`, the counts come first, per level, then cost, promises and timing are
    optimised over all levels at once: the relaxation does so, because bounding a level by its
    fractional optimum would bind the levels below to a cost no whole plan has (on 1,000 jobs,
    7 % dearer in all); and so does CP-SAT beside it (see `solve_round`), where the
    relaxation's `floor` bounds the cost: a plan within the gap of it ends the cost phase, or
    skips it; and its counts per level (`ceilings`) bound the admissions: a plan that reaches
    one ends that phase, or skips it. A level short of its count is first handed to
    `completion`, which may fill the plan in hand.

    Without `early_starts` the plan keeps its starts: where CP-SAT decides among a shortlist
    (the largest models), its earliest-start phase moved them 0.1 % earlier in all in its
    0.5 s on 1,000 and 10,000 jobs over 20 pools; on 300-500 jobs, where it moved them up to
    8 % earlier, CP-SAT has every choice."""
    assert floor is None or not by_level, "the relaxation's floor bounds all levels at once"
    out = Outcome()
    phases = 0

    def run(
        objective: Linear,
        maximize: bool,
        gap: float = 0.0,
        share: float = 0.5,
        work: float | None = None,
        tolerance: float = 0.0,
        enough: float | None = None,
    ) -> tuple[float, float] | None:
        nonlocal phases
        seconds = (deadline - clock()) * share
        found = backend.optimise(objective, maximize, seconds, gap, work, tolerance, enough)
        phases += found is not None
        return found

    def price(keys: list[ChoiceKey]) -> Outcome | None:
        """Price `keys`, keep their promises and start them early; an outcome to stop with
        when time ran out."""
        cost = model.cost(keys)
        gap = settings.relative_gap if floor is None else settings.relaxed_gap
        least = None if floor is None else relaxed_bound(floor, backend.taken())
        enough = None if least is None else least / (1 - gap)
        if least is not None and enough is not None and backend.value(cost) <= enough:
            found: tuple[float, float] | None = (backend.value(cost), least)
        else:
            found = run(cost, maximize=False, gap=settings.relative_gap, enough=enough)
        if found is None:
            return replace(out, complete=False, priced=False, within_gap=False)
        value, bound = found
        if least is not None:  # CP-SAT's own bound, cut short by `enough`, lags the relaxation's
            bound = max(bound, least)
        out.floor = backend.floor()
        out.bound += math.floor(bound + WHOLE) * model.unit
        out.within_gap &= value - bound <= gap * max(1.0, abs(value))
        backend.require(cost, False, backend.value(cost))
        kept = model.kept(keys, settings.look_ahead.keep_within_s)
        taken = backend.taken()
        broken = sum(taken[k] for k in kept if k in taken) < model.jobs(kept)
        if broken and run(model.admitted(kept), maximize=True) is None:
            return replace(out, complete=False)
        if kept:
            backend.require(
                model.admitted(kept), True, math.floor(backend.value(model.admitted(kept)) + WHOLE)
            )
        lateness = model.lateness([k for k in keys if k[3]])
        if not lateness or not early_starts:
            return None
        # As early as that allows: a reservation that could start sooner should. A tie-break,
        # so a small share of the time, and at most `earliest_work`; the plan so far stands if
        # it runs out, and the phases go on (ending them there left the levels below unpriced,
        # and a proved plan reported as merely feasible). Without the work bound it was half the
        # solver's time in a 500-job burst (a tenth of a 10 s limit each cycle, rarely proved);
        # a bound in seconds instead would make the plan depend on the machine's load.
        if backend.value(lateness):
            run(lateness, False, settings.relative_gap, 0.1, settings.look_ahead.earliest_work)
        backend.require(lateness, False, backend.value(lateness))
        return None

    # The relaxation's count bounds a level's while every level above it admits as many as
    # the relaxation's did, with no overdue jobs to start first (the rows are then the same).
    bounded = bool(ceilings)
    for stage, index in _stages(levels, by_level):
        if stage == "price":
            stopped = price([*model.candidates] if index is None else model.level(levels[index]))
            if stopped is not None:
                return stopped
            continue
        assert index is not None
        keys = model.level(levels[index])
        # No starvation: overdue jobs without a deadline (near their max wait) start first,
        # oldest first; counting admissions alone (smallest first) let a large one wait 211 h
        # on the replay without deadlines, where arrival order bounds the longest wait at 99 h.
        overdue = model.overdue(keys)
        if overdue:
            bounded = False
            if run(overdue, True) is None:
                return replace(out, complete=False, priced=False) if phases else None
            backend.require(overdue, True, math.floor(backend.value(overdue) + WHOLE))
        ceiling = ceilings[index] if bounded else model.jobs(keys)
        taken = backend.taken()
        planned = sum(taken[k] for k in keys if k in taken)
        if bounded and completion is not None and planned < ceiling:
            completion(keys)
            taken = backend.taken()
            planned = sum(taken[k] for k in keys if k in taken)
        if planned >= ceiling:
            phases += 1  # the plan in hand is this phase's optimum
        else:
            objective, tolerance, per_job = _admission(
                backend, model, keys, settings, tie_break, by_level
            )
            # A plan that admits the bound's count is optimal: nothing is left to prove (the
            # tie-break's cost is the cost phase's to improve).
            reached = (ceiling - 1) * per_job + 1 if bounded else None
            if run(objective, True, tolerance=tolerance, enough=reached) is None:
                return replace(out, complete=False, priced=False) if phases else None
        # Whole jobs: a relaxation's half job is no job.
        count = math.floor(backend.value(model.admitted(keys)) + WHOLE)
        backend.require(model.admitted(keys), True, count)
        out.counts.append(count)
        bounded = bounded and count == ceiling
    return out


def _stages(levels: Sequence[int], by_level: bool) -> Iterator[tuple[str, int | None]]:
    """The order of `solve_in_phases`' stages: ("count", i) counts the jobs of level `levels[i]`,
    ("price", i) prices that level, and ("price", None) every level at once, after the counts
    (without `by_level`)."""
    for index in range(len(levels)):
        yield "count", index
        if by_level:
            yield "price", index
    if not by_level:
        yield "price", None


def _admission(
    backend: Backend,
    model: PlacementModel,
    keys: list[ChoiceKey],
    settings: SolverSettings,
    tie_break: bool,
    exact: bool,
) -> tuple[Linear, float, int]:
    """A level's admission objective, how far from its bound a plan of it may stop, and what
    one job counts for in it (see `PlacementModel.admitted_then_cost`).

    The count alone must be proved. Counted with a cost tie-break and not `exact` (beside a
    relaxation, where optimality is not proved anyway), a plan may stop within the relative
    gap of its cost (taken at the incumbent): a plan with one job more scores above the whole
    cost part, far more than that tolerance, so the count is still proved. On 1,000 jobs over
    20 pools that phase then took 1.4 s instead of all of its 3 s. Models solved whole prove
    the tie-break exactly, as they always did: they have the time, and stopping within the gap
    may leave a plan up to that gap dearer (on the simulator's policy grid both ways gave the
    same totals within the run-to-run spread)."""
    if not tie_break:
        return model.admitted(keys), 0.0, 1
    objective, tie, per_job = model.admitted_then_cost(keys)
    if exact:
        return objective, 0.0, per_job
    gap = settings.relative_gap * backend.value(model.cost(keys)) * model.unit / tie
    return objective, gap, per_job


class Round(NamedTuple):
    """One plan of a model, as `solve_round` found it."""

    keys: list[ChoiceKey]
    """The choices taken (later starts among them)."""
    status: str
    """`optimal` where the bound proves it within the gap, else `feasible`."""
    bound: int | None
    """A bound on the objective, in the model's money unit, where one was proved."""
    by_level: bool
    """Whether it was priced level by level (so each level's count is the optimum's)."""
    shortlisted: bool
    """Whether CP-SAT chose among the relaxation's shortlist, not among every choice."""


def solve_round(
    model: PlacementModel,
    levels: Sequence[int],
    hint: set[ChoiceKey],
    settings: SolverSettings,
    seconds: float,
    clock: Callable[[], float],
) -> Round | None:
    """One plan of the model, or None when CP-SAT finds nothing in time. A model larger than
    `whole_model_up_to` is first solved relaxed, and the choices the relaxation takes whole
    are fixed (see `relaxation`); CP-SAT decides the rest, among the choices the relaxation
    shortlists (by its cost phase's reduced costs, or by cost where that phase was cut short)
    and the hint's where more than `whole_model_up_to` class choices are left. `seconds` are
    read on `clock`."""
    started = clock()
    work_clock = clock if isinstance(clock, WorkClock) else None
    # GLOP has no deterministic limit: with a work clock its limit in seconds is only a net.
    least_s = 0.0 if work_clock is None else SAFETY * settings.time_limit_s
    start = model.as_classes(sorted(hint))
    fixed: Counter[ChoiceKey] = Counter()
    relaxed: Outcome | None = None
    relaxation: Relaxation | None = None
    allowed: set[ChoiceKey] | None = None
    if len(model.choices) > settings.whole_model_up_to:
        relaxation = Relaxation(model, least_s)
        # Most of the time: on a large model, building it is a good part of the work, and
        # whatever the relaxation leaves fractional CP-SAT solves quickly.
        until = started + 0.6 * seconds
        relaxed = solve_in_phases(
            relaxation, model, levels, settings, until, False, False, clock=clock
        )
        if relaxed is not None:
            fixed = relaxation.to_fix()
            # The relaxation's own plan first: it admits more than a greedy one; then, for the
            # jobs neither places, every choice, the relaxation's first.
            whole = sorted((relaxation.whole() - fixed).elements())
            left = model.unfixed(fixed)
            many = sum(1 for k in model.candidates if left[k[0]]) > settings.whole_model_up_to
            if many:
                allowed = relaxation.shortlist(relaxed.floor) | set(start)
            start = whole + start + relaxation.ranked()
    backend = CpSat(
        model, fixed, start, settings.num_workers, settings.random_seed, work_clock, allowed
    )
    deadline = started + seconds
    # Counting with a cost tie-break hands the cost phase a nearly cheapest plan (where the
    # relaxation's count ends the phase, the first plan that reaches it). Counting
    # alone is enough where CP-SAT prices any plan quickly: on counts of classes (1,000 jobs of
    # 18 shapes: 3.9 s unproved against 1.0 s for the count alone) and beside a relaxation's
    # plan of starts now (1,000 distinct jobs: 0.1 s to price, 3.8 s for the tie-break). With
    # later starts it is not: 1,000 jobs over 20 pools came out 15 % over the bound counted
    # alone, 0.3 % with the tie-break. Beside a relaxation, cost is one phase over all levels,
    # as the relaxation prices it (its bound is that phase's): one phase a level did not fit
    # the time there, and the lower level's never ran (7 % over the bound).
    merged = any(n > 1 for n in model.size.values())
    later = any(k[3] for k in model.candidates)
    tie_break = not merged and (not fixed or later)
    floor = relaxed.floor if relaxed is not None and relaxed.priced else None
    ceilings: Sequence[int] = ()
    if floor is not None and relaxed is not None and relaxation is not None:
        ceilings = relaxed.counts
    outcome = solve_in_phases(
        backend,
        model,
        levels,
        settings,
        deadline,
        tie_break,
        relaxed is None,
        clock=clock,
        floor=floor,
        ceilings=ceilings,
        early_starts=allowed is None,
        completion=None if relaxation is None else partial(complete, backend, relaxation),
    )
    if outcome is None and not fixed:
        return None
    keys = model.assign(backend.taken())
    if relaxed is None:
        assert outcome is not None
        proved = outcome.complete and outcome.within_gap
        bound = outcome.bound if outcome.complete else None
        return Round(keys, "optimal" if proved else "feasible", bound, True, False)
    # The relaxation's cost, moved by how far the plan meets the rows its phases required
    # otherwise (fewer jobs admitted, less overdue weight started), bounds the plan's.
    if floor is None:
        return Round(keys, "feasible", None, False, allowed is not None)
    least = relaxed_bound(floor, backend.taken()) * model.unit
    # The distance is the objective's, waits and all; the gap is relative to what the plan
    # costs, as `Plan.best_bound` (the bound less the waits) reports it.
    over = sum(model.priced(k) for k in keys) - least
    cost = sum(model.choices[k].cost for k in keys)
    status = "optimal" if over <= settings.relaxed_gap * max(1, cost) else "feasible"
    return Round(keys, status, least, False, allowed is not None)


def complete(backend: CpSat, relaxation: Relaxation, keys: list[ChoiceKey]) -> None:
    """Beside a relaxation, before CP-SAT counts a level (its choices `keys`) short of the
    relaxation's count: the plan in hand completed with the level's jobs the relaxation placed
    (`CpSat.completed`). Before each level's phase rather than once before all, so that where
    CP-SAT has to count a level, the next level's completion starts from its plan. On 1,000
    jobs over 20 pools the rounding left out 2 jobs of priority 10 and 1 of priority 0;
    completed, no phase has anything left to count, where CP-SAT took 1.2-1.3 s to count
    priority 0 again. Where the completion falls short, CP-SAT starts from it: on 1,000 jobs
    over 100 pools it then planned 984 jobs within 6.9 % of the bound, against 976 within
    17.8 % from the rounding's own plan."""
    # Only the jobs the relaxation placed: on a full cluster the others would each try every
    # choice and every move, for nothing.
    relaxed = {k[0] for k, v in relaxation.values.items() if v > WHOLE}
    mine = {k[0] for k in keys}
    order = [name for name in backend.short() if name in relaxed and name in mine]
    if order:
        backend.incumbent = backend.completed(order)


def relaxed_bound(floor: Floor, taken: Counter[ChoiceKey]) -> int:
    """What the relaxation proves of the cost of the plan `taken` (model units), less GLOP's
    slack."""
    least = floor.at(taken)
    return max(0, math.floor(least - SLACK * abs(least)))
