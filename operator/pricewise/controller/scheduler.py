"""The scheduling loop: debounce events into cycles; each cycle moves placed jobs along their
lifecycle, keeps accruals, budgets and PriceTable statuses current, solves for the pending jobs,
and hands the decisions to admission (`admission`).

Over 400 lines: the cycle's steps, in the order they run, each a short method over the same
cache, API client and accountant. Admission (`admission`), statuses (`status`, `api.wire`) and
the solve (`core`) are already elsewhere; what is left is the sequence, read top to bottom.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Container,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pricewise.api.convert import exit_rules, reported_progress
from pricewise.api.holds import SUSPENDED
from pricewise.api.models import (
    ACTIVE_PHASES,
    FINISHED_PHASES,
    PoolStatus,
    PriceTableStatus,
    TrainingJobStatus,
)
from pricewise.api.nodepools import PoolProblem
from pricewise.api.podrequests import device_resource
from pricewise.api.wire import job_status_patch, status_wire
from pricewise.controller import status
from pricewise.controller.accountant import Accountant
from pricewise.controller.admission import Admission
from pricewise.controller.cache import Cache
from pricewise.controller.expiry import Expiry
from pricewise.controller.listing import RELIST_EVERY_S, forget_unlisted, list_into
from pricewise.controller.metrics import Metrics
from pricewise.controller.records import REFUSED_RETRY, JobRecord, Key, key_of
from pricewise.controller.teller import Teller
from pricewise.core import lifecycle
from pricewise.core.explain import Decision
from pricewise.core.preemption import (
    Preemption,
    PreemptionSettings,
    RunningJob,
    preemptions,
    preemptor_message,
    told,
)
from pricewise.core.quarantine import solve_isolated
from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import Pool, Snapshot
from pricewise.core.solver import Plan
from pricewise.core.times import dated, timestamp
from pricewise.core.units import (
    floor_to_figures,
    format_duration,
    format_micros,
    format_money,
    format_share,
    from_micros,
)
from pricewise.kube import ApiError, Kube, purpose, record_event

log = logging.getLogger(__name__)

RESTART_HISTORY = 10
"""Entries a job's `status.restartHistory` keeps, the latest: ten say enough of a run's past."""


@dataclass(frozen=True)
class LoopSettings:
    """Timing of the loop."""

    debounce_s: float = 0.5
    """Quiet time gathered after an event, so that a burst of submissions is one cycle."""
    busy_debounce_s: float = 0.05
    """The same after a cycle during which events came: the cycle itself gathered them."""
    period_s: float = 30.0
    """A cycle runs at least this often, to catch time-based changes (deadlines, timeouts)."""
    node_grace: timedelta = timedelta(seconds=60)
    """How long a node may be NotReady before its workers count as lost."""


class Scheduler:
    """Owns the loop; kopf handlers feed the cache and call `poke()`."""

    def __init__(
        self,
        cache: Cache,
        kube: Kube,
        accountant: Accountant,
        solver_settings: SolverSettings | None = None,
        loop_settings: LoopSettings | None = None,
        is_leader: Callable[[], bool] = lambda: True,
        metrics: Metrics | None = None,
        preemption: PreemptionSettings | None = None,
        led_elsewhere: Callable[[], bool] = lambda: False,
        term_started: Callable[[], datetime | None] = lambda: None,
        delete_finished: bool = False,
    ) -> None:
        self.cache = cache
        self.kube = kube
        self.accountant = accountant
        self.solver_settings = solver_settings or SolverSettings()
        self.admission = Admission(cache, kube, self.solver_settings.look_ahead.max_wait_s)
        self.teller = Teller(cache, self.admission, kube.connections)
        self.expiry = Expiry(cache, kube, self.admission, delete_finished)
        self.settings = loop_settings or LoopSettings()
        self.is_leader = is_leader
        self.led_elsewhere = led_elsewhere
        self.term_started = term_started
        """When this replica's term as leader began (the Lease's acquireTime), None where
        unknown: an admitted gang's wait for its nodes counts from it at the earliest."""
        self.metrics = metrics
        self.preemption = preemption or PreemptionSettings()
        self._preempting: dict[str, tuple[tuple[str, ...], str]] = {}
        """Preemptor to (victims whose workers may still hold the room, its message)."""
        self._exposure_since: datetime | None = None
        """When spot node-hours were last counted (`_count_spot_exposure`)."""
        self._price_table_status: dict[str, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self.cycles = 0
        self._settled = False
        """Whether this replica has settled accruals in a cycle (see `prices_changing`)."""
        self._last_shape: tuple[int, int] | None = None
        """(pending, placed) of the last cycle, to log only cycles that differ from it."""
        self._price_news: list[tuple[dict[str, Any], str]] = []
        """PriceTables whose prices changed, and how, for events at the next cycle."""
        self._stopping = False
        """Set once the operator stops: the cycle under way ends, no other starts."""
        self._listed_at: float | None = None
        """When (monotonic) the cache was last set right by a list (`prime`, `relist`)."""

    def poke(self) -> None:
        """Ask for a cycle soon (after the debounce)."""
        self._wake.set()

    def stop_after_cycle(self) -> None:
        """End `run` once the cycle under way has made its writes (statuses, then workers,
        then events), and start no other: cancelled between its batches, a stopping leader
        left admitted jobs without workers or events; and a cycle started after the stop
        could hand out the room its own pod was about to free."""
        self._stopping = True
        self._wake.set()

    def job_deleted(self, key: tuple[str, str], now: datetime) -> None:
        """A TrainingJob is deleted at `now`: its costs stay with its namespace's budgets."""
        record = self.cache.jobs.get(key)
        if record is not None:
            self.accountant.forget(record, now)

    def prices_changing(self, now: datetime) -> None:
        """A PriceTable is about to change: what ran so far is settled at the old prices, so
        that the new ones apply from now on, not retroactively. Only the leader does, once it
        has settled in a cycle: before, its view may be partial (a newer table's watch event
        may come before the table in use, and read as the cluster changing currency), and its
        first settle accrues from what the statuses persisted; a standby, or a leader demoted,
        accrues nothing (what it settled would be counted again when it leads)."""
        if not self.is_leader() or not self._settled:
            return
        try:
            pools, _ = self.cache.pools()
            self.accountant.settle(now, {p.name: p for p in pools}, flush=True)
        except Exception:  # the change itself must still be taken, or the cluster never heals
            log.exception("accrual at the old prices failed; the next cycle accrues at the new")

    def prices_changed(self, body: Mapping[str, Any], message: str) -> None:
        """A PriceTable's prices changed (`message`, from `nodepools.price_changes`; empty where
        they did not): said in an event on it at the next cycle (a running job's cost then
        moved with nothing to say why)."""
        if message:
            meta = {k: body["metadata"].get(k) for k in ("name", "uid")}
            self._price_news = [*self._price_news, ({"metadata": meta}, message)][-10:]

    async def prime(self) -> None:
        """List everything the cache holds once, before the first cycle.

        Watch events arrive in no guaranteed order at start-up; a cycle that ran on a partial
        view would see nodes without their pods (and double-book them) or placed jobs without
        their workers. A list of each kind makes the first view complete.
        """
        await list_into(self.cache, self.kube)
        self._listed_at = time.monotonic()

    async def relist(self, now: datetime) -> None:
        """Forget the jobs, pods and nodes a list no longer holds (deleted while a watch was
        broken: see `listing`), each job's costs settled up to `now`."""
        self._listed_at = time.monotonic()
        forgotten = await forget_unlisted(
            self.cache, self.kube, now, lambda key: self.job_deleted(key, now)
        )
        if forgotten:
            shown = ", ".join(forgotten[:5]) + (", ..." if len(forgotten) > 5 else "")
            log.warning(
                "%d object(s) deleted unseen by the watches (%s): forgotten, their costs "
                "settled up to now",
                len(forgotten),
                shown,
            )
            self.poke()

    async def run(self) -> None:
        """Run cycles until cancelled, or until `stop_after_cycle`."""
        primed = False
        while not self._stopping:
            if self._wake.is_set():
                # Events came during the last cycle: they have waited for it already. Half a
                # second more before each cycle of a busy loop was most of its time (cycles of
                # 0.1-0.8 s as Kueue-shaped workloads arrive and end).
                await asyncio.sleep(self.settings.busy_debounce_s)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.settings.period_s)
                await asyncio.sleep(self.settings.debounce_s)
            self._wake.clear()
            if self._stopping:
                return
            if not self.is_leader():
                if self.led_elsewhere():  # not on a lapse of its own renewals: it may lead on
                    self.teller.stop()  # the leader writes statuses now
                    self.cache.departed.clear()  # the leader bills them
                continue
            primed = await self.counted_cycle(datetime.now(UTC), primed)

    async def counted_cycle(self, now: datetime, primed: bool = True) -> bool:
        """One cycle (the start-up list first, unless `primed`), counted by its result: an
        error when it raised, or when one of its steps or API writes failed (each is logged
        where it fails, and the rest of the cycle goes on). Counting only cycles that raised,
        a cluster refusing every status write (RBAC after an upgrade) looked healthy to
        PricewiseSolverFailing. Returns whether the cache is primed now."""
        faults: list[str] = []
        token = _FAULTS.set(faults)
        try:
            if not primed:
                await self.prime()
                primed = True
            elif self._listed_at is not None and (
                time.monotonic() - self._listed_at >= RELIST_EVERY_S
            ):
                # A list that fails is tried again in RELIST_EVERY_S: the cycle goes on.
                async with _async_step("relist", "relist"):
                    await self.relist(now)
            await self.cycle(now)
        except Exception:  # a failed cycle is retried by the next one
            log.exception("scheduling cycle failed")
            faults.append("the cycle")
        finally:
            _FAULTS.reset(token)
        if failed := self.teller.take_failed():
            # Written beside the loop, they failed unseen by PricewiseSolverFailing (a cluster
            # refusing every waiting job's status looked healthy).
            faults.append(f"{failed} waiting job status(es)")
        if faults:
            log.error("scheduling cycle failed in part: %s", ", ".join(sorted(set(faults))))
        if self.metrics is not None:
            self.metrics.cycles.labels("error" if faults else "ok").inc()
        return primed

    async def cycle(self, now: datetime) -> Plan:
        """One scheduling cycle."""
        started = time.monotonic()
        self.cache.retry_refused(before=now - REFUSED_RETRY)
        pools, problems = self.cache.pools()
        if self.metrics is not None:
            self.metrics.pools_seen(p.name for p in pools)
        # Each step is guarded on its own: a fault in accounting must not stop placement.
        with _step("accounting"):
            self.accountant.settle(now, {p.name: p for p in pools})
            self._settled = True
        async with _async_step("price table status", "accounting"):
            await self._write_price_tables(pools, problems, now)
        with _step("reclaim exposure"):
            self._count_spot_exposure(pools, now)
        starting: dict[Key, lifecycle.Transition] = {}
        async with _async_step("placed jobs", "lifecycle"):
            starting = await self._progress(now)
        with _step("budgets' unseen deletions"):
            self.accountant.keep_unseen(now)
        async with _async_step("accruals", "accounting"):
            await self._write_accruals(now, starting)
        async with _async_step("accrual warnings", "accounting"):
            await self._warn_of_accruals()
        async with _async_step("budgets", "accounting"):
            await self.accountant.write_budgets(now, starting)
        async with _async_step("finished jobs past their TTL", "expiry"):
            await self.expiry.sweep(now)
        async with _async_step("jobs not planned", "waiting"):
            await self._report_unplanned(now)
        # Begun before the snapshot, so that a snapshot that fails cannot hold the starts back.
        writing = asyncio.create_task(self._write_starts(starting, now))
        try:
            # Pools again: the writes above yielded to the watches, and workers may have ended.
            snapshotting = time.monotonic()
            snapshot = self.cache.snapshot(now, self.accountant.spent_now(now))
            edits = dict(self.cache.limit_edits)  # the limits this cycle decides with
            specs = self._specs()
            solving = time.monotonic()
            # The limit bounds the snapshot and the solve, not the writes before them: counted
            # in, a 5,000-job burst's cycle that spent 20 s writing was left 2 s and placed
            # greedily, without the look-ahead (decided in 101.7 s against 65.5 s).
            settings = self.solver_settings.after(solving - snapshotting)
            plan, failed = await asyncio.to_thread(solve_isolated, snapshot, settings)
        finally:
            await writing
        if not self.is_leader():
            # The Lease lapsed during the solve (renewals that did not go through): another
            # replica may lead by now, and this cycle's decisions are not this one's to write.
            log.warning("the Lease lapsed during the cycle: its decisions are not written")
            return plan
        with purpose("waiting"):
            await self._set_aside(failed, now)
        # What changed during the solve is decided again next cycle: a job whose spec was
        # edited was placed by the old spec's decision with the new spec's workers (8 GPUs on
        # a node with 1 free), a deleted one preempted others for nothing, and a node deleted
        # meanwhile cost a restart to a run that never started there.
        decisions = tuple(d for d in plan.decisions if self._unchanged(d, specs))
        async with _async_step("preemption", "preemption"):
            decisions = await self._preempt(snapshot, decisions, now)
        if not self.is_leader():
            log.warning("the Lease lapsed during the cycle: its placements are not written")
            return plan
        # Placements first: a burst's waiting jobs must not hold up the admitted ones' workers.
        placed = [d for d in decisions if d.chosen is not None]
        waiting = [d for d in decisions if d.chosen is None]
        placing = time.monotonic()
        statuses_s, done = await self._place(placed, now, snapshot.currency)
        self.teller.tell(waiting, now, snapshot.currency, edits)
        self.cycles += 1
        if self.metrics is not None:
            self.metrics.observe(plan, [*done, *waiting], snapshot.currency)
        ended = time.monotonic()
        # An idle cluster's cycles (every period, nothing placed, the same jobs waiting) would
        # fill the log with the same line: they are logged at debug level, unless slow.
        shape = (len(plan.decisions), len(plan.placed))
        quiet = shape == self._last_shape and not plan.placed and ended - started < 1.0
        self._last_shape = shape
        log.log(
            logging.DEBUG if quiet else logging.INFO,
            "cycle %d: %d pending, %d placed, solver %s in %.2fs%s, cycle %.2fs "
            "(before the solve %.2fs, placements written in %.2fs, their statuses in the first "
            "%.2fs; %d waiting jobs queued, "
            "their statuses written where they changed)",
            self.cycles,
            len(plan.decisions),
            len(plan.placed),
            plan.status,
            plan.seconds,
            "" if plan.looked_ahead else " (no time left to look ahead)",
            ended - started,
            solving - started,
            ended - placing,
            statuses_s,
            self.teller.queued,
        )
        return plan

    def _specs(self) -> dict[Key, object]:
        """Each pending job's uid and spec generation, as the snapshot reads them (a job
        created again under its name starts at generation 1 again)."""
        return {
            key: _spec_of(record)
            for key, record in self.cache.jobs.items()
            if record.phase == "Pending"
        }

    def _unchanged(self, decision: Decision, specs: Mapping[Key, object]) -> bool:
        """Whether a decision still stands: its job is there with the spec it was made for,
        and the nodes it places on are still there."""
        key = (decision.job.namespace, decision.job.name)
        record = self.cache.jobs.get(key)
        if record is None or _spec_of(record) != specs.get(key):
            return False
        return all(node in self.cache.nodes for node in decision.nodes)

    async def _place(
        self, placed: list[Decision], now: datetime, currency: str
    ) -> tuple[float, list[Decision]]:
        """Write a cycle's placements in three batches: every status (the decision, durable,
        and the room it holds), then the workers of the jobs still Admitted, then the Admitted
        events, a courtesy. Written job by job (status, event, workers), all jobs at once on the
        client's connections, which serve requests in turn: each job's event was queued behind
        the other jobs' statuses, and its workers behind their events, so a burst's workers
        waited for every event of their cycle. The seconds the statuses took, and the
        placements whose status was written."""
        started = time.monotonic()
        written = await _gather(self.admission.apply(d, now, currency) for d in placed)
        statuses_s = time.monotonic() - started
        done = [d for d, ok in zip(placed, written, strict=True) if ok is True]
        with purpose("placement"):
            await _gather(
                self.admission.create_workers(r) for _, r in self._jobs(done, ("Admitted",))
            )
            # Read again: a job whose workers the API server refused waits again, and says why.
            await _gather(
                # Its status's words: with what its earlier runs cost, where they did.
                self.admission.event(r, "Admitted", r.status.message or d.message)
                for d, r in self._jobs(done, ACTIVE_PHASES)
            )
        return statuses_s, done

    def _jobs(
        self, decisions: Iterable[Decision], phases: Container[str]
    ) -> list[tuple[Decision, JobRecord]]:
        """The decisions' jobs as the cache has them now, those in `phases`."""
        found = ((d, self.cache.jobs.get((d.job.namespace, d.job.name))) for d in decisions)
        return [(d, r) for d, r in found if r is not None and r.phase in phases]

    async def _write_price_tables(
        self, pools: tuple[Pool, ...], problems: list[PoolProblem], now: datetime
    ) -> None:
        """Each PriceTable's status: its pools as matched, and a Ready condition naming any
        problem (an invalid spec, another currency, nodes shared with another table); then the
        PricesChanged events queued since on the tables whose prices changed."""
        by_name = {p.name: p for p in pools}
        invalid = {
            name: PoolProblem((name,), "InvalidSpec", f"invalid spec: {error}")
            for name, error in self.cache.price_table_errors.items()
        }
        for name in sorted({*self.cache.price_tables, *invalid}):
            table = self.cache.price_tables.get(name)
            names = [p.name for p in table.spec.pools] if table else []
            mine = [invalid[name]] if name in invalid else [p for p in problems if name in p.tables]
            # A pool name an older table has is that table's pool, not this one's; a table in
            # another currency has none in use (a pool of its name is another table's).
            names = [n for n in names if n not in {p.pool for p in mine}]
            if any(p.reason == "CurrencyMismatch" for p in mine):
                names = []
            rows = [
                PoolStatus(
                    name=n,
                    nodes=len(by_name[n].nodes),
                    # A cpu pool's 0 devices read as "full" beside its free CPU.
                    free_devices=by_name[n].free.devices
                    if device_resource(by_name[n].accelerator)
                    else None,
                    free_cpu=by_name[n].free.cpu / 1000,
                    **self._observed(by_name[n]),
                )
                for n in names
                if n in by_name
            ]
            previous = self._price_table_status.get(name, {})
            reason = mine[0].reason if mine else "PoolsMatched"
            message = (
                "; ".join(p.message for p in mine) or f"{len(names)} pool(s), every one with nodes"
            )
            generation = self.cache.price_table_generation(name)
            conditions = status.set_condition(
                previous.get("conditions") or [], "Ready", not mine, reason, message, now,
                generation,
            )  # fmt: skip
            new = status_wire(
                PriceTableStatus.model_validate(
                    {
                        "pools": rows,
                        "poolsInUse": len(rows),
                        "nodes": sum(r.nodes for r in rows),
                        "observedGeneration": generation,
                        "conditions": conditions,
                    }
                )
            )
            if new == previous:
                continue
            try:
                await self.kube.patch_status("pricetables", None, name, new)
            except ApiError as err:
                log.warning("PriceTable %s status not written: %s", name, err)
                continue
            self._price_table_status[name] = new
            for problem in mine:
                if problem.message not in str(previous):
                    log.warning("PriceTable %s: %s", name, problem.message)
        news, self._price_news = self._price_news, []
        for changed, message in news:
            log.info("PriceTable %s: %s", changed["metadata"]["name"], message)
            await record_event(self.kube, changed, "PriceTable", "PricesChanged", message)

    def _observed(self, pool: Pool) -> dict[str, Any]:
        """A spot pool's reclaims as its status row gives them, and keeps them across restarts.
        Node-hours to 3 significant figures: the status is written as they grow by a
        thousandth, not at every cycle that holds a node."""
        exposure = self.cache.reclaim_rates.pools.get(pool.name)
        if not pool.is_spot or exposure is None:
            return {}
        return {
            "observed_interruption_rate": None
            if exposure.rate is None
            else round(exposure.rate, 4),
            "observed_reclaims": exposure.reclaims,
            # Down: its own status's echo is taken back as the larger of the two (`restore`),
            # and rounded up, each write added to the hours (twice as many, from 100 on).
            "observed_node_hours": floor_to_figures(exposure.node_hours, 3),
        }

    # --- placed jobs ----------------------------------------------------------------------

    def _count_spot_exposure(self, pools: tuple[Pool, ...], now: datetime) -> None:
        """Count the node-hours held on spot pools since the last cycle: what observed reclaim
        rates are measured against."""
        last, self._exposure_since = self._exposure_since, now
        if last is None:
            return
        spot = {p.name for p in pools if p.is_spot}
        if not spot:
            return
        seconds = (now - last).total_seconds()
        for run in self.cache.running(pools=spot):
            self.cache.reclaim_rates.held(run.pool, len(set(run.nodes)), seconds)

    async def _progress(self, now: datetime) -> dict[Key, lifecycle.Transition]:
        """Admitted and Running jobs: create missing workers, follow their pods' phases. The
        jobs that only started running are returned with their step, not written: the cycle
        writes their status beside the solve (a 500-job burst's second cycle spent 1 s before
        its solve writing the first one's 127 starts), and the cache counts their starts
        meanwhile (`Cache.starts`: when they free their room). Workers that outlived their job's
        run are deleted: a Pending job's (`Admission.release`), a Failed job's still running."""
        steps = []
        starts: dict[Key, lifecycle.Transition] = {}
        for key, record in list(self.cache.jobs.items()):
            if (stray := self._strays(record)) is not None:
                log.warning("TrainingJob %s/%s is %s: deleting its workers", *key, record.phase)
                steps.append(self.admission.stop_workers(record, ended_too=stray))
            if record.phase not in ACTIVE_PHASES:
                continue
            with _step(f"lifecycle of {key[0]}/{key[1]}"):  # one bad job holds up no other
                step = self._transition(record, now)
                # A run that ended meanwhile ends: suspended, it would run again once resumed.
                if record.suspended and (step is None or step.phase not in FINISHED_PHASES):
                    steps.append(self._suspend(record, now))
                elif step is not None and _started(record, step):
                    starts[key] = step
                else:
                    steps.append(self._progress_one(record, step, now))
        self.cache.starts = {k: step.started_at or now for k, step in starts.items()}
        await _gather(steps)
        return starts

    def _strays(self, record: JobRecord) -> bool | None:
        """Which workers of a job that no longer runs are left to delete, as `ended_too` says
        it: all of a Pending job's (True), those of a Failed job that have not ended (False);
        None where none are."""
        pods = self.cache.workers_of(*key_of(record.body)).values()
        if record.phase == "Pending" and pods:
            return True
        if record.phase == "Failed" and any(p.phase not in ("Succeeded", "Failed") for p in pods):
            return False
        return None

    def _transition(self, record: JobRecord, now: datetime) -> lifecycle.Transition | None:
        """The job's next lifecycle step, read from its workers' pods and nodes."""
        st = record.status
        meta = record.body["metadata"]
        pods = self.cache.workers_of(meta["namespace"], meta["name"])
        nodes = [*(p.node for p in pods.values()), *st.nodes]
        lost = self.cache.lost_nodes(nodes, now, self.settings.node_grace)
        spec = record.model.spec if record.model else None
        allowed = spec.failure_policy.max_restarts if spec else 0
        # From the run's own admission: a new leader's term does not give it more time.
        limit = record.active_deadline_s
        until = st.admitted_at + timedelta(seconds=limit) if limit and st.admitted_at else None

        def saved_s() -> float:
            run = self.cache.running_job(record)
            return run.saved_s(now) if run is not None else 0.0

        rules = exit_rules(spec.failure_policy) if spec else ()
        restarts = lifecycle.Restarts(st.restarts, allowed, tuple(st.restart_history),
                                      st.started_at, saved_s, rules)  # fmt: skip
        key = (meta["namespace"], meta["name"])
        told = st.reason == lifecycle.PAST_ESTIMATE
        end = None if told else self.cache.estimated_end(key, record)
        # Time no replica led is no wait of the workers' for their nodes: an operator stopped
        # after admitting a gang, before creating its workers, had it released at the next
        # one's first cycle, though that cycle creates them.
        admitted, term = st.admitted_at, self.term_started()
        if admitted is not None and term is not None:
            admitted = max(admitted, term)
        return lifecycle.transition(
            record.phase, st.workers or 0, pods, admitted, now, lost_nodes=lost,
            restarts=restarts, estimated_end=end, planned_nodes=st.nodes, active_until=until,
            active_limit_s=limit,
        )  # fmt: skip

    async def _progress_one(
        self, record: JobRecord, step: lifecycle.Transition | None, now: datetime
    ) -> None:
        meta, st = record.body["metadata"], record.status
        namespace, name = meta["namespace"], meta["name"]
        if step is None:
            pods = self.cache.workers_of(namespace, name)
            if record.phase == "Admitted" and len(pods) < (st.workers or 0):
                await self.admission.create_workers(record)
            await self._note_spec_change(record, now)
            return
        fields: dict[str, Any] = {
            "message": step.message,
            **self.accountant.fields((namespace, name), self.cache.carbon_intensity(st.pool)),
        }
        if step.started_at:
            fields["started_at"] = timestamp(step.started_at)
        if step.finished_at:
            # The ETA column of an ended job shows when it ended, not the estimate it had.
            fields["finished_at"] = fields["estimated_finish"] = timestamp(step.finished_at)
            if step.phase == "Succeeded":
                fields["progress"] = 1.0
            # As batch/v1 Jobs say it: `kubectl wait --for=condition=Complete tj/NAME` works.
            ended = "Complete" if step.phase == "Succeeded" else "Failed"
            fields["conditions"] = status.set_condition(
                status.conditions_of(st), ended, True, step.reason, step.message, now
            )
        # The run as it was cut, read before the write moves the job on (a start or an end
        # cuts nothing: not read for every job that starts or succeeds).
        accrual = self.accountant.accruals.get((namespace, name))
        run = self.cache.running_job(record, accrual) if step.cause else None
        if step.restart:
            progress = self._saved(record, now)
            saved = f"; {format_share(progress)} of the work saved" if progress else ""
            accrued = fields.get("accrued_cost", st.accrued_cost)
            currency = st.currency or self.cache.currency()
            # What the lost work cost, as a preemption's victim is told it (it said the time);
            # both as money is shown everywhere ("0.00 USD accrued so far, 0.0008 USD of it
            # lost" read as more lost than accrued).
            lost = f", {format_micros(run.lost(now), currency)} of it lost" if run else ""
            shown = format_money(accrued, currency)
            fields["message"] += f" ({shown} accrued so far{lost}{saved})"
            history = [*st.restart_history, fields["message"]][-RESTART_HISTORY:]
            fields.update(
                restarts=st.restarts + (1 if step.counted else 0),
                restart_history=history,
                started_at=None,
                progress=progress,
            )
        if step.phase == "Pending":
            written = await self.admission.release(record, step.reason, step.message, now, fields)
        else:
            patch = job_status_patch(phase=step.phase, reason=step.reason, **fields)
            written = await self.admission.write_status(record, patch, check=True)
        if not written:
            return  # a race lost: the next cycle decides again, and counts it then
        if step.phase == "Failed":
            # Its workers on nodes that stayed ran on, holding them, billed to no one; those
            # that ended keep their logs.
            await self.admission.stop_workers(record, ended_too=False)
        self._count_cut(step, st, run, namespace, now)
        if step.phase == "Running":
            return  # the Admitted event said where; the phase column says it started
        # As its status says it: a restart's figures (accrued, lost, saved) are its message's.
        await self.admission.event(
            record, step.reason, fields["message"], warning=step.phase in ("Failed", "Pending")
        )

    def _count_cut(
        self,
        step: lifecycle.Transition,
        st: TrainingJobStatus,
        run: RunningJob | None,
        namespace: str,
        now: datetime,
    ) -> None:
        """Count a run cut by a failure or a lost node, once its status says so: a reclaim for
        its spot pool's rate, a restart, and the work it lost (a run cut for good, no restart
        left, lost its work too)."""
        if not step.cause:
            return
        if step.cause == "NodeLost" and st.pool:
            self.cache.reclaim_rates.reclaimed(st.pool)
        if self.metrics is None:
            return
        if step.restart:
            self.metrics.restarts.labels(st.pool or "", step.cause).inc()
        if run is not None:
            self.metrics.lost_work_cost.labels(
                namespace, run.pool, step.cause, st.currency or self.cache.currency()
            ).inc(from_micros(run.lost(now)))

    async def _write_starts(
        self, starting: Mapping[Key, lifecycle.Transition], now: datetime
    ) -> None:
        """The Running statuses of jobs that started (see `_progress`), each on its record as
        it stands now (a write since has moved its version on). A job whose workers failed
        since is written as started all the same, with its accrual: the next cycle restarts it
        from there, with the run it lost counted (read again, its restart said "0s of work lost,
        0.00 USD accrued so far")."""
        async with _async_step("started jobs", "lifecycle"):
            steps = []
            for key, step in starting.items():
                record = self.cache.jobs.get(key)
                if record is not None and record.phase == "Admitted":
                    steps.append(self._progress_one(record, step, now))
            await _gather(steps)

    async def _write_accruals(self, now: datetime, starting: Container[Key]) -> None:
        """Persist accruals that are due (every interval, and when a job has finished), but
        those of jobs `starting`: their Running status carries them."""
        writes = []
        for key, record in list(self.cache.jobs.items()):
            if key not in starting and self.accountant.due_for_write(key, record, now):
                fields = self.accountant.fields(
                    key, self.cache.carbon_intensity(record.status.pool)
                )
                patch = job_status_patch(**fields)
                writes.append(self.admission.write_status(record, patch, check=False))
        await _gather(writes)

    async def _note_spec_change(self, record: JobRecord, now: datetime) -> None:
        """A placed job's spec changed: it keeps its placement, and says so once."""
        generation, planned = record.body["metadata"].get("generation"), record.status
        planned_at = planned.observed_generation
        if generation is None or planned_at is None or generation == planned_at:
            return
        if any(
            c.type == "SpecChangeIgnored" and c.observed_generation == generation
            for c in planned.conditions
        ):
            return
        message = (
            f"spec changed (generation {generation}) after placement at generation {planned_at}: "
            "a placed job keeps its pool and workers, and the new spec counts once it is pending "
            "again (a requeue); delete and re-create it to re-plan now (spec.suspend, "
            "spec.activeDeadlineSeconds and spec.ttlSecondsAfterFinished apply at once)"
        )
        patch = job_status_patch(
            conditions=status.set_condition(
                status.conditions_of(planned),
                "SpecChangeIgnored",
                True,
                "PlacedJobsAreNotReplanned",
                message,
                now,
                generation,
            )
        )
        await self.admission.write_status(record, patch, check=False)
        await self.admission.event(record, "SpecChangeIgnored", message, warning=True)

    async def _warn_of_accruals(self) -> None:
        """A Warning event on each placed job a price change took past its spec.maxCost, or
        whose accrual changed way (its pool's price gone, its currency no longer the prices')."""
        over, self.accountant.past_max_cost = self.accountant.past_max_cost, []
        told, self.accountant.told = self.accountant.told, []
        for key, reason, message in [(k, "PastMaxCost", m) for k, m in over] + told:
            record = self.cache.jobs.get(key)
            if record is not None:
                await self.admission.event(record, reason, message, warning=True)

    def _saved(self, record: JobRecord, now: datetime) -> float:
        """A placed job's share of work saved if its run stops now: what its checkpoints kept,
        or what its trainer reports (`pricewise.dev/progress`), whichever is more."""
        st = record.status
        run = self.cache.running_job(record)
        kept = run.progress(now, st.progress) if run is not None else st.progress
        try:
            reported = reported_progress(record.body)
        except ValueError as err:
            log.warning("TrainingJob %s: %s", record.body["metadata"]["name"], err)
            reported = None
        return max(kept, reported or 0.0)

    # --- preemption -----------------------------------------------------------------------

    async def _preempt(
        self, snapshot: Snapshot, decisions: tuple[Decision, ...], now: datetime
    ) -> tuple[Decision, ...]:
        """Requeue the victims of this cycle's preemptions. A preemptor says whom it waits for,
        and preempts no more until their workers are gone and it is placed."""
        if not self.preemption.enabled:
            return decisions
        self._preempting = {
            key: (victims, message)
            for key, (victims, message) in self._preempting.items()
            if key in {d.job.key for d in decisions if d.chosen is None}
            and any(self.cache.workers_of(*v.split("/", 1)) for v in victims)
        }
        free = tuple(d for d in decisions if d.job.key not in self._preempting)
        running = self.cache.running(self.accountant.accruals)
        for made in preemptions(snapshot, free, running, self.preemption):
            if any(self._run_over(v.key) for v in made.victims):
                continue  # its room frees without a preemption: its finished pods were deleted
            message = await self._requeue_victims(made, snapshot.currency, now)
            self._preempting[made.candidate.job.key] = (tuple(v.key for v in made.victims), message)
        return told(decisions, self._preempting, running, self.preemption.min_run_s, now)

    def _run_over(self, key: str) -> bool:
        """Whether a running job's run ended during the solve (its workers all ended, or the
        job gone or no longer placed)."""
        namespace, name = key.split("/", 1)
        record = self.cache.jobs.get((namespace, name))
        if record is None or record.phase not in ACTIVE_PHASES:
            return True
        pods = self.cache.workers_of(namespace, name).values()
        return bool(pods) and all(p.phase in ("Succeeded", "Failed") for p in pods)

    async def _requeue_victims(self, made: Preemption, currency: str, now: datetime) -> str:
        """Requeue each victim (Pending, `Preempted by ns/name`, events on both); the
        preemptor's message."""
        preemptor = made.candidate.job
        for victim in made.victims:
            namespace, name = victim.key.split("/", 1)
            record = self.cache.jobs.get((namespace, name))
            if record is None:
                continue
            cut = f"Preempted by {preemptor.key} (priority {preemptor.priority})"
            # Its reason gives way to why it waits from the next cycle on: the condition keeps
            # that it was preempted until it is admitted again (`status.admitted_status`).
            cut_now = await self._cut(record, victim, "Preempted", cut, currency, now)
            if cut_now and self.metrics is not None:
                self.metrics.preemptions.labels(victim.pool).inc()
        return preemptor_message(made, currency)

    async def _suspend(self, record: JobRecord, now: datetime) -> None:
        """Stop a placed job whose spec.suspend turned true, as a preemption stops it (its
        progress and accrual kept, no restart counted): it waits, suspended, until its
        spec.suspend is false (`_report_unplanned`). Its options and planned start go: it is
        not planned."""
        key = key_of(record.body)
        run = self.cache.running_job(record, self.accountant.accruals.get(key))
        currency = record.status.currency or self.cache.currency()
        generation = record.body["metadata"].get("generation")
        fields = {"options": None, "planned_start": None, "observed_generation": generation}
        conditions = status.conditions_of(record.status)
        # Pending, its edits are read: "a placed job keeps its pool" no longer holds.
        if status.condition_true(record.status, "SpecChangeIgnored"):
            conditions = status.set_condition(
                conditions, "SpecChangeIgnored", False, SUSPENDED,
                "suspended: its spec as it is now counts once it is resumed", now, generation,
            )  # fmt: skip
        cut = "Suspended (spec.suspend)"
        await self._cut(record, run, SUSPENDED, cut, currency, now, fields, conditions)

    async def _cut(
        self,
        record: JobRecord,
        run: RunningJob | None,
        reason: str,
        cut: str,
        currency: str,
        now: datetime,
        fields: Mapping[str, Any] | None = None,
        conditions: Sequence[status.Condition] | None = None,
    ) -> bool:
        """Requeue a placed job whose run is cut for `reason` (Preempted, Suspended), `cut`
        saying by whom: Pending, with its progress and accrual kept, the run's figures in its
        restart history, its status and a condition of the reason's type (True until it is
        admitted again or resumed), an event, and the work it lost counted; `fields` are more
        of its status, `conditions` its conditions to set that one among (else its own). False
        on a lost race."""
        namespace, name = key_of(record.body)
        message = f"{cut} at {dated(now)}"
        if run is not None:
            ran = format_duration(run.ran_s(now))
            message += f"; ran {ran}, {format_micros(run.lost(now), currency)} of work lost"
        history = [*record.status.restart_history, message][-RESTART_HISTORY:]
        written = {
            "restart_history": history,
            "started_at": None,
            "progress": self._saved(record, now),
            # Written with the release: a restart before the next accrual write keeps it.
            **self.accountant.fields(
                (namespace, name), self.cache.carbon_intensity(record.status.pool)
            ),
            **(fields or {}),
        }
        conditions = status.set_condition(
            status.conditions_of(record.status) if conditions is None else conditions,
            reason, True, reason, message, now, record.body["metadata"].get("generation"),
        )  # fmt: skip
        if not await self.admission.release(record, reason, message, now, written, conditions):
            return False
        log.info("job %s/%s requeued on pool %s: %s", namespace, name, record.status.pool, message)
        # A suspension is its owner's own doing, as batch/v1 Jobs tell it: no Warning.
        await self.admission.event(record, reason, message, warning=reason != SUSPENDED)
        if self.metrics is not None and run is not None:
            self.metrics.lost_work_cost.labels(namespace, run.pool, reason, currency).inc(
                from_micros(run.lost(now))
            )
        return True

    # --- pending jobs ---------------------------------------------------------------------

    async def _report_unplanned(self, now: datetime) -> None:
        """Pending jobs that are not planned say why: those whose spec the operator cannot use
        (schema passed, but not the model), suspended ones, and those of a namespace whose
        limits cannot be checked; a suspended job resumed says so."""
        holds = self.cache.namespace_holds()
        for (namespace, name), record in list(self.cache.jobs.items()):
            if record.phase != "Pending":
                # A placed or ended job keeps its phase: it was placed with a spec that was
                # valid then (edited since, or refused by a newer version after an upgrade).
                continue
            if record.job is None:
                message = f"invalid spec: {record.error}"
                await self.admission.hold(record, "InvalidSpec", message, now, check=False)
                continue
            # As written: a resumed job of a held namespace is told the hold next.
            told = await self._tell_suspended(record, now) if _untold_suspension(record) else record
            if (
                namespace in holds
                and not told.suspended
                and not self.cache.kept_waiting((namespace, name), told)
            ):
                # Checked: a job placed meanwhile keeps its placement.
                await self.admission.hold(told, *holds[namespace], now, check=True)

    async def _tell_suspended(self, record: JobRecord, now: datetime) -> JobRecord:
        """A pending job's status and event once its spec.suspend turned true (it is not
        planned) or back to false (planned again from this cycle); a suspended job edited
        again has the generation read said, without an event (a client waiting for
        status.observedGeneration to reach it would wait for ever). The job's record as it is
        after the write."""
        generation = record.body["metadata"].get("generation")
        if record.suspended:
            patch = status.suspended_status(record.status, now, generation)
        else:
            patch = status.resumed_status(record.status, now, generation)
        news = record.suspended != status.told_suspended(record.status)
        news = news or record.status.reason != patch["reason"]
        # Checked: a job placed meanwhile is stopped by the next cycle, not told it waits.
        if await self.admission.write_status(record, patch, check=True) and news:
            await self.admission.event(record, patch["reason"], patch["message"])
        return self.cache.jobs.get(key_of(record.body), record)

    async def _set_aside(self, failed: dict[str, str], now: datetime) -> None:
        """Jobs whose planning raised (see `quarantine`) wait, and say so; the rest go on."""
        self.cache.quarantined = {}
        for key_text, error in failed.items():
            namespace, name = key_text.split("/", 1)
            record = self.cache.jobs.get((namespace, name))
            if record is None:
                continue
            self.cache.quarantined[(namespace, name)] = error
            message = f"pricewise could not plan this job ({error}); other jobs are not affected"
            await self.admission.hold(record, "PlanningFailed", message, now, check=True)


