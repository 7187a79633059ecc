"""What a waiting job is told, as a person reads it in its condition or in `pricewise plan`: the
figures that bind, whether waiting helps, and the fix."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factory import NOW, gpu_nodes, job, option, pool, snapshot
from test_isolation import NS, World, budget
from test_isolation import job as job_body

from pricewise.api.models import PriceTable
from pricewise.api.nodepools import pools_from
from pricewise.api.wire import option_row
from pricewise.cli import main
from pricewise.core.explain import Decision
from pricewise.core.lookahead import LookAhead
from pricewise.core.preemption import PreemptionSettings, RunningJob, preemption_note, preemptions
from pricewise.core.refusals import INFEASIBLE
from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import BudgetView, JobOption, Quota, Release, Resources
from pricewise.core.solver import solve
from pricewise.core.units import from_micros, parse_duration, to_micros
from pricewise.offline.plan import decision_dict

ROOT = Path(__file__).resolve().parents[2]
L4 = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 2))
"""8 L4 for an hour of the factory's job: 16.00 USD."""


def only(budgets: list[BudgetView]) -> Decision:
    """The decision on the factory's job, on 8 L4 (16.00 USD), under these budgets."""
    plan = solve(snapshot([L4], [job("j", option("nvidia-l4", 1000))], budgets=budgets))
    (decision,) = plan.decisions
    return decision


def test_what_a_budget_has_left_is_never_shown_as_the_cost_it_cannot_pay() -> None:
    # 15.9965 USD left against 16.00: it read "16.00 USD left, l4 x1 costs 16.00 USD".
    decision = only([BudgetView(NS, "monthly", to_micros(20), 4_003_500, 0, hard=True)])
    assert decision.reason == "BudgetExceeded"
    assert decision.message.startswith(
        "budget team-a/monthly: 15.996 USD left, l4 x1 costs 16.000 USD"
    )


# --- a hard budget smaller than the job -----------------------------------------------------


def test_a_job_dearer_than_its_budget_s_whole_limit_is_told_no_wait_helps() -> None:
    # 10 USD a month, none spent: even an empty month cannot hold 16.00 USD.
    decision = only([BudgetView(NS, "monthly", to_micros(10), 0, 0, hard=True)])
    assert decision.reason == "BudgetTooSmall"
    assert decision.reason in INFEASIBLE  # a Warning event, and no wait counted
    assert decision.message == (
        "cheapest option l4 x1 costs 16.00 USD, more than budget team-a/monthly allows in a "
        "month (spec.limit: 10.00 USD); raise that Budget's spec.limit to 16.00 USD, or make the "
        "job cost "
        "less (spec.work, or spec.options on a cheaper pool)"
    )
    (row,) = decision.options
    assert (row.verdict, row.note) == (
        "excluded",
        "costs 16.00 USD, more than budget team-a/monthly allows in a month "
        "(spec.limit: 10.00 USD)",
    )


def test_a_budget_too_small_names_the_limit_that_takes_the_job_now_too() -> None:
    # 3.00 spent and 5.00 committed this month: at the 16.00 it was told, the job still waited
    # (BudgetExceeded) until the month's spend left room.
    spent = BudgetView(NS, "monthly", to_micros(10), to_micros(3), to_micros(5), hard=True)
    decision = only([spent])
    assert decision.reason == "BudgetTooSmall"
    assert (
        "; raise that Budget's spec.limit to 16.00 USD (24.00 USD for it to start now), or make "
        in decision.message
    )


def test_a_job_dearer_than_two_budgets_names_both() -> None:
    # Named one at a time, an admin raised the first as told and was then told of the second.
    decision = only([
        BudgetView(NS, "monthly", to_micros(10), 0, 0, hard=True),
        BudgetView(NS, "weekly", to_micros(12), 0, 0, hard=True, period="week"),
        BudgetView(NS, "roomy", to_micros(100), 0, 0, hard=True),
    ])  # fmt: skip
    assert decision.message == (
        "cheapest option l4 x1 costs 16.00 USD, more than budget team-a/monthly allows in a "
        "month (spec.limit: 10.00 USD) and budget team-a/weekly allows in a week (spec.limit: "
        "12.00 USD); raise each of those Budgets' spec.limit (team-a/monthly to 16.00 USD, "
        "team-a/weekly to 16.00 USD), or make the job cost less "
        "(spec.work, or spec.options on a cheaper pool)"
    )


def test_a_budget_only_used_up_this_period_still_reads_as_a_wait() -> None:
    # 100 USD a month with 90 spent: the next month holds the job.
    decision = only([BudgetView(NS, "monthly", to_micros(100), to_micros(90), 0, hard=True)])
    assert decision.reason == "BudgetExceeded"
    assert decision.reason not in INFEASIBLE


def test_a_total_budget_never_gives_back_what_it_spent() -> None:
    spent = BudgetView(NS, "all", to_micros(100), to_micros(90), 0, hard=True, period="total")
    decision = only([spent])
    assert decision.reason == "BudgetTooSmall"
    assert decision.options[0].note == (
        "costs 16.00 USD, more than budget team-a/all has left of its spec.limit 100.00 USD "
        "(90.00 USD spent; period total: it never resets)"
    )
    # What admitted jobs are committed to may come back: a wait, not a refusal.
    committed = BudgetView(NS, "all", to_micros(100), 0, to_micros(90), hard=True, period="total")
    assert only([committed]).reason == "BudgetExceeded"
    # Raised to spent + cost (106.00), it waited, then was too small again once the committed
    # 5.00 were spent: the one limit that takes it counts them.
    both = BudgetView(NS, "all", to_micros(100), to_micros(90), to_micros(5), hard=True,
                      period="total")  # fmt: skip
    assert "raise that Budget's spec.limit to 111.00 USD, or make" in only([both]).message


