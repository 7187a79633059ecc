"""The trace simulator: small traces whose outcome under each policy is worked out by hand.

Cluster of the hand-worked cases: pool `k80` ($1 per GPU-hour) and pool `v100` ($2 per
GPU-hour), one node each. Model `m` does 1 step/s on a K80 and 4 steps/s on a V100, so a job of
3,600 steps takes 1 h on k80 ($1) and 15 min on v100 ($0.50): the faster pool is also the
cheaper per job, and first-fit in the order k80, v100 takes the wrong one whenever it can.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from pricewise.core.costmodel import candidates
from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import Node, Pool, PoolPrices, Resources, Snapshot
from pricewise.core.units import to_micros
from pricewise.offline import simpolicies, simreport, simrun, simulate
from pricewise.offline.backfill import _Profile, backfill_policy
from pricewise.offline.simcluster import ClusterFileError, load_pools
from pricewise.offline.simmodel import EPOCH, CycleResult, SimJob, SimResult, sim_jobs
from pricewise.offline.simreport import summary
from pricewise.offline.simrun import run
from pricewise.offline.traces import (
    TraceError,
    TraceJob,
    deadline_factors,
    load_throughputs,
    load_trace,
    window,
)

K80, V100 = "nvidia-tesla-k80", "nvidia-tesla-v100"
TABLE = {
    ("m", 1): {K80: 1.0, V100: 4.0},
    ("m", 2): {V100: 8.0},
}
SETTINGS = SolverSettings(time_limit_s=5.0)


def gpu_pool(name: str, accelerator: str, price: float, nodes: int = 1, gpus: int = 1) -> Pool:
    shape = Resources(cpu=64_000, memory=416 * 1024, gpu=gpus)
    return Pool(
        name=name,
        accelerator=accelerator,
        capacity_type="on-demand",
        prices=PoolPrices(per_device_hour=to_micros(price)),
        nodes=tuple(Node(f"{name}-{i}", shape, shape) for i in range(nodes)),
        order={"k80": 0, "v100": 1}.get(name, 2),
    )


CLUSTER = (gpu_pool("k80", K80, 1.0), gpu_pool("v100", V100, 2.0))


def trace(*jobs: tuple[float, int]) -> list[TraceJob]:
    """Jobs of model m with 3,600 steps: (arrival seconds, GPUs)."""
    return [TraceJob(i + 1, "m", 3600, arrival, gpus) for i, (arrival, gpus) in enumerate(jobs)]


def jobs_of(tj: list[TraceJob], factors: list[float] | None) -> list[SimJob]:
    found, skipped = sim_jobs(tj, TABLE, factors)
    assert not skipped
    return found


def play(name: str, jobs: list[SimJob], pools: tuple[Pool, ...] = CLUSTER) -> SimResult:
    policies = {
        "pricewise": simpolicies.pricewise_policy(SETTINGS),
        "first-fit": simpolicies.first_fit_policy,
        "cheapest": simpolicies.cheapest_policy,
        "fifo": simpolicies.fifo_policy("v100"),
    }
    fifo = name == "fifo"
    return run(
        jobs, pools, policies[name], name, deadline_blind=fifo, fixed_pool="v100" if fifo else None
    )


@pytest.mark.parametrize(
    ("policy", "cost", "pool"),
    [
        ("pricewise", 0.5, "v100"),
        ("first-fit", 1.0, "k80"),
        ("cheapest", 0.5, "v100"),
        ("fifo", 0.5, "v100"),
    ],
)
def test_one_job_with_slack_goes_where_each_policy_says(policy: str, cost: float, pool: str):
    # Deadline 5 x 15 min = 75 min: the K80's hour meets it, so first-fit takes k80 (first).
    result = play(policy, jobs_of(trace((0.0, 1)), [5.0]))
    figures = summary(result)
    assert figures["totalCost"] == cost
    assert result.records[0].pool == pool
    assert figures["deadlineMisses"] == 0
    busy = 3600 if pool == "k80" else 900
    assert result.records[0].finish_s == pytest.approx(busy)
    assert figures["utilisation"][pool] == pytest.approx(1.0)
    assert figures["utilisation"]["k80" if pool == "v100" else "v100"] == 0.0


def test_a_tight_deadline_rules_the_slow_pool_out_for_first_fit():
    # Deadline 2 x 15 min = 30 min: the K80's hour misses it, so first-fit goes to v100 too.
    result = play("first-fit", jobs_of(trace((0.0, 1)), [2.0]))
    assert result.records[0].pool == "v100"
    assert summary(result)["totalCost"] == 0.5


@pytest.mark.parametrize(
    ("policy", "cost", "second_pool", "second_finish"),
    [
        ("pricewise", 1.0, "v100", 1800),
        ("first-fit", 1.5, "k80", 4500),
        ("cheapest", 1.0, "v100", 1800),
        ("fifo", 1.0, "v100", 1800),
    ],
)
def test_a_job_whose_deadline_passes_while_waiting_runs_late(
    policy: str, cost: float, second_pool: str, second_finish: float
):
    # Job 1 at 0 takes v100 (900 s). Job 2 at 1 s is due 1.5 x 900 s later, at 1351 s: only
    # v100 could make it and v100 is busy. At 900 s only 451 s are left, less than its 900 s
    # fastest run: it is late, held to no deadline, and each policy puts it where it would.
    result = play(policy, jobs_of(trace((0.0, 1), (1.0, 1)), [2.0, 1.5]))
    first, second = result.records
    assert (first.pool, first.start_s, first.finish_s) == ("v100", 0.0, 900.0)
    assert second.start_s == 900.0
    assert second.pool == second_pool
    assert second.finish_s == pytest.approx(second_finish)
    figures = summary(result)
    assert figures["totalCost"] == cost
    assert figures["deadlineMisses"] == 1
    assert not first.missed and second.missed
    assert figures["meanWaitHours"] == pytest.approx(899 / 2 / 3600, abs=1e-3)
    assert figures["meanJctHours"] == pytest.approx((900 + second_finish - 1) / 2 / 3600, abs=1e-3)
    if policy == "fifo":  # blind to deadlines: it never knows one is out of reach
        assert second.late_s is None and figures["maxWaitHoursUnbound"] == 0.0
        return
    # It waited 899 s from its arrival, none of it once its deadline was out of reach.
    assert second.late_s == 900.0
    assert figures["maxWaitHoursUnbound"] == pytest.approx(899 / 3600, abs=1e-2)
    assert figures["maxWaitHoursPastDeadline"] == 0.0


def test_fifo_blocks_behind_the_head_and_the_others_do_not():
    # One v100 node with 2 GPUs. Job 1 (1 GPU) runs 0-900. Job 2 (at 1 s) needs both GPUs.
    # FIFO: job 3 (at 2 s, 1 GPU) waits behind job 2, which runs 900-1350. The others start
    # job 3 at once beside job 1, so job 2 waits until job 3 ends too, at 902 s.
    pools = (gpu_pool("v100", V100, 2.0, gpus=2),)
    jobs = jobs_of(trace((0.0, 1), (1.0, 2), (2.0, 1)), None)
    fifo = play("fifo", jobs, pools)
    assert [r.start_s for r in fifo.records] == [0.0, 900.0, 1350.0]
    for policy in ("cheapest", "first-fit", "pricewise"):
        other = play(policy, jobs, pools)
        assert [r.start_s for r in other.records] == [0.0, 902.0, 2.0], policy
    assert summary(fifo)["totalCost"] == pytest.approx(0.5 + 2 * 2 * 450 / 3600 + 0.5)


def test_backfill_starts_a_later_job_first_only_where_it_delays_no_earlier_one():
    # The same node and jobs as above, and job 4 (at 3 s, 1 GPU, 400 s). Job 2 holds both
    # GPUs from 900 s, when job 1 ends: job 3 (900 s) would run past that and waits for job 2
    # to end, where every other policy started it at once and delayed job 2; job 4 ends by
    # 900 s and starts at once beside job 1. Each promise is the start kept.
    pools = (gpu_pool("v100", V100, 2.0, gpus=2),)
    tj = [*trace((0.0, 1), (1.0, 2), (2.0, 1)), TraceJob(4, "m", 1600, 3.0, 1)]
    result = run(jobs_of(tj, None), pools, backfill_policy, "backfill")
    assert [r.start_s for r in result.records] == [0.0, 900.0, 1350.0, 3.0]
    assert [r.first_promise_s for r in result.records] == [None, 900.0, 1350.0, None]
    assert summary(result)["etaErrorMedian"] == 0.0


def test_backfill_takes_the_earliest_start_of_any_pool_in_the_admins_order():
    # k80 (first in the order) and v100, one GPU each. Job 1 takes k80 (3,600 s); job 2 takes
    # v100 (900 s); job 3 starts on v100 at 901 s, before k80 frees, and job 4, behind it in
    # arrival order, on v100 again at 1,801 s, before k80 frees.
    result = run(
        jobs_of(trace((0.0, 1), (1.0, 1), (2.0, 1), (3.0, 1)), None),
        CLUSTER, backfill_policy, "backfill",
    )  # fmt: skip
    assert [(r.pool, r.start_s) for r in result.records] == [
        ("k80", 0.0),
        ("v100", 1.0),
        ("v100", 901.0),
        ("v100", 1801.0),
    ]


def test_backfill_reads_a_node_s_room_over_exactly_the_run():
    # Two GPUs free; at 100 s one job's reservation takes both and another's end gives both
    # back (recorded in that order): the room never dips. A run that ends at 100 s does not
    # meet the reservation starting then; one over [100, 200) meets the one from 150 s.
    gpu = Resources(gpu=1)
    node = _Profile(Node("n", Resources(gpu=2), Resources(gpu=2)))
    node.change(100.0, Resources(gpu=-2))
    node.change(100.0, Resources(gpu=2))
    node.change(150.0, Resources(gpu=-1))
    assert node.copies(gpu, 0.0, 100.0) == 2
    assert node.copies(gpu, 0.0, 150.0) == 2
    assert node.copies(gpu, 100.0, 200.0) == 1
    assert node.copies(gpu, 150.0, 151.0) == 1


def test_a_promise_moves_only_as_the_operator_would_rewrite_it():
    # One k80 GPU. Job 1 runs 0-3,600 s. A scripted policy promises job 2 a start at 3,600 s,
    # then one 200 s later (less than the operator rewrites a status for), then 1,000 s later.
    # The cycles see the start the job was told, as the operator's status keeps it.
    seen: list[float | None] = []
    moves = iter([3600.0, 3800.0, 4600.0])

    def scripted(snapshot: Snapshot) -> CycleResult:
        waiting = [j for j in snapshot.jobs if j.name.endswith("2")]
        seen.extend(
            None if j.promised_start is None else (j.promised_start - EPOCH).total_seconds()
            for j in waiting
        )
        if snapshot.now == EPOCH:
            first = candidates(snapshot.jobs[0], snapshot.pools, snapshot.now, snapshot.currency)
            return CycleResult([(first[0], ("k80-0",))])
        if not waiting or snapshot.now >= EPOCH + timedelta(seconds=3600):
            return CycleResult([])
        start = EPOCH + timedelta(seconds=next(moves))
        return CycleResult([], reservations={waiting[0].key: start})

    pools = (gpu_pool("k80", K80, 1.0),)
    jobs = jobs_of(trace((0.0, 1), (1.0, 1), (2.0, 1), (3.0, 1)), None)
    result = run(jobs, pools, scripted, "scripted")
    assert seen[:4] == [None, 3600.0, 3600.0, 4600.0]
    assert result.records[1].first_promise_s == 3600.0


def test_pricewise_never_costs_more_than_cheapest_when_nothing_waits():
    rng = random.Random(3)
    table = {("m", 1): {K80: 1.0, V100: 4.0}, ("n", 1): {K80: 2.0, V100: 3.0},
             ("r", 2): {K80: 3.0, V100: 2.5}}  # fmt: skip
    kinds = list(table)
    for _ in range(5):
        tj = []
        for i in range(12):
            kind, gpus = rng.choice(kinds)
            tj.append(TraceJob(i + 1, kind, rng.randint(1000, 20000), rng.uniform(0, 3600), gpus))
        jobs, skipped = sim_jobs(tj, table, [rng.uniform(1.5, 3.0) for _ in tj])
        assert not skipped
        roomy = (gpu_pool("k80", K80, 0.45, nodes=12, gpus=8),
                 gpu_pool("v100", V100, 2.48, nodes=12, gpus=8))  # fmt: skip
        ours = summary(play("pricewise", jobs, roomy))
        theirs = summary(play("cheapest", jobs, roomy))
        assert ours["meanWaitHours"] == 0.0 and theirs["meanWaitHours"] == 0.0
        assert ours["totalCost"] <= theirs["totalCost"]
        assert ours["deadlineMisses"] == theirs["deadlineMisses"] == 0


def test_cost_over_time_ends_at_the_total_and_never_falls():
    result = play("first-fit", jobs_of(trace((0.0, 1), (1.0, 1)), [2.0, 1.5]))
    hours, accrued = simreport.cost_over_time(result)
    assert hours[-1] == pytest.approx(4500 / 3600)  # job 2 ran late on k80, 900-4500 s
    assert accrued[-1] == pytest.approx(summary(result)["totalCost"])
    assert all(a <= b for a, b in pairwise(accrued))


def test_a_job_no_pool_can_hold_is_reported_unplaced():
    jobs = jobs_of(trace((0.0, 2)), None)  # 2 GPUs, and nodes have one
    result = play("cheapest", jobs)
    assert summary(result)["unplaced"] == 1
    assert result.records[0].start_s is None


def test_job_rows_say_what_happened_to_each_job():
    # The late-job case: job 1 on v100 0-900 s in time; job 2 (due at 1351 s) late on k80.
    result = play("first-fit", jobs_of(trace((0.0, 1), (1.0, 1)), [2.0, 1.5]))
    first, second = simreport.job_rows(result)
    assert first == {
        "job": "trace/job-00001", "label": "m x1", "gpus": 1,
        "arrivalHours": 0.0, "deadlineHours": 0.5, "startHours": 0.0, "finishHours": 0.25,
        "waitHours": 0.0, "pool": "v100", "workers": 1, "cost": 0.5,
        "deadlineMet": True, "late": False, "lateHours": None, "firstPromiseHours": None,
    }  # fmt: skip
    assert second["pool"] == "k80" and second["cost"] == 1.0
    assert second["waitHours"] == pytest.approx(899 / 3600, abs=1e-4)
    assert second["deadlineMet"] is False and second["late"] is True
    assert second["lateHours"] == 0.25  # its deadline went out of reach at 900 s
    # A job that never ran, and jobs without deadlines.
    (never,) = simreport.job_rows(play("cheapest", jobs_of(trace((0.0, 2)), None)))
    assert never["startHours"] is None and never["finishHours"] is None
    assert never["waitHours"] is None and never["pool"] is None
    assert never["workers"] == 0 and never["cost"] == 0.0
    assert never["deadlineHours"] is None and never["deadlineMet"] is None


def test_cost_floor_is_each_job_on_its_cheapest_option_in_time():
    jobs = jobs_of(trace((0.0, 1), (0.0, 1)), [5.0, 2.0])
    assert simrun.cost_floor(jobs, CLUSTER) == to_micros(0.5) * 2


# --- files and the command line ----------------------------------------------------------------

PRICE_TABLE = """\
apiVersion: pricewise.dev/v1alpha1
kind: PriceTable
metadata: {name: t}
spec:
  currency: USD
  pools:
    - {name: k80, accelerator: nvidia-tesla-k80, nodeSelector: {p: k80},
       prices: {perDeviceHour: 1.0}}
    - {name: v100, accelerator: nvidia-tesla-v100, nodeSelector: {p: v100},
       prices: {perDeviceHour: 2.0}}