def _untold_suspension(record: JobRecord) -> bool:
    """Whether a pending job's status has yet to say that it is suspended (as the generation
    of its spec it has now), or that it was resumed."""
    st, generation = record.status, record.body["metadata"].get("generation")
    if not record.suspended:
        return status.told_suspended(st)
    told = status.told_suspended(st) and st.reason == SUSPENDED
    return not told or st.observed_generation != generation


def _spec_of(record: JobRecord) -> tuple[object, object]:
    """Which job and which of its specs a record is: its uid and generation."""
    meta = record.body["metadata"]
    return meta.get("uid"), meta.get("generation")


_FAULTS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("faults", default=None)
"""What failed in the running cycle (see `Scheduler.counted_cycle`)."""


def _fault(what: str) -> None:
    faults = _FAULTS.get()
    if faults is not None:
        faults.append(what)


@contextlib.contextmanager
def _step(name: str) -> Iterator[None]:
    """Run one step of the cycle, logging instead of raising what fails in it."""
    try:
        yield
    except Exception:
        log.exception("cycle step %r failed; the rest of the cycle goes on", name)
        _fault(f"step {name!r}")


@contextlib.asynccontextmanager
async def _async_step(name: str, requests: str) -> AsyncIterator[None]:
    """`_step` for a step that awaits, its API requests counted under `requests`."""
    with _step(name), purpose(requests):
        yield


def _started(record: JobRecord, step: lifecycle.Transition) -> bool:
    """Whether the step only says that an admitted job's workers started running."""
    return record.phase == "Admitted" and step.phase == "Running"


async def _gather(calls: Any) -> list[Any]:
    """Await all, logging failures instead of stopping at the first: each one's result, or
    the exception it raised."""
    aws: list[Awaitable[Any]] = list(calls)
    results = await asyncio.gather(*aws, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            log.error("API call failed: %s", result)
            _fault("API calls")
    return results