def test_a_soft_budget_or_another_namespace_s_excludes_nothing() -> None:
    soft = BudgetView(NS, "monthly", to_micros(10), 0, 0, hard=False)
    other = BudgetView("team-b", "monthly", to_micros(10), 0, 0, hard=True)
    assert only([soft, other]).reason == "Admitted"


def test_a_job_that_takes_a_soft_budget_past_its_limit_is_told() -> None:
    # Admitted at 16.00 USD against a soft limit of 10.00, it said only where it ran: the
    # Budget's LimitReached event was the one word of it.
    soft = BudgetView(NS, "monthly", to_micros(10), to_micros(4), 0, hard=False)
    assert only([soft]).message.endswith(
        "; soft Budget team-a/monthly: this run takes it past its limit (6.00 USD left)"
    )
    past = BudgetView(NS, "monthly", to_micros(10), to_micros(12), 0, hard=False)
    assert only([past]).message.endswith(
        "; soft Budget team-a/monthly is already 2.00 USD past its limit: this run adds to it"
    )
    spent = BudgetView(NS, "monthly", to_micros(10), to_micros(10), 0, hard=False)
    assert only([spent]).message.endswith(
        "; soft Budget team-a/monthly: this run takes it past its limit (0.00 USD left)"
    )
    roomy = BudgetView(NS, "monthly", to_micros(100), 0, 0, hard=False)
    other = BudgetView("team-b", "monthly", to_micros(10), to_micros(12), 0, hard=False)
    assert "Budget" not in only([roomy, other]).message
    # Each within what was left, the two together past it: both are told.
    both = BudgetView(NS, "monthly", to_micros(20), 0, 0, hard=False)
    jobs = [job(n, option("nvidia-l4", 1000)) for n in ("a", "b")]
    plan = solve(snapshot([L4], jobs, budgets=[both]))
    assert [d.message.split("; ")[-1] for d in plan.decisions] == 2 * [
        "soft Budget team-a/monthly: this cycle's runs in team-a take it past its limit "
        "(20.00 USD left, 32.00 USD placed)"
    ]


def test_the_operator_warns_once_of_a_budget_too_small() -> None:
    world = World()
    # One L4 for an hour: 1.00 USD, against 0.50 a month.
    world.kube.put("budgets", budget("monthly", limit=0.5))
    world.kube.put("trainingjobs", job_body("big"))
    world.cycle()
    status = world.job("big")
    assert (status["phase"], status["reason"]) == ("Pending", "BudgetTooSmall")
    assert "raise that Budget's spec.limit" in status["message"]
    assert [e[1] for e in world.kube.events if e[0] == "big"] == ["BudgetTooSmall"]
    world.cycle()
    assert [e[1] for e in world.kube.events if e[0] == "big"] == ["BudgetTooSmall"]


def test_a_job_that_gives_durations_is_not_told_to_lower_a_spec_work_it_has_none_of() -> None:
    world = World()
    world.kube.put("budgets", budget("monthly", limit=0.5))
    world.kube.put("trainingjobs", job_body("big"))  # one L4 option, `duration: 1h`
    world.cycle()
    # It read "... or make the job cost less (spec.work, or spec.options on a cheaper pool)".
    assert world.job("big")["message"].endswith(
        "raise that Budget's spec.limit to 1.00 USD, or make the job cost less (a shorter "
        "duration in "
        "spec.options, or spec.options on a cheaper pool)"
    )
    # Options of both kinds: both fields.
    both = (option("nvidia-l4", 1000), replace(option("nvidia-l4", 500), duration_s=7200.0))
    (decision,) = solve(
        snapshot([L4], [job("j", *both)], budgets=[BudgetView(NS, "m", 0, 0, 0, hard=True)])
    ).decisions
    assert decision.message.endswith(
        "make the job cost less (spec.work, a shorter duration in spec.options, or spec.options "
        "on a cheaper pool)"
    )


def test_plan_excludes_the_options_a_hard_budget_can_never_pay_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", examples)
    budgets = examples / "budgets.yaml"
    # team-vision: 50 USD a month, none spent, where detector-sweep's cheapest option costs
    # 101.40 USD.
    text = budgets.read_text().replace("  limit: 200\n", "  limit: 50\n", 1)
    budgets.write_text(text.replace("  spent: 120\n", "  spent: 0\n"))
    assert main(["plan", str(examples), "--now", "2026-11-29T12:00:00Z", "-o", "json"]) == 0
    jobs = {j["name"]: j for j in json.loads(capsys.readouterr().out)["jobs"]}
    sweep = jobs["detector-sweep"]
    assert sweep["reason"] == "BudgetTooSmall"
    assert sweep["message"].startswith(
        "cheapest on-demand option nvidia-a100-80gb x1 costs 101.40 USD, more than budget "
        "team-vision/monthly allows in a month (spec.limit: 50.00 USD); raise"
    )
    # The spot pool runs it within that budget, once the job allows spot.
    assert sweep["message"].endswith(
        "; or set spec.allowSpot: true (nvidia-h100-spot x1, a spot pool, would run in 1h10m "
        "for 18.44 USD)"
    )
    assert {row["verdict"] for row in sweep["options"]} == {"excluded"}
    assert jobs["resnet50-imagenet"]["reason"] == "Admitted"  # 20.90 USD: within it


