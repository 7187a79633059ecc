"""The benchmark scripts print what benchmarks/README.md says they do (figures, not timings)."""

from __future__ import annotations

import asyncio
import math
import random
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pathload import load_script
from pricewise.api.manifests import parse_model
from pricewise.api.models import TrainingJob
from pricewise.core.lookahead import LookAhead
from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import Pool
from pricewise.core.units import MICROS, to_micros
from pricewise.offline import simpolicies
from pricewise.offline.simcluster import load_pools
from pricewise.offline.simmodel import SimJob, sim_jobs
from pricewise.offline.simreport import summary
from pricewise.offline.simrun import cost_floor, run
from pricewise.offline.traces import (
    TraceJob,
    deadline_factors,
    load_throughputs,
    load_trace,
    window,
)

solver_scale = load_script("pricewise_bench_solver_scale", "benchmarks/solver_scale.py")
DATA = Path(__file__).parents[2] / "benchmarks" / "data"


@pytest.mark.parametrize(
    ("cost", "bound", "printed"),
    [
        # Nothing proved, whichever way the timing ended the solve: one way of saying so.
        (to_micros(5512.79), None, ("-", "n/a")),  # greedy plan, or cut short before its cost phase
        (to_micros(5512.79), 0, ("-", "n/a")),  # CP-SAT stopped at its trivial bound
        # Proved bounds.
        (to_micros(8778.63), to_micros(8773.69), ("8773.69", "0.06%")),
        (to_micros(5512.79), to_micros(1097.13), ("1097.13", "80.10%")),
        (to_micros(564.59), to_micros(564.59), ("564.59", "0.00%")),
        (0, 0, ("0.00", "0.00%")),  # nothing to pay: the bound 0 is the optimum
    ],
)
def test_bound_and_gap_print_one_way_when_nothing_is_proved(
    cost: int, bound: int | None, printed: tuple[str, str]
):
    assert solver_scale.bound_and_gap(cost, bound) == printed


