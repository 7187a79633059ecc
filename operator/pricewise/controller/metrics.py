"""Prometheus metrics, all in one place (names follow the Prometheus conventions).

Gauges of state (prices, budgets, jobs) are read from the cache at scrape time, so they are
right after a restart and a job's series disappear with it. Counters and the solver histogram
are ordinary instruments that restart from zero, as Prometheus expects of counters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Histogram, disable_created_metrics
from prometheus_client import Counter as CounterMetric
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pricewise.api.holds import NAMESPACE_HOLDS, SUSPENDED
from pricewise.api.models import ACTIVE_PHASES
from pricewise.api.podrequests import device_resource
from pricewise.controller.accountant import Accountant
from pricewise.controller.cache import Cache
from pricewise.controller.records import HELD_REASONS
from pricewise.core.costmodel import worker_hourly_price
from pricewise.core.explain import Decision
from pricewise.core.lookahead import LookAhead
from pricewise.core.refusals import INFEASIBLE
from pricewise.core.solver import Plan
from pricewise.core.times import parse_time
from pricewise.core.units import from_micros

JOULES_PER_KWH = 3.6e6

PHASES = ("Pending", "Admitted", "Running", "Succeeded", "Failed")
RESTART_CAUSES = ("WorkerFailed", "WorkerLost", "NodeLost")
"""What requeues a job (see `lifecycle.transition`)."""
UNCOUNTED_WAITS = frozenset(
    {
        *INFEASIBLE,
        *HELD_REASONS,
        *NAMESPACE_HOLDS,
        "InvalidSpec",
        "PlanningFailed",
        "Reserved",
        SUSPENDED,
    }
)
"""Reasons of pending jobs that the oldest-pending age leaves out: they wait for their owner
(suspended, or for a fix) and say so elsewhere (PricewiseObjectsRejected counts those held by
an unreadable limit: one bad Budget paged three times), or they are planned to start (a job held
five hours to save 0.40 USD paged as pending too long after one)."""


class StateCollector(Collector):
    """Gauges computed from the operator's cache when Prometheus scrapes."""

    def __init__(
        self,
        cache: Cache,
        accountant: Accountant,
        is_leader: Callable[[], bool],
        requests: Callable[[], Mapping[str, int]],
        backlog: Callable[[], int],
        max_wait_s: float,
    ) -> None:
        self.cache = cache
        self.accountant = accountant
        self.is_leader = is_leader
        self.requests = requests
        self.backlog = backlog
        self.max_wait_s = max_wait_s
        self.scrapes = 0
        """How many times the registry was read (a scrape, or its registration)."""

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """Every state gauge, and the count of API requests the operator made.

        Only the leader exports state: every replica sees the same cluster, and alerts would
        otherwise fire once per replica.
        """
        self.scrapes += 1
        now = datetime.now(UTC)
        requests = CounterMetricFamily(
            "pricewise_api_requests",
            "Requests the operator made to the Kubernetes API server, by purpose: placement "
            "(a placed job's status, event and workers), waiting (a waiting job's status and "
            "events), lifecycle (placed jobs' phases), preemption, accounting, leader, other.",
            labels=["purpose"],
        )
        for name, count in sorted(self.requests().items()):
            requests.add_metric([name], count)
        yield requests
        backlog = GaugeMetricFamily(
            "pricewise_status_writes_queued",
            "Waiting jobs' statuses decided but not yet written: a backlog that keeps growing "
            "means the API server cannot take the writes as fast as the cycles decide them.",
        )
        backlog.add_metric([], self.backlog())
        yield backlog
        leader = GaugeMetricFamily("pricewise_leader", "1 on the replica that schedules.")
        leader.add_metric([], 1.0 if self.is_leader() else 0.0)
        yield leader
        if not self.is_leader():
            return
        yield from self._prices()
        rejected = GaugeMetricFamily(
            "pricewise_rejected_objects",
            "Objects left out of planning (invalid, other currency, refused workers), by kind "
            "and reason; each says why in its status.",
            labels=["kind", "reason"],
        )
        for (kind, reason), count in sorted(self.cache.rejected().items()):
            rejected.add_metric([kind, reason], float(count))
        yield rejected
        yield from self._jobs(now)
        yield from self._budgets(now)

    def _prices(self) -> Iterator[GaugeMetricFamily]:
        price = GaugeMetricFamily(
            "pricewise_pool_price_per_hour",
            "Price of a pool per unit and hour, as its PriceTable says.",
            labels=["pool", "accelerator", "capacity_type", "unit", "currency"],
        )
        node_total = GaugeMetricFamily(
            "node_total_hourly_cost",
            "Hourly cost of a node (OpenCost's name and meaning).",
            labels=["node", "instance_type", "provider_id", "pool"],
        )
        node_gpu = GaugeMetricFamily(
            "node_gpu_hourly_cost", "Hourly cost of one GPU or TPU chip of a node (OpenCost).",
            labels=["node", "instance_type", "provider_id", "pool"],
        )  # fmt: skip
        node_cpu = GaugeMetricFamily(
            "node_cpu_hourly_cost", "Hourly cost of one CPU of a node (OpenCost).",
            labels=["node", "instance_type", "provider_id", "pool"],
        )  # fmt: skip
        node_ram = GaugeMetricFamily(
            "node_ram_hourly_cost", "Hourly cost of one GiB of memory of a node (OpenCost).",
            labels=["node", "instance_type", "provider_id", "pool"],
        )  # fmt: skip
        pool_nodes = GaugeMetricFamily("pricewise_pool_nodes", "Nodes in a pool.", labels=["pool"])
        # Two gauges, as the PriceTable status has freeDevices and freeCpu: one series mixing
        # GPUs and cores would sum to nothing a query could use.
        pool_free = GaugeMetricFamily(
            "pricewise_pool_free_devices",
            "GPUs or TPU chips of a pool that no pod requests; none for a CPU pool, which has "
            "no devices: its free room is pricewise_pool_free_cpu_cores.",
            labels=["pool"],
        )
        pool_free_cpu = GaugeMetricFamily(
            "pricewise_pool_free_cpu_cores",
            "CPU cores of a pool that no pod requests: what a CPU pool has free.",
            labels=["pool"],
        )
        pools, _ = self.cache.pools()
        currency = self.cache.currency()
        for pool in pools:
            prices = pool.prices
            units = {
                "device": prices.per_device_hour,
                "cpu": prices.per_cpu_hour,
                "gib": prices.per_gib_hour,
                "node": prices.per_node_hour,
            }
            # A free pool (prices set to 0) still has a price: its main unit, at 0, so that
            # dashboards and queries comparing pools do not lose it.
            main = "cpu" if pool.accelerator == "cpu" else "device"
            for unit, value in units.items():
                if value or (unit == main and not any(units.values())):
                    price.add_metric(
                        [pool.name, pool.accelerator, pool.capacity_type, unit, currency],
                        from_micros(value),
                    )
            pool_nodes.add_metric([pool.name], len(pool.nodes))
            if device_resource(pool.accelerator):  # a CPU pool's 0 read as "full"
                pool_free.add_metric([pool.name], pool.free.devices)
            pool_free_cpu.add_metric([pool.name], pool.free.cpu / 1000)
            # Cordoned, NotReady or being reclaimed, a node is still there and billed.
            for node in (*pool.nodes, *pool.unavailable):
                body = self.cache.nodes.get(node.name, {})
                labels = body.get("metadata", {}).get("labels", {})
                row = [
                    node.name,
                    labels.get("node.kubernetes.io/instance-type", ""),
                    # The cloud's id (gce://..., aws:///...), as OpenCost joins billing on.
                    body.get("spec", {}).get("providerID", ""),
                    pool.name,
                ]
                # A whole node is a "worker" of the node's size: the cost model's own formula.
                total = worker_hourly_price(pool, node.allocatable)
                node_total.add_metric(row, from_micros(round(total)))
                if node.allocatable.devices:
                    node_gpu.add_metric(row, from_micros(prices.per_device_hour))
                node_cpu.add_metric(row, from_micros(prices.per_cpu_hour))
                node_ram.add_metric(row, from_micros(prices.per_gib_hour))
        yield from (price, node_total, node_gpu, node_cpu, node_ram, pool_nodes)
        yield from (pool_free, pool_free_cpu)

    def _jobs(self, now: datetime) -> Iterator[GaugeMetricFamily]:
        # `trainingjob`, not `job`: Prometheus' own target label, which these series' would
        # replace under honor_labels (grouping by job mixed TrainingJobs with scrape jobs).
        labels = ["namespace", "trainingjob", "pool", "currency"]
        estimated = GaugeMetricFamily(
            "pricewise_job_estimated_cost",
            "Estimated cost of a placed, unfinished job.",
            labels=labels,
        )
        accrued = GaugeMetricFamily(
            "pricewise_job_accrued_cost",
            "Cost a placed, unfinished job has accrued.",
            labels=labels,
        )
        # Joules, Prometheus' base unit of energy (the status keeps kWh, as bills do).
        energy = GaugeMetricFamily(
            "pricewise_job_energy_joules",
            "Energy a placed, unfinished job has drawn.",
            labels=labels[:3],
        )
        phases = GaugeMetricFamily(
            "pricewise_jobs", "TrainingJobs by namespace and phase.", labels=["namespace", "phase"]
        )
        pending = GaugeMetricFamily(
            "pricewise_pending_jobs",
            "Pending TrainingJobs by namespace and reason.",
            labels=["namespace", "reason"],
        )
        oldest = GaugeMetricFamily(
            "pricewise_oldest_pending_job_age_seconds",
            "How long the longest-waiting Pending TrainingJob that could run has waited, since "
            "its creation or its last requeue: not one that cannot as specified (its owner is "
            "told, by a Warning event), one left out as invalid (PricewiseObjectsRejected), nor "
            "one planned to start (Reserved: pricewise_job_planned_start_timestamp_seconds).",
            labels=["namespace"],
        )
        planned = GaugeMetricFamily(
            "pricewise_job_planned_start_timestamp_seconds",
            "When a waiting job is planned to start, on the pool it waits for.",
            labels=labels[:3],
        )
        past = GaugeMetricFamily(
            "pricewise_pending_jobs_past_max_wait",
            "Pending TrainingJobs waiting for room, with no deadline ahead (none, or one they "
            "run late past: whenLate Run), for longer than their max wait (spec.maxWait, else "
            "the operator's scheduler.maxWait, 24h unless set) since their creation, last "
            "requeue or resume: the cluster had no room for them within it.",
            labels=["namespace"],
        )
        by_phase: Counter[tuple[str, str]] = Counter()
        by_reason: Counter[tuple[str, str]] = Counter()
        past_bound: Counter[str] = Counter()
        ages: dict[str, float] = {}
        for (namespace, name), record in list(self.cache.jobs.items()):
            st = record.status
            by_phase[namespace, record.phase] += 1
            if record.phase == "Pending":
                by_reason[namespace, st.reason or "New"] += 1
                since = record.waiting_since
                job = record.job
                if job and record.waited_past_max_wait(job, st.reason, now, self.max_wait_s):
                    past_bound[namespace] += 1
                if since and st.reason not in UNCOUNTED_WAITS:
                    ages[namespace] = max(ages.get(namespace, 0.0), (now - since).total_seconds())
                if st.planned_start is not None:
                    pool = next((r.pool for r in st.options if r.verdict == "planned"), "")
                    planned.add_metric([namespace, name, pool], st.planned_start.timestamp())
            if record.phase in ACTIVE_PHASES:
                row = [namespace, name, st.pool or "", st.currency or ""]
                fields = self.accountant.fields((namespace, name), None)
                estimated.add_metric(row, st.estimated_cost or 0.0)
                accrued.add_metric(row, float(fields.get("accrued_cost", st.accrued_cost)))
                kwh = float(fields.get("energy_kwh", st.energy_kwh))
                # To the millijoule: a kWh float times 3.6e6 printed 212799.59999999998.
                energy.add_metric(row[:3], round(kwh * JOULES_PER_KWH, 3))
        # Every phase of every namespace with a job: a phase that empties reads 0, not absent.
        for namespace in sorted({ns for ns, _ in by_phase}):
            for phase in PHASES:
                phases.add_metric([namespace, phase], by_phase[namespace, phase])
            past.add_metric([namespace], past_bound[namespace])
        for (namespace, reason), count in sorted(by_reason.items()):
            pending.add_metric([namespace, reason], count)
        for namespace, age in sorted(ages.items()):
            oldest.add_metric([namespace], age)
        yield from (estimated, accrued, energy, phases, pending, oldest, planned, past)

    def _budgets(self, now: datetime) -> Iterator[GaugeMetricFamily]:
        labels = ["namespace", "budget", "currency"]
        families = {
            "limit": GaugeMetricFamily(
                "pricewise_budget_limit", "A budget's limit per period.", labels=labels
            ),
            "spent": GaugeMetricFamily(
                "pricewise_budget_spent", "Spent in the current period.", labels=labels
            ),
            "committed": GaugeMetricFamily(
                "pricewise_budget_committed",
                "Estimated cost still to come of admitted jobs.",
                labels=labels,
            ),
            "remaining": GaugeMetricFamily(
                "pricewise_budget_remaining", "limit - spent - committed.", labels=labels
            ),
            "utilisation": GaugeMetricFamily(
                "pricewise_budget_utilisation_ratio", "(spent + committed) / limit.", labels=labels
            ),
            "burnRate": GaugeMetricFamily(
                "pricewise_budget_burn_rate_per_hour",
                "What running jobs cost per hour.",
                labels=labels,
            ),
        }
        threshold = GaugeMetricFamily(
            "pricewise_budget_threshold_ratio",
            "Alert thresholds of a budget, as fractions of its limit.",
            labels=[*labels, "threshold"],
        )
        period_end = GaugeMetricFamily(
            "pricewise_budget_period_end_timestamp_seconds",
            "End of the current period.",
            labels=labels,
        )
        forecast = GaugeMetricFamily(
            "pricewise_budget_forecast_exhaustion_timestamp_seconds",
            "When the budget runs out at the current burn rate.",
            labels=labels,
        )
        # An info metric, as kube-state-metrics gives settings: the alerts page for a hard
        # Budget and warn for a soft one, which lets its jobs run past the limit.
        info = GaugeMetricFamily(
            "pricewise_budget_info",
            "A budget's settings as labels (spec.enforcement, spec.period); always 1.",
            labels=[*labels, "enforcement", "period"],
        )
        for (namespace, name), budget in sorted(self.cache.budgets.items()):
            if self.accountant.not_enforced((namespace, name)) is not None:
                continue  # its figures would mix currencies; pricewise_rejected_objects counts it
            row = [namespace, name, budget.spec.currency]
            st = self.accountant.budget_status(namespace, name, now, kept=False)
            families["limit"].add_metric(row, budget.spec.limit)
            info.add_metric([*row, budget.spec.enforcement, budget.spec.period], 1)
            for key in ("spent", "committed", "remaining", "utilisation", "burnRate"):
                families[key].add_metric(row, float(st[key]))
            for percent in budget.spec.thresholds:
                threshold.add_metric([*row, f"{percent:g}"], percent / 100)
            end = parse_time(st["periodEnd"])
            if end:
                period_end.add_metric(row, end.timestamp())
            exhaustion = parse_time(st["forecastExhaustion"])
            if exhaustion:
                forecast.add_metric(row, exhaustion.timestamp())
        yield from (*families.values(), threshold, period_end, forecast, info)


