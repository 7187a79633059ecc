"""`pricewise plan`: the placement a cycle would make for the objects in some files, offline."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

import yaml

from pricewise.api import convert, holds, nodepools, quotas
from pricewise.api import models as api
from pricewise.api.manifests import ManifestError, Manifests
from pricewise.api.models import ACTIVE_PHASES
from pricewise.api.wire import option_row
from pricewise.core.costmodel import without_missed_deadline
from pricewise.core.explain import Decision
from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import Snapshot
from pricewise.core.solver import Plan, solve
from pricewise.core.times import clock, optional_timestamp, timestamp
from pricewise.core.units import format_duration, format_money, from_micros
from pricewise.offline.columns import columns
from pricewise.offline.moves import Move, moves_list, moves_table


def snapshot_of(found: Manifests, now: datetime) -> tuple[Snapshot, list[str], list[Decision]]:
    """The snapshot the files describe, warnings about its pools and budgets, and the pending
    jobs the operator would hold instead of planning (suspended, or of a namespace whose hard
    Budget cannot be read or is in another currency), as the operator does it."""
    if not found.price_tables:
        raise found.missing("no PriceTable given: pricewise needs prices to compare pools")
    if not found.jobs:
        # As `kubectl apply` of no object: a plan of nothing passed a script's check unseen.
        raise found.missing("no TrainingJob given: nothing to plan; pass the jobs' manifests too")
    currencies = {t.spec.currency for t in found.price_tables}
    if len(currencies) > 1:
        tables = ", ".join(f"{t.metadata.name} ({t.spec.currency})" for t in found.price_tables)
        raise ManifestError(
            f"PriceTables in several currencies: {tables}; pricewise prices in one: give "
            "only the tables of one currency (the operator takes the oldest that prices nodes)"
        )
    currency = currencies.pop()
    pools, problems = nodepools.pools_from(
        found.price_tables, found.nodes, nodepools.node_usage(found.pods)
    )
    warnings = found.skipped_warnings() + found.template_warnings()
    # Without nodes every pool matches none: the cause is said once, not a line per pool.
    if not found.nodes:
        warnings.append("no Node given: pass the output of `kubectl get nodes -o yaml`")
    warnings += [p.message for p in problems if found.nodes or p.reason != "PoolWithoutNodes"]
    warnings += [refused.warning() for refused in found.refused_budgets]
    budgets = []
    for budget in found.budgets:
        foreign = holds.foreign_currency(budget, currency)
        if foreign is None:
            budgets.append(convert.budget_from(budget, now=now))
        else:
            warnings.append(f"Budget {budget.metadata.namespace}/{budget.metadata.name}: {foreign}")
    blocked = holds.namespace_holds(
        {},  # a ResourceQuota pricewise cannot read is an error of `manifests.load`
        {
            (refused.namespace, refused.name): refused.error
            for refused in found.refused_budgets
            if refused.enforcement == "hard"
        },
        found.budgets,
        currency,
    )
    # Counted from submission, as the operator counts a job's max wait.
    pending = [
        convert.job_from(j, j.metadata.creation_timestamp)
        for j in found.jobs
        if j.status.phase == "Pending"
    ]
    suspended = {
        f"{j.metadata.namespace}/{j.metadata.name}"
        for j in found.jobs
        if j.status.phase == "Pending" and j.spec.suspend
    }
    placed = [
        f"{j.metadata.namespace}/{j.metadata.name}"
        for j in found.jobs
        if j.status.phase in ACTIVE_PHASES
    ]
    if placed:
        # Their room and their ends are the live cluster's to say: files hold neither for sure.
        warnings.append(
            f"{len(placed)} TrainingJob(s) already placed are not planned again "
            f"({', '.join(placed[:3])}{', ...' if len(placed) > 3 else ''}): their nodes count "
            "as free unless their Pods are given, and no job waits for the room they free; "
            "`pricewise plan --cluster` counts what runs and when it ends"
        )

    snapshot = Snapshot(
        now=now,
        pools=pools,
        jobs=tuple(
            without_missed_deadline(job, pools, now, currency)
            for job in pending
            if job.namespace not in blocked and job.key not in suspended
        ),
        quotas=tuple(
            quotas.quota_from(
                q, [(j.metadata.namespace, j.metadata.name, j.spec.template) for j in found.jobs]
            )
            for q in found.quotas
        ),
        budgets=tuple(budgets),
        currency=currency,
    )
    held = [
        holds.held_decision(
            job, holds.SUSPENDED_HOLD if job.key in suspended else blocked[job.namespace]
        )
        for job in pending
        if job.key in suspended or job.namespace in blocked
    ]
    return snapshot, warnings, held


def decision_dict(decision: Decision, now: datetime, currency: str) -> dict[str, Any]:
    """A decision as plain data (the JSON and YAML outputs of `pricewise plan`): a job planned
    for later has the pool, workers, cost and finish of its planned run, as the table shows."""
    reservation = decision.reservation
    run = decision.chosen or (reservation.candidate if reservation else None)
    start = reservation.start if reservation else now
    return {
        "namespace": decision.job.namespace,
        "name": decision.job.name,
        "placed": decision.chosen is not None,
        "pool": run.pool.name if run else None,
        "accelerator": run.pool.accelerator if run else None,
        "workers": run.workers if run else None,
        "nodes": list(decision.nodes),
        "cost": from_micros(run.cost) if run else None,
        "currency": currency,
        "duration": decision.duration if run else None,
        "finish": optional_timestamp(run.finish(start)) if run else None,
        "plannedStart": optional_timestamp(reservation.start) if reservation else None,
        "reason": decision.reason,
        "message": decision.message,
        "options": [
            option_row(row, from_micros, optional_timestamp(row.candidate.finish(row.start or now)))
            for row in decision.options
        ],
    }


def plan_dict(
    plan: Plan,
    snapshot: Snapshot,
    warnings: list[str],
    beside: int | None = None,
    moved: list[Move] | None = None,
) -> dict[str, Any]:
    """The whole plan as plain data (`beside`, `moved`: see `render_plan`)."""
    return {
        "now": timestamp(snapshot.now),
        "currency": snapshot.currency,
        "totalCost": from_micros(plan.total_cost),
        "plannedLaterCost": from_micros(plan.reserved_cost),
        "solver": {
            "status": plan.status,
            "seconds": round(plan.seconds, 3),
            "bestBound": None if plan.best_bound is None else from_micros(plan.best_bound),
            "rounds": plan.rounds,
        },
        "warnings": warnings,
        **({} if beside is None else {"besidePendingJobs": beside}),
        "jobs": [decision_dict(d, snapshot.now, snapshot.currency) for d in plan.decisions],
        **({} if moved is None else {"pendingJobsMoved": moves_list(moved, snapshot.currency)}),
    }


MESSAGE_WIDTH = 60
"""The MESSAGE column's width in the table. Messages run to 220 characters, which wrapped
every row; `kubectl get` keeps its columns short and leaves long text to `describe`, so the
table shows a message's first clause (the pool, cost and time, or what stands in the way) and
-o wide, -v (the describe of `plan`), -o yaml and -o json the whole of it."""


def render_table(
    plan: Plan,
    snapshot: Snapshot,
    verbose: bool,
    wide: bool = False,
    beside: int | None = None,
    moved: list[Move] | None = None,
) -> str:
    """The placement as a table, like `kubectl get`; with `verbose`, every job's options; with
    `wide`, each MESSAGE uncut (`beside`, `moved`: see `render_plan`)."""
    currency, now = snapshot.currency, snapshot.now
    rows = [["JOB", "POOL", "WORKERS", "COST", "DURATION", "START", "REASON", "MESSAGE"]]
    cut = False
    for d in plan.decisions:
        message = (
            d.message if wide else textwrap.shorten(d.message, MESSAGE_WIDTH, placeholder="...")
        )
        cut |= message != d.message
        c = d.chosen or (d.reservation.candidate if d.reservation else None)
        start = "now" if d.chosen else clock(d.reservation.start, now) if d.reservation else "-"
        rows.append(
            [
                d.job.key,
                c.pool.name if c else "-",
                str(c.workers) if c else "-",
                format_money(from_micros(c.cost), currency) if c else "-",
                d.duration or "-",
                start,
                d.reason,
                message,
            ]
        )
    out = [columns(rows)]
    placed = len(plan.placed)
    later = (
        f", {len(plan.reserved)} planned for later "
        f"({format_money(from_micros(plan.reserved_cost), currency)})"
        if plan.reserved
        else ""
    )
    # Those held as specified (a deadline no option meets) compete with none: "0 other
    # pending" read as wrong beside `kubectl get tj` showing them Pending.
    context = (
        ""
        if beside is None
        else f"; beside the cluster's {beside} other pending job(s) that can run"
    )
    out.append(
        f"\n{placed} of {len(plan.decisions)} job(s) placed, total "
        f"{format_money(from_micros(plan.total_cost), currency)}{later} "
        f"(solver: {plan.status}, {plan.seconds:.2f}s{context})"
    )
    if moved:
        out.append(moves_table(moved, now, currency))
    if cut and not verbose:
        out.append(
            f"(MESSAGE cut at {MESSAGE_WIDTH} characters: -o wide, -v, -o yaml or -o json "
            "show it all)"
        )
    if verbose:
        for d in plan.decisions:
            out.append(f"\n{d.job.key} options:\nmessage: {d.message}")
            # LIST, the list cost beside the risk-priced one, only where a spot pool's
            # reclaims price an option: elsewhere it was a column of dashes.
            risky = any(row.candidate.risk for row in d.options)
            opt_rows = [["POOL", "KIND", "WORKERS", "COST", *(["LIST"] * risky), "DURATION",
                         "VERDICT", "NOTE"]]  # fmt: skip
            for row in d.options:
                cand = row.candidate
                listed = format_money(from_micros(cand.list_cost), currency) if cand.risk else "-"
                opt_rows.append(
                    [
                        cand.pool.name,
                        cand.pool.capacity_type,
                        str(cand.workers),
                        format_money(from_micros(cand.cost), currency),
                        *([listed] * risky),
                        row.duration,
                        row.verdict,
                        row.note,
                    ]
                )
            out.append(columns(opt_rows) if len(opt_rows) > 1 else "  (none)")
    return "\n".join(out)


def run_plan(
    found: Manifests, now: datetime, output: str, verbose: bool, settings: SolverSettings
) -> str:
    """Solve the manifests and render the plan in the requested output format."""
    snapshot, warnings, held = snapshot_of(found, now)
    plan = solve(snapshot, settings)
    plan = replace(plan, decisions=plan.decisions + tuple(held))
    warnings += outlasting(plan, found.jobs)
    return render_plan(plan, snapshot, warnings, output, verbose)


def outlasting(plan: Plan, jobs: Iterable[api.TrainingJob]) -> list[str]:
    """A warning for each job placed or planned on a run estimated to last past its
    spec.activeDeadlineSeconds, which planning does not read: it would fail DeadlineExceeded."""
    limits = {
        (j.metadata.namespace, j.metadata.name): j.spec.active_deadline_seconds
        for j in jobs
        if j.spec.active_deadline_seconds is not None
    }
    warnings = []
    for decision in plan.decisions:
        limit = limits.get((decision.job.namespace, decision.job.name))
        run = decision.chosen or (decision.reservation and decision.reservation.candidate)
        if limit is not None and run and run.duration_s > limit:
            warnings.append(
                f"{decision.job.namespace}/{decision.job.name}: its run is estimated at "
                f"{format_duration(run.duration_s)}, past its activeDeadlineSeconds "
                f"({format_duration(limit)}): it would fail DeadlineExceeded (set maxDuration "
                "too, to plan only options that end in time)"
            )
    return warnings


def render_plan(
    plan: Plan,
    snapshot: Snapshot,
    warnings: list[str],
    output: str,
    verbose: bool,
    beside: int | None = None,
    moved: list[Move] | None = None,
) -> str:
    """A plan as a table (`wide`: with each message whole), JSON or YAML; its warnings are
    written to stderr first. `beside`: for a quote, how many of the cluster's pending jobs that
    may run compete with the quoted ones, said beside the solver's figures (as a warning, it
    read as something wrong); `moved`: for a quote, those whose plans the quoted jobs change."""
    # As kubectl prints its `Warning:` lines: on stderr, so that `> plan.json` or `| jq` get
    # the plan alone, and before the plan, so that on a terminal they are read ahead of the
    # table they explain rather than under the last of its rows (or scrolled away with -v).
    # JSON and YAML carry them as well, for programs.
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if output in ("json", "yaml"):
        data = plan_dict(plan, snapshot, warnings, beside, moved)
        return (
            json.dumps(data, indent=2)
            if output == "json"
            else yaml.safe_dump(data, sort_keys=False)
        )
    return render_table(plan, snapshot, verbose, output == "wide", beside, moved)
