"""The operator's accounting: accrue what placed jobs really cost and keep budgets current.

Accruals are computed in memory every cycle (and at once when a price changes, so the old
price applies up to that moment) and written to the TrainingJob status at least every
`interval` and at every phase change; budgets are recomputed from the jobs' hourly costs.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pricewise.api import holds
from pricewise.api.models import ACTIVE_PHASES, FINISHED_PHASES, BudgetStatus
from pricewise.api.wire import status_wire
from pricewise.controller import status
from pricewise.controller.cache import Cache
from pricewise.controller.records import JobRecord, Key
from pricewise.core import accounting
from pricewise.core.costmodel import worker_hourly_price
from pricewise.core.snapshot import Pool
from pricewise.core.times import optional_timestamp
from pricewise.core.units import format_micros_apart, to_micros
from pricewise.kube import ApiError, Kube, record_event

log = logging.getLogger(__name__)

CENT = 0.01
"""Spend figures are written to the cent: less than that apart, two are the same."""


def _persisted(record: JobRecord) -> accounting.Accrual:
    st = record.status
    return accounting.Accrual(st.accrued_cost, st.accrued_until, dict(st.cost_buckets),
                              st.energy_kwh)  # fmt: skip


class Accountant:
    """Keeps accruals and budget figures; the scheduler calls it once per cycle."""

    def __init__(
        self, cache: Cache, kube: Kube, interval: timedelta = timedelta(minutes=1)
    ) -> None:
        self.cache = cache
        self.kube = kube
        self.interval = interval
        self.accruals: dict[Key, accounting.Accrual] = {}
        self.rates: dict[Key, float] = {}
        """Hourly cost of each job's running workers, for burn rates."""
        self.retained: dict[Key, dict[str, float]] = {}
        """Hourly costs of deleted jobs by budget, until written to it: each budget of the
        namespace keeps them, and its own write may fail."""
        self._accrued: list[tuple[str, str, str, float]] = []
        """(namespace, pool, currency, amount) accrued since last drained, for the cost counter."""
        self._known: dict[str, Pool] = {}
        """Every pool as last priced: a pool taken out of its PriceTable under running jobs
        goes on costing what it did."""
        self._said: dict[Key, set[str]] = {}
        """What was said of each job's accrual (a pool gone, prices in another currency):
        said once while it lasts."""
        self._flush: set[Key] = set()
        """Jobs settled at old prices (`settle(flush=True)`), written at the next chance."""
        self._worker_rates: dict[Key, float] = {}
        """Hourly price of one of each job's workers at the prices last settled at."""
        self._priced_before: dict[Key, float] = {}
        """The same, for jobs settled at prices about to change (`settle(flush=True)`)."""
        self.estimates: dict[Key, float] = {}
        """A placed job's run re-estimated at prices changed since its placement, until its
        status says so: what it has cost so far, plus what was left of its estimate at the new
        price (its Budget's committed follows the price; its COST column did not)."""
        self._checked: set[Key] = set()
        """Budgets whose last written spend was checked against the cache's since the start
        (see `keep_unseen`)."""
        self.past_max_cost: list[tuple[Key, str]] = []
        """Placed jobs a price change took past their spec.maxCost, and what to tell them:
        the run goes on, and nothing else said so."""
        self.told: list[tuple[Key, str, str]] = []
        """Placed jobs whose accrual changed way, with the reason and message of the Warning
        event to tell them (see `_say_once`)."""
        self._told_past_max_cost: set[Key] = set()
        """Jobs told so, until a price change brings them within it again: told once."""
        self._spent: dict[Key, tuple[datetime, float]] = {}
        """Each budget's spend in its period as `budget_status` last summed it, and when."""
        self._budget_written: dict[Key, datetime] = {}
        """When each budget's figures were last written (see `_changed`)."""

    def _base(self, key: Key, record: JobRecord) -> accounting.Accrual:
        persisted = _persisted(record)
        memory = self.accruals.get(key)
        if memory is None or (persisted.until and memory.until and persisted.until >= memory.until):
            return persisted
        return memory

    def _due(self, record: JobRecord) -> bool:
        if record.phase in ACTIVE_PHASES:
            return True
        finished, until = record.status.finished_at, record.status.accrued_until
        return (
            record.phase in FINISHED_PHASES
            and finished is not None
            and (until is None or until < finished)
        )

    def settle(self, now: datetime, pools: Mapping[str, Pool], flush: bool = False) -> None:
        """Accrue every placed job up to `now` at the prices in `pools`; with `flush` (prices
        about to change), each such job's accrual is due for a write at once: one persisted a
        minute later would, after a restart in between, be accrued again at the new prices."""
        # Whole seconds: accruedUntil is persisted to the second, and accrual resumes from it
        # after a restart; a fraction accrued but not persisted would be counted twice.
        now = now.replace(microsecond=0)
        self.rates.clear()
        self._known.update(pools)
        currency = self.cache.currency()
        cuts = self._period_bounds(now)
        for key, record in list(self.cache.jobs.items()):
            if not self._due(record):
                continue
            try:
                self._settle_one(key, record, now, pools, currency, cuts.get(key[0], ()))
            except Exception:  # one job's figures must not stop the others' accounting
                log.exception("accrual of %s/%s failed", *key)
                continue
            if flush:
                self._flush.add(key)
                if key in self._worker_rates:
                    self._priced_before[key] = self._worker_rates[key]
            else:
                self._reprice(key, record, now)
        self.cache.departed.clear()  # those of jobs no longer placed: nothing to add them to

    def _reprice(self, key: Key, record: JobRecord, now: datetime) -> None:
        """Re-estimate a placed job's run if its worker's price changed since `settle(flush=True)`:
        the part of its estimate not yet accrued, scaled by the new price over the old; from a
        price of 0, its workers' time left to its estimated end at the new price."""
        old, new = self._priced_before.pop(key, None), self._worker_rates.get(key)
        st, accrual = record.status, self.accruals.get(key)
        if old is None or new is None or new == old:
            return
        if st.estimated_cost is None or accrual is None:
            return
        run = accrual.cost - (st.accrued_before_run or 0.0)
        if old:
            left = max(0.0, self.estimates.get(key, st.estimated_cost) - run) * new / old
        else:  # nothing to scale
            end = self.cache.estimated_end(key, record)
            left_h = 0.0 if end is None else max(0.0, (end - now).total_seconds()) / 3600
            left = new * (st.workers or 0) * left_h
        estimate = run + left
        self.estimates[key] = round(estimate, 2)
        limit = record.job.max_cost if record.job is not None else None
        if limit is None or to_micros(estimate) <= limit:
            self._told_past_max_cost.discard(key)
        elif key not in self._told_past_max_cost:
            self._told_past_max_cost.add(key)
            currency = st.currency or self.cache.currency()
            cost, most = format_micros_apart(to_micros(estimate), limit, currency)
            self.past_max_cost.append((key, (
                f"estimated {cost} since a price change, past spec.maxCost {most}: maxCost is "
                "checked where a job is placed, and a placed run goes on; delete the job to "
                "stop it"
            )))  # fmt: skip

    def _period_bounds(self, now: datetime) -> dict[str, tuple[datetime, ...]]:
        """Per namespace, the bounds of its Budgets' periods around `now`: where its jobs'
        hour buckets are split (`accounting.accrue`)."""
        bounds: dict[str, set[datetime]] = {}
        for (namespace, _), budget in self.cache.budgets.items():
            start, end = accounting.period_bounds(budget.spec.period, budget.spec.time_zone, now)
            bounds.setdefault(namespace, set()).update(b for b in (start, end) if b is not None)
        return {namespace: tuple(sorted(b)) for namespace, b in bounds.items()}

    def _settle_one(
        self,
        key: Key,
        record: JobRecord,
        now: datetime,
        pools: Mapping[str, Pool],
        currency: str,
        cuts: tuple[datetime, ...] = (),
    ) -> None:
        """Accrue one job up to `now`, its hour buckets split at `cuts`."""
        name, placed_in = record.status.pool or "", record.status.currency
        worker = self.cache.planned_worker(record)
        pool = pools.get(name)
        rate = self._worker_rates.get(key)
        if placed_in and placed_in != currency:
            # Its accrual is in the currency it was placed in, and amounts of another cannot be
            # added to it: it goes on at its last price in that one, as a job whose pool was
            # taken out does (it stopped, and lost the rest of its run for the switch). With no
            # price known (an operator started since), it resumes once the prices are back.
            if rate is None:
                self._say_once(
                    key,
                    "NotAccrued",
                    f"placed at {placed_in} prices; the PriceTable's are in {currency} now: not "
                    f"accrued until they are in {placed_in} again",
                )
                return
            self._say_once(
                key,
                "NotAccrued",
                f"placed at {placed_in} prices; the PriceTable's are in {currency} now: "
                f"accrued at its last {placed_in} price",
            )
            pool = pool or self._known.get(name)  # for its power alone
        elif pool is not None:
            # Priced as placed again: should it change way again, it is told again.
            self._said.pop(key, None)
            rate = worker_hourly_price(pool, worker) / 1_000_000
        else:
            pool = self._known.get(name)
            if pool is None:
                return
            self._say_once(
                key,
                "PoolUnpriced",
                f"runs on pool {name}, which no PriceTable has now: accrued at its last price",
            )
            rate = worker_hourly_price(pool, worker) / 1_000_000
        self._worker_rates[key] = rate
        watts = (pool.power_per_device_watts or 0.0) * worker.devices if pool else 0.0
        pods = self.cache.workers_of(*key)
        spans = self._spans(key)
        base = self._base(key, record)
        updated = accounting.accrue(base, spans, rate, watts, now, cuts)
        if updated.cost > base.cost:
            self._accrued.append((key[0], name, placed_in or currency, updated.cost - base.cost))
        self.accruals[key] = updated
        running = sum(1 for p in pods.values() if p.start and not p.end)
        self.rates[key] = rate * running
        self._past_max_cost(key, record, base.cost, updated.cost, currency)

    def _spans(self, key: Key) -> list[accounting.Span]:
        """When a job's workers ran: those in the cache, and those gone since the last accrual
        (taken: they are counted once)."""
        spans = [accounting.Span(p.start, p.end) for p in self.cache.workers_of(*key).values()]
        return spans + self.cache.departed_runs(key)

    def _past_max_cost(
        self, key: Key, record: JobRecord, before: float, accrued: float, currency: str
    ) -> None:
        """Tell a running job as its run's cost passes its spec.maxCost (a limit a run, as
        where it was placed): a run longer than its estimate passed it without a word (only a
        price rise was told). Told as the accrual crosses it, so nothing to remember: a
        restart, or the next run of a requeued job, is told as its own run crosses it."""
        limit = record.job.max_cost if record.job is not None else None
        earlier = record.status.accrued_before_run or 0.0
        run, was = to_micros(accrued - earlier), to_micros(before - earlier)
        if limit is None or record.phase not in ACTIVE_PHASES or not was <= limit < run:
            return
        cost, most = format_micros_apart(run, limit, record.status.currency or currency)
        self.past_max_cost.append((key, (
            f"its run has cost {cost}, past spec.maxCost {most}: it runs longer than its "
            "estimate, and maxCost is checked where a job is placed, so the run goes on; delete "
            "the job to stop it"
        )))  # fmt: skip

    def _say_once(self, key: Key, reason: str, what: str) -> None:
        """Log `what` of a placed job's accrual, and queue it for a Warning event on the job
        (`told`), once: an admin who removed a pool its jobs run on reads it in `kubectl
        describe`, not only in the operator's log."""
        if what not in self._said.setdefault(key, set()):
            self._said[key].add(what)
            self.told.append((key, reason, what))
            log.warning("TrainingJob %s/%s %s", *key, what)

    def drain_accrued(self) -> list[tuple[str, str, str, float]]:
        """(namespace, pool, currency, amount) accrued since the last call: what the cost
        counter adds, in the currency each job was placed in."""
        drained, self._accrued = self._accrued, []
        return drained

    def fields(self, key: Key, carbon_g_per_kwh: float | None) -> dict[str, Any]:
        """The status fields (`TrainingJobStatus` names) that persist a job's accrual."""
        accrual = self.accruals.get(key)
        if accrual is None:
            return {}
        return {
            "accrued_cost": accrual.cost,
            "accrued_until": optional_timestamp(accrual.until),
            "cost_buckets": dict(accrual.buckets),
            "energy_kwh": round(accrual.energy_kwh, 6),
            "emissions_kg": round(accrual.energy_kwh * (carbon_g_per_kwh or 0.0) / 1000, 6),
            **({"estimated_cost": self.estimates[key]} if key in self.estimates else {}),
        }

    def due_for_write(self, key: Key, record: JobRecord, now: datetime) -> bool:
        """Whether the job's accrual should be written now (every interval, and when done)."""
        accrual = self.accruals.get(key)
        if accrual is None:
            return False
        persisted = _persisted(record)
        flushed = key in self._flush
        self._flush.discard(key)
        estimate = self.estimates.get(key)
        if estimate is not None and (
            record.phase not in ACTIVE_PHASES or estimate == record.status.estimated_cost
        ):
            # Written, or the run it was for has ended or been given back.
            del self.estimates[key]
            estimate = None
        if estimate is not None:
            return True
        if accrual.cost == persisted.cost and accrual.energy_kwh == persisted.energy_kwh:
            return False
        return (
            flushed
            or persisted.until is None
            or now - persisted.until >= self.interval
            or record.phase in FINISHED_PHASES
        )

    def forget(self, record: JobRecord, now: datetime) -> None:
        """A job is deleted at `now`: keep its costs for its namespace's budgets, its workers
        accrued up to then at their last rate (kept as of the last cycle, the time since was
        lost: up to a cycle's period)."""
        key = (record.body["metadata"]["namespace"], record.body["metadata"]["name"])
        accrual = self._base(key, record)
        rate = self._worker_rates.get(key)
        if rate and record.phase in ACTIVE_PHASES and accrual.until and now > accrual.until:
            # Its pods gone first too (a foreground deletion takes them before the job).
            spans = self._spans(key)
            cuts = self._period_bounds(now).get(key[0], ())
            accrual = accounting.accrue(accrual, spans, rate, 0.0, now.replace(microsecond=0), cuts)
        # A budget set aside as invalid keeps them too, for when it is corrected.
        for budget in [*self.cache.budgets, *self.cache.budget_errors]:
            if budget[0] == key[0]:
                retained = self.retained.setdefault(budget, {})
                for bucket, amount in accrual.buckets.items():
                    retained[bucket] = retained.get(bucket, 0.0) + amount
        # All it knew of the job: one created again under its name is told of its own run.
        for kept in (
            self.accruals,
            self._worker_rates,
            self._priced_before,
            self.estimates,
            self._said,
        ):
            kept.pop(key, None)
        self._told_past_max_cost.discard(key)
        self._flush.discard(key)

    def budget_status(
        self,
        namespace: str,
        name: str,
        now: datetime,
        carried: Container[Key] = (),
        *,
        kept: bool = True,
    ) -> dict[str, Any]:
        """A budget's status for its current period; the jobs `carried` have their accrual
        written in this cycle besides (their Running status carries it). Its spend is `kept`
        for the cycle's snapshot (`spent_now`), but for a /metrics scrape's: summed at the
        scrape's own time, between a cycle's Budget writes and its snapshot, it put the
        cycle's out, and the snapshot planned with the status's minute-old spend."""
        budget = self.cache.budgets[(namespace, name)]
        start, end = accounting.period_bounds(budget.spec.period, budget.spec.time_zone, now)
        retained = self._retained((namespace, name))
        spent = accounting.spent_between(retained, start, end)
        burn = unwritten = 0.0
        for key, record in self.cache.jobs.items():
            if key[0] != namespace:
                continue
            accrued = accounting.spent_between(self._base(key, record).buckets, start, end)
            spent += accrued
            if key not in carried:
                written = accounting.spent_between(_persisted(record).buckets, start, end)
                unwritten += max(0.0, accrued - written)
            burn += self.rates.get(key, 0.0)
        if kept:
            self._spent[(namespace, name)] = (now, spent)
        figures = accounting.budget_figures(
            budget.spec.limit,
            budget.spec.thresholds,
            spent,
            self.cache.committed(namespace, now, self._known),
            burn,
            now,
            end,
        )
        previous = status.conditions_of(budget.status)
        hard = budget.spec.enforcement == "hard"
        generation = self.cache.budget_meta((namespace, name)).get("generation")
        conditions = status.set_condition(
            previous,
            "Ready",
            True,
            "Enforced" if hard else "AlertOnly",
            "jobs that would exceed the limit wait"
            if hard
            else "jobs run past the limit; alerts fire at the thresholds",
            now,
            generation,
        )
        limit = budget.spec.limit
        exceeded = figures.spent + figures.committed >= limit > 0 or figures.remaining < 0
        conditions = status.set_condition(
            conditions,
            "Exceeded",
            exceeded,
            "LimitReached" if exceeded else "WithinLimit",
            f"spent {figures.spent:.2f} + committed {figures.committed:.2f} of "
            f"{budget.spec.limit:.2f} {budget.spec.currency} ({figures.utilisation:.0%})",
            now,
            generation,
        )
        # Times go in as the API's UTC strings: a period bound is in the budget's time zone.
        typed = BudgetStatus.model_validate({
            "periodStart": optional_timestamp(start),
            "periodEnd": optional_timestamp(end),
            "spent": round(figures.spent, 2),
            "committed": round(figures.committed, 2),
            # What the two figures beside it leave, as its reader works it out: rounded on its
            # own, 150 - 3.00 - 113.44 read 33.55.
            # (+ 0.0: a remaining a hair above zero rounded to -0.0, shown as -0.)
            "remaining": round(
                figures.remaining
                + (figures.spent - round(figures.spent, 2))
                + (figures.committed - round(figures.committed, 2)),
                2,
            )
            + 0.0,
            "utilisation": figures.utilisation,
            "burnRate": round(burn, 6),
            "forecastExhaustion": optional_timestamp(figures.forecast_exhaustion),
            "thresholdsCrossed": list(figures.crossed),
            "retained": {
                k: round(v, 6) for k, v in accounting.ending_after(retained, start).items()
            },
            "unwrittenAccrual": round(unwritten, 6),
            "observedGeneration": generation,
            "conditions": conditions,
        })  # fmt: skip
        return status_wire(typed)

    def spent_now(self, now: datetime) -> dict[Key, float]:
        """Each Budget's spend in its current period as accrued at the last settle, as the
        cycle's `budget_status` summed it at `now` (a budget it did not sum keeps its
        status's). Its status's `spent` is up to a write old (a minute): checked beside
        `committed`, which counts run time left from now, it left that minute's spend out,
        and a hard budget admitted jobs past its limit by it."""
        return {key: figure for key, (at, figure) in self._spent.items() if at == now}

    def _retained(self, key: Key) -> dict[str, float]:
        """A budget's retained costs: as written, and those of jobs deleted since."""
        budget = self.cache.budgets[key]
        retained = dict(budget.status.retained)
        for bucket, amount in self.retained.get(key, {}).items():
            retained[bucket] = retained.get(bucket, 0.0) + amount
        return retained

    def not_enforced(self, key: Key) -> str | None:
        """Why a Budget the cache holds cannot be counted (another currency), or None."""
        return holds.foreign_currency(self.cache.budgets[key], self.cache.currency())

    async def write_budgets(self, now: datetime, carried: Container[Key] = ()) -> None:
        """Write every budget's status where its figures changed (`carried`: jobs whose
        accrual a status write of this cycle carries besides); a Budget that cannot be
        enforced gets a Ready=False condition saying why instead of figures."""
        for key, message in list(self.cache.budget_errors.items()):
            enforcement = "hard" if key in self.cache.hard_errors else "soft"
            until = f"Until it is corrected, {holds.UNCHECKED[enforcement]}"
            await self._write_not_ready(
                key, "InvalidSpec", f"invalid spec: {message}. {until}", now
            )
        for gone in (
            self.retained.keys() - self.cache.budgets.keys() - self.cache.budget_errors.keys()
        ):
            del self.retained[gone]
        for gone in self._budget_written.keys() - self.cache.budgets.keys():
            del self._budget_written[gone]
        for gone in self._spent.keys() - self.cache.budgets.keys():
            del self._spent[gone]
        for (namespace, name), budget in list(self.cache.budgets.items()):
            if (namespace, name) not in self.cache.budgets:
                continue  # deleted while an earlier Budget's write was on its way
            foreign = self.not_enforced((namespace, name))
            if foreign is not None:
                await self._write_not_ready((namespace, name), "CurrencyMismatch", foreign, now)
                continue
            # What the status takes of the jobs deleted since the last write: those deleted
            # while it is on its way stay to be written next (dropped with it, their cost left
            # the Budget for good).
            counted = dict(self.retained.get((namespace, name), {}))
            try:
                new = self.budget_status(namespace, name, now, carried)
            except Exception:  # one Budget's fault must not keep the others' figures unwritten
                log.exception("budget %s/%s: figures not summed", namespace, name)
                continue
            old = budget.status.model_dump(by_alias=True, mode="json")
            written = self._budget_written.get((namespace, name))
            if not _changed(old, new, written is None or now - written >= self.interval):
                continue
            try:
                result = await self.kube.patch_status("budgets", namespace, name, new)
            except ApiError as err:
                log.warning("budget %s/%s status not written: %s", namespace, name, err)
                continue
            self.cache.upsert_budget(result)
            self._budget_written[(namespace, name)] = now
            self._written_off((namespace, name), counted)
            for reason, message, warning in _news(old, new, budget.spec.enforcement == "hard"):
                await self._event((namespace, name), reason, message, warning)

    def _written_off(self, key: Key, counted: Mapping[str, float]) -> None:
        """Take out of a Budget's retained costs those its status now carries."""
        mine = self.retained.get(key, {})
        for bucket, amount in counted.items():
            left = mine.get(bucket, 0.0) - amount
            if left > 1e-9:
                mine[bucket] = left
            else:
                mine.pop(bucket, None)
        if not mine:
            self.retained.pop(key, None)

    def keep_unseen(self, now: datetime) -> None:
        """Within a period a budget's spend never falls. Checked once a budget since the
        operator started, before it writes any job's accrual: a spend below the one the budget
        last wrote for this period is what jobs deleted while no operator ran took with them.
        Their deletion went unseen, and their cost with it (a deleted job's cost is kept on the
        watch's deletion event). It is kept as retained, in this hour (its real hours are gone
        with the job).

        The jobs are counted as their statuses last carried them, and the budget's spend less
        what it counted beyond those (`unwrittenAccrual`): counted as they accrue, the jobs
        that kept running while no operator ran hid the deleted ones' cost. Part of that
        beyond was the deleted jobs' (their last minute before the budget's write): where the
        others have not accrued as much since, the spend is kept from falling below the one
        written, the others counted as accrued now. What a deleted job accrued after the
        budget's write, and the share of its last minute the others' accrual since covers,
        go unseen: a minute's worth at most."""
        for key in self.cache.budgets.keys() - self._checked:
            self._checked.add(key)
            budget = self.cache.budgets[key]
            start, end = accounting.period_bounds(budget.spec.period, budget.spec.time_zone, now)
            if (budget.status.period_start, budget.status.period_end) != (start, end):
                continue
            unwritten = budget.status.unwritten_accrual
            kept = accounting.spent_between(self._retained(key), start, end)
            written = accrued = 0.0
            for job, record in self.cache.jobs.items():
                if job[0] == key[0]:
                    written += accounting.spent_between(_persisted(record).buckets, start, end)
                    accrued += accounting.spent_between(self._base(job, record).buckets, start, end)
            spent = budget.status.spent
            unseen = round(max(spent - (unwritten or 0.0) - written, spent - accrued) - kept, 6)
            if unseen < CENT:
                continue
            # In the period: a whole-hour key before an off-hour period's start was read as
            # spread over the hour, half of it in the period before.
            hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            bucket = accounting.bucket_at(max(hour, start) if start else hour)
            mine = self.retained.setdefault(key, {})
            mine[bucket] = mine.get(bucket, 0.0) + unseen
            log.warning(
                "budget %s/%s: %.2f %s of its spend this period is in no job the cluster holds "
                "(deleted while no operator ran): kept as retained",
                *key,
                unseen,
                budget.spec.currency,
            )

    async def _write_not_ready(self, key: Key, reason: str, message: str, now: datetime) -> None:
        budget = self.cache.budgets.get(key)
        previous = (
            status.conditions_of(budget.status)
            if budget is not None
            else self.cache.budget_conditions.get(key, [])
        )
        ready = next((c for c in previous if c.get("type") == "Ready"), {})
        if (ready.get("status"), ready.get("reason"), ready.get("message")) == (
            "False",
            reason,
            message,
        ):
            return
        generation = self.cache.budget_meta(key).get("generation")
        conditions = status.set_condition(
            previous, "Ready", False, reason, message, now, generation
        )
        patch = {"conditions": conditions, "observedGeneration": generation}
        try:
            result = await self.kube.patch_status("budgets", *key, patch)
        except ApiError as err:
            log.warning("budget %s/%s status not written: %s", *key, err)
            return
        log.warning("Budget %s/%s: %s", *key, message)
        self.cache.upsert_budget(result)
        await self._event(key, reason, message)

    async def _event(self, key: Key, reason: str, message: str, warning: bool = True) -> None:
        """An event on a Budget, as `kubectl describe budget` shows it; best effort."""
        meta = {"name": key[1], "namespace": key[0], "uid": self.cache.budget_meta(key).get("uid")}
        await record_event(self.kube, {"metadata": meta}, "Budget", reason, message, warning)