# --- a hard budget used up: when it frees, and the ways round it ------------------------------

L4_SPOT = pool("l4-spot", "nvidia-l4", 0.5, gpu_nodes("l4-spot", 2), spot=True)
"""8 spot L4 for the factory job's hour: 4.00 USD."""
MONTH_END = datetime(2026, 12, 1, tzinfo=UTC)


def used_up(period: str = "month", **kw: object) -> Decision:
    """The factory's job, on L4 (16.00 USD) or spot L4 (4.00 USD) it may not use, under a hard
    budget of 100 USD with 90 spent (committed to admitted jobs, for a `total` one, which would
    never hold the job again once spent)."""
    used = (0, to_micros(90)) if period == "total" else (to_micros(90), 0)
    end = None if period == "total" else MONTH_END
    budget = BudgetView(NS, "monthly", to_micros(100), *used, True, period=period, period_end=end)
    plan = solve(
        snapshot([L4, L4_SPOT], [job("j", option("nvidia-l4", 1000), **kw)], budgets=[budget])
    )
    (decision,) = plan.decisions
    return decision


def test_a_job_a_budget_holds_back_is_told_when_it_frees_and_what_else_would_run() -> None:
    # It read "budget team-a/monthly: 10.00 USD left, l4 x1 costs 16.00 USD": not whether it
    # waits for the month or a larger limit, nor that the spot option fits what is left.
    decision = used_up()
    assert decision.reason == "BudgetExceeded"
    assert decision.message == (
        "budget team-a/monthly: 10.00 USD left, l4 x1 costs 16.00 USD; it waits for that "
        "Budget's next period (from ~Dec 01 00:00 UTC), or raise its spec.limit to 106.00 USD; "
        "l4-spot x1 would save 75% (it costs 4.00 USD, within what is left) but spot pool; set "
        "spec.allowSpot: true"
    )


def test_copies_a_budget_holds_back_are_told_what_lets_them_all_run() -> None:
    # 50 USD a month, 18 spent: two copies of 16.00 fit, three wait. Each was told 66.00 USD,
    # which runs one of the three.
    budget = BudgetView(NS, "monthly", to_micros(50), to_micros(18), 0, True, period_end=MONTH_END)
    copies = [job(f"c{i}", option("nvidia-l4", 1000)) for i in range(5)]
    plan = solve(snapshot([L4], copies, budgets=[budget]))
    held = [d.message for d in plan.decisions if d.reason == "BudgetExceeded"]
    assert len(held) == 3
    assert all(
        m.endswith(
            "raise its spec.limit to 66.00 USD; it holds back 3 jobs of team-a: a spec.limit of "
            "98.00 USD runs them all"
        )
        for m in held
    ), held
    # One held back alone is told its own figure only.
    alone = used_up()
    assert "runs them all" not in alone.message


def test_a_budget_that_frees_after_the_deadline_or_never_is_said_so() -> None:
    late = used_up(deadline=NOW + timedelta(hours=3)).message
    assert "next period (from ~Dec 01 00:00 UTC, too late for its deadline), or raise" in late
    assert used_up(period="total").message.startswith(
        "budget team-a/monthly: 10.00 USD left, l4 x1 costs 16.00 USD; that Budget never "
        "resets (period total): raise its spec.limit to 106.00 USD; l4-spot x1 would save 75%"
    )


