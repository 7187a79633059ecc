"""Metric exposition: names, labels and values, rebuilt from state after a restart."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from factory import gpu_nodes, job, option, pool, snapshot
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pricewise.controller.accountant import Accountant
from pricewise.controller.cache import Cache
from pricewise.controller.metrics import Metrics
from pricewise.core.solver import solve

ROOT = Path(__file__).resolve().parents[2]


class NoKube:
    """The accountant is only read here; nothing may be written."""

    def __init__(self) -> None:
        self.requests = {"placement": 5, "waiting": 2}


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _by_namespace(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str
) -> dict[str, float]:
    """The samples of the metric `name`, by their namespace label."""
    return {dict(k[1])["namespace"]: v for k, v in samples.items() if k[0] == name}


def _released(at: datetime) -> dict[str, str]:
    """The Admitted condition of a job requeued at `at`."""
    return {"type": "Admitted", "status": "False", "reason": "Requeued",
            "lastTransitionTime": at.strftime("%Y-%m-%dT%H:%M:%SZ")}  # fmt: skip


def _table(name: str, pool: str, accelerator: str, prices: dict[str, float]) -> dict[str, Any]:
    """A PriceTable in USD of one pool, whose nodes are labelled `pool: <pool>`."""
    return {
        "metadata": {"name": name},
        "spec": {
            "currency": "USD",
            "pools": [
                {
                    "name": pool,
                    "accelerator": accelerator,
                    "nodeSelector": {"pool": pool},
                    "prices": prices,
                }
            ],
        },
    }


def _state(prices: dict[str, float] | None = None) -> Cache:
    """A cache of one A100 node, its PriceTable (`prices`), two jobs and a budget."""
    cache = Cache()
    cache.upsert_node(
        {
            "metadata": {
                "name": "a100-0",
                "labels": {"pool": "a100", "node.kubernetes.io/instance-type": "a2-ultragpu-8g"},
            },
            "spec": {"providerID": "gce://project/us-central1-a/a100-0"},
            "status": {"allocatable": {"cpu": "96", "memory": "1024Gi", "nvidia.com/gpu": "8"}},
        }
    )
    cache.upsert_price_table(
        _table(
            "p", "a100", "nvidia-a100-80gb", prices or {"perDeviceHour": 5.0, "perCpuHour": 0.01}
        )
    )
    start = datetime.now(UTC) - timedelta(hours=2)
    job: dict[str, Any] = {
        "metadata": {
            "name": "train",
            "namespace": "team-a",
            "uid": "u",
            "creationTimestamp": "2026-11-29T00:00:00Z",
        },
        "spec": {
            "options": [
                {"accelerator": "nvidia-a100-80gb", "devicesPerWorker": 8, "duration": "4h"}
            ]
        },
        "status": {
            "phase": "Running",
            "pool": "a100",
            "accelerator": "nvidia-a100-80gb",
            "workers": 1,
            "currency": "USD",
            "estimatedCost": 160.0,
            "accruedCost": 80.0,
            "costBuckets": {start.strftime("%Y-%m-%dT%H"): 80.0},
            "energyKWh": 0.059111,
        },
    }
    cache.upsert_job(job)
    waiting = {
        **job,
        "metadata": {**job["metadata"], "name": "wait"},
        "status": {"phase": "Pending", "reason": "BudgetExceeded"},
    }
    cache.upsert_job(waiting)
    hopeless = {
        **job,
        "metadata": {**job["metadata"], "name": "hopeless", "namespace": "team-b"},
        "status": {"phase": "Pending", "reason": "NotWorthRunning"},
    }
    cache.upsert_job(hopeless)
    cache.upsert_budget(
        {
            "metadata": {"name": "monthly", "namespace": "team-a"},
            "spec": {"limit": 200, "currency": "USD", "period": "total", "thresholds": [50, 80]},
        }
    )
    return cache


def test_a_scrape_leaves_the_cycle_s_budget_spend_to_its_snapshot() -> None:
    # Summed at the scrape's own time, it put the cycle's spend out of `spent_now`, and the
    # cycle planned with the Budget status's, a minute old.
    cache = _state()
    accountant = Accountant(cache, NoKube())  # type: ignore[arg-type]
    cycle = datetime.now(UTC) - timedelta(milliseconds=50)
    accountant.budget_status("team-a", "monthly", cycle)
    kept = accountant.spent_now(cycle)
    assert list(kept) == [("team-a", "monthly")]
    _samples(Metrics(cache, accountant))
    assert accountant.spent_now(cycle) == kept


def test_a_budget_writes_back_only_the_retained_costs_its_period_counts() -> None:
    # A daily Budget wrote back every hour of every deleted job of every past day: about a
    # key an hour without end, towards etcd's object limit.
    cache = _state()
    now = datetime(2026, 12, 5, 13, 20, tzinfo=UTC)
    past = {f"2026-{m:02d}-01T10": 1.0 for m in range(1, 13)}
    today = {"2026-12-05T00": 2.0, "2026-12-05T09:30": 3.0}
    cache.upsert_budget({"metadata": {"name": "daily", "namespace": "team-a"},
                         "spec": {"limit": 100, "currency": "USD", "period": "day"},
                         "status": {"retained": {**past, **today}}})  # fmt: skip
    written = Accountant(cache, NoKube()).budget_status("team-a", "daily", now)  # type: ignore[arg-type]
    assert written["retained"] == today


def test_state_gauges_from_the_cache() -> None:
    cache = _state()
    metrics = Metrics(cache, Accountant(cache, NoKube()))  # type: ignore[arg-type]
    samples = _samples(metrics)
    price = (
        "pricewise_pool_price_per_hour",
        (
            ("accelerator", "nvidia-a100-80gb"),
            ("capacity_type", "on-demand"),
            ("currency", "USD"),
            ("pool", "a100"),
            ("unit", "device"),
        ),
    )
    assert samples[price] == 5.0
    node = (
        "node_total_hourly_cost",
        (
            ("instance_type", "a2-ultragpu-8g"),
            ("node", "a100-0"),
            ("pool", "a100"),
            ("provider_id", "gce://project/us-central1-a/a100-0"),
        ),
    )
    assert samples[node] == 8 * 5.0 + 96 * 0.01
    job = (("currency", "USD"), ("namespace", "team-a"), ("pool", "a100"), ("trainingjob", "train"))
    assert samples[("pricewise_job_estimated_cost", job)] == 160.0
    assert samples[("pricewise_job_accrued_cost", job)] == 80.0
    drawn = (("namespace", "team-a"), ("pool", "a100"), ("trainingjob", "train"))
    # Not 212799.59999999998, the float of 0.059111 x 3.6e6.
    assert samples[("pricewise_job_energy_joules", drawn)] == 212799.6
    assert samples[("pricewise_jobs", (("namespace", "team-a"), ("phase", "Running")))] == 1
    assert samples[("pricewise_jobs", (("namespace", "team-a"), ("phase", "Failed")))] == 0
    pending = (("namespace", "team-a"), ("reason", "BudgetExceeded"))
    assert samples[("pricewise_pending_jobs", pending)] == 1
    assert (
        "pricewise_pending_jobs",
        (("namespace", "team-b"), ("reason", "BudgetExceeded")),
    ) not in samples
    # Only jobs that could run count as waiting too long: a job that cannot pages nobody.
    oldest = {k[1] for k in samples if k[0] == "pricewise_oldest_pending_job_age_seconds"}
    assert oldest == {(("namespace", "team-a"),)}
    budget = (("budget", "monthly"), ("currency", "USD"), ("namespace", "team-a"))
    assert samples[("pricewise_budget_spent", budget)] == 80.0
    assert samples[("pricewise_budget_committed", budget)] == 80.0
    assert samples[("pricewise_budget_remaining", budget)] == 40.0
    assert samples[("pricewise_budget_utilisation_ratio", budget)] == 0.8
    assert samples[("pricewise_budget_threshold_ratio", (*budget, ("threshold", "80")))] == 0.8
    # What the budget alerts read its severity from: a soft Budget's jobs run past its limit.
    info = (*budget[:2], ("enforcement", "hard"), ("namespace", "team-a"), ("period", "total"))
    assert samples[("pricewise_budget_info", info)] == 1


def test_a_pending_job_waits_since_its_last_requeue_and_an_invalid_one_pages_nobody() -> None:
    cache = _state()
    requeued_at = datetime.now(UTC) - timedelta(minutes=2)
    train = cache.jobs["team-a", "train"].body
    released = _released(requeued_at)
    cache.upsert_job({**train, "metadata": {**train["metadata"], "name": "requeued",
                                            "namespace": "team-c"},
                      "status": {"phase": "Pending", "reason": "WaitingForCapacity",
                                 "conditions": [released]}})  # fmt: skip
    cache.upsert_job({**train, "metadata": {**train["metadata"], "name": "bad",
                                            "namespace": "team-d"},
                      "status": {"phase": "Pending", "reason": "InvalidSpec"}})  # fmt: skip
    cache.upsert_job({**train, "metadata": {**train["metadata"], "name": "planned",
                                            "namespace": "team-e"},
                      "status": {"phase": "Pending", "reason": "Reserved"}})  # fmt: skip
    cache.upsert_job({**train, "metadata": {**train["metadata"], "name": "held",
                                            "namespace": "team-f"},
                      "status": {"phase": "Pending", "reason": "BudgetInvalid"}})  # fmt: skip
    samples = _samples(Metrics(cache, Accountant(cache, NoKube())))  # type: ignore[arg-type]
    ages = _by_namespace(samples, "pricewise_oldest_pending_job_age_seconds")
    # Created days ago, it had waited 2 minutes since its node went away; the invalid job,
    # and the one an unreadable hard Budget holds, are PricewiseObjectsRejected's to report;
    # the one planned to start waits by plan.
    assert 100 < ages["team-c"] < 200
    assert not {"team-d", "team-e", "team-f"} & set(ages)


def test_jobs_past_their_max_wait_are_counted_where_they_wait_for_room() -> None:
    cache = _state()
    train = cache.jobs["team-a", "train"].body
    now = datetime.now(UTC)
    two_days_ago = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tomorrow = (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    template = {"spec": {"containers": [{"name": "trainer", "image": "trainer"}]}}
    pending = [
        ("starved", "WaitingForCapacity", {}),
        ("held-at-earliest-room", "Reserved", {}),
        ("due-tomorrow", "WaitingForCapacity", {"deadline": tomorrow}),
        ("patient", "WaitingForCapacity", {"maxWait": "72h"}),
        ("over-quota", "QuotaExceeded", {}),
        ("left-for-next-cycle", "Deferred", {}),
        ("requeued-an-hour-ago", "WaitingForCapacity", {}),
    ]
    released = _released(now - timedelta(hours=1))
    for name, reason, spec in pending:
        conditions = [released] if name.startswith("requeued") else []
        cache.upsert_job({**train, "metadata": {**train["metadata"], "name": name,
                                                "namespace": "team-c",
                                                "creationTimestamp": two_days_ago},
                          "spec": {**train["spec"], "template": template, **spec},
                          "status": {"phase": "Pending", "reason": reason,
                                     "conditions": conditions}})  # fmt: skip
    samples = _samples(Metrics(cache, Accountant(cache, NoKube())))  # type: ignore[arg-type]
    past = _by_namespace(samples, "pricewise_pending_jobs_past_max_wait")
    # Two days against the default 24h: the jobs waiting for room, held at the earliest room or
    # left for the next cycle; not the job whose deadline bounds its wait, the one allowed 72h,
    # the one its quota holds, nor the one that ran until an hour ago (team-a's job waits on
    # its budget, team-b's is not worth running: 0, not absent).
    assert past == {"team-a": 0, "team-b": 0, "team-c": 3}
    # With the operator's max wait at 3d (PRICEWISE_MAX_WAIT), two days is within it.
    patient = Metrics(cache, Accountant(cache, NoKube()), max_wait_s=3 * 86_400.0)  # type: ignore[arg-type]
    assert _by_namespace(_samples(patient), "pricewise_pending_jobs_past_max_wait")["team-c"] == 0


def test_counters_start_at_zero_and_series_go_with_their_job() -> None:
    cache = _state()
    kube = NoKube()
    metrics = Metrics(
        cache,
        Accountant(cache, kube),  # type: ignore[arg-type]
        requests=lambda: kube.requests,
        backlog=lambda: 3,
    )
    names = {name for name, _ in _samples(metrics)}
    assert "pricewise_cost_accrued_total" not in names  # no sample until something accrues
    samples = _samples(metrics)
    assert samples[("pricewise_api_requests_total", (("purpose", "placement"),))] == 5
    assert samples[("pricewise_api_requests_total", (("purpose", "waiting"),))] == 2
    assert samples[("pricewise_status_writes_queued", ())] == 3
    metrics.restarts.labels("a100", "NodeLost").inc()
    assert not [name for name, _ in _samples(metrics) if name.endswith("_created")]
    cache.forget_job(("team-a", "train"))
    assert not any(name == "pricewise_job_accrued_cost" for name, _ in _samples(metrics))


def test_only_the_leader_exports_state() -> None:
    cache = _state()
    follower = Metrics(cache, Accountant(cache, NoKube()), is_leader=lambda: False)  # type: ignore[arg-type]
    samples = _samples(follower)
    assert samples[("pricewise_leader", ())] == 0
    assert not any(name.startswith("pricewise_budget_") for name, _ in samples)


def test_a_waiting_job_counts_once_a_reason_and_a_placement_each_time() -> None:
    one_node = pool("l4", "nvidia-l4", 1.0, gpu_nodes("l4", 1))
    plan = solve(snapshot([one_node], [job(n, option("nvidia-l4", 1000)) for n in "ab"]))
    cache = Cache()
    metrics = Metrics(cache, Accountant(cache, NoKube()))  # type: ignore[arg-type]

    def counted(outcome: str) -> float:
        return _samples(metrics)[("pricewise_decisions_total", (("outcome", outcome),))]

    for _ in range(2):
        metrics.observe(plan, plan.decisions, "USD")
    assert (counted("admitted"), counted("waiting")) == (2, 1)
    waiting = next(d for d in plan.decisions if d.chosen is None)
    moved = replace(waiting, reason="QuotaExceeded")
    metrics.observe(plan, [moved], "USD")
    metrics.observe(plan, [moved], "USD")
    assert counted("waiting") == 2
    metrics.observe(plan, [], "USD")  # placed or deleted: forgotten
    metrics.observe(plan, [moved], "USD")
    assert counted("waiting") == 3


def test_a_free_pool_exports_its_price_at_zero() -> None:
    # An on-premises pool priced at 0 had no price series: a dashboard lost the pool.
    cache = _state({"perDeviceHour": 0})
    samples = _samples(Metrics(cache, Accountant(cache, NoKube())))  # type: ignore[arg-type]
    prices = {
        dict(labels)["unit"]: value
        for (name, labels), value in samples.items()
        if name == "pricewise_pool_price_per_hour"
    }
    assert prices == {"device": 0.0}


def test_a_cpu_pool_exports_its_free_cores_and_no_free_devices() -> None:
    # A CPU pool's free devices read 0, as if it were full: its free room is its cores.
    cache = _state()
    cache.upsert_node(
        {
            "metadata": {"name": "cpu-0", "labels": {"pool": "cpu"}},
            "status": {"allocatable": {"cpu": "32", "memory": "128Gi"}},
        }
    )
    cache.upsert_pod(
        {
            "metadata": {"name": "other", "namespace": "team-a"},
            "spec": {
                "nodeName": "cpu-0",
                "containers": [{"name": "m", "resources": {"requests": {"cpu": "4500m"}}}],
            },
            "status": {"phase": "Running"},
        }
    )
    cache.upsert_price_table(_table("cpus", "cpu", "cpu", {"perCpuHour": 0.03}))
    samples = _samples(Metrics(cache, Accountant(cache, NoKube())))  # type: ignore[arg-type]

    def free(name: str) -> dict[str, float]:
        return {dict(labels)["pool"]: v for (n, labels), v in samples.items() if n == name}

    assert free("pricewise_pool_free_devices") == {"a100": 8}  # as in the PriceTable status
    assert free("pricewise_pool_free_cpu_cores") == {"a100": 96, "cpu": 27.5}


def test_a_node_cordoned_or_being_reclaimed_is_still_billed() -> None:
    # OpenCost's node cost series dropped a node as soon as it carried a reclaim taint (or was
    # cordoned), though the node was still there and billed.
    cache = _state()
    body = copy.deepcopy(cache.nodes["a100-0"])
    body["spec"] = {"unschedulable": True, "taints": [{"key": "karpenter.sh/disrupted"}]}
    cache.upsert_node(body)
    samples = _samples(Metrics(cache, Accountant(cache, NoKube())))  # type: ignore[arg-type]
    billed = {
        dict(labels)["node"] for (n, labels), _ in samples.items() if n == "node_total_hourly_cost"
    }
    assert billed == {"a100-0"}
    assert samples[("pricewise_pool_nodes", (("pool", "a100"),))] == 0  # it takes no worker


def test_a_cost_series_is_read_at_zero_before_it_counts() -> None:
    # `increase()` does not see a series' first sample: the first accrual of a namespace's
    # pool after each start (or failover) was lost to the burn-rate alert and the panels.
    cache = _state()
    accountant = Accountant(cache, NoKube())  # type: ignore[arg-type]
    metrics = Metrics(cache, accountant)
    plan = solve(snapshot([], []))
    key = ("pricewise_cost_accrued_total",
           (("currency", "USD"), ("namespace", "team-a"), ("pool", "a100")))  # fmt: skip
    accountant._accrued.append(("team-a", "a100", "USD", 2.5))
    metrics.observe(plan, [], "USD")
    metrics.observe(plan, [], "USD")  # a busy loop's next cycle, no scrape between
    assert _samples(metrics)[key] == 0.0  # the scrape that reads it at 0
    accountant._accrued.append(("team-a", "a100", "USD", 1.0))
    metrics.observe(plan, [], "USD")
    assert _samples(metrics)[key] == 3.5  # nothing lost, once read at 0
    accountant._accrued.append(("team-a", "a100", "USD", 0.5))
    metrics.observe(plan, [], "USD")
    assert _samples(metrics)[key] == 4.0


def test_the_solver_slow_threshold_the_chart_allows_is_one_the_histogram_can_read() -> None:
    # histogram_quantile never reads above the largest finite bucket (30 s): a threshold of
    # 45 s, which the chart took, left PricewiseSolverSlow unable to fire; the rule is `>`, so
    # the threshold must stay below that bucket.
    schema = json.loads((ROOT / "charts/pricewise/values.schema.json").read_text())
    thresholds = schema["properties"]["prometheusRule"]["properties"]["thresholds"]
    most = thresholds["properties"]["solverSeconds"]["exclusiveMaximum"]
    cache = Cache()
    metrics = Metrics(cache, Accountant(cache, NoKube()))  # type: ignore[arg-type]
    metrics.solver_seconds.observe(1.0)
    bounds = [
        float(dict(labels)["le"])
        for name, labels in _samples(metrics)
        if name == "pricewise_solver_duration_seconds_bucket"
    ]
    # The rule fires above the threshold: at the largest bucket it never would.
    assert max(b for b in bounds if b != float("inf")) >= most
