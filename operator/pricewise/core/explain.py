"""Reasons a person can act on: why each job went where it did, or why it waits.

Every decision names the binding constraint with its figures and keeps the table of options
it was chosen from, like a dry run.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import islice, takewhile
from typing import Literal

from pricewise.core.costmodel import (
    Candidate,
    fastest_run_s,
    time_limit,
)
from pricewise.core.greedy import Ledger
from pricewise.core.lookahead import (
    LookAhead,
    Reservation,
    deadline_start_s,
    max_wait_text,
    overdue_hours,
    release_s,
    wait_premium,
    waits_until_s,
)
from pricewise.core.refusals import cheaper_excluded, unfeasible, unoffered, would_save
from pricewise.core.rooms import Ends, Held, blocker
from pricewise.core.snapshot import Job, Release, Snapshot
from pricewise.core.times import clock
from pricewise.core.units import (
    TimeLimit,
    format_duration,
    format_micros,
    format_micros_up,
    format_share,
)

Verdict = Literal["chosen", "planned", "feasible", "excluded"]


@dataclass(frozen=True)
class OptionVerdict:
    """One row of a job's options table."""

    candidate: Candidate
    verdict: Verdict
    note: str
    duration: str
    """The run's time as the job's messages print it beside its time limit (`run_text`)."""
    start: datetime | None = None
    """The planned start of a `planned` row."""


@dataclass(frozen=True)
class Decision:
    """A job's placement (or none), the reason in one CamelCase word and in a sentence."""

    job: Job
    chosen: Candidate | None
    nodes: tuple[str, ...]
    reason: str
    message: str
    options: tuple[OptionVerdict, ...]
    reservation: Reservation | None = None
    """The later start planned for a job that waits by plan."""

    @property
    def duration(self) -> str | None:
        """The placed or planned run's time as its row of the options table prints it (the
        status's estimatedDuration, `plan`'s DURATION), None for a job that waits."""
        return next((r.duration for r in self.options if r.verdict in ("chosen", "planned")), None)


def run_text(cand: Candidate, limit: TimeLimit | None) -> str:
    """How long the candidate runs, printed beside the job's time limit at its start
    (`TimeLimit.run`; the caller's `time_limit`, once a job: per option row it was a tenth of
    explaining 1,000 jobs), or as `format_duration` prints it where the job has none."""
    return format_duration(cand.duration_s) if limit is None else limit.run(cand.duration_s)


def _admitted_message(
    chosen: Candidate,
    rows: list[Candidate],
    after: Ledger,
    held: Held,
    snapshot: Snapshot,
    ends: Ends,
    look: LookAhead | None,
) -> str:
    currency = snapshot.currency
    feasible = [c for c in rows if c.feasible]
    limit = time_limit(chosen.job, snapshot.now)
    within = f" that finish within {limit.text}" if limit is not None else ""
    head = (
        f"{chosen.label()} at {format_micros(chosen.cost, currency)}, "
        f"done in {run_text(chosen, limit)}"
    )
    cheapest = feasible[0]
    # An option as cheap as the chosen one may sort before it (a shorter run breaks the tie).
    if cheapest.cost >= chosen.cost:
        text = f"{head}: cheapest of {len(feasible)} option(s){within}"
    else:
        saving = 1 - cheapest.cost / chosen.cost if chosen.cost else 0.0
        # Its own namespace's quota, not the pool, may be what refuses it: say which.
        why = after.quota_blocker(cheapest, given_back=chosen)
        # Another job's later start is what keeps it off only where the pool has room now: a
        # full pool was told it was held for that job.
        if why is None and (cheapest.pool.name == chosen.pool.name or after.fits(cheapest)):
            why = held.planned_for(cheapest)
        if why is None:
            why = "has no room now"
            # Without a word, a person asks why the job did not wait for it.
            if look is not None:
                why += _not_waited_for(chosen, cheapest, ends, look, held, currency)
        text = f"{head}: {cheapest.label()} would cost {format_share(saving)} less but {why}"
    alt = cheaper_excluded(rows, chosen)
    return text + (would_save(alt, chosen) if alt is not None else "")