def test_plan_tells_the_example_s_held_back_job_when_its_budget_frees(
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = "2026-11-29T12:00:00Z"
    assert main(["plan", str(ROOT / "examples"), "--now", now, "-o", "json"]) == 0
    jobs = {j["name"]: j for j in json.loads(capsys.readouterr().out)["jobs"]}
    assert jobs["detector-sweep"]["message"] == (
        "budget team-vision/monthly: 59.10 USD left after 20.90 USD for other jobs placed now "
        "or reserved, nvidia-a100-80gb x1 costs 101.40 USD (1 other feasible option(s) blocked "
        "too); it waits for that Budget's next period (from ~Dec 01 00:00 UTC), or raise its "
        "spec.limit to 242.31 USD; nvidia-h100-spot x1 would save 82% (it costs 18.44 USD, within "
        "what is left) but spot pool; set spec.allowSpot: true"
    )


# --- a job dearer than its maxCost or its value: the fields that let it run -------------------


def dear(**kw: object) -> Decision:
    """The factory's job, on L4 (16.00 USD), or spot L4 (4.00 USD) it may not use."""
    plan = solve(snapshot([L4, L4_SPOT], [job("j", option("nvidia-l4", 1000), **kw)]))
    (decision,) = plan.decisions
    return decision


def test_a_job_not_worth_running_is_told_what_value_or_option_would_do() -> None:
    # It read "... more than the job's value 5.00 USD (net benefit -11.00 USD)": no field.
    decision = dear(value=to_micros(5))
    assert (decision.reason, decision.message) == (
        "NotWorthRunning",
        "not worth running: cheapest option l4 x1 costs 16.00 USD, more than the job's value "
        "5.00 USD (net benefit -11.00 USD); raise spec.value to 16.00 USD, or make the job cost "
        "less (spec.work, or spec.options on a cheaper pool); l4-spot x1 would save 75% "
        "(it costs 4.00 USD, within spec.value) but spot pool; set spec.allowSpot: true",
    )


def test_a_job_over_its_max_cost_is_told_every_field_that_falls_short() -> None:
    # Raising maxCost alone would only have made it NotWorthRunning; the spot option at 4.00
    # is within neither 3.00 USD.
    decision = dear(max_cost=to_micros(3), value=to_micros(12))
    assert (decision.reason, decision.message) == (
        "OverMaxCost",
        "maxCost 3.00 USD: cheapest option that meets the constraints, l4 x1, costs 16.00 USD; "
        "raise spec.maxCost and spec.value to 16.00 USD, or make the job cost less (spec.work, "
        "or spec.options on a cheaper pool)",
    )


def test_a_cost_just_over_its_limit_is_told_apart_from_it() -> None:
    # It read "maxCost 16.00 USD: ... costs 16.00 USD": over the limit it printed as.
    decision = dear(max_cost=to_micros(15.997))
    assert decision.message.startswith(
        "maxCost 15.997 USD: cheapest option that meets the constraints, l4 x1, costs "
        "16.000 USD; raise spec.maxCost to 16.00 USD"
    )
    notes = [o.note for o in decision.options]
    assert "costs 16.000 USD, over maxCost 15.997 USD" in notes
    worth = dear(value=to_micros(15.9999))
    assert worth.message.startswith(
        "not worth running: cheapest option l4 x1 costs 16.0000 USD, more than the job's value "
        "15.9999 USD (net benefit -0.0001 USD)"
    )


# --- a run too long for maxDuration or the deadline ------------------------------------------


def moe(nodes: int, **kw: object) -> Decision:
    """The example's moe-pretrain: 50M units at 230/s a worker, 0.9 scaling, at most 2
    workers, within a day, on `nodes` 8-GPU H100 nodes: x2 runs 1d9h32m53s, x3 23h47m."""
    h100 = pool("h100", "nvidia-h100", 4.0, gpu_nodes("h100", nodes))
    fields: dict[str, object] = {"work": 5e7, "max_workers": 2, "scaling_efficiency": 0.9}
    fields.update({"max_duration_s": 86400.0, **kw})
    plan = solve(snapshot([h100], [job("moe", option("nvidia-h100", 230), **fields)]))
    (decision,) = plan.decisions
    return decision


def test_a_run_over_maxduration_reads_in_figures_that_add_up_and_says_what_suffices() -> None:
    decision = moe(2)
    assert decision.reason == "DeadlineUnreachable"
    # It read "needs 1d10h, 9h33m over maxDuration 1d", and gave no next step; then "needs
    # 1d9h33m" beside a DURATION of 1d10h. In the run's unit, as the table prints it.
    (row,) = decision.options
    assert (row.note, row.duration) == ("needs 1d10h, 10h over maxDuration 1d", "1d10h")
    assert decision.message == (
        "maxDuration 1d cannot be met: fastest option h100 x2 needs 1d10h; raise "
        "spec.maxDuration to 1d10h"
    )


def test_more_workers_are_named_where_the_pool_holds_them() -> None:
    assert moe(3).message == (
        "maxDuration 1d cannot be met: fastest option h100 x2 needs 1d10h; raise "
        "spec.maxDuration to 1d10h, or spec.workers.max to 3 (h100 x3 needs 23h47m)"
    )
    due = NOW + timedelta(hours=20)
    assert moe(4, max_duration_s=None, deadline=due).message == (
        "deadline in 20h cannot be met: fastest option h100 x2 needs 1d9h33m; move "
        "spec.deadline, or set spec.whenLate: Run to run it late, or raise spec.workers.max "
        "to 4 (h100 x4 needs 18h38m)"
    )


def test_a_run_over_both_limits_is_told_to_lift_both() -> None:
    due = NOW + timedelta(hours=30)  # past maxDuration, short of the run
    assert moe(2, deadline=due).message == (
        "maxDuration 1d cannot be met: fastest option h100 x2 needs 1d10h; raise "
        "spec.maxDuration to 1d10h, and move spec.deadline or set spec.whenLate: Run to run "
        "it late"
    )
    # A deadline the run fits is no bar to a larger maxDuration.
    assert moe(2, deadline=NOW + timedelta(hours=40)).message.endswith(
        "; raise spec.maxDuration to 1d10h"
    )


def test_a_run_past_the_longest_max_duration_is_told_to_check_its_work() -> None:
    # Work in samples against a throughput in batches: "raise spec.maxDuration to 31710d"
    # named a value the API refuses (3650d at most).
    slow = job("slow", option("nvidia-l4", 1), work=1e10, max_duration_s=86400.0)
    (decision,) = solve(snapshot([L4], [slow])).decisions
    assert decision.message == (
        "maxDuration 1d cannot be met: fastest option l4 x1 needs 115741d; no "
        "spec.maxDuration up to 3650d allows it: check spec.work against the options' "
        "throughput (work units a second, per worker)"
    )


def test_a_run_past_the_longest_max_duration_that_more_workers_fix_is_told_so() -> None:
    # Past 3650d at one worker, within 1000d at five: the fix is the workers (the advice had
    # read "check spec.work ..., or spec.workers.max to 5", without its verb).
    l4 = pool("l4", "nvidia-l4", 1.0, gpu_nodes("l4", 8))
    big = job("big", option("nvidia-l4", 1), work=4e8, max_duration_s=1000 * 86400.0)
    (decision,) = solve(snapshot([l4], [big])).decisions
    assert decision.message == (
        "maxDuration 1000d cannot be met: fastest option l4 x1 needs 4630d; raise "
        "spec.workers.max to 5 (l4 x5 needs 926d)"
    )


def test_a_run_reads_alike_in_the_options_table_and_in_its_note() -> None:
    # 4d14h20m over a day: the table read 4d14h (to the nearest hour), the note "needs 4d15h".
    slow = job("slow", option("nvidia-l4", 1000), work=397_200_000.0, max_duration_s=86400.0)
    (decision,) = solve(snapshot([L4], [slow])).decisions
    (row,) = decision.options
    assert row.note == "needs 4d15h, 3d15h over maxDuration 1d"
    assert option_row(row, from_micros, None)["duration"] == "4d15h"


def test_a_limit_reads_as_the_user_wrote_it_and_the_run_it_admits_never_reads_longer() -> None:
    # maxDuration 1d9h33m, a run of 1d9h32m53s: the event read "done in 1d10h: cheapest of 1
    # option(s) that finish within 1d10h", a limit the user never wrote.
    decision = moe(2, max_duration_s=parse_duration("1d9h33m"))
    assert decision.reason == "Admitted"
    assert decision.message == (
        "h100 x2 at 2,147.07 USD, done in 1d9h33m: cheapest of 1 option(s) that finish within "
        "1d9h33m"
    )
    (row,) = decision.options
    assert option_row(row, from_micros, None)["duration"] == "1d9h33m"
    assert decision_dict(decision, NOW, "USD")["duration"] == "1d9h33m"


# --- selectors and quantities as Kubernetes writes them --------------------------------------


def test_a_pool_that_matches_no_node_names_its_selector_as_kubectl_takes_it() -> None:
    table = PriceTable.model_validate({"metadata": {"name": "prices"}, "spec": {"pools": [{
        "name": "l4", "accelerator": "nvidia-l4", "prices": {"perDeviceHour": 1.0},
        "nodeSelector": {"zone": "a", "pricewise.dev/pool": "l4"}}]}})  # fmt: skip
    other = {"metadata": {"name": "n", "labels": {"zone": "b"}}, "status": {"allocatable": {}}}
    _, problems = pools_from([table], [other])
    # It read "(selector {'zone': 'a', 'pricewise.dev/pool': 'l4'})", a Python dict.
    assert [p.message for p in problems] == [
        "pool l4 matches no node (selector pricewise.dev/pool=l4,zone=a)"
    ]


def test_a_worker_larger_than_any_node_is_described_in_quantities_a_spec_takes() -> None:
    huge = JobOption("nvidia-l4", 8, Resources(cpu=1_500, memory=1_000_000 * 1024, gpu=8), 1000)
    (decision,) = solve(snapshot([L4], [job("j", huge)])).decisions
    # It read "1.5 CPU, 1e+06Gi".
    assert decision.message == (
        "a worker needs 8 nvidia.com/gpu, 1.5 CPU, 1000000Gi; no node is that large in l4 "
        "(largest: 8 nvidia.com/gpu, 96 CPU, 1024Gi); ask for less per worker (spec.options: "
        "devicesPerWorker, cpu, memory, with more workers in spec.workers), or for larger nodes"
    )
    assert Resources(cpu=500, memory=1000).describe() == "0.5 CPU, 1000Mi"  # not 0.976562Gi


def test_workers_too_large_are_each_told_against_their_own_pools() -> None:
    # It read "a worker needs 8 nvidia.com/gpu; no node is that large in h100, l4 (largest:
    # 8 nvidia.com/gpu ...)": the L4 option's worker against the H100 node it would fit.
    h100 = pool("h100", "nvidia-h100", 4.0, gpu_nodes("h100", 1))
    l4 = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1, gpus=4))
    wide = job("j", option("nvidia-h100", 1000, devices=16), option("nvidia-l4", 1000))
    (decision,) = solve(snapshot([h100, l4], [wide])).decisions
    assert decision.reason == "WorkerTooLarge"
    assert decision.message == (
        "a worker needs 8 nvidia.com/gpu, 8 CPU, 64Gi; no node is that large in l4 (largest: "
        "4 nvidia.com/gpu, 96 CPU, 1024Gi); a worker needs 16 nvidia.com/gpu, 8 CPU, 64Gi; no "
        "node is that large in h100 (largest: 8 nvidia.com/gpu, 96 CPU, 1024Gi); ask for less "
        "per worker (spec.options: devicesPerWorker, cpu, memory, with more workers in "
        "spec.workers), or for larger nodes"
    )


