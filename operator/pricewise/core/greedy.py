"""Greedy placement: each job in turn takes the first of its candidates that still fits.

It is the solver's starting point and fallback, and, with other orders, the baselines that the
benchmarks compare against (per-job cheapest in arrival order; first-fit in the admin's order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from pricewise.core.costmodel import Candidate, Stage
from pricewise.core.packing import gang_of, place_gang, remaining
from pricewise.core.snapshot import BudgetView, Job, Node, Quota, Resources, Snapshot
from pricewise.core.units import format_cpu, format_memory, format_micros

QUOTA_RESOURCES = ("nvidia.com/gpu", "google.com/tpu", "cpu", "memory", "pods")


def quota_use(demand: Resources, pods: int) -> dict[str, int]:
    """What `pods` pods requesting `demand` in all count against a ResourceQuota, by resource
    name."""
    return {
        "nvidia.com/gpu": demand.gpu,
        "google.com/tpu": demand.tpu,
        "cpu": demand.cpu,
        "memory": demand.memory,
        "pods": pods,
    }


def quota_demand(candidate: Candidate) -> dict[str, int]:
    """What a candidate counts against a ResourceQuota, by resource name."""
    return quota_use(candidate.demand, candidate.workers)


def within_quotas(rows: list[Candidate], quotas: Sequence[Quota]) -> list[Candidate]:
    """The job's candidates, those that need more than a quota of its namespace allows in all
    excluded (`Stage.QUOTA`): no wait lets them run, where a quota that is only used up does
    (`QuotaExceeded`). A job that could never run waited as `QuotaExceeded` without end."""
    mine = _hard_quotas(rows[0].job, quotas) if rows else []
    if not mine:
        return rows
    # An option the job's own spec excludes says how to let it ("set spec.allowSpot: true"):
    # where a quota would refuse it all the same, the fix alone would not do, and it says so.
    rows = [
        cand.restaged(cand.stage, f"{cand.note}; it also {note}")
        if cand.stage < Stage.QUOTA and (note := beyond_quotas(cand, mine)) is not None
        else cand
        for cand in rows
    ]
    return _excluded(rows, Stage.QUOTA, lambda cand: beyond_quotas(cand, mine))


def _hard_quotas(job: Job, quotas: Sequence[Quota]) -> list[Quota]:
    return [q for q in quotas if q.hard and q.counts(job)]


def within_budgets(rows: list[Candidate], budgets: Sequence[BudgetView]) -> list[Candidate]:
    """The job's candidates, those that cost more than a hard Budget of its namespace can ever
    take (`BudgetView.most`) excluded (`Stage.BUDGET`), as `within_quotas` does for quotas: a
    job dearer than its budget's whole limit waited as `BudgetExceeded` without end."""
    mine = _hard_budgets(rows[0].job, budgets) if rows else []
    return _excluded(rows, Stage.BUDGET, lambda cand: _dearer(cand, mine)) if mine else rows


def _hard_budgets(job: Job, budgets: Sequence[BudgetView]) -> list[BudgetView]:
    return [b for b in budgets if b.hard and b.namespace == job.namespace]


def budgets_too_small(cand: Candidate, budgets: Sequence[BudgetView]) -> list[BudgetView]:
    """The hard Budgets of the candidate's namespace that can never take its cost
    (`BudgetView.most`)."""
    return [b for b in _hard_budgets(cand.job, budgets) if cand.cost > b.most]


def _excluded(
    rows: list[Candidate], stage: Stage, over: Callable[[Candidate], str | None]
) -> list[Candidate]:
    """The feasible candidates (and those only their nodes' return would make feasible) for
    which `over` says why, at `stage` with that note; the feasible ones left first, cheapest
    first still."""
    out = [
        cand.restaged(stage, note)
        if cand.stage >= Stage.NODES_DOWN and (note := over(cand)) is not None
        else cand
        for cand in rows
    ]
    return sorted(out, key=lambda c: not c.feasible)


def beyond_quotas(cand: Candidate, quotas: Sequence[Quota]) -> str | None:
    """What of the candidate is more than `quotas` allow in all, if anything (`needs 16
    nvidia.com/gpu, more than quota team-a/gpus allows in all (...)`): each quota it is too
    large for, so that raising the one named does not reveal the next one."""
    over = quotas_too_small(cand, quotas)
    if not over:
        return None
    demand = quota_demand(cand)
    return " and ".join(
        f"needs {_amount(r, demand[r])} {r}, more than quota {q.namespace}/{q.name} allows in "
        f"all (spec.hard: {_amount(r, q.hard[r])})"
        for q, r in over
    )