def _past_soft_budgets(chosen: Candidate, snapshot: Snapshot, placed: int) -> str:
    """`; soft Budget team-a/monthly: this run takes it past its limit (120.00 USD left)`,
    where `placed` is what this plan places in the job's namespace, the job among them: a
    soft Budget lets the job run and alerts, and the job was told nothing of it, however far
    past the limit it went."""
    job, currency = chosen.job, snapshot.currency
    clauses = []
    for budget in snapshot.budgets:
        left = budget.remaining
        if budget.hard or budget.namespace != job.namespace or not chosen.cost or placed <= left:
            continue
        where = f"soft Budget {budget.namespace}/{budget.name}"
        if left < 0:
            past = format_micros(-left, currency)
            clauses.append(f"; {where} is already {past} past its limit: this run adds to it")
        elif chosen.cost > left:
            shown = format_micros(left, currency)
            clauses.append(f"; {where}: this run takes it past its limit ({shown} left)")
        else:
            # Within what was left alone, past it with the runs placed beside it.
            shown, all_of = format_micros(left, currency), format_micros(placed, currency)
            clauses.append(
                f"; {where}: this cycle's runs in {job.namespace} take it past its limit "
                f"({shown} left, {all_of} placed)"
            )
    return "".join(clauses)


def _not_waited_for(
    chosen: Candidate,
    cheaper: Candidate,
    ends: Ends,
    look: LookAhead,
    held: Held,
    currency: str,
) -> str:
    """Why a job started now did not wait for a cheaper way of running it whose pool frees
    later: `, and room frees there ~13:15 UTC, past its max wait (spec.maxWait 1h from
    submission)`, past the planning horizon, too close to its deadline, or `, and waiting for
    it until ~13:15 UTC counts 6.40 USD, more than it saves` (`LookAhead.wait_cost`); else,
    where other jobs' later starts are planned there, that the plan gives them that room (said
    nothing, a job moved off its reservation by a newcomer was not told why it no longer
    waited); empty otherwise."""
    when = ends.room_at(cheaper)
    if when is None:
        return ""
    job, now = cheaper.job, ends.now
    wait_s = int((when - now).total_seconds())
    frees = f", and room frees there ~{clock(when, now)}"
    if wait_s > look.horizon_s:
        return f"{frees}, past pricewise's planning horizon ({format_duration(look.horizon_s)})"
    bound = max_wait_text(job, look.max_wait_s, "from submission")
    if overdue_hours(job, now, look.max_wait_s):
        return f"{frees}, but it is overdue (near its max wait, {bound}): it starts where room is"
    if wait_s > waits_until_s(job, now, look):
        return f"{frees}, past its max wait ({bound})"
    if wait_s > deadline_start_s(job, cheaper, now, look):
        # Started then, it would end past the deadline, margin or not.
        if job.deadline is not None and when + timedelta(seconds=cheaper.duration_s) > job.deadline:
            return f"{frees}, too late for its deadline"
        return (
            f"{frees}, too close to its deadline to wait for (a planned start keeps "
            f"{look.margin:.0%} of the run in hand)"
        )
    counted = wait_premium(cheaper, wait_s, look.wait_cost)
    saved = chosen.cost - cheaper.cost
    if counted < saved:
        others = any(
            r.candidate.job.key != job.key for r in held.by_pool.get(cheaper.pool.name, ())
        )
        return f"{frees}, but the plan gives that room to other jobs" if others else ""
    # At a tie the plan starts it now: "more than it saves" read untrue of 0.60 against 0.60.
    shown = format_micros(counted, currency)
    than = "as much as" if shown == format_micros(saved, currency) else "more than"
    return f", and waiting for it until ~{clock(when, now)} counts {shown}, {than} it saves"


