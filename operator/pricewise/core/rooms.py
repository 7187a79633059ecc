"""Room for a job on a pool, as a waiting job is told of it: the room later starts hold
(`Held`), when running jobs give some back (`Ends`), and what keeps a way of running a job
from starting now (`blocker`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pricewise.core.costmodel import Candidate, fastest_run_s
from pricewise.core.greedy import Ledger
from pricewise.core.lookahead import (
    LookAhead,
    Reservation,
    max_wait_of,
    max_wait_text,
    release_s,
    waits_until_s,
)
from pricewise.core.snapshot import Job, Pool, Release, Resources, node_shares
from pricewise.core.times import clock
from pricewise.core.units import format_micros, format_micros_apart


@dataclass(frozen=True)
class Held:
    """A plan's later starts by pool, earliest first: room free now that the solver keeps for
    them (a job started now there must end before they begin)."""

    by_pool: Mapping[str, tuple[Reservation, ...]]
    now: datetime
    look: LookAhead | None = None
    """How the solver plans later starts (None where it plans none)."""

    @classmethod
    def of(
        cls, reservations: Mapping[str, Reservation], now: datetime, look: LookAhead | None = None
    ) -> Held:
        """The later starts of `reservations`, by pool."""
        by_pool: dict[str, list[Reservation]] = {}
        for r in sorted(reservations.values(), key=lambda r: (r.start, r.candidate.job.key)):
            by_pool.setdefault(r.candidate.pool.name, []).append(r)
        return cls({pool: tuple(rs) for pool, rs in by_pool.items()}, now, look)

    def planned_for(self, cand: Candidate) -> str | None:
        """Whom the candidate's pool keeps its free room for, when another job's later start
        there begins before the candidate, started now, would end; and, where the job may not
        wait until then, its max wait (that, not the other job, keeps it off the pool: the
        same job quoted alone was told so, and beside the other job only of the other)."""
        end = self.now + timedelta(seconds=cand.duration_s)
        for r in self.by_pool.get(cand.pool.name, ()):
            if r.start >= end:
                return None
            if r.candidate.job.key != cand.job.key:
                when = clock(r.start, self.now)
                whom = r.candidate.job.key
                text = f"its room in pool {cand.pool.name} is planned for {whom} from ~{when}"
                return text + self._past_max_wait(cand.job, r)
        return None

    def _past_max_wait(self, job: Job, holder: Reservation) -> str:
        # The room is the job's again only once the holder's run ends.
        ends = holder.start + timedelta(seconds=holder.candidate.duration_s)
        if self.look is None or (ends - self.now).total_seconds() <= waits_until_s(
            job, self.now, self.look
        ):
            return ""
        bound = max_wait_text(job, self.look.max_wait_s, "from submission")
        return f" to ~{clock(ends, self.now)}, past its max wait ({bound})"


def blocker(
    ledger: Ledger, cand: Candidate, currency: str, held: Held, given_back: int = 0
) -> tuple[str, str]:
    """Why a feasible candidate cannot run now: (reason, message). `given_back`: see
    `Ledger.budget_blocker`."""
    budget = ledger.budget_blocker(cand, given_back)
    if budget is not None:
        name, left = budget
        # What this plan gave to other jobs: without it, "59.10 USD left" reads as the budget's
        # own figure, which still says 80.00 until the jobs placed now start accruing.
        spent = ledger.planned_spend.get((cand.job.namespace, name), 0) - given_back
        others = f" after {format_micros(spent, currency)} for other jobs placed now or reserved"
        others = others if spent > 0 else ""
        # Apart: 101.3965 USD left read "101.40 USD left", beside a cost of 101.40 USD.
        shown_left, cost = format_micros_apart(max(left, 0), cand.cost, currency)
        return "BudgetExceeded", (
            f"budget {cand.job.namespace}/{name}: {shown_left} left{others}, {cand.label()} "
            f"costs {cost}"
        )
    quota = ledger.quota_blocker(cand)
    if quota is not None:
        return "QuotaExceeded", quota
    if not ledger.fits(cand):
        return "WaitingForCapacity", (
            f"no room in pool {cand.pool.name}: {cand.label()} needs {cand.workers} "
            f"worker(s) of {cand.worker.describe()}"
        )
    planned = held.planned_for(cand)
    if planned is not None:
        return "WaitingForCapacity", f"{cand.label()} fits now, but would not end before {planned}"
    return "Deferred", f"{cand.label()} fits but was left for the next cycle"


_MARGIN = LookAhead().margin
"""The share of its run a later start leaves before the job's deadline."""