def test_a_quota_of_memory_left_reads_as_a_quantity() -> None:
    quota = Quota(NS, "mem", {"memory": 1000})
    (decision,) = solve(snapshot([L4], [job("j", option("nvidia-l4", 1000))], [quota])).decisions
    assert decision.message == "quota team-a/mem: 1000Mi memory left, l4 x1 needs 64Gi"


# --- a job that waits for room: its pool's ends, and preemption -------------------------------


FULL = Resources(cpu=96_000, memory=1024 * 1024, gpu=8)
BUSY = tuple(replace(n, free=replace(FULL, gpu=0)) for n in gpu_nodes("h100", 1))
"""One H100 node, its 8 GPUs taken."""


def waiting(priority: int = 10, frees_in_h: float | None = None, **kw: object) -> Decision:
    """An 8-GPU job of an hour, of `priority`, waiting for the full H100 node (which a running
    job frees in `frees_in_h` hours)."""
    ends = () if frees_in_h is None else (Release(NOW + timedelta(hours=frees_in_h), FULL),)
    h100 = replace(pool("h100", "nvidia-h100", 3.0, BUSY), releases=ends)
    urgent = job("urgent", option("nvidia-h100", 1000.0), priority=priority, **kw)
    (decision,) = solve(snapshot([h100], [urgent])).decisions
    assert decision.reason == "WaitingForCapacity"
    return decision