def _budget_way_out(
    cand: Candidate, after: Ledger, rows: list[Candidate], snapshot: Snapshot
) -> str:
    """For a job a hard budget holds back from `cand`: whether the budget's next period lets
    it run (when, and whether in time for its deadline) or only a larger limit does, and the
    cheapest excluded option what is left would pay for, with the fix that lets it run."""
    job, binding = cand.job, after.budget_blocker(cand)
    if binding is None:
        return ""
    name, left = binding
    key = (job.namespace, name)
    budget = next((b for b in snapshot.budgets if (b.namespace, b.name) == key), None)
    if budget is None:  # the ledger's budgets are the snapshot's: a guard
        return ""
    # By what it lacks, on the limit the user wrote: what this plan gave others stays theirs.
    least = format_micros_up(budget.limit + cand.cost - left, snapshot.currency)
    raise_to = f"raise its spec.limit to {least}"
    if budget.period == "total":
        text = f"; that Budget never resets (period total): {raise_to}"
    else:
        end, when = budget.period_end, ""
        if end is not None and end > snapshot.now:
            latest = _latest_start(job, rows)
            late = ", too late for its deadline" if latest is not None and end > latest else ""
            when = f" (from ~{clock(end, snapshot.now)}{late})"
        text = f"; it waits for that Budget's next period{when}, or {raise_to}"
    alt = cheaper_excluded(rows, cand, lambda c: after.budget_blocker(c) is None)
    if alt is not None:
        figures = f" (it costs {format_micros(alt.cost, snapshot.currency)}, within what is left)"
        text += would_save(alt, cand, figures)
    return text


def _left(
    snapshot: Snapshot,
    placement: Mapping[str, tuple[Candidate, tuple[str, ...]]],
    reservations: Mapping[str, Reservation],
    priority: int | None = None,
) -> Ledger:
    """What the plan leaves: room less its placements (only those of `priority` or higher,
    where given), budgets less its placements and later starts. Lower priorities take what
    higher ones leave (priority is strict between levels), so room a lower-priority job took
    was a higher one's to take: judged after every placement, a job that chose to wait for a
    cheaper pool was told "no room now"."""
    ledger = Ledger.of(snapshot)
    for cand, nodes in placement.values():
        if priority is None or cand.job.priority >= priority:
            ledger.take(cand, nodes)
    for reservation in reservations.values():
        ledger.hold(reservation.candidate)
    return ledger


def _reserved_message(
    reservation: Reservation,
    rows: list[Candidate],
    after: Ledger,
    ahead: Ledger,
    held: Held,
    ends: Ends,
    snapshot: Snapshot,
    look: LookAhead | None,
) -> str:
    """Why a job waits by plan, with what waiting saves and the slack it keeps; `ahead` is
    what the plan leaves a job of its priority (`_left`), `after` what it leaves at all."""
    currency, cand = snapshot.currency, reservation.candidate
    when = clock(reservation.start, snapshot.now)

    def dearer_now(room: Callable[[Candidate], object]) -> Candidate | None:
        """The cheapest feasible row dearer than the reservation, free of other jobs' later
        starts, that `room` finds room for now. Rows come cheapest feasible first, so the rows
        after it need no packing (most of an explanation's time on 758 waiting jobs)."""
        return next(
            (
                c
                for c in rows
                if c.feasible and c.cost > cand.cost and held.planned_for(c) is None and room(c)
            ),
            None,
        )

    alt = dearer_now(lambda c: ahead.admits(c, given_back=cand.cost) is not None)
    by_quota = False
    if alt is not None:
        saved = alt.cost - cand.cost
        text = (
            f"waiting for {cand.pool.name} (frees ~{when}): saves "
            f"{format_micros(saved, currency)} ({format_share(saved / alt.cost)}) against "
            f"{alt.label()} now"
        )
        if ahead is not after and after.admits(alt, given_back=cand.cost) is None:
            text += " (left to lower-priority jobs)"
        wait_s = int(reservation.wait_s(snapshot.now))
        counted = wait_premium(cand, wait_s, look.wait_cost) if look is not None else 0
        if counted:  # a job with a deadline waits for any saving that keeps it
            # Not "its 3h58m wait": that counts down, and read as counted from submission.
            text += f", more than the {format_micros(counted, currency)} its wait counts for"
    else:
        reason, why = blocker(after, cand, currency, held, given_back=cand.cost)
        by_quota = reason == "QuotaExceeded"
        if by_quota:  # the pool may have room: the namespace has not
            text = f"{why}: planned at ~{when}, when the namespace's running jobs give it back"
        elif after.fits(cand):  # room now, that other jobs' later starts hold
            text = f"{why}: planned at ~{when}"
        else:
            text = f"no room now: {cand.label()} planned at ~{when}, when the pool frees"
        text += f", for {format_micros(cand.cost, currency)}"
        # A dearer pool with room now that a budget or quota keeps it from: "no room now"
        # alone read as if the cluster were full.
        stopped = dearer_now(lambda c: ahead.fit(c) is not None)
        if stopped is not None:
            _, why_not = blocker(ahead, stopped, currency, held, given_back=cand.cost)
            # The row, not its pool: another option on the reserved pool may be the one.
            text += f"; {stopped.label()} fits now, but {why_not}"
        max_wait_s = LookAhead.max_wait_s if look is None else look.max_wait_s
        if overdue_hours(cand.job, snapshot.now, max_wait_s):
            text += (
                "; overdue, so the room is held for it: others start there only if they end first"
            )
    deadline = cand.job.deadline
    if deadline is not None:
        end = reservation.start + timedelta(seconds=cand.duration_s)
        slack = format_duration((deadline - end).total_seconds())
        text += f"; deadline still met with {slack} slack"
    if not by_quota:  # the quota, not the pool's room, sets its start
        text += _planned_first(reservation, held, ends)
    return text + _overran(reservation, snapshot.now, ends.overdue(cand.pool))


