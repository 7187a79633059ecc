"""What a job is told at the edges of its explanation: the reason kept beside a saving or a
missed deadline, budgets hard and soft, free pools, ties, and later starts with their holders."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from factory import NOW, gpu_nodes, job, option, pool, snapshot
from test_solver import BOTH, checked, l4_half_free_and_held_for_w, l4_running_for_15m

from pricewise.core.costmodel import candidates
from pricewise.core.explain import explain
from pricewise.core.lookahead import LookAhead, Reservation
from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import BudgetView, Release, Resources
from pricewise.core.solver import solve
from pricewise.core.units import to_micros

NS = "team-a"
MONTH_END = datetime(2026, 12, 1, tzinfo=UTC)
FULL = Resources(cpu=96_000, memory=1024 * 1024, gpu=8)
L4 = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 2))
L4_SPOT = pool("l4-spot", "nvidia-l4", 0.5, gpu_nodes("l4-spot", 2), spot=True)


def busy(name: str, price: float, **kw: object):
    nodes = tuple(replace(n, free=replace(FULL, gpu=0)) for n in gpu_nodes(name, 1))
    return pool(name, "nvidia-l4" if name.startswith("l4") or name == "cheap" else "nvidia-h100",
                price, nodes, **kw)  # fmt: skip


def told(pools, *jobs, settings=None, **kw):
    return {d.job.name: d for d in solve(snapshot(pools, list(jobs), **kw), settings).decisions}


def test_a_waiting_job_keeps_its_reason_beside_what_an_excluded_option_would_save() -> None:
    # The message read only "; h100-spot x1 would save 67% ...": why it waits was lost.
    spot = pool("h100-spot", "nvidia-h100", 1.0, gpu_nodes("h100-spot", 1), spot=True)
    w = told([busy("h100", 3.0), spot], job("w", option("nvidia-h100", 1000)))["w"]
    assert (w.reason, w.message) == (
        "WaitingForCapacity",
        "no room in pool h100: h100 x1 needs 1 worker(s) of 8 nvidia.com/gpu, 8 CPU, 64Gi; "
        "h100-spot x1 would save 67% but spot pool; set spec.allowSpot: true",
    )


def test_a_job_that_runs_late_keeps_its_reason_beside_the_missed_deadline() -> None:
    # The message read only "; its deadline ... can no longer be met": where it runs was lost.
    one = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1))
    late = job("late", option("nvidia-l4", 1000), runs_late=True,
               missed_deadline=NOW - timedelta(hours=1))  # fmt: skip
    d = told([one], late)["late"]
    assert d.reason == "Admitted"
    assert d.message.startswith("l4 x1 at 16.00 USD, done in 1h")
    assert d.message.endswith(
        "; its deadline 11:00 UTC can no longer be met: it runs late (whenLate: Run)"
    )


def test_an_excluded_option_the_budget_cannot_pay_either_is_not_offered() -> None:
    # With 3.00 USD left it read "l4-spot x1 would save 75% (it costs 4.00 USD, within what is
    # left)".
    low = BudgetView(NS, "monthly", to_micros(100), to_micros(97), 0, True, period_end=MONTH_END)
    d = told([L4, L4_SPOT], job("j", option("nvidia-l4", 1000)), budgets=[low])["j"]
    assert d.reason == "BudgetExceeded"
    assert d.message.endswith("or raise its spec.limit to 113.00 USD")


def test_two_jobs_a_budget_holds_back_are_told_the_limit_that_runs_both() -> None:
    # team-a: 50 USD, 10 spent: two copies fit (8.00 left), two wait; all four run under 74.00.
    # The two held back were told no limit, or 106.00 USD (what is left added, not taken off),
    # or nothing once team-b's budget, holding back its one job, was read first.
    alone = BudgetView(
        "team-b", "monthly", to_micros(20), to_micros(10), 0, True, period_end=MONTH_END
    )
    shared = BudgetView(NS, "monthly", to_micros(50), to_micros(10), 0, True, period_end=MONTH_END)
    jobs = [job("b0", option("nvidia-l4", 1000), namespace="team-b"),
            *(job(f"c{i}", option("nvidia-l4", 1000)) for i in range(4))]  # fmt: skip
    pools = [pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 5))]
    decisions = told(pools, *jobs, budgets=[alone, shared])
    held = [d.message for d in decisions.values() if d.reason == "BudgetExceeded"]
    assert len(held) == 3
    told_limit = "; it holds back 2 jobs of team-a: a spec.limit of 74.00 USD runs them all"
    assert sum(m.endswith(told_limit) for m in held) == 2


def test_soft_budgets_are_each_told_past_a_hard_one_and_not_at_their_limit() -> None:
    # Soft budgets after a hard one went untold; a run that takes a soft budget exactly to its
    # limit read as taking it past.
    hard = BudgetView(NS, "a-hard", to_micros(1000), 0, 0, True)
    soft = BudgetView(NS, "monthly", to_micros(10), 0, 0, False)
    weekly = BudgetView(NS, "weekly", to_micros(5), 0, 0, False)
    j = job("j", option("nvidia-l4", 1000))
    assert told([L4], j, budgets=[hard, soft, weekly])["j"].message.endswith(
        "; soft Budget team-a/monthly: this run takes it past its limit (10.00 USD left); soft "
        "Budget team-a/weekly: this run takes it past its limit (5.00 USD left)"
    )
    exact = BudgetView(NS, "monthly", to_micros(16), 0, 0, False)
    assert told([L4], j, budgets=[exact])["j"].message == (
        "l4 x1 at 16.00 USD, done in 1h: cheapest of 1 option(s)"
    )
    two = told([L4], j, job("k", option("nvidia-l4", 1000)), budgets=[exact])
    assert two["j"].message.endswith(
        "; soft Budget team-a/monthly: this cycle's runs in team-a take it past its limit "
        "(16.00 USD left, 32.00 USD placed)"
    )


def test_free_pools_read_as_free() -> None:
    # The second free pool's row read "costs 0.00 USD more"; the message of a job without a
    # time limit must end at "cheapest of 2 option(s)".
    free = [pool(f"free{i}", "nvidia-l4", 0.0, gpu_nodes(f"free{i}", 1), order=i) for i in (1, 2)]
    d = told(free, job("j", option("nvidia-l4", 1000)))["j"]
    assert d.message == "free1 x1 at 0.00 USD, done in 1h: cheapest of 2 option(s)"
    assert [r.note for r in d.options] == ["", "free too"]


def test_a_cheaper_pool_with_no_known_end_says_only_that_it_has_no_room() -> None:
    d = told([busy("cheap", 1.0), L4], job("j", option("nvidia-l4", 1000)))["j"]
    assert (
        d.message
        == "l4 x1 at 16.00 USD, done in 1h: cheap x1 would cost 50% less but has no room now"
    )


def test_a_wait_that_counts_exactly_what_it_saves_is_said_as_much() -> None:
    # Where the wait counts exactly what it saves, why it does not wait went unsaid.
    plan = checked(l4_running_for_15m(job("b", *BOTH), h100=21.0),
                   SolverSettings(look_ahead=LookAhead(wait_cost=10.0)))  # fmt: skip
    assert plan.decisions[0].message.endswith(
        "waiting for it until ~12:15 UTC counts 40.00 USD, as much as it saves"
    )


def test_rows_of_a_reserved_job_read_against_its_planned_start() -> None:
    # The dear pool's row of the same option read "planned" too; rows were noted by what
    # blocks them instead of against the planned start.
    full = Resources(cpu=96_000, memory=1024 * 1024, gpu=8)
    frees = Release(NOW + timedelta(hours=1), full, (("cheap-0", full),), "x/run")
    cheap = replace(busy("cheap", 1.0), releases=(frees,))
    dear = pool("dear", "nvidia-l4", 3.0, gpu_nodes("dear", 1), order=1)
    patient = job("j", option("nvidia-l4", 1000), deadline=NOW + timedelta(hours=6))
    d = told([cheap, dear], patient)["j"]
    assert d.reason == "Reserved"
    assert [(r.candidate.pool.name, r.verdict, r.note) for r in d.options] == [
        ("cheap", "planned", "starts ~13:00 UTC, when pool cheap frees"),
        ("dear", "feasible", "costs 200% more (24.00 USD)"),
    ]


def test_a_cheaper_row_held_for_another_job_or_taken_this_cycle_says_which() -> None:
    # A cheaper row held for a later start must name it; one whose room went to others this
    # cycle says so; a row on the chosen pool read as one without room.
    j = next(d for d in l4_half_free_and_held_for_w(8, None).decisions if d.job.name == "j")
    assert (
        j.options[0].note
        == "cheaper, but its room in pool l4 is planned for team-a/w from ~12:30 UTC"
    )
    half_free = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1, free_gpus=4))
    two = job("j", option("nvidia-l4", 3000), option("nvidia-l4", 1000, devices=4))
    d = told([half_free], two)["j"]
    assert [r.note for r in d.options] == [
        "cheaper, but its capacity, quota or budget went to other jobs this cycle",
        "",
    ]


def test_an_overdue_start_is_judged_by_the_configured_max_wait() -> None:
    # Waiting 12 h against a configured max wait of 10 h, it was judged by the default 24 h
    # and not told its room is held.
    half = Resources(cpu=48_000, memory=512 * 1024, gpu=4)
    (node,) = gpu_nodes("l4", 1, free_gpus=4)
    frees = Release(NOW + timedelta(hours=1), half, (("l4-0", half),))
    l4 = replace(pool("l4", "nvidia-l4", 2.0, (node,)), releases=(frees,))
    jobs = [job("wide", option("nvidia-l4", 1000), created=NOW - timedelta(hours=12)),
            job("short", option("nvidia-l4", 2000, devices=4), created=NOW)]  # fmt: skip
    ten_h = SolverSettings(look_ahead=LookAhead(max_wait_s=36000.0))
    wide = told([l4], *jobs, settings=ten_h)["wide"]
    assert wide.message.endswith(
        "; overdue, so the room is held for it: others start there only if they end first"
    )


def test_starts_that_wait_on_jobs_past_their_estimates_name_each_or_say_so() -> None:
    # A run with no name is "a job", alone, and "?" beside another; the time given is the first
    # of the ends passed, not the last.
    (node,) = gpu_nodes("l4", 1)
    idle = pool("l4", "nvidia-l4", 1.0, (replace(node, free=Resources()),))
    over = Release(NOW - timedelta(minutes=15), FULL, (("l4-0", FULL),), "")
    w = job("w", option("nvidia-l4", 1000))
    assert told([replace(idle, releases=(over,))], w)["w"].message.endswith(
        "; it waits for a job, running on l4 past its estimated end (~11:45 UTC): the start "
        "moves later while it runs on"
    )
    half = Resources(cpu=48_000, memory=512 * 1024, gpu=4)
    two = (Release(NOW - timedelta(minutes=15, seconds=40), half, (("l4-0", half),), ""),
           Release(NOW - timedelta(minutes=15), half, (("l4-0", half),), "team-b/y"))  # fmt: skip
    assert told([replace(idle, releases=two)], w)["w"].message.endswith(
        "; it waits for ?, team-b/y, running on l4 past their estimated ends (from ~11:44 UTC): "
        "the start moves later while they run on"
    )


def test_the_jobs_planned_first_on_a_pool_are_named_three_and_others() -> None:
    # Later starts on one busy L4 node (it frees at 12:15), each an hour: u0..u3 first,
    # `patient` after them. Three are named, the rest "and others"; with none, none is named.
    (node,) = gpu_nodes("l4", 1)
    taken = replace(node, free=replace(FULL, gpu=0))
    frees = Release(NOW + timedelta(minutes=15), FULL, (("l4-0", FULL),))
    l4 = replace(pool("l4", "nvidia-l4", 2.0, (taken,)), releases=(frees,))

    def patient_after(holders: int) -> str:
        jobs = [*(job(f"u{i}", option("nvidia-l4", 1000)) for i in range(holders)),
                job("patient", option("nvidia-l4", 1000))]  # fmt: skip
        snap = snapshot([l4], jobs)
        options = {j.key: candidates(j, snap.pools, NOW, "USD") for j in jobs}
        reservations = {
            j.key: Reservation(options[j.key][0], NOW + timedelta(minutes=15, hours=i))
            for i, j in enumerate(jobs)
        }
        decisions = explain(snap, options, {}, reservations, LookAhead())
        return decisions[-1].message

    assert patient_after(4).endswith(
        "; l4's room from ~12:15 UTC goes first to team-a/u0, team-a/u1, team-a/u2 and others"
    )
    assert patient_after(3).endswith("goes first to team-a/u0, team-a/u1, team-a/u2")
    assert (
        patient_after(0)
        == "no room now: l4 x1 planned at ~12:15 UTC, when the pool frees, for 16.00 USD"
    )


def test_a_reserved_job_s_dearer_option_is_judged_with_its_own_cost_given_back() -> None:
    # Room still free read "(left to lower-priority jobs)"; the budget judged h100 without the
    # reservation's own 16.00 USD given back, and the dearer option was not named.
    (node,) = gpu_nodes("l4", 1)
    taken = replace(node, free=replace(FULL, gpu=0))
    frees = Release(NOW + timedelta(minutes=15), FULL, (("l4-0", FULL),))
    l4 = replace(pool("l4", "nvidia-l4", 2.0, (taken,), order=1), releases=(frees,))
    said = ("waiting for l4 (frees ~12:15 UTC): saves 5.33 USD (25%) against h100 x1 now, more "
            "than the 1.20 USD its wait counts for")  # fmt: skip
    h100s = pool("h100", "nvidia-h100", 8.0, gpu_nodes("h100", 2))
    limit = BudgetView(NS, "monthly", to_micros(45), 0, 0, True)
    plan = checked(snapshot([l4, h100s], [job("b", *BOTH, priority=10), job("low", BOTH[1])],
                            budgets=[limit]))  # fmt: skip
    assert plan.decisions[0].message == said
    h100 = pool("h100", "nvidia-h100", 8.0, gpu_nodes("h100", 1))
    tight = BudgetView(NS, "monthly", to_micros(25), 0, 0, True)
    plan = checked(snapshot([l4, h100], [job("b", *BOTH)], budgets=[tight]))
    assert plan.decisions[0].message == said