def quotas_too_small(cand: Candidate, quotas: Sequence[Quota]) -> list[tuple[Quota, str]]:
    """The hard quotas that count the candidate's job and allow less than it needs in all,
    each with the first resource it falls short of."""
    demand = quota_demand(cand)
    over = []
    for q in _hard_quotas(cand.job, quotas):
        short = next((r for r in QUOTA_RESOURCES if r in q.hard and demand[r] > q.hard[r]), None)
        if short is not None:
            over.append((q, short))
    return over


_PERIODS = {"day": "a day", "week": "a week", "month": "a month"}


def _dearer(cand: Candidate, budgets: Sequence[BudgetView]) -> str | None:
    """How the candidate costs more than `budgets` can ever take, if it does: every Budget it
    is too dear for, so that raising the one named does not reveal the next one."""
    over = budgets_too_small(cand, budgets)
    if not over:
        return None
    return f"costs {format_micros(cand.cost, over[0].currency)}, more than " + " and ".join(
        _allows(b) for b in over
    )


def _allows(b: BudgetView) -> str:
    limit = format_micros(b.limit, b.currency)
    if b.period in _PERIODS:
        return f"budget {b.namespace}/{b.name} allows in {_PERIODS[b.period]} (spec.limit: {limit})"
    return (
        f"budget {b.namespace}/{b.name} has left of its spec.limit {limit} "
        f"({format_micros(b.spent, b.currency)} spent; period total: it never resets)"
    )