def _planned_first(reservation: Reservation, held: Held, ends: Ends) -> str:
    """`; l4's room from ~12:15 UTC goes first to ux/urgent`, where the pool has room for the
    job before its planned start and other jobs' later starts hold it then: a job whose start a
    newcomer of a higher priority pushed back half an hour was told nothing of it."""
    cand, start = reservation.candidate, reservation.start
    if ends.ledger.fits(cand):  # room now, held for others: the blocker says whose
        return ""
    room = ends.room_at(cand)
    if room is None or (start - room).total_seconds() < LATE_SLOT_S:
        return ""
    # Later starts before its own that still run when the room frees (one ending first holds
    # none of it); three are named.
    holders = (
        r.candidate.job.key
        for r in takewhile(lambda r: r.start < start, held.by_pool.get(cand.pool.name, ()))
        if r.candidate.job.key != cand.job.key
        and r.start + timedelta(seconds=r.candidate.duration_s) > room
    )
    first = list(islice(holders, 4))
    if not first:
        return ""
    shown = ", ".join(first[:3]) + (" and others" if len(first) > 3 else "")
    return f"; {cand.pool.name}'s room from ~{clock(room, ends.now)} goes first to {shown}"


def _overran(reservation: Reservation, now: datetime, overdue: Sequence[Release]) -> str:
    """`; it waits for team-a/big, running on a100 past its estimated end (~12:10 UTC): the
    start moves later while it runs on`, where the reservation starts as one of the pool's
    `overdue` releases frees its room: such a job is expected to run as long again as it has
    overrun (`lookahead.due_s`), so the start slides every few minutes. Its estimated end is
    given, not how far past it the job is: that figure grows every second."""
    pool = reservation.candidate.pool
    wait_s = reservation.wait_s(now)
    late = sorted((r.at, r.job) for r in overdue if abs(release_s(r, now) - wait_s) < LATE_SLOT_S)
    if not late:
        return ""
    if len(late) == 1:
        ((at, key),) = late
        who = f"{key or 'a job'}, running on {pool.name} past its estimated end"
        return f"; it waits for {who} (~{clock(at, now)}): the start moves later while it runs on"
    keys = ", ".join(key or "?" for _, key in late)
    return (
        f"; it waits for {keys}, running on {pool.name} past their estimated ends (from "
        f"~{clock(late[0][0], now)}): the start moves later while they run on"
    )


LATE_SLOT_S = 60
"""How near a reservation's start an overrunning job's expected end must be for the start to
wait on it: the same instant, give or take a rounded second, and a minute for a start planned
a cycle ago."""