"""
NODE_POOLS = """\
kind: NodePools
pools:
  - {pool: k80, nodes: 1, allocatable: {cpu: "64", memory: 416Gi, nvidia.com/gpu: "1"}}
  - {pool: v100, nodes: 1, allocatable: {cpu: "64", memory: 416Gi, nvidia.com/gpu: "1"}}
"""
# Gavel's own layout: the isolated throughput under "null", pairs beside it; k80 has a 0.
THROUGHPUTS = {
    "k80": {"('m', 1)": {"null": 1.0, "('m', 1)": [0.5, 0.5]}, "('x', 1)": {"null": 0.0}},
    "p100": {"('m', 1)": {"null": 2.0}},
    "v100": {"('m', 1)": {"null": 4.0}, "('x', 1)": {"null": 3.0}},
    "v100_unconsolidated": {"('m', 1)": {"null": 99.0}},
}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "prices": tmp_path / "prices.yaml",
        "nodes": tmp_path / "nodes.yaml",
        "throughputs": tmp_path / "throughputs.json",
        "trace": tmp_path / "t.trace",
    }
    paths["prices"].write_text(PRICE_TABLE)
    paths["nodes"].write_text(NODE_POOLS)
    paths["throughputs"].write_text(json.dumps(THROUGHPUTS))
    # Gavel's 7-field layout; the third job has no measured throughput at 4 GPUs.
    paths["trace"].write_text(
        "m\tpython3 train.py\t-step\t1\t3600\t0.000000\t1\n"
        "m\tpython3 train.py\t-step\t1\t3600\t0.000000\t1\n"
        "m\tpython3 train.py\t-step\t1\t3600\t10.000000\t4\n"
    )
    return paths


def test_gavel_files_read_as_published(files: dict[str, Path]):
    table = load_throughputs(files["throughputs"])
    assert table == {
        ("m", 1): {K80: 1.0, "nvidia-tesla-p100": 2.0, V100: 4.0},
        ("x", 1): {V100: 3.0},
    }
    jobs = load_trace(files["trace"])
    assert [(j.index, j.steps, j.arrival_s, j.scale_factor) for j in jobs] == [
        (1, 3600, 0.0, 1), (2, 3600, 0.0, 1), (3, 3600, 10.0, 4)]  # fmt: skip
    files["trace"].write_text("m\t3600\t0\n")
    with pytest.raises(TraceError, match="3 tab-separated fields"):
        load_trace(files["trace"])
    # A line cut after its last tab names the field, not Python's int().
    files["trace"].write_text("m\tc\td\t1\t3600\t0\t\n")
    with pytest.raises(TraceError, match=r":1: field 7 \(scale factor\) is empty: is the file"):
        load_trace(files["trace"])


def test_pools_from_files_with_overrides(files: dict[str, Path]):
    pools, currency = load_pools(files["prices"], files["nodes"], {"v100": 3}, ["v100", "k80"])
    assert currency == "USD"
    assert [(p.name, p.order, len(p.nodes)) for p in pools] == [("v100", 0, 3), ("k80", 1, 1)]
    assert pools[0].nodes[2].allocatable.gpu == 1
    assert pools[0].prices.per_device_hour == to_micros(2.0)
    with pytest.raises(ClusterFileError, match="no pool 'a100'"):
        load_pools(files["prices"], files["nodes"], {"a100": 1})
    # "v100,k80,v100" put k80 first: the last mention counted.
    with pytest.raises(ClusterFileError, match="v100 given twice; name each pool once"):
        load_pools(files["prices"], files["nodes"], None, ["v100", "k80", "v100"])


def _cli(files: dict[str, Path], *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "pricewise", "simulate", str(files["trace"]),
        "--throughputs", str(files["throughputs"]), "--price-table", str(files["prices"]),
        "--node-pools", str(files["nodes"]), "--deadline-factor", "2", "2", *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_cli_json_has_every_policy_with_the_hand_worked_figures(files: dict[str, Path]):
    done = _cli(files, "--pool", "v100", "-o", "json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["setup"]["jobs"] == 2 and out["setup"]["skippedNoThroughput"] == 1
    # What pricewise was run with: runs with other wait costs could not be told apart.
    assert (out["setup"]["waitCost"], out["setup"]["maxWaitHours"]) == (0.3, 24.0)
    rows = {r["policy"]: r for r in out["policies"]}
    assert list(rows) == [
        "pricewise", "pricewise-free-waits", "pricewise-now", "first-fit", "kueue", "cheapest",
        "backfill", "fifo",
    ]  # fmt: skip
    # Same case as the late-job test above: deadlines 2 x 15 min for both jobs. Job 2 can
    # still make it at 900 s (900 s left, 900 s needed), so nobody misses...
    kueue = rows.pop("kueue")
    for policy in rows:
        assert rows[policy]["totalCost"] == 1.0, policy
        assert rows[policy]["deadlineMisses"] == 0, policy
    # ...but Kueue's way, blind to deadlines: job 1 on the K80 first in the order (1 h, 1.00
    # USD, late), job 2 on the V100 (15 min, 0.50).
    assert (kueue["totalCost"], kueue["deadlineMisses"]) == (1.5, 1)
    assert out["setup"]["costFloor"] == 1.0
    assert out["setup"]["fifoPool"] == "v100"


def test_cli_table_and_plots(files: dict[str, Path], tmp_path: Path):
    done = _cli(files, "--policy", "first-fit", "--policy", "cheapest", "--plots",
                str(tmp_path / "figs"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split()[:2] == ["POLICY", "COST"]
    assert "fifo" not in done.stdout  # fifo was not run: its pool is not named
    assert "pricewise" not in done.stdout.split("cost floor")[0].split("POLICY")[1]
    for name in ("cost_and_misses.png", "cost_over_time.png", "utilisation.png"):
        assert (tmp_path / "figs" / name).read_bytes()[:4] == b"\x89PNG"


def test_cli_errors_name_the_problem(files: dict[str, Path]):
    done = _cli(files, "--nodes", "a100=2")
    assert done.returncode == 2
    assert "no pool 'a100'" in done.stderr


def test_a_plots_folder_that_cannot_be_made_is_refused_before_the_replay(
    files: dict[str, Path], tmp_path: Path
):
    # It was found after the whole replay, as a FileNotFoundError traceback.
    (tmp_path / "afile").write_text("")
    done = _cli(files, "--plots", str(tmp_path / "afile" / "figs"))
    assert (done.returncode, done.stdout) == (2, "")
    assert f"--plots {tmp_path}/afile/figs: cannot create the folder: Not a directory" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr
    done = _cli(files, "--plots", str(tmp_path / "afile"))
    assert f"--plots {tmp_path}/afile: a file is there; give a folder" in done.stderr


@pytest.mark.parametrize(
    "text",
    [PRICE_TABLE, "", "kind: NodePools\npools: []\n"],
    ids=["a-price-table", "empty", "no-pools"],
)
def test_a_node_pool_file_without_pools_or_nodes_is_refused(files: dict[str, Path], text: str):
    # Such a file replayed the trace on a cluster of no GPU, every job unplaced.
    files["nodes"].write_text(text)
    says = f"^{re.escape(str(files['nodes']))}: no NodePools or Node objects in the file"
    with pytest.raises(ClusterFileError, match=says):
        load_pools(files["prices"], files["nodes"])
    files["nodes"].write_text("kind: NodePools\npools: [{pool: v100, nodes: 0}]\n")
    assert [len(p.nodes) for p in load_pools(files["prices"], files["nodes"])[0]] == [0, 0]


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("{pool: k80, nodes: 1, allocatible: {nvidia.com/gpu: '1'}}",
         "pool k80: unknown field allocatible; did you mean allocatable?"),
        ("{pool: k80, nodez: 1}", "pool k80: unknown field nodez; did you mean nodes?"),
        ("{pool: k80, nodes: 1, allocatable: {cpu: '8', memory: 64Gi}}",
         "pool k80: accelerator nvidia-tesla-k80 asks each worker for nvidia.com/gpu, which none"),
    ],
)  # fmt: skip
def test_a_node_pool_entry_that_would_replay_no_device_is_refused(
    files: dict[str, Path], entry: str, says: str
):
    # A misspelt allocatable replayed the trace on pools of no GPU: 0.00 USD, every job
    # unplaced, exit 0.
    files["nodes"].write_text(f"kind: NodePools\npools: [{entry}]\n")
    with pytest.raises(ClusterFileError, match=re.escape(says)):
        load_pools(files["prices"], files["nodes"])


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("kind: NodePools\npools: {k80: 1}\n", "pools must be a list of {pool, nodes, allocat"),
        ("kind: NodePools\npools: [k80]\n", "pools must be a list of {pool, nodes, allocatable"),
        ("kind: NodePools\npools: [{pool: k80, nodes: 1, allocatable: [1]}]\n",
         "pool k80: allocatable must be a map"),
        ("kind: NodePools\npools: [{pool: k80, nodes: 1000000000}]\n",
         "pool k80: nodes must be a whole number from 0 to 10,000"),
        ("kind: Node\nmetadata: {name: n1, labels: [a]}\n",
         "Node n1: metadata.labels must be a map, not list"),
        ("kind: Node\nmetadata: {name: n1}\nstatus: {allocatable: {cpu: lots}}\n",
         "Node n1: status.allocatable.cpu: 'lots' is not a quantity"),
    ],
)  # fmt: skip
def test_a_node_pool_file_of_the_wrong_form_names_the_field(
    files: dict[str, Path], text: str, says: str
):
    # Each ended in an AttributeError or TypeError traceback (`plan` named the same fields).
    files["nodes"].write_text(text)
    with pytest.raises(ClusterFileError, match=re.escape(says)):
        load_pools(files["prices"], files["nodes"])


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ([1], "throughputs must be a map of worker types, not a list"),
        ({"k80": [1]}, "k80: must be a map of jobs to throughputs, not a list"),
        ({"k80": {'("A3C", 1)': 1}}, "no throughput for any of the trace's 3 job(s)"),
    ],
)
def test_throughputs_of_the_wrong_form_or_for_no_job_are_refused(
    files: dict[str, Path], given: object, says: str
):
    # An AttributeError's traceback; a file for none of the trace's jobs replayed none, exit 0.
    files["throughputs"].write_text(json.dumps(given))
    done = _cli(files)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert says in done.stderr


def test_a_window_that_does_not_divide_an_arrival_ends(files: dict[str, Path]):
    # ceil(251699 / 0.7) * 0.7 fell short of the arrival: the replay looped for ever.
    files["trace"].write_text(
        "m\tpython3 train.py\t-step\t1\t3600\t0.000000\t1\n"
        "m\tpython3 train.py\t-step\t1\t3600\t251699.000000\t1\n"
    )
    done = _cli(files, "--window", "0.7", "--policy", "first-fit")
    assert done.returncode == 0, done.stderr


def test_a_pool_without_prices_is_refused_not_replayed_for_free(files: dict[str, Path]):
    files["prices"].write_text(PRICE_TABLE.replace("prices: {perDeviceHour: 2.0}", "prices: {}"))
    says = f"{files['prices']}: pool v100 has no price: jobs placed there cost nothing"
    with pytest.raises(ClusterFileError, match=re.escape(says)):
        load_pools(files["prices"], files["nodes"])


def test_pools_from_node_objects_matched_by_selector(files: dict[str, Path]):
    files["nodes"].write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        + "".join(
            f"- kind: Node\n  metadata: {{name: {name}, labels: {{p: {pool}}}}}\n"
            f"  status: {{allocatable: {{cpu: '8', memory: 64Gi, nvidia.com/gpu: '{gpus}'}}}}\n"
            for name, pool, gpus in (("a", "v100", 8), ("b", "v100", 4), ("c", "other", 8))
        )
    )
    pools, _ = load_pools(files["prices"], files["nodes"])
    by_name = {p.name: p for p in pools}
    assert [n.name for n in by_name["v100"].nodes] == ["a", "b"]
    assert [n.allocatable.gpu for n in by_name["v100"].nodes] == [8, 4]
    assert by_name["k80"].nodes == ()


def test_trace_window_and_deadline_factors_are_reproducible():
    jobs = [TraceJob(i, "m", 100, arrival, 1) for i, arrival in enumerate([50.0, 10.0, 30.0, 90.0])]
    picked = window(jobs, skip=1, count=2, scale=0.5)
    # By arrival: 10, 30, 50, 90; skip one, take two, shift to 0 and halve the gaps.
    assert [(j.index, j.arrival_s) for j in picked] == [(2, 0.0), (0, 10.0)]
    first, again = deadline_factors(50, 1.5, 3.0, 4), deadline_factors(50, 1.5, 3.0, 4)
    assert first == again and all(1.5 <= f <= 3.0 for f in first)
    assert first != deadline_factors(50, 1.5, 3.0, 5)
    with pytest.raises(ValueError, match="1 <= low <= high"):
        deadline_factors(1, 3.0, 1.5, 0)


def test_a_batching_window_holds_events_until_its_end():
    jobs = jobs_of(trace((0.0, 1), (10.0, 1)), None)
    result = run(jobs, CLUSTER, simpolicies.cheapest_policy, "cheapest", window_s=600.0)
    # Job 1 at 0 runs on v100 till 900; job 2 (at 10 s) is seen at 600 s, when only k80 is
    # free, and job 1's end is seen at 1200 s.
    assert [(r.start_s, r.pool) for r in result.records] == [(0.0, "v100"), (600.0, "k80")]
    assert result.cycles == 2


def test_the_shipped_benchmark_data_replays(capsys: pytest.CaptureFixture[str]):
    data = Path(__file__).parents[2] / "benchmarks" / "data"
    code = simulate.main([
        str(data / "gavel" / "traces" / "philly-derived-seed0-103959.trace"),
        "--throughputs", str(data / "gavel" / "throughputs-isolated.json"),
        "--price-table", str(data / "pricetable-gcp-gavel.yaml"),
        "--node-pools", str(data / "nodepools-gavel.yaml"),
        "--jobs", "40", "--policy", "cheapest", "--policy", "first-fit", "-o", "json",
    ])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["setup"]["jobs"] + out["setup"]["skippedNoThroughput"] == 40
    assert [p["name"] for p in out["setup"]["pools"]] == ["k80", "p100", "v100"]
    for row in out["policies"]:
        assert row["completed"] == out["setup"]["jobs"] > 30
        assert row["totalCost"] > 0 and out["setup"]["costFloor"] > 0


RECORD_FIELDS = {
    "job", "label", "gpus", "arrivalHours", "deadlineHours", "startHours", "finishHours",
    "waitHours", "pool", "workers", "cost", "deadlineMet", "late", "lateHours",
    "firstPromiseHours",
}  # fmt: skip


def test_per_job_json_adds_up_to_each_policys_row(capsys: pytest.CaptureFixture[str]):
    """`-o json --per-job`, which benchmarks/README.md's job-level figures come from."""
    data = Path(__file__).parents[2] / "benchmarks" / "data"
    code = simulate.main([
        str(data / "gavel" / "traces" / "philly-derived-seed0-2869ce.trace"),
        "--throughputs", str(data / "gavel" / "throughputs-isolated.json"),
        "--price-table", str(data / "pricetable-gcp-gavel.yaml"),
        "--node-pools", str(data / "nodepools-gavel.yaml"),
        "--jobs", "60", "--nodes", "v100=1", "--arrival-scale", "0.3", "--time-limit", "1",
        "-o", "json", "--per-job",
    ])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    pools = {p["name"] for p in out["setup"]["pools"]}
    assert [row["policy"] for row in out["policies"]] == list(simpolicies.POLICIES)
    for row in out["policies"]:
        records = row["records"]
        assert len(records) == row["jobs"] == out["setup"]["jobs"], row["policy"]
        assert len({r["job"] for r in records}) == len(records)
        assert all(set(r) == RECORD_FIELDS for r in records)
        assert sum(r["cost"] for r in records) == pytest.approx(row["totalCost"], abs=0.006)
        assert sum(r["deadlineMet"] is False for r in records) == row["deadlineMisses"]
        ran = [r for r in records if r["startHours"] is not None]
        assert len(ran) == row["completed"] and row["completed"] + row["unplaced"] == len(records)
        assert sum(r["waitHours"] for r in ran) / len(ran) == pytest.approx(
            row["meanWaitHours"], abs=1e-3
        )
        for r in ran:
            assert r["pool"] in pools and r["workers"] >= 1 and r["cost"] > 0
            assert r["waitHours"] == pytest.approx(r["startHours"] - r["arrivalHours"], abs=2e-4)
            assert r["arrivalHours"] <= r["startHours"] < r["finishHours"]
            if r["deadlineMet"]:
                assert r["finishHours"] <= r["deadlineHours"] + 1e-4
        arrivals = [r["arrivalHours"] for r in records]
        assert arrivals == sorted(arrivals)
    # The contention this setting makes: someone waited, someone missed.
    assert any(row["deadlineMisses"] for row in out["policies"])
    assert any(row["meanWaitHours"] > 0 for row in out["policies"])