@dataclass
class Ledger:
    """What is left of capacity, quotas and hard budgets as placements are taken."""

    nodes: dict[str, tuple[Node, ...]]
    quotas: dict[tuple[str, str], dict[str, int]]
    budgets: dict[tuple[str, str], int]
    quota_of: dict[tuple[str, str], Quota] = field(default_factory=dict)
    """Each quota of `quotas`: which jobs it counts (`Quota.counts`)."""
    placed: dict[str, tuple[Candidate, tuple[str, ...]]] = field(default_factory=dict)
    planned_spend: dict[tuple[str, str], int] = field(default_factory=dict)
    """Per hard budget, what the placements and later starts recorded so far cost it: a job
    held back by a budget is told how much of it this plan gave to others."""
    _room: dict[tuple[str, Resources], int] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, snapshot: Snapshot) -> Ledger:
        """A fresh ledger of everything free in the snapshot."""
        return cls(
            nodes={p.name: p.nodes for p in snapshot.pools},
            quotas={(q.namespace, q.name): dict(q.remaining) for q in snapshot.quotas},
            budgets={(b.namespace, b.name): b.remaining for b in snapshot.budgets if b.hard},
            quota_of={(q.namespace, q.name): q for q in snapshot.quotas},
        )

    def quota_blocker(
        self, candidate: Candidate, given_back: Candidate | None = None
    ) -> str | None:
        """`quota ns/name: 4 nvidia.com/gpu left, needs 8` when a quota forbids the candidate;
        with `given_back`, a placement of the same job taken already, as if it were not."""
        mine = [(k, v) for k, v in self.quotas.items() if self.quota_of[k].counts(candidate.job)]
        if not mine:
            return None
        demand = quota_demand(candidate)
        back = quota_demand(given_back) if given_back is not None else {}
        for (namespace, name), left in mine:
            for resource, amount in demand.items():
                free = left.get(resource, 0) + back.get(resource, 0)
                if amount and resource in left and amount > free:
                    # A quota lowered below what its namespace uses read "-2 nvidia.com/gpu
                    # left": none is, and that much more is in use than it allows.
                    over = f" ({_amount(resource, -free)} over it)" if free < 0 else ""
                    return (
                        f"quota {namespace}/{name}: {_amount(resource, max(free, 0))} "
                        f"{resource} left{over}, {candidate.label()} needs "
                        f"{_amount(resource, amount)}"
                    )
        return None

    def budget_blocker(self, candidate: Candidate, given_back: int = 0) -> tuple[str, int] | None:
        """(budget name, what it has left) when a hard budget cannot take the candidate; with
        `given_back`, as if that much of the namespace's spend were not taken (the job's own
        later start, which it would not need)."""
        for (namespace, name), left in self.budgets.items():
            if namespace == candidate.job.namespace and candidate.cost > left + given_back:
                return name, left + given_back
        return None

    def hold(self, candidate: Candidate) -> None:
        """Record a later start: it uses no room now, but its cost counts against hard
        budgets now, as the solver counts it."""
        for key in self.budgets:
            if key[0] == candidate.job.namespace:
                self.budgets[key] -= candidate.cost
                self.planned_spend[key] = self.planned_spend.get(key, 0) + candidate.cost

    def room(self, pool: str, worker: Resources) -> int:
        """How many workers of this shape the pool still has room for.

        Exact for one job's identical workers (each node holds its own whole number of them),
        and cached per pool until the pool's next placement: explaining thousands of waiting
        jobs asks the same question many times.
        """
        key = (pool, worker)
        if key not in self._room:
            self._room[key] = sum(worker.copies_in(n.free) for n in self.nodes[pool])
        return self._room[key]

    def fits(self, candidate: Candidate) -> bool:
        """Whether the candidate's workers fit on what is free now."""
        return self.room(candidate.pool.name, candidate.worker) >= candidate.workers

    def fit(self, candidate: Candidate) -> tuple[str, ...] | None:
        """Nodes for the candidate's workers on what is free now, or None."""
        if not self.fits(candidate):
            return None
        gang = gang_of(candidate)
        placed = place_gang(self.nodes[candidate.pool.name], gang)
        return None if placed is None else tuple(placed)

    def set_free(self, pool: str, nodes: tuple[Node, ...]) -> None:
        """What the pool's nodes now have free (after a placement, or work stopped on them).

        The pool's cached rooms are updated by the nodes that changed, not counted again over
        all of them: a greedy plan of 1,000 jobs over 1,000 nodes counted 1.2 million nodes."""
        old, self.nodes[pool] = self.nodes[pool], nodes
        mine = [key for key in self._room if key[0] == pool]
        if len(old) != len(nodes):
            for key in mine:
                del self._room[key]
            return
        changed = [(a.free, b.free) for a, b in zip(old, nodes, strict=True) if a is not b]
        for key in mine:
            shape = key[1]
            self._room[key] += sum(shape.copies_in(b) - shape.copies_in(a) for a, b in changed)

    def take(self, candidate: Candidate, nodes: Sequence[str]) -> None:
        """Record a placement: its nodes, quota and budget are used up."""
        gang = gang_of(candidate)
        pool = candidate.pool.name
        self.set_free(pool, remaining(self.nodes[pool], {gang.key: list(nodes)}, [gang]))
        for key, left in self.quotas.items():
            if self.quota_of[key].counts(candidate.job):
                for resource, amount in quota_demand(candidate).items():
                    if resource in left:
                        left[resource] -= amount
        self.hold(candidate)
        self.placed[candidate.job.key] = (candidate, tuple(nodes))

    def admits(self, candidate: Candidate, given_back: int = 0) -> tuple[str, ...] | None:
        """Nodes for the candidate if capacity, quota and budget (`given_back`: see
        `budget_blocker`) all allow it, else None."""
        if self.quota_blocker(candidate) or self.budget_blocker(candidate, given_back):
            return None
        return self.fit(candidate)


def _amount(resource: str, amount: int) -> str:
    if resource == "cpu":
        return format_cpu(amount)
    if resource == "memory":
        return format_memory(amount)
    return str(amount)


def place_greedily(
    snapshot: Snapshot,
    order: Iterable[list[Candidate]],
    preference: Callable[[Candidate], tuple[int, ...]] = lambda c: (c.cost, c.pool.order),
) -> Ledger:
    """Place jobs one by one in `order`, each on its first candidate by `preference` that fits.

    `order` yields each job's feasible candidates. The ledger returned holds the placements.
    """
    ledger = Ledger.of(snapshot)
    for job_candidates in order:
        for candidate in sorted(job_candidates, key=preference):
            nodes = ledger.admits(candidate)
            if nodes is not None:
                ledger.take(candidate, nodes)
                break
    return ledger