def _news(
    old: Mapping[str, Any], new: Mapping[str, Any], hard: bool
) -> list[tuple[str, str, bool]]:
    """What a budget's new figures tell people, as (reason, message, warning) of events: the
    limit reached, or else thresholds newly crossed (warnings), or the budget back within its
    limit. Prometheus' alerts page ops; the team that spends the money reads `kubectl
    describe`, where a soft budget gone past its limit said nothing, and one whose limit was
    raised past its spend kept only its LimitReached warning."""
    none: dict[str, Any] = {}
    exceeded = next((c for c in new["conditions"] if c["type"] == "Exceeded"), none)
    before = next((c for c in old.get("conditions") or [] if c.get("type") == "Exceeded"), none)
    if exceeded.get("status") == "True" and before.get("status") != "True":
        then = "jobs that would exceed it wait" if hard else "jobs go on running past it"
        return [("LimitReached", f"{exceeded['message']}: {then}", True)]
    if exceeded.get("status") == "False" and before.get("status") == "True":
        again = ": within its limit again" + (", jobs held by it are planned again" if hard else "")
        return [("WithinLimit", f"{exceeded['message']}{again}", False)]
    crossed = sorted(set(new["thresholdsCrossed"]) - set(old.get("thresholdsCrossed") or []))
    if not crossed:
        return []
    figures = exceeded.get("message", "")
    marks = ", ".join(f"{t:g}%" for t in crossed)
    return [("ThresholdCrossed", f"{figures}: crossed {marks} of its limit", True)]


def _changed(old: Mapping[str, Any], new: Mapping[str, Any], drift_due: bool) -> bool:
    """Whether a budget's figures moved enough to be worth a write. What is left of it moves
    when a job is placed, ends or is repriced, and is written at once; as jobs run, their
    spend only moves from committed to spent, and is written when `drift_due` (every
    accrual interval, as the jobs' own accruals are): a write per cent of it kept a busy
    cluster's operator writing budgets, and re-planning on their echoes, about once a second."""
    amounts = ("spent", "committed", "remaining") if drift_due else ("remaining",)
    if any(abs(float(old.get(k) or 0.0) - float(new[k])) >= CENT / 2 for k in amounts):
        return True
    others = ("thresholdsCrossed", "retained", "periodStart", "periodEnd", "observedGeneration")

    def states(status: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return [(c.get("type"), c.get("status"), c.get("reason")) for c in status["conditions"]]

    return any(old.get(k) != new.get(k) for k in others) or states(old) != states(new)