def explain(
    snapshot: Snapshot,
    all_options: Mapping[str, list[Candidate]],
    placement: Mapping[str, tuple[Candidate, tuple[str, ...]]],
    reservations: Mapping[str, Reservation] | None = None,
    look: LookAhead | None = None,
) -> tuple[Decision, ...]:
    """A decision for every job of the snapshot, given the placements and later starts;
    `look` is how the solver plans later starts, None where it plans none."""
    reservations = reservations or {}
    after = _left(snapshot, placement, reservations)
    held = Held.of(reservations, snapshot.now, look)
    ends = Ends(after, snapshot.now, None if look is None else look.max_wait_s)
    lowest = min((c.job.priority for c, _ in placement.values()), default=0)
    levels: dict[int, Ledger] = {}

    def ahead_of(priority: int) -> Ledger:
        if priority <= lowest:  # nothing placed below it: the plan's own leftovers
            return after
        if priority not in levels:
            levels[priority] = _left(snapshot, placement, reservations, priority)
        return levels[priority]

    waits: defaultdict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    """The jobs each hard Budget holds back (their decisions' index), with their costs."""
    spent: Counter[str] = Counter()
    for cand, _ in placement.values():
        spent[cand.job.namespace] += cand.cost
    offered = sorted({p.accelerator for p in snapshot.pools})
    decisions: list[Decision] = []
    for job in snapshot.jobs:
        rows = all_options[job.key]
        placed = placement.get(job.key)
        reserved = reservations.get(job.key)
        table, blockers, blocked = _options_table(
            job, rows, placed[0] if placed else None, reserved, after, held, snapshot
        )
        if placed:
            reason, message = (
                "Admitted",
                _admitted_message(placed[0], rows, after, held, snapshot, ends, look)
                + _past_soft_budgets(placed[0], snapshot, spent[job.namespace]),
            )
        elif reserved:
            reason, message = (
                "Reserved",
                _reserved_message(
                    reserved, rows, after, ahead_of(job.priority), held, ends, snapshot, look
                ),
            )
        elif blockers:
            reason, message = _waiting(job, rows, blockers, blocked[0], after, ends, snapshot)
            binding = after.budget_blocker(blocked[0]) if reason == "BudgetExceeded" else None
            if binding is not None:
                waits[job.namespace, binding[0]].append((len(decisions), blocked[0].cost))
        else:
            reason, message = unfeasible(job, rows, snapshot, offered)
        if job.missed_deadline is not None:
            when = clock(job.missed_deadline, snapshot.now)
            message += f"; its deadline {when} can no longer be met: it runs late (whenLate: Run)"
        message += unoffered(job, offered, snapshot)
        chosen, nodes = placed if placed else (None, ())
        decisions.append(Decision(job, chosen, nodes, reason, message, tuple(table), reserved))
    return _all_held_back(decisions, waits, after, snapshot)


def _options_table(
    job: Job,
    rows: list[Candidate],
    placed: Candidate | None,
    reserved: Reservation | None,
    after: Ledger,
    held: Held,
    snapshot: Snapshot,
) -> tuple[list[OptionVerdict], list[tuple[str, str]], list[Candidate]]:
    """The job's options table (each option chosen, planned, feasible or excluded, with what
    it says beside the choice); for a job neither placed nor planned, why each feasible option
    waits (reason and message), and those options."""
    basis = placed if placed is not None else (reserved.candidate if reserved else None)
    table: list[OptionVerdict] = []
    blockers: list[tuple[str, str]] = []
    blocked: list[Candidate] = []
    limit = time_limit(job, snapshot.now)
    for cand in rows:
        run = run_text(cand, limit)
        if cand is placed:
            table.append(OptionVerdict(cand, "chosen", "", run))
        elif reserved is not None and _same_option(cand, reserved.candidate):
            table.append(_planned_row(job, cand, reserved, after, snapshot.now))
        elif cand.feasible:
            if basis is not None:
                note = _relative_note(cand, basis, after, held, snapshot.currency)
            else:
                blockers.append(blocker(after, cand, snapshot.currency, held))
                blocked.append(cand)
                note = blockers[-1][1]
            table.append(OptionVerdict(cand, "feasible", note, run))
        else:
            table.append(OptionVerdict(cand, "excluded", cand.note, run))
    return table, blockers, blocked


def _planned_row(
    job: Job, cand: Candidate, reserved: Reservation, after: Ledger, now: datetime
) -> OptionVerdict:
    """The row of a later start's option and pool, at the width planned: a later start may
    need a wider run than now (`lookahead.later_starts`)."""
    planned = reserved.candidate
    # The pool may have room now: a quota used up is what the start waits for.
    frees = (
        "its namespace's running jobs give quota back"
        if after.quota_blocker(planned) is not None
        else f"pool {cand.pool.name} frees"
    )
    note = f"starts ~{clock(reserved.start, now)}, when {frees}"
    if planned.workers != cand.workers:
        note += f", at x{planned.workers} to meet the deadline from then"
    run = run_text(planned, time_limit(job, reserved.start))
    return OptionVerdict(planned, "planned", note, run, reserved.start)