def running(priority: int = 0, age_h: float = 1.0) -> RunningJob:
    return RunningJob(
        "team-b/low", priority, "h100", FULL, ("h100-0",), NOW - timedelta(hours=age_h), 1.0
    )


def test_a_job_told_no_room_is_told_when_the_jobs_running_there_leave_it_some() -> None:
    message = waiting(frees_in_h=3, deadline=NOW + timedelta(hours=2)).message
    assert message == (
        "no room in pool h100: h100 x1 needs 1 worker(s) of 8 nvidia.com/gpu, 8 CPU, 64Gi; the "
        "jobs running on h100 leave room for it ~15:00 UTC, too late for its deadline; to meet "
        "its deadline it must start by ~13:00 UTC"
    )
    # Without a plan for later (the pricewise-now policy), a wait the deadline allows.
    now_only = SolverSettings(look_ahead=LookAhead(enabled=False))
    h100 = replace(pool("h100", "nvidia-h100", 3.0, BUSY), releases=(Release(NOW, FULL),))
    urgent = job("urgent", option("nvidia-h100", 1000.0))
    (decision,) = solve(snapshot([h100], [urgent]), now_only).decisions
    assert decision.message.endswith("; the jobs running on h100 leave room for it ~12:01 UTC")
    # A pool nothing pricewise runs on says nothing of it; ends that free too little, so.
    assert waiting().message.endswith("8 nvidia.com/gpu, 8 CPU, 64Gi")
    half = replace(FULL, gpu=4)
    h100 = replace(h100, releases=(Release(NOW, half, (("h100-0", half),)),))
    (decision,) = solve(snapshot([h100], [urgent]), now_only).decisions
    assert decision.message.endswith(
        "; the jobs running on h100 leave too little room for it when they end"
    )


def note(decision: Decision, running: list[RunningJob], min_run_s: float, now: datetime) -> str:
    """`preemption_note` given the running jobs by pool, as the scheduler gives them."""
    by_pool: dict[str, list[RunningJob]] = {}
    for run in running:
        by_pool.setdefault(run.pool, []).append(run)
    return preemption_note(decision, by_pool, min_run_s, now)


def test_a_job_of_high_priority_that_waits_says_why_it_preempts_nothing() -> None:
    decision = waiting()
    min_run_s = PreemptionSettings().min_run_s
    assert note(decision, [running(priority=10)], min_run_s, NOW) == (
        "; it cannot preempt: no job of lower priority than its 10 runs on pool h100"
    )
    assert note(decision, [running(age_h=0.1)], min_run_s, NOW) == (
        "; it preempts only runs of 10m or more, which the jobs of lower priority on pool h100 "
        "reach from ~12:04 UTC"
    )
    never = waiting(preempts=False)
    assert note(never, [running()], min_run_s, NOW) == (
        "; it does not preempt (spec.preemptionPolicy: Never)"
    )
    # A job of default priority that outranks nothing is not told of preemption at all.
    assert note(waiting(priority=0), [running()], min_run_s, NOW) == ""


def test_what_preemption_could_not_free_is_said_as_such() -> None:
    # Half the node is a job of higher priority: requeueing the other half frees 4 GPUs of 8.
    half = Resources(cpu=8000, memory=64 * 1024, gpu=4)
    low = replace(running(), worker=half)
    high = replace(running(priority=50), key="team-b/high", worker=half)
    decision = waiting()
    h100 = pool("h100", "nvidia-h100", 3.0, BUSY)
    snap = snapshot([h100], [decision.job])
    assert preemptions(snap, [decision], [low, high]) == []
    assert note(decision, [low, high], 600.0, NOW) == (
        "; requeueing the jobs of lower priority on pool h100 would not free enough room for it"
    )


def test_a_job_spot_would_take_is_told_why_the_on_demand_pool_will_not() -> None:
    # The on-demand pool lost a node and holds one 8-GPU worker of the two the job needs: the
    # message said only "set spec.allowSpot: true", the real blocker was in the table alone.
    on_demand = pool("h100", "nvidia-h100", 8.0, gpu_nodes("h100", 1))
    spot = pool("h100-spot", "nvidia-h100", 3.0, gpu_nodes("h100-spot", 2), spot=True)
    gang = job("j", option("nvidia-h100", 1000), min_workers=2, max_workers=2)
    (decision,) = solve(snapshot([on_demand, spot], [gang])).decisions
    assert (decision.reason, decision.message) == (
        "SpotNotAllowed",
        "h100-spot x2: spot pool; set spec.allowSpot: true; h100 x2: the job needs at least 2 "
        "worker(s) of 8 nvidia.com/gpu, 8 CPU, 64Gi; the pool's 1 node(s) hold 1 such worker(s)",
    )