@dataclass(frozen=True)
class Ends:
    """When the jobs on a pool leave room for a way of running a job: those running, by their
    estimated ends (`Pool.releases`, due as the planner counts them), and those this plan starts
    now, by theirs, on what the plan leaves free now: once per pool and worker shape, as a
    burst's waiting jobs share a few."""

    ledger: Ledger
    now: datetime
    max_wait_s: float | None = None
    """The max wait of jobs without `spec.maxWait` (None where no later start is planned)."""
    known: dict[tuple[str, Resources, int], datetime | None] = field(default_factory=dict)
    late: dict[str, tuple[Release, ...]] = field(default_factory=dict)

    def overdue(self, pool: Pool) -> tuple[Release, ...]:
        """The pool's releases of running jobs past their estimated end (once per pool: most
        have none, and every reserved job on the pool asks)."""
        if pool.name not in self.late:
            self.late[pool.name] = tuple(r for r in pool.releases if r.at < self.now)
        return self.late[pool.name]

    def room_at(self, cand: Candidate) -> datetime | None:
        """When the pool first has room for the candidate's workers; None if no end gives it."""
        key = (cand.pool.name, cand.worker, cand.workers)
        if key not in self.known:
            self.known[key] = self._room_at(cand)
        return self.known[key]

    def _room_at(self, cand: Candidate) -> datetime | None:
        worker = cand.worker
        room = {n.name: n.free for n in self.ledger.nodes[cand.pool.name]}
        summed: Resources | None = None
        # The plan's own starts there give their room back when they end, as running jobs do.
        started = [
            Release(self.now + timedelta(seconds=c.duration_s), c.demand, node_shares(c.worker, n))
            for c, n in self.ledger.placed.values()
            if c.pool.name == cand.pool.name
        ]
        releases = [*cand.pool.releases, *started]
        for release in sorted(releases, key=lambda r: release_s(r, self.now)):
            if release.nodes and summed is None:
                for name, frees in release.nodes:
                    if name in room:
                        room[name] = room[name] + frees
            else:  # from a release that does not say where on, the pool's sums alone tell
                summed = (summed or sum(room.values(), Resources())) + release.frees
            copies = (
                worker.copies_in(summed)
                if summed is not None
                else sum(worker.copies_in(free) for free in room.values())
            )
            if copies >= cand.workers:
                return self.now + timedelta(seconds=release_s(release, self.now))
        return None

    def said(self, cand: Candidate) -> str:
        """For the message of a job that waits for room for `cand`: when its pool's running
        jobs leave it some, and whether that is too late for its deadline; empty where nothing
        pricewise placed runs there."""
        mine = cand.pool.name
        if not cand.pool.releases and all(
            c.pool.name != mine for c, _ in self.ledger.placed.values()
        ):
            return ""
        when = self.room_at(cand)
        where = cand.pool.name
        if when is None:
            return f"; the jobs running on {where} leave too little room for it when they end"
        job = cand.job
        text = f"; the jobs running on {where} leave room for it ~{clock(when, self.now)}"
        # Its max wait where room comes past it (`max_wait_s` is None where none is planned).
        waited_s = (when - (job.created or self.now)).total_seconds()
        past = None
        if self.max_wait_s is not None and waited_s > max_wait_of(job, self.max_wait_s):
            past = max_wait_text(job, self.max_wait_s, "from submission")
        if job.deadline is None:
            # A quote must not read as a start within the bound the job was promised.
            return text + (f", past its max wait ({past})" if past else "")
        run_s = fastest_run_s(job, cand.option, cand.pool)
        if when + timedelta(seconds=run_s) > job.deadline:
            return text + ", too late for its deadline"
        # A later start keeps a margin before the deadline: without a word, "room ~10:43" beside
        # "must start by ~11:00" read as a wait it would take.
        if when + timedelta(seconds=run_s * (1 + _MARGIN)) > job.deadline:
            return text + (
                f", not reserved for it (a planned start keeps {_MARGIN:.0%} of the run in hand "
                "before the deadline): it starts when room appears in time"
            )
        # In time for its deadline, but later starts are planned within its max wait alone
        # (`lookahead.waits_until_s`): without a word, it read as room it would be planned for.
        if past:
            return text + (
                f", past its max wait ({past}): not reserved for it, it starts when room appears"
            )
        return text