def _waiting(
    job: Job,
    rows: list[Candidate],
    blockers: list[tuple[str, str]],
    first: Candidate,
    after: Ledger,
    ends: Ends,
    snapshot: Snapshot,
) -> tuple[str, str]:
    """Why a job with feasible options waits, told by its first blocked option: when room
    frees, what a Budget holds back, what an excluded cheaper option would save, and when it
    must start."""
    reason, message = blockers[0]
    if len(blockers) > 1:
        message += f" ({len(blockers) - 1} other feasible option(s) blocked too)"
    if reason == "WaitingForCapacity" and not after.fits(first):
        message += ends.said(first)
    if reason == "BudgetExceeded":
        message += _budget_way_out(first, after, rows, snapshot)
    elif (alt := cheaper_excluded(rows, first)) is not None:
        message += would_save(alt, first)
    return reason, message + _must_start(job, rows, snapshot.now)


def _all_held_back(
    decisions: list[Decision],
    waits: Mapping[tuple[str, str], list[tuple[int, int]]],
    after: Ledger,
    snapshot: Snapshot,
) -> tuple[Decision, ...]:
    """The decisions, where a hard Budget holds back several jobs each told also what lets them
    all run: each copy of a sweep was told the limit that lets it alone run (54.00 USD), which
    frees one of three."""
    told = list(decisions)
    limits = {(b.namespace, b.name): b.limit for b in snapshot.budgets}
    for key, held in waits.items():
        if len(held) < 2:
            continue
        # What the plan left it, as each job's own figure counts it.
        need = limits[key] + sum(cost for _, cost in held) - after.budgets[key]
        text = (
            f"; it holds back {len(held)} jobs of {key[0]}: a spec.limit of "
            f"{format_micros_up(need, snapshot.currency)} runs them all"
        )
        for index, _ in held:
            told[index] = replace(told[index], message=told[index].message + text)
    return tuple(told)


def _must_start(job: Job, rows: list[Candidate], now: datetime) -> str:
    """When a waiting job must start to still meet its deadline: past it, the job is held
    as DeadlineUnreachable, which a person should see coming."""
    latest = _latest_start(job, rows)
    return (
        "" if latest is None else f"; to meet its deadline it must start by ~{clock(latest, now)}"
    )


def _latest_start(job: Job, rows: list[Candidate]) -> datetime | None:
    """The latest start at which some feasible option still meets the job's deadline; None
    without a deadline, or a feasible option."""
    if job.deadline is None:
        return None
    # At its fastest width: the cost model widens a job as its time runs short.
    return max(
        (
            job.deadline - timedelta(seconds=fastest_run_s(job, c.option, c.pool))
            for c in rows
            if c.feasible
        ),
        default=None,
    )


def _same_option(one: Candidate, other: Candidate) -> bool:
    """Whether two candidates run the same option on the same pool (at any width)."""
    return one.option.index == other.option.index and one.pool.name == other.pool.name


def _relative_note(
    cand: Candidate, chosen: Candidate, after: Ledger, held: Held, currency: str
) -> str:
    if cand.cost >= chosen.cost:
        if not chosen.cost:  # "costs 0% more" than a free pool
            return f"costs {format_micros(cand.cost, currency)} more" if cand.cost else "free too"
        if cand.cost == chosen.cost:  # not "costs 0% more"
            return f"costs the same ({format_micros(cand.cost, currency)})"
        extra = cand.cost / chosen.cost - 1
        return f"costs {format_share(extra)} more ({format_micros(cand.cost, currency)})"
    quota = after.quota_blocker(cand, given_back=chosen)
    if quota is not None:
        return f"cheaper, but {quota}"
    if cand.pool.name != chosen.pool.name and not after.fits(cand):
        # Free devices spread over nodes too small for a worker are no room either: "full"
        # read untrue of a pool with 8 GPUs free, 2 a node, for a worker of 4.
        room = after.room(cand.pool.name, cand.worker)
        if not room:
            return f"cheaper, but no node of pool {cand.pool.name} has room for a worker now"
        name, workers = cand.pool.name, cand.workers
        return f"cheaper, but pool {name} has room for {room} of its {workers} workers now"
    planned = held.planned_for(cand)
    if planned is not None:
        return f"cheaper, but {planned}"
    return "cheaper, but its capacity, quota or budget went to other jobs this cycle"