def test_a_refusal_names_the_spot_option_only_allow_spot_keeps_out() -> None:
    # A job too slow, too demanding or too dear for its budget on every on-demand option was
    # told to raise maxDuration to 2h ("fastest option l4 x1"), or given no fix at all, where
    # the spot pool, 4 times as fast, ran it within every limit once allowed.
    slow = pool("l4", "nvidia-l4", 1.0, gpu_nodes("l4", 1))
    fast = pool("h100-spot", "nvidia-h100", 1.5, gpu_nodes("h100-spot", 1), spot=True)
    options = (option("nvidia-l4", 500), option("nvidia-h100", 2000))
    spot = "set spec.allowSpot: true (h100-spot x1, a spot pool, would run in 30m for 6.00 USD)"
    for kw, reason, says in (
        (
            {"max_duration_s": 3600.0},
            "DeadlineUnreachable",
            "maxDuration 1h cannot be met: fastest on-demand option l4 x1 needs 2h; raise "
            f"spec.maxDuration to 2h; or {spot}",
        ),
        (
            {"min_throughput": 1000.0},
            "ThroughputUnreachable",
            f"minThroughput 1,000/s cannot be reached: fastest on-demand option l4 x1 gives "
            f"500/s; lower spec.minThroughput to 500; or {spot}",
        ),
    ):
        (decision,) = solve(snapshot([slow, fast], [job("j", *options, **kw)])).decisions
        assert (decision.reason, decision.message) == (reason, says)
    limit = [BudgetView(NS, "monthly", to_micros(10), 0, 0, hard=True)]
    (decision,) = solve(snapshot([slow, fast], [job("j", *options)], budgets=limit)).decisions
    assert decision.reason == "BudgetTooSmall"
    assert decision.message.startswith("cheapest on-demand option l4 x1 costs 16.00 USD")
    assert decision.message.endswith(f"; or {spot}")
    # Allowed, it runs there; where spot would not do either, nothing is said of it.
    allowed = job("j", *options, max_duration_s=3600.0, allow_spot=True)
    (placed,) = solve(snapshot([slow, fast], [allowed])).decisions
    assert placed.chosen is not None and placed.chosen.pool.name == "h100-spot"
    (decision,) = solve(
        snapshot([slow, fast], [job("j", *options, max_duration_s=600.0)])
    ).decisions
    assert "allowSpot" not in decision.message and "fastest option" in decision.message


def test_a_job_planned_later_is_told_what_keeps_it_off_a_dearer_pool_with_room_now() -> None:
    # b waits for the cheap pool's node; the dear pool is empty, but its 9.60 USD is more than
    # the budget leaves after a's 8.00. It read "no room now: cheap x1 planned at ~13:00 UTC".
    cheap = pool("cheap", "nvidia-l4", 1.0, gpu_nodes("cheap", 1))
    dear = pool("dear", "nvidia-l4", 1.2, gpu_nodes("dear", 1), order=1)
    jobs = [job(name, option("nvidia-l4", 1000)) for name in ("a", "b")]
    limit = [BudgetView(NS, "monthly", to_micros(17), 0, 0, hard=True)]
    plan = solve(snapshot([cheap, dear], jobs, budgets=limit))
    b = next(d for d in plan.decisions if d.job.name == "b")
    assert b.reason == "Reserved"
    assert b.message.startswith("no room now: cheap x1 planned at ~13:00 UTC, when the pool frees")
    assert b.message.endswith(
        "; dear x1 fits now, but budget team-a/monthly: 9.00 USD left after 8.00 USD for other "
        "jobs placed now or reserved, dear x1 costs 9.60 USD"
    )
    # Without the budget it runs on the dear pool now.
    plan = solve(snapshot([cheap, dear], jobs))
    assert {d.job.name: d.chosen.pool.name for d in plan.decisions if d.chosen} == {
        "a": "cheap",
        "b": "dear",
    }


def test_a_throughput_more_workers_would_reach_is_told_to_raise_workers_max() -> None:
    # The pool holds 2 workers, which give the 1,800/s asked for: it was told no fix at all.
    two = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 2))
    wants = job("j", option("nvidia-l4", 1000), min_throughput=1800.0, scaling_efficiency=0.9)
    (decision,) = solve(snapshot([two], [wants])).decisions
    assert (decision.reason, decision.message) == (
        "ThroughputUnreachable",
        "minThroughput 1,800/s cannot be reached: fastest option l4 x1 gives 1,000/s; raise "
        "spec.workers.max to 2 (l4 x2 gives 1,800/s), or lower spec.minThroughput to 1,000",
    )


def test_two_options_on_one_pool_are_told_apart_by_their_index() -> None:
    # 4 GPUs a worker or 8: both read "fastest option l4 x2", whichever the message meant.
    four = replace(option("nvidia-l4", 400, devices=4), worker=Resources(8000, 64 * 1024, 4))
    both = job("j", option("nvidia-l4", 1000), four, max_duration_s=600.0)
    (decision,) = solve(snapshot([L4], [both])).decisions
    assert decision.message.startswith(
        "maxDuration 10m cannot be met: fastest option l4 x1 (options[0]) needs 1h"
    )
    alone = job("j", option("nvidia-l4", 1000), max_duration_s=600.0)
    (decision,) = solve(snapshot([L4], [alone])).decisions
    assert "fastest option l4 x1 needs 1h" in decision.message


