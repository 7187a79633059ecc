"""The placement model of one solve: a choice per (job class, candidate, start) and linear rows.

A choice counts the jobs of its class that take it (0 or 1 for a job alone; see `classes`).

The same rows feed CP-SAT (`solver`) and the LP relaxation (`relaxation`), so the two can never
disagree on what a plan may do. Every row reads "the sum of coefficient x choice is at most the
bound", with non-negative coefficients, so any subset of a feasible plan is feasible too: that
is what lets the relaxation fix some choices and hand CP-SAT the rest.

Capacity over time is checked at instants: a job starts now or at one of its pool's slots, and
what runs on a pool only grows at a start, while its room only grows at a release; so the
pool's peak use between two instants is reached at a start, and one row per pool, resource and
start instant ("what runs then fits the room free then") is exact, with no interval variables.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from itertools import permutations

from pricewise.core.classes import ChoiceKey, JobClasses
from pricewise.core.costmodel import Candidate
from pricewise.core.greedy import QUOTA_RESOURCES, quota_demand
from pricewise.core.lookahead import (
    LookAhead,
    counted_wait,
    due_s,
    duration_units,
    overdue_hours,
    release_s,
)
from pricewise.core.snapshot import Pool, Resources, Snapshot

MODEL_RANGE = 2**60
"""Largest sum of coefficients of one constraint or objective; CP-SAT refuses a model whose
terms could overflow 2^63."""
TIE_RANGE = 2**40
"""Largest sum of the cost tie-break of one priority level (each job counts for more)."""
CENT = 10_000
"""Micro-units in a cent: the tie-break needs no finer money."""

Linear = dict[ChoiceKey, int]
"""A linear expression over choices: coefficient per choice."""
Running = tuple[tuple[int, ...], int, int, int]
"""What the capacity rows read of a candidate: its demand per resource (`fields`, clipped), its
run time (`duration_units`), its worker shape's number and its workers."""


def choice_key(candidate: Candidate, start_s: int = 0) -> ChoiceKey:
    """The stable name of a candidate started `start_s` from now (the cost model keeps one
    candidate per option and pool)."""
    return (candidate.job.key, candidate.option.index, candidate.pool.name, start_s)


def admission_key(chosen: Iterable[Candidate], levels: Sequence[int]) -> tuple[int, ...]:
    """Jobs planned per priority level, highest level first: compared lexicographically."""
    counts: dict[int, int] = defaultdict(int)
    for cand in chosen:
        counts[cand.job.priority] += 1
    return tuple(counts[level] for level in levels)