def test_the_cluster_is_what_the_description_says():
    pools = solver_scale.cluster(20, 300, random.Random(7))
    assert solver_scale.describe(pools) == (
        "# 20 pools of 15 nodes (300): nvidia-l4 4 (2 spot), 4 GPUs a node; "
        "nvidia-a100-80gb 4 (2 spot), 8 GPUs a node; nvidia-h100 4 (2 spot), 8 GPUs a node; "
        "tpu-v5e 4 (2 spot), 8 TPU chips a node; cpu 4 (2 spot), no devices, no job's option"
    )
    devices = {p.accelerator: {n.allocatable.devices for n in p.nodes} for p in pools}
    assert devices == {"nvidia-l4": {4}, "nvidia-a100-80gb": {8}, "nvidia-h100": {8},
                       "tpu-v5e": {8}, "cpu": {0}}  # fmt: skip
    # Every fifth pool is a CPU pool; pools 5-9 and 15-19 are spot.
    assert [p.accelerator == "cpu" for p in pools] == [i % 5 == 4 for i in range(20)]
    assert [p.capacity_type == "spot" for p in pools] == [i // 5 % 2 == 1 for i in range(20)]
    hundred = solver_scale.cluster(100, 300, random.Random(7))
    assert {len(p.nodes) for p in hundred} == {3}
    # No job has an option a CPU pool could hold.
    jobs = solver_scale.jobs(200, random.Random(7), datetime(2026, 11, 29, tzinfo=UTC))
    assert all(o.accelerator != "cpu" and o.worker.devices > 0 for j in jobs for o in j.options)


def test_a_small_run_prints_its_cluster_and_rows(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    argv = ["solver_scale.py", "--jobs", "30", "--pools", "5", "10", "--nodes", "20",
            "--repeat", "1", "--time-limit", "2"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    solver_scale.main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("# 5 pools of 4 nodes (20): nvidia-l4 1 (0 spot), 4 GPUs a node")
    assert lines[2].startswith("# 10 pools of 2 nodes (20):")
    assert lines[3].split() == ["policy", "jobs", "pools", "nodes", "median_s", "worst_s",
                                "cands_s", "placed", "later", "status", "cost", "bound",
                                "gap"]  # fmt: skip
    rows = [line.split() for line in lines[4:]]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("pricewise", "30", "5", "20"), ("pricewise-now", "30", "5", "20"),
        ("pricewise", "30", "10", "20"), ("pricewise-now", "30", "10", "20"),
    ]  # fmt: skip
    for row in rows:
        bound, gap = row[-2:]
        assert (bound, gap) == ("-", "n/a") or (float(bound) >= 0 and gap.endswith("%"))


side_by_side = load_script("pricewise_bench_kueue", "benchmarks/kueue_side_by_side.py")

# Kueue v0.17.0's baseline generator config (test/performance/scheduler/configs/baseline).
BASELINE = {
    "cohorts": [{
        "className": "cohort", "count": 5,
        "queuesSets": [{
            "className": "cq", "count": 6, "nominalQuota": 20, "borrowingLimit": 100,
            "workloadsSets": [
                {"count": 350, "creationIntervalMs": 100, "workloads": [
                    {"className": "small", "runtimeMs": 200, "priority": 50, "request": 1}]},
                {"count": 100, "creationIntervalMs": 500, "workloads": [
                    {"className": "medium", "runtimeMs": 500, "priority": 100, "request": 5}]},
                {"count": 50, "creationIntervalMs": 1200, "workloads": [
                    {"className": "large", "runtimeMs": 1000, "priority": 200, "request": 20}]},
            ],
        }],
    }],
}  # fmt: skip


def test_kueues_baseline_becomes_the_same_trainingjobs() -> None:
    work = side_by_side.workloads(BASELINE)
    assert len(work) == 15_000  # 5 cohorts x 6 queues x (350 + 100 + 50)
    assert {w["class"]: w["priority"] for w in work} == {"small": 50, "medium": 100, "large": 200}
    last_large = max(w["at"] for w in work if w["class"] == "large")
    assert last_large == 49 * 1.2  # the 50th large workload of a queue, 1,200 ms apart
    assert [w["at"] for w in work] == sorted(w["at"] for w in work)
    # A queue may use its nominal quota plus its borrowing limit, within its cohort's 120.
    limits = side_by_side.queue_limits(BASELINE)
    assert len(limits) == 30 and set(limits.values()) == {120}
    large = next(w for w in work if w["class"] == "large")
    job = parse_model(TrainingJob, {**side_by_side.training_job(large)}, "bench")
    assert (job.spec.priority, job.spec.options[0].devices_per_worker) == (200, 20)
    assert job.metadata.namespace == large["queue"]
    one = {"cohorts": [{**BASELINE["cohorts"][0], "count": 1}]}
    assert len(side_by_side.workloads(one)) == 3_000


kueue_cost = load_script("pricewise_bench_kueue_cost", "benchmarks/kueue_cost.py")


def test_the_trace_becomes_kueue_jobs_and_trainingjobs_and_is_costed_by_hand() -> None:
    args = kueue_cost.argparse.Namespace(
        trace=kueue_cost.DATA / "gavel/traces/philly-derived-seed0-103959.trace",
        jobs=3, scale=0.25, seed=0,
    )  # fmt: skip
    jobs = kueue_cost.trace_jobs(args)
    sim = jobs[0]
    # Kueue: suspended, in the LocalQueue, all the job's GPUs in one pod.
    job = kueue_cost.kueue_job(sim, "kueue-price")
    assert job["spec"]["suspend"] and job["metadata"]["labels"] == {
        "kueue.x-k8s.io/queue-name": "trace"
    }
    requests = job["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert requests["nvidia.com/gpu"] == str(sim.gpus)
    # pricewise: one option per GPU kind, with that kind's run time, and the deadline.
    tj = parse_model(TrainingJob, kueue_cost.training_job(sim, "pw", 0.0, 1.0), "bench")
    for option in tj.spec.options:
        assert option.duration == f"{kueue_cost.run_s(sim, option.accelerator, 1.0)}s"
    assert tj.spec.deadline is not None and sim.deadline_s is not None
    assert tj.spec.deadline.timestamp() == pytest.approx(sim.deadline_s / 3600, abs=1)
    # The price order is the cheapest GPU-hour first.
    queue = kueue_cost.kueue_queue("kueue-price", ["k80", "p100", "v100"], 2)
    flavors = queue[-2]["spec"]["resourceGroups"][0]["flavors"]
    assert [f["name"] for f in flavors] == ["k80", "p100", "v100"]
    assert flavors[0]["resources"][0] == {"name": "nvidia.com/gpu", "nominalQuota": 16}
    # A run on the V100 that started at the deadline less its run time, and one a second late.
    run = kueue_cost.run_s(sim, "nvidia-tesla-v100", 1.0)
    outcome = kueue_cost.Outcome(wall_s=5.0)
    outcome.created = {"_t0": 100.0, sim.job.name: 100.0 + sim.arrival_s / 3600}
    outcome.bound = {sim.job.name: outcome.created[sim.job.name] + 0.5}
    outcome.pools = {sim.job.name: "v100"}
    start = 100.0 + sim.deadline_s / 3600 - run
    for late, misses in ((0.0, 0), (2.0, 1)):
        outcome.starts = {sim.job.name: start + late}
        outcome.ends = {sim.job.name: start + late + run}
        got = kueue_cost.figures([sim], outcome, 1.0)
        assert got["misses"] == misses
    assert got["cost"] == pytest.approx(2.48 * sim.gpus * run)  # one trace hour a second
    assert got["wait_s"] == 0.5 and got["by_pool"] == {"k80": 0, "p100": 0, "v100": 1}


hindsight = load_script("pricewise_bench_hindsight_bound", "benchmarks/hindsight_bound.py")


def test_least_cover_is_the_least_overlap_over_the_starts():
    # A 1 h run started anywhere in [0, 1800] covers [1800, 3600) for 1,800 s at least (at 0
    # it ends at 3600; at 1800 it covers the whole bucket); [3600, 7200) from 0 s not at all.
    assert hindsight.least_cover_s(0, 1800, 3600, 1800, 3600) == 1800
    assert hindsight.least_cover_s(0, 1800, 3600, 3600, 7200) == 0
    assert hindsight.least_cover_s(600, 1200, 3600, 0, 3600) == 2400


def contended_window() -> tuple[list[SimJob], tuple[Pool, ...], str]:
    """The first 60 jobs of trace 2869ce at x0.3 with deadlines, on the Gavel cluster with one
    V100 node: a contended setting small enough for a unit test."""
    pools, currency = load_pools(
        DATA / "pricetable-gcp-gavel.yaml", DATA / "nodepools-gavel.yaml", {"v100": 1}
    )
    trace = window(load_trace(DATA / "gavel/traces/philly-derived-seed0-2869ce.trace"), 0, 60, 0.3)
    jobs, _ = sim_jobs(
        trace, load_throughputs(DATA / "gavel/throughputs-isolated.json"),
        deadline_factors(len(trace), 1.5, 3.0, 0),
    )  # fmt: skip
    return jobs, pools, currency


def test_the_hindsight_bound_is_below_every_policy_with_as_many_misses():
    # What makes it a bound: each simulated schedule is a point of the LP, so no policy that
    # misses M deadlines pays less than the LP with M misses allowed; with every run ending by
    # the last finish of the policies, late runs take capacity too, and it still holds.
    jobs, pools, currency = contended_window()
    floor = cost_floor(jobs, pools, currency) / MICROS
    policies = {
        "first-fit": simpolicies.first_fit_policy,
        "cheapest": simpolicies.cheapest_policy,
        "pricewise-now": simpolicies.pricewise_policy(
            SolverSettings(
                time_limit_s=1.0, look_ahead=LookAhead(enabled=False), deterministic=True
            )
        ),
    }
    results = [run(jobs, pools, policy, name) for name, policy in policies.items()]
    last_finish = max(r.finish_s or 0.0 for result in results for r in result.records)
    bound = hindsight.build_lp(jobs, pools, currency, 3600.0)
    ending = hindsight.build_lp(jobs, pools, currency, 3600.0, last_finish, 4 * 3600.0)
    missed = []
    for result in results:
        figures = summary(result)
        assert figures["unplaced"] == 0, result.policy  # the schedules the bound covers
        for lp in (bound, ending):
            value, _ = lp.solve(figures["deadlineMisses"])
            assert value is not None and value <= figures["totalCost"] + 0.01, result.policy
        missed.append(figures["deadlineMisses"])
    # The setting is contended (someone missed), and with no miss allowed the bound is dearer
    # than the floor or infeasible: capacity counts (without it, it would be the floor).
    assert max(missed) > 0
    strict, _ = bound.solve(0)
    assert strict is None or strict > floor + 1
    assert bound.fewest_misses() > 0
    # An end before the longest run can finish leaves no schedule at all.
    assert hindsight.build_lp(jobs, pools, currency, 3600.0, 60.0).fewest_misses() == math.inf


def at_zero_on_a_node_a_pool(trace: list[TraceJob]) -> tuple[list[SimJob], tuple[Pool, ...], str]:
    """The trace's jobs without deadlines, on the Gavel cluster with one node a pool."""
    pools, currency = load_pools(
        DATA / "pricetable-gcp-gavel.yaml",
        DATA / "nodepools-gavel.yaml",
        {"k80": 1, "p100": 1, "v100": 1},
    )
    jobs, _ = sim_jobs(trace, load_throughputs(DATA / "gavel/throughputs-isolated.json"), None)
    return jobs, pools, currency


def test_with_an_end_the_hindsight_bound_charges_runs_without_a_deadline_their_capacity():
    # Twelve jobs of one GPU, no deadline, all at 0, on pools of one node of 8 GPUs, to end by
    # the time the slowest option takes: the cheapest pool holds at most 8 of them, and
    # without the end all twelve ran there for free.
    trace = [TraceJob(i, "ResNet-18 (batch size 64)", 100_000, 0.0, 1) for i in range(12)]
    jobs, pools, currency = at_zero_on_a_node_a_pool(trace)
    options = hindsight.job_options(jobs[0], pools, currency)
    assert {o.pool for o in options} == {"k80", "p100", "v100"}
    cheapest = min(o.cost for o in options) / MICROS
    slowest = max(o.run_s for o in options)
    free, _ = hindsight.build_lp(jobs, pools, currency, 3600.0).solve(0)
    charged, _ = hindsight.build_lp(jobs, pools, currency, 3600.0, slowest).solve(0)
    assert free == pytest.approx(12 * cheapest)
    assert charged is not None and charged > free + 0.01


def test_with_a_max_wait_the_hindsight_bound_charges_waiting_runs_their_capacity():
    # The same twelve jobs: started within no wait at all, only 8 fit the cheapest pool, so the
    # bound rises above twelve cheapest runs, and stays below first-fit, which waits for
    # nothing; allowed a wait as long as a cheapest run, the other four run there after them.
    trace = [TraceJob(i, "ResNet-18 (batch size 64)", 100_000, 0.0, 1) for i in range(12)]
    jobs, pools, currency = at_zero_on_a_node_a_pool(trace)
    cheapest = min(hindsight.job_options(jobs[0], pools, currency), key=lambda o: o.cost)
    first_fit = summary(run(jobs, pools, simpolicies.first_fit_policy, "first-fit"))
    assert first_fit["maxWaitHoursUnbound"] == 0

    def bound(max_wait_s: float) -> float:
        value, _ = hindsight.build_lp(jobs, pools, currency, 3600.0, max_wait_s=max_wait_s).solve(0)
        assert value is not None
        return value

    assert 12 * cheapest.cost / MICROS + 0.01 < bound(0.0) <= first_fit["totalCost"] + 0.01
    assert bound(cheapest.run_s + 3600.0) == pytest.approx(12 * cheapest.cost / MICROS)


def test_the_wait_bound_rules_out_only_waits_no_schedule_keeps():
    # Four jobs of a whole node each, no deadline, all at 0, on three pools of one node: one
    # of them waits for another to end, however they are placed. The LP rules out waits of an
    # hour (every run takes longer), allows what first-fit's schedule waited, and with three
    # jobs (one a pool) rules out nothing.
    trace = [TraceJob(i, "ResNet-18 (batch size 64)", 2_000_000, 0.0, 8) for i in range(4)]
    jobs, pools, currency = at_zero_on_a_node_a_pool(trace)
    assert min(o.run_s for o in hindsight.job_options(jobs[0], pools, currency)) > 2 * 3600
    result = run(jobs, pools, simpolicies.first_fit_policy, "first-fit")
    waited = max(r.start_s or 0.0 for r in result.records)
    assert waited > 3600  # first-fit's fourth job waited for a node to free

    assert not hindsight.waits_within(jobs, pools, currency, 3600.0, 3600.0)
    assert hindsight.waits_within(jobs, pools, currency, 3600.0, waited)
    ruled_out = hindsight.least_longest_wait(jobs, pools, currency, 3600.0, waited, 900.0)
    assert ruled_out is not None and 3600.0 <= ruled_out < waited
    assert hindsight.least_longest_wait(jobs[:3], pools, currency, 3600.0, waited, 900.0) is None
    # Ruled out up to the most asked: the caller is told to look further.
    assert hindsight.least_longest_wait(jobs, pools, currency, 3600.0, 1800.0, 900.0) == 1800.0
    # Jobs without a deadline are late runs: counting late runs alone rules out the same.
    late = hindsight.late_waits_within
    assert not late(jobs, pools, currency, 3600.0, 3600.0)
    assert late(jobs, pools, currency, 3600.0, waited)
    # With deadlines far enough for the fourth job to wait on time, no late run need wait at
    # all, though some job still waits.
    throughputs = load_throughputs(DATA / "gavel/throughputs-isolated.json")
    timed, _ = sim_jobs(trace, throughputs, [4.0] * 4)
    assert late(timed, pools, currency, 3600.0, 0.0)
    assert not hindsight.waits_within(timed, pools, currency, 3600.0, 3600.0)


promise_floor = load_script("pricewise_bench_promise_floor", "benchmarks/promise_floor.py")


@pytest.mark.parametrize(
    ("low", "high", "arrival"), [(14.0, 26.0, 10.0), (3.0, 4.0, 2.0), (3.0, 4.0, 0.0), (5, 50, 4.9)]
)
def test_the_promise_ceiling_is_the_best_chance_of_any_promise(
    low: float, high: float, arrival: float
) -> None:
    k = 0.15
    at_best = promise_floor.within_chance(low, high, high * (1 - k) + k * arrival, arrival, k)
    promises = [arrival + i * (high * 2 - arrival) / 20_000 for i in range(20_001)]
    tried = max(promise_floor.within_chance(low, high, p, arrival, k) for p in promises)
    assert at_best == pytest.approx(tried, abs=1e-3)
    assert 0 < at_best <= 1


def record(
    name: str, arrival: float, start: float, finish: float, promise: float | None = None
) -> dict[str, object]:
    """A `--per-job` record of a simulated run, in hours."""
    return {
        "job": name,
        "arrivalHours": arrival,
        "startHours": start,
        "finishHours": finish,
        "firstPromiseHours": promise,
    }


def test_a_promise_behind_a_running_job_is_held_to_its_chance_and_others_count_whole() -> None:
    # B runs 0-20 h. J arrives at 10 h, promised B's end: with run times x U(0.7, 1.3), B ends
    # uniformly in [14, 26] given it still ran at 10; at best 34.8 % within 15 % of the wait
    # (the promise 23.6 h), 25.5 % for the promise told (20 h). C too, from its arrival at 12.
    # K, behind C, a run planned after K's arrival, and L, which did not wait, set no ceiling.
    records = [
        record("B", 0.0, 0.0, 20.0),
        record("J", 10.0, 20.0, 30.0, promise=20.0),
        record("C", 12.0, 20.0, 25.0, promise=20.0),
        record("K", 15.0, 25.0, 26.0, promise=25.0),
        record("L", 15.0, 15.0, 16.0),
    ]
    c = promise_floor.ceiling("pricewise", records, 0.3, 0.15)
    assert (c.promised, c.behind_running) == (3, 2)

    def best(arrival: float) -> float:
        return (26 - (26 * 0.85 + 2 * 0.15 * arrival) / 1.15) / 12

    def told(arrival: float) -> float:
        return ((20 - 0.15 * arrival) / 0.85 - (20 + 0.15 * arrival) / 1.15) / 12

    assert best(10) == pytest.approx(0.348, abs=1e-3)
    assert told(10) == pytest.approx(0.255, abs=1e-3)
    assert c.best_share == pytest.approx((best(10) + best(12) + 1) / 3)
    assert c.told_share == pytest.approx((told(10) + told(12) + 1) / 3)


def test_the_promise_ceiling_asks_for_a_run_with_exact_run_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noisy = tmp_path / "noisy.json"
    noisy.write_text('{"setup": {"runtimeNoise": 0.3}, "policies": []}')
    with pytest.raises(SystemExit) as exit_info:
        promise_floor.main([str(noisy)])
    assert exit_info.value.code == 2
    assert "runtimeNoise" in capsys.readouterr().err


rolling_lp = load_script("pricewise_bench_rolling_lp", "benchmarks/rolling_lp.py")


@pytest.mark.parametrize(
    ("foresight", "late_within_s"), [(False, None), (True, None), (False, 4 * 3600.0)]
)
def test_the_rolling_lp_runs_every_job_and_pays_no_less_than_the_hindsight_bound(
    foresight: bool, late_within_s: float | None
):
    # Every job runs (a cycle with nothing running places what fits, as no later cycle comes),
    # and the run is a schedule like any other: the clairvoyant bound at its misses is below it.
    jobs, pools, currency = contended_window()
    foreseen = sorted(jobs, key=lambda s: s.arrival_s) if foresight else []
    policy = rolling_lp.rolling_lp_policy(12 * 3600.0, late_within_s, foreseen)
    figures = summary(run(jobs, pools, policy, "rolling-lp", currency=currency))
    assert figures["unplaced"] == 0 and figures["completed"] == len(jobs)
    bound, _ = hindsight.build_lp(jobs, pools, currency, 3600.0).solve(figures["deadlineMisses"])
    assert bound is not None and bound <= figures["totalCost"] + 0.01


def test_the_rolling_lp_charged_past_a_bound_keeps_waits_near_it():
    # Without deadlines, left to wait for cheap rooms, one job waits 66 h; charged for each
    # hour past 24 h, none waits much past it. (A flat charge once past it let one wait 418 h:
    # past the bound, a job was as free to wait as before.)
    jobs, pools, currency = contended_window()
    jobs = [replace(sim, deadline_s=None) for sim in jobs]

    def longest_wait(late_within_s: float | None) -> float:
        policy = rolling_lp.rolling_lp_policy(12 * 3600.0, late_within_s, [])
        return summary(run(jobs, pools, policy, "rolling-lp", currency=currency))[
            "maxWaitHoursUnbound"
        ]

    assert longest_wait(None) > 48.0
    assert longest_wait(24 * 3600.0) < 26.0


def test_the_cycle_cost_runs_a_burst_its_start_and_steady_cycles() -> None:
    cycle_cost = load_script("pricewise_bench_cycle_cost", "benchmarks/cycle_cost.py")
    rows = asyncio.run(cycle_cost._run(pending=30, running=10, nodes=20, limit=0.2, steady=2))
    assert [r["cycle"] for r in rows] == ["burst", "start", "steady", "steady"]
    assert rows[0]["pending"] >= 30 and rows[0]["placed"] > 0
    assert all(r["outside_s"] > 0 and r["teller_s"] >= 0 for r in rows)