def test_room_too_close_to_the_deadline_to_wait_for_is_said_so() -> None:
    # The node frees at 12:50; the 1h run would end at 13:50, before its 14:00 deadline, but a
    # later start keeps a fifth of the run in hand (14:02): the job is not planned there, and
    # its message read as if it would wait for it. Then as if it would not start there at all.
    full = Resources(cpu=96_000, memory=1024 * 1024, gpu=8)
    nodes = gpu_nodes("l4", 1, free_gpus=0)
    frees = Release(NOW + timedelta(minutes=50), full, (("l4-0", full),))
    busy = replace(pool("l4", "nvidia-l4", 1.0, nodes), releases=(frees,))
    due = job("j", option("nvidia-l4", 1000), deadline=NOW + timedelta(hours=2))
    (decision,) = solve(snapshot([busy], [due])).decisions
    assert decision.reason == "WaitingForCapacity"
    assert (
        "; the jobs running on l4 leave room for it ~12:50 UTC, not reserved for it (a planned "
        "start keeps 20% of the run in hand before the deadline): it starts when room appears "
        "in time; to meet its deadline it must start by ~13:00 UTC"
    ) in decision.message


def test_an_option_dearer_by_under_a_percent_says_by_how_much() -> None:
    # "costs 0% more" hid the 0.40 USD a job then waited hours to save.
    near = pool("l4b", "nvidia-l4", 2.008, gpu_nodes("l4b", 1), order=1)
    (decision,) = solve(snapshot([L4, near], [job("j", option("nvidia-l4", 1000))])).decisions
    notes = {r.candidate.pool.name: r.note for r in decision.options}
    assert notes["l4b"] == "costs 0.4% more (16.06 USD)"
    # At the same price, the same: it read "costs 0% more".
    twin = pool("l4c", "nvidia-l4", 2.0, gpu_nodes("l4c", 1), order=1)
    (decision,) = solve(snapshot([L4, twin], [job("j", option("nvidia-l4", 1000))])).decisions
    notes = {r.candidate.pool.name: r.note for r in decision.options}
    assert notes == {"l4": "", "l4c": "costs the same (16.00 USD)"}


def test_an_option_dearer_than_a_free_pool_says_by_how_much_in_money() -> None:
    # A share of nothing read "costs 0% more" beside a free pool (a price of 0 is allowed).
    free = pool("free", "nvidia-h100", 0.0, gpu_nodes("free", 1))
    (decision,) = solve(
        snapshot([free, L4], [job("a", option("nvidia-h100", 1000), option("nvidia-l4", 1000))])
    ).decisions
    notes = {row.candidate.pool.name: (row.verdict, row.note) for row in decision.options}
    assert notes == {"free": ("chosen", ""), "l4": ("feasible", "costs 16.00 USD more")}


def test_a_fix_a_quota_would_refuse_all_the_same_says_so() -> None:
    # "raise spec.maxDuration" and "set spec.allowSpot" were said of runs a quota forbade in
    # all: the user made the change and got QuotaTooSmall next.
    gpus = Quota("team-a", "gpus", {"nvidia.com/gpu": 8}, hard={"nvidia.com/gpu": 8})
    h100 = pool("h100", "nvidia-h100", 4.0, gpu_nodes("h100", 2))
    fields: dict[str, object] = {"work": 5e7, "max_workers": 2, "scaling_efficiency": 0.9}
    moe_job = job("moe", option("nvidia-h100", 230), max_duration_s=86400.0, **fields)
    (decision,) = solve(snapshot([h100], [moe_job], quotas=[gpus])).decisions
    assert decision.message == (
        "maxDuration 1d cannot be met: fastest option h100 x2 needs 1d10h; raise "
        "spec.maxDuration to 1d10h; it also needs 16 nvidia.com/gpu, more than quota "
        "team-a/gpus allows in all (spec.hard: 8)"
    )
    spot = pool("spot", "nvidia-h100", 0.5, gpu_nodes("spot", 1), spot=True)
    fine = job("fine", option("nvidia-h100", 1000), option("nvidia-l4", 1000, devices=4))
    quota = Quota("team-a", "gpus", {"nvidia.com/gpu": 4}, hard={"nvidia.com/gpu": 4})
    (decision,) = solve(snapshot([spot, L4], [fine], quotas=[quota])).decisions
    assert decision.message.endswith(
        "spot x1 would save 50% but spot pool; set spec.allowSpot: true; it also needs 8 "
        "nvidia.com/gpu, more than quota team-a/gpus allows in all (spec.hard: 4)"
    ), decision.message


def test_a_row_with_nothing_to_say_has_no_note_on_the_wire() -> None:
    # `kubectl describe tj` showed an empty `Note:` under the chosen option.
    free = pool("free", "nvidia-h100", 0.0, gpu_nodes("free", 1))
    (decision,) = solve(
        snapshot([free, L4], [job("a", option("nvidia-h100", 1000), option("nvidia-l4", 1000))])
    ).decisions
    chosen, dearer = (option_row(row, from_micros, None) for row in decision.options)
    assert (chosen["verdict"], "note" in chosen) == ("chosen", False)
    assert dearer["note"] == "costs 16.00 USD more"