class Metrics:
    """The operator's metrics on one registry."""

    def __init__(
        self,
        cache: Cache,
        accountant: Accountant,
        registry: CollectorRegistry | None = None,
        is_leader: Callable[[], bool] = lambda: True,
        requests: Callable[[], Mapping[str, int]] = dict,
        backlog: Callable[[], int] = lambda: 0,
        max_wait_s: float = LookAhead.max_wait_s,
    ) -> None:
        """`max_wait_s`: the operator's default max wait (`OperatorConfig.max_wait_s`), which
        the jobs without `spec.maxWait` are counted past."""
        # Every counter's `_created` twin is a series per label set that no dashboard or alert
        # reads (18 of `pricewise_job_restarts_created` on the demo alone).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry or CollectorRegistry()
        self.accountant = accountant
        self.state = StateCollector(cache, accountant, is_leader, requests, backlog, max_wait_s)
        self.registry.register(self.state)
        self._cost_since: dict[tuple[str, str, str], int] = {}
        """Each cost series, with the scrape count when it was made at 0."""
        self._cost_held: dict[tuple[str, str, str], float] = {}
        """What accrued on series no scrape has read yet at 0."""
        self.cost = CounterMetric(
            "pricewise_cost_accrued",
            "Cost accrued by jobs, by namespace and pool.",
            ["namespace", "pool", "currency"],
            registry=self.registry,
        )
        self.decisions = CounterMetric(
            "pricewise_decisions",
            "Scheduling decisions that changed a job's course, by outcome: admitted (a "
            "placement), waiting or infeasible (a pending job's first reason, or a new one).",
            ["outcome"],
            registry=self.registry,
        )
        self.savings = CounterMetric(
            "pricewise_savings",
            "Estimated cost saved against the pool an admin-ordered first-fit would have picked.",
            ["currency"],
            registry=self.registry,
        )
        self.cycles = CounterMetric(
            "pricewise_scheduling_cycles",
            "Scheduling cycles by result: error when the cycle, one of its steps or one of its "
            "API writes failed (each logged).",
            ["result"],
            registry=self.registry,
        )
        # Each waiting job's reason as last counted: a job waiting for capacity for an hour is
        # one decision, not one a cycle (120 on the demo's 30 s period).
        self._counted: dict[tuple[str, str], str] = {}
        for result in ("ok", "error"):  # at 0 from the start: increase() misses a first step
            self.cycles.labels(result)
        self.restarts = CounterMetric(
            "pricewise_job_restarts",
            "Jobs requeued after a lost or failed worker, by pool and cause (WorkerFailed, "
            "WorkerLost, NodeLost).",
            ["pool", "cause"],
            registry=self.registry,
        )
        self.preemptions = CounterMetric(
            "pricewise_preemptions",
            "Running jobs requeued to make room for a job of higher priority, by pool.",
            ["pool"],
            registry=self.registry,
        )
        self.lost_work_cost = CounterMetric(
            "pricewise_lost_work_cost",
            "Cost of work lost when a run was cut (since its last checkpoint), by reason "
            "(Preempted, Suspended, WorkerFailed, WorkerLost, NodeLost, DeadlineExceeded); "
            "accrued, never given back.",
            ["namespace", "pool", "reason", "currency"],
            registry=self.registry,
        )
        self.solver_status = CounterMetric(
            "pricewise_solver_solves", "Solver runs by status.", ["status"], registry=self.registry
        )
        self.solver_seconds = Histogram(
            "pricewise_solver_duration_seconds",
            "Time the solver took per cycle.",
            # Up to 10 min: PricewiseSolverSlow's threshold can be no more than the largest
            # bucket (a quantile never reads above it), and scheduler.solverSeconds may be long.
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=self.registry,
        )

    def pools_seen(self, pools: Iterable[str]) -> None:
        """Each pool's restart counters, at 0 until a first restart: `increase()` does not see
        a series' first sample, so PricewisePoolLosingNodes needed a fourth loss on a new pool."""
        for pool in pools:
            for cause in RESTART_CAUSES:
                self.restarts.labels(pool, cause)

    def observe(self, plan: Plan, decided: Iterable[Decision], currency: str) -> None:
        """Record one cycle's plan, the decisions that took effect (`decided`: the placements
        written, and every waiting job; a placement whose status write failed is decided again
        next cycle, and counted then) and what was accrued since the last (the cycle's result
        is counted by the loop, which knows whether anything failed in it)."""
        self.solver_status.labels(plan.status).inc()
        self.solver_seconds.observe(plan.seconds)
        counted = self._counted
        self._counted = {}
        for decision in decided:
            key = (decision.job.namespace, decision.job.name)
            if decision.chosen is None:
                self._counted[key] = decision.reason
                if counted.get(key) == decision.reason:
                    continue
            self.decisions.labels(outcome(decision)).inc()
            saved = savings(decision)
            if saved > 0:
                self.savings.labels(currency).inc(saved)
        # A series is read at 0 by a scrape before it counts anything: `increase()` does not
        # see a series' first sample, so the first accrual of a namespace's pool after each
        # start was lost to the budget burn-rate alert and the spend panels.
        for namespace, pool, placed_in, amount in self.accountant.drain_accrued():
            series = (namespace, pool, placed_in)
            if series not in self._cost_since:
                self.cost.labels(*series)
                self._cost_since[series] = self.state.scrapes
            self._cost_held[series] = self._cost_held.get(series, 0.0) + amount
        read = [s for s in self._cost_held if self.state.scrapes > self._cost_since[s]]
        for series in read:
            self.cost.labels(*series).inc(self._cost_held.pop(series))


def outcome(decision: Decision) -> str:
    """admitted; waiting (for capacity, quota or budget); or infeasible (as specified)."""
    if decision.chosen is not None:
        return "admitted"
    return "infeasible" if decision.reason in INFEASIBLE else "waiting"


def savings(decision: Decision) -> float:
    """What the chosen option saves against the first feasible pool in the admin's order."""
    chosen = decision.chosen
    if chosen is None:
        return 0.0
    feasible = [r.candidate for r in decision.options if r.verdict in ("chosen", "feasible")]
    first_fit = min(feasible, key=lambda c: c.pool.order)
    return from_micros(max(0, first_fit.cost - chosen.cost))