def test_max_wait_takes_the_charts_duration_as_well_as_hours(files: dict[str, Path]):
    # The chart's scheduler.maxWait is a duration; a value copied from it replays that bound.
    for given in ("2d", "48"):
        done = _cli(files, "--policy", "pricewise", "--max-wait", given, "-o", "json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["setup"]["maxWaitHours"] == 48.0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--runtime-noise", "2"), "--runtime-noise: '2' is not a share from 0 to below 1"),
        (("--jobs", "-3"), "--jobs: '-3' is not a whole number from 1"),
        (("--skip", "-2"), "--skip: '-2' is not a whole number from 0"),
        (("--skip", "100000"), "no job left after --skip 100000"),
        (("--time-limit", "0"), "--time-limit: '0' is not a number of seconds from 0.001"),
        # These ran: a scale of 0, a negative one or nan replayed a trace no cluster sees, and
        # an endless window or max wait never ended a cycle or a hold.
        (("--arrival-scale", "0"), "--arrival-scale: '0' is not a factor above 0"),
        (("--arrival-scale", "nan"), "--arrival-scale: 'nan' is not a factor above 0"),
        (("--deadline-factor", "-1", "2"), "--deadline-factor: '-1' is not a factor from 1"),
        # It said "deadline factors must satisfy 1 <= low <= high", naming no flag.
        (("--deadline-factor", "0", "0"), "--deadline-factor: '0' is not a factor from 1"),
        (("--deadline-factor", "3", "1.5"), "--deadline-factor 3 1.5: give the lower factor"),
        (("--window", "inf"), "--window: 'inf' is not a number of seconds from 0"),
        (("--max-wait", "inf"), "--max-wait: 'inf' is not a number of hours or a duration"),
        (("--max-wait", "2 days"), "--max-wait: '2 days' is not a number of hours or a dur"),
        # Each ended in an OverflowError's traceback (past a datetime's years), or made nodes
        # until memory ran out.
        (("--max-wait", "1e8"), "--max-wait: '1e8' is not a number of hours or a duration"),
        (("--arrival-scale", "1e300"), "--arrival-scale: '1e300' is not a factor above 0 and"),
        (("--deadline-factor", "1e300", "1e300"), "--deadline-factor: '1e300' is not a factor"),
        (("--window", "1e300"), "--window: '1e300' is not a number of seconds from 0 and below"),
        (("--nodes", "k80=100000000"), "--nodes 'k80=100000000': expected POOL=N with N from 0"),
    ],
)
def test_out_of_range_arguments_are_refused(
    files: dict[str, Path], args: tuple[str, ...], says: str
):
    done = _cli(files, *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert says in done.stderr


def test_node_pools_that_match_no_pool_are_refused(files: dict[str, Path], tmp_path: Path):
    # It ran, placed nothing and reported a cost floor of 0.00 USD.
    stray = tmp_path / "stray.yaml"
    stray.write_text(
        "apiVersion: v1\nkind: Node\nmetadata: {name: n, labels: {pool: none}}\n"
        "status: {allocatable: {cpu: '8', memory: 32Gi, nvidia.com/gpu: '8'}}\n"
    )
    done = _cli({**files, "nodes": stray})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"error: {stray}: the file puts no node in any pool of {files['prices']}" in (
        done.stderr
    )
    # With nodes in the file, --nodes is what emptied every pool: it is named.
    done = _cli(files, "--nodes", "k80=0", "--nodes", "v100=0")
    assert done.returncode == 2
    assert f"error: --nodes leaves no node in any pool of {files['prices']}" in done.stderr


def test_per_job_needs_json(files: dict[str, Path]):
    done = _cli(files, "--per-job")
    assert done.returncode == 2
    assert "--per-job needs -o json" in done.stderr