def money_unit(total: int, most: int, least: int = 1) -> int:
    """The money unit (in micro-units) that brings `total` within `most`."""
    return max(least, -(-total // most))


def in_range(amount: int) -> int:
    """An amount clipped to what a model's coefficient may be."""
    return max(0, min(amount, MODEL_RANGE))


def fields(r: Resources) -> tuple[int, int, int, int]:
    """The resources a row counts, in a fixed order."""
    return (r.cpu, r.memory, r.gpu, r.tpu)


ROW_ORDER = (2, 3, 0, 1)
"""The order a pool's resource rows are considered in (`fields`' indexes): devices first, the
rows that bind on accelerator pools, so that their CPU and memory rows are the ones left out
when implied (see `implied`)."""

Steepest = dict[tuple[int, int], tuple[int, int] | None]
"""Per pair of resources (r, s), the largest ratio of r to s over a pool's demands, as (r, s)
amounts; None where a demand uses r and not s."""


def steepest(demands: Collection[tuple[int, ...]]) -> Steepest:
    """Per pair of resources, the pool's demand that uses most of the first per unit of the
    second (see `implied`)."""
    out: Steepest = {}
    for r, s in permutations(ROW_ORDER, 2):
        users = [(d[r], d[s]) for d in demands if d[r]]
        if not all(b for _, b in users):
            out[r, s] = None
            continue
        best = (0, 1)
        for a, b in users:
            if a * best[1] > best[0] * b:  # a / b above best's ratio, in integers
                best = (a, b)
        out[r, s] = best
    return out


def implied(r: int, kept: Sequence[int], rooms: Sequence[int], most: Steepest) -> bool:
    """Whether resource r's row of a pool at an instant follows from a row `kept` there: where
    every demand of the pool that uses r uses s too, at most `a / b` of r per unit of s, what
    fits s's room uses at most `a / b` of it in r, so within r's room when `a * room_s <= b *
    room_r`. The same plans, whole or fractional, satisfy the rows with or without it. On GPU
    nodes asked for less CPU and memory per GPU than they have, the GPU row implies both: on
    1,000 jobs over 20 pools, 148 of 282 rows and 64 % of their terms."""
    for s in kept:
        ratio = most.get((r, s))
        if ratio is not None and ratio[0] * rooms[s] <= ratio[1] * rooms[r]:
            return True
    return False


EARLY_STEP_S = 600
"""How finely the overdue phase tells an earlier start from a later one (`overdue_weight`): ten
minutes, twice what a planned start may move before it is a new promise
(`lookahead.PLAN_MOVES_S`); finer steps only make the weights larger (a day in minutes: 1,441
per hour waited)."""


def overdue_weight(hours: int, start_s: int, horizon_s: float) -> int:
    """What a start `start_s` from now of an overdue job that waited `hours` counts for
    (`PlacementModel.overdue`, and `solver._better` ranking plans alike): its hours times one
    more for each step of `EARLY_STEP_S` earlier, now most."""
    return hours * max(1, int(horizon_s) // EARLY_STEP_S + 1 - -(-start_s // EARLY_STEP_S))


class PlacementModel:
    """Choices and rows of one round. `groups` hold each class's choices (as many are taken
    as the class has jobs, `size`); `rows` are (coefficients, bound). `candidates` are the
    classes' choices, named by their first member; `choices` every job's own."""

    def __init__(
        self,
        snapshot: Snapshot,
        options: dict[str, list[Candidate]],
        later: dict[str, list[tuple[Candidate, int]]],
        cuts: list[list[Candidate]],
        classes: bool = True,
        lean_above: int | None = None,
        max_wait_s: float = LookAhead.max_wait_s,
        wait_cost: float = LookAhead.wait_cost,
        horizon_s: float = LookAhead.horizon_s,
    ) -> None:
        self.now_time: datetime = snapshot.now
        self.horizon_s = horizon_s
        """How far ahead later starts are planned: what `overdue_weight` counts down over."""
        self.max_wait_s = max_wait_s
        """The cluster's default max wait: near its end, a job without a deadline is overdue."""
        self.wait_cost = wait_cost
        """What waiting counts for in the objective (`LookAhead.wait_cost`)."""
        self.unit = money_unit(sum(c.cost for opts in options.values() for c in opts), MODEL_RANGE)
        """Money unit of the cost terms, in micro-units (1 on any real cluster)."""
        self.most = {k: max((c.cost for c in opts), default=0) for k, opts in options.items()}
        """Each job's dearest option now: what its waits count for at most (`counted_wait`)."""
        starts = {k: [(c, 0) for c in opts] + later.get(k, []) for k, opts in options.items()}
        # `choice_key`, with each job's key formatted once, not once per choice.
        names: dict[int, str] = {}
        keyed = {
            k: [
                (
                    names.get(id(c.job)) or names.setdefault(id(c.job), c.job.key),
                    c.option.index,
                    c.pool.name,
                    s,
                )
                for c, s in opts
            ]
            for k, opts in starts.items()
        }
        self.choices = {
            key: c for k, opts in starts.items() for key, (c, _) in zip(keyed[k], opts, strict=True)
        }
        self.lean = lean_above is not None and len(self.choices) > lean_above
        """Whether rows that whole plans do not need are left out (see `_slots`)."""
        # Overdue jobs weigh their own hours (see `overdue`): copies that waited for different
        # times are not interchangeable, nor are copies that different scoped quotas count.
        scoped = [q for q in snapshot.quotas if q.jobs is not None]
        self.classes = JobClasses.of_choices(
            starts,
            together=classes,
            apart=lambda job: (
                overdue_hours(job, self.now_time, max_wait_s),
                tuple(q.name for q in scoped if q.counts(job)),
            ),
        )
        self.size = {name: len(members) for name, members in self.classes.members.items()}
        self.groups = {name: keyed[name] for name in self.classes.members}
        self.candidates = {key: self.choices[key] for keys in self.groups.values() for key in keys}
        self.rows: list[tuple[Linear, int]] = []
        self._levels: defaultdict[int, list[ChoiceKey]] | None = None
        """Each priority level's choices, once asked (see `level`)."""
        self._running: dict[int, Running] = {}
        """What the capacity rows read of each candidate, by identity (see `_capacity`)."""
        self._shapes: dict[Resources, int] = {}
        """Each worker shape's number, in the order first read."""
        by_pool: dict[str, list[ChoiceKey]] = defaultdict(list)
        for choice in self.candidates:
            by_pool[choice[2]].append(choice)
        for pool in snapshot.pools:
            if by_pool.get(pool.name):
                self._capacity(pool, by_pool[pool.name])
        self._quotas(snapshot)
        self._budgets(snapshot)
        for cut in cuts:
            # Copies of one shape are interchangeable, so "not all of these" is a bound on the
            # count of each class choice in the cut; across classes it bounds their total, a
            # little more than the cut proves, which may cost optimality but never validity
            # (the solver then goes on job by job: `solver._cut_is_exact`).
            terms = {self.classes.class_key(choice_key(c)): 1 for c in cut}
            self.rows.append((terms, len(cut) - 1))

    def _capacity(self, pool: Pool, keys: list[ChoiceKey]) -> None:
        """Per start instant, what runs then fits what is free then, in the pool's sums and on
        its nodes worker by worker, per shape (`_slots`)."""
        held = [(release_s(r, self.now_time), fields(r.frees)) for r in pool.releases]
        free = fields(pool.free)
        instants = sorted({k[3] for k in keys})
        at = {instant: i for i, instant in enumerate(instants)}
        # What runs at each instant, in the order of `keys`, with what the rows read of it: a
        # choice runs at the instants from its start until its end. One pass over the choices
        # (not one per instant), each candidate read once (its later starts share it).
        running: list[list[tuple[ChoiceKey, Running]]] = [[] for _ in instants]
        known = self._running
        demands: set[tuple[int, ...]] = set()
        for k in keys:
            cand = self.candidates[k]
            seen = known.get(id(cand))
            if seen is None:
                seen = known[id(cand)] = self._read(cand)
                demands.add(seen[0])
            for i in range(at[k[3]], bisect_left(instants, k[3] + seen[1])):
                running[i].append((k, seen))
        # Only a lean model (one solved beside a relaxation) leaves implied rows out: smaller
        # models keep every row in its order, as CP-SAT's search follows them (left out there,
        # the contended replay's first promises erred by 17.1 % at the median against 14.4 %).
        most = steepest(demands) if self.lean else {}
        order = ROW_ORDER if self.lean else range(len(free))
        used = [index for index in order if any(d[index] for d in demands)]
        for instant, now_running in zip(instants, running, strict=True):
            rooms = [
                in_range(free[index] + sum(f[index] for until, f in held if until <= instant))
                for index in range(len(free))
            ]
            # A row left out because another implies it is not built: where that other row has
            # no terms at this instant, neither would it (see `implied`).
            kept: list[int] = []
            for index in used:
                if not implied(index, kept, rooms, most):
                    kept.append(index)
            for index in kept:
                terms = {k: run[0][index] for k, run in now_running if run[0][index]}
                if terms:
                    self.rows.append((terms, rooms[index]))
        self._slots(pool, instants, running)

    def _read(self, cand: Candidate) -> Running:
        """What the capacity rows read of a candidate (see `Running`)."""
        shape = self._shapes.setdefault(cand.worker, len(self._shapes))
        return (
            tuple(map(in_range, fields(cand.demand))),
            duration_units(cand),
            shape,
            cand.workers,
        )

    def _slots(
        self,
        pool: Pool,
        instants: list[int],
        running: list[list[tuple[ChoiceKey, Running]]],
    ) -> None:
        """Per start instant and worker shape, the workers that run then fit the nodes' room
        then, copy by copy: now, each node's free room; later, with what releases free on it
        by then. A pool's sums alone let a job of 8 GPUs be planned where two nodes free 4
        each (on the contended replay, 326 of 8,866 planned later starts fitted no node even
        alone). From the first instant by which a release that does not say where is due, the
        sums alone check it.

        Where a shape's copies on the nodes are as many as the resource rows' room allows (the
        pool's free room and every release due, wherever it frees room), its row is implied by
        those rows for whole plans. A `lean` model (one solved beside a
        relaxation) leaves such later rows out: on 1,000 jobs over 20 pools they took the solve
        0.6-0.7 s longer. Smaller models keep them: they steer the search, and left out there
        they cost the promises on the contended replay (first promises' median error 22.3 %
        against 14.4 %)."""
        held = [(release_s(r, self.now_time), r) for r in pool.releases]
        free = pool.free
        shapes = list(self._shapes)
        for instant, now_running in zip(instants, running, strict=True):
            due = [r for until, r in held if until <= instant]
            if not all(r.nodes for r in due):
                break  # from here on, where the room is is not known
            room = {n.name: n.free for n in pool.nodes}
            for release in due:
                for name, frees in release.nodes:
                    if name in room:
                        room[name] = room[name] + frees
            by_number: dict[int, Linear] = defaultdict(dict)
            for k, (_, _, number, workers) in now_running:
                by_number[number][k] = workers
            # What the resource rows count: every node's room and every release due, wherever
            # it frees room (a node that left the pool is not among `room`).
            summed = sum((r.frees for r in due), free) if self.lean and instant else None
            for number, terms in by_number.items():
                shape = shapes[number]
                slots = sum(shape.copies_in(r) for r in room.values())
                if summed is not None and slots >= shape.copies_in(summed):
                    continue  # the resource rows already bound whole plans as tightly
                self.rows.append((terms, in_range(slots)))

    def _quotas(self, snapshot: Snapshot) -> None:
        """Per start instant, what the namespace runs then fits its ResourceQuotas: what they
        have left now, and what its placed jobs give back by then. Without the later instants
        a job the quota held back was planned for when its pool freed, a start its quota would
        refuse."""
        for quota in snapshot.quotas:
            mine = [k for k, c in self.candidates.items() if quota.counts(c.job)]
            if not mine:
                continue
            demand = {k: quota_demand(self.candidates[k]) for k in mine}
            end = {k: k[3] + duration_units(self.candidates[k]) for k in mine}
            frees = [(due_s(at, self.now_time), use) for at, use in quota.frees]
            for instant in sorted({k[3] for k in mine}):
                running = [k for k in mine if k[3] <= instant < end[k]]
                for resource in QUOTA_RESOURCES:
                    if resource not in quota.remaining:
                        continue
                    terms = {k: in_range(demand[k][resource]) for k in running}
                    terms = {k: v for k, v in terms.items() if v}
                    if terms:
                        freed = sum(use[resource] for until, use in frees if until <= instant)
                        self.rows.append((terms, in_range(quota.remaining[resource] + freed)))

    def _budgets(self, snapshot: Snapshot) -> None:
        """Hard budgets count every planned job, now or later: the money will be spent."""
        for budget in snapshot.budgets:
            mine = [k for k, c in self.candidates.items() if c.job.namespace == budget.namespace]
            if budget.hard and mine:
                # Costs rounded up and what is left rounded down: a budget is never overrun.
                self.rows.append(
                    (
                        {k: -(-self.candidates[k].cost // self.unit) for k in mine},
                        in_range(budget.remaining // self.unit),
                    )
                )

    def level(self, priority: int) -> list[ChoiceKey]:
        """The choices of the jobs of one priority level."""
        if self._levels is None:  # every level's at once: the phases ask for each many times
            self._levels = defaultdict(list)
            for k, c in self.candidates.items():
                self._levels[c.job.priority].append(k)
        return list(self._levels.get(priority, ()))

    def kept(self, keys: list[ChoiceKey], within_s: float) -> list[ChoiceKey]:
        """The choices among `keys` that keep their job's promised start."""
        out = []
        for k in keys:
            promised = self.candidates[k].job.promised_start
            if (
                promised is not None
                and k[3] <= (promised - self.now_time).total_seconds() + within_s
            ):
                out.append(k)
        return out

    def overdue(self, keys: list[ChoiceKey]) -> Linear:
        """Choices of jobs without a deadline that are overdue (`DUE_SHARE`), weighted by the
        hours each has waited (the oldest first) times how early it starts (`overdue_weight`).
        Maximised before the jobs of the level are counted, it starts overdue jobs now where
        room is, and otherwise holds each the earliest room it fits: the rest of its level may
        use that room only by ending first (backfill). Started now or never, a job of 4 GPUs
        waited for a node while jobs of 1 GPU took each GPU a run gave back. A late job (its
        deadline missed) is not among them: it already counts as a miss, and putting it first
        took room from jobs that could still make theirs (251 misses against 143 on the
        contended replay)."""
        out: Linear = {}
        known: dict[int, int] = {}
        for k in keys:
            job = self.candidates[k].job
            hours = known.get(id(job))
            if hours is None:  # once a job, not once a choice
                hours = known[id(job)] = overdue_hours(job, self.now_time, self.max_wait_s)
            if hours:
                out[k] = overdue_weight(hours, k[3], self.horizon_s)
        return out

    @staticmethod
    def admitted(keys: list[ChoiceKey]) -> Linear:
        """How many of these choices are taken (each job has at most one)."""
        return dict.fromkeys(keys, 1)

    def cost(self, keys: list[ChoiceKey]) -> Linear:
        """Estimated cost of these choices when taken, in the model's money unit, a later
        start's with what its wait counts for (see `priced`)."""
        return {k: -(-self.priced(k) // self.unit) for k in keys}

    def priced(self, key: ChoiceKey) -> int:
        """What the objective counts a choice for, in micro-units: its estimated cost, and a
        later start's wait (`counted_wait`)."""
        cand = self.choices[key]
        return cand.cost + counted_wait(cand, key[3], self.wait_cost, self.most[key[0]])

    @staticmethod
    def lateness(keys: list[ChoiceKey]) -> Linear:
        """Minutes from now to the planned starts of these choices: start early."""
        return {k: k[3] // 60 for k in keys if k[3] >= 60}

    def admitted_then_cost(self, keys: list[ChoiceKey]) -> tuple[Linear, int, int]:
        """Jobs planned from `keys`, with their cost subtracted as a tie-break: one more job
        outweighs every cost difference, so the plan handed on is already nearly cheapest. With
        the tie-break's money unit (micro-units) and what a job counts for: a plan of n jobs
        scores more than (n - 1) times that, one of fewer at most that much."""
        worst: dict[str, int] = defaultdict(int)
        for k in keys:
            worst[k[0]] = max(worst[k[0]], self.priced(k))
        tie = money_unit(sum(c * self.size[g] for g, c in worst.items()), TIE_RANGE, CENT)
        scale = sum(cost // tie * self.size[g] for g, cost in worst.items()) + 1
        return {k: scale - self.priced(k) // tie for k in keys}, tie, scale

    def unfixed(self, fixed: Mapping[ChoiceKey, int]) -> dict[str, int]:
        """Per class, its jobs that `fixed` (counts of class choices) leaves undecided."""
        left = dict(self.size)
        for key, count in fixed.items():
            left[key[0]] -= count
        return left

    def jobs(self, keys: Iterable[ChoiceKey]) -> int:
        """How many jobs the classes of these choices have."""
        return sum(self.size[name] for name in {k[0] for k in keys})

    def as_classes(self, keys: Iterable[ChoiceKey]) -> list[ChoiceKey]:
        """Jobs' choices as their classes' choices, one for each (a hint, say)."""
        return [self.classes.class_key(k) for k in keys]

    def assign(self, taken: Mapping[ChoiceKey, int]) -> list[ChoiceKey]:
        """The jobs' choices of a plan given as counts of class choices."""
        return self.classes.assign(taken)
