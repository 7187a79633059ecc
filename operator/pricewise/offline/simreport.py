"""What a simulation run shows: the summary per policy, per-job rows, utilisation, the cost
curve and the table printed by `pricewise simulate`."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pricewise.core.snapshot import Pool
from pricewise.core.units import MICROS
from pricewise.offline.columns import columns
from pricewise.offline.simmodel import EPSILON_S, SimResult


def _percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def utilisation(result: SimResult) -> dict[str, float]:
    """Share of each pool's GPU time in use, from the first arrival to the last completion."""
    ran = [r for r in result.records if r.start_s is not None and r.finish_s is not None]
    if not ran:
        return {p.name: 0.0 for p in result.pools}
    begin = min(r.arrival_s for r in result.records)
    end = max(r.finish_s for r in ran if r.finish_s is not None)
    busy: dict[str, float] = defaultdict(float)
    for r in ran:
        assert r.pool is not None and r.finish_s is not None and r.start_s is not None
        busy[r.pool] += r.gpus * (r.finish_s - r.start_s)
    out = {}
    for pool in result.pools:
        capacity = sum(n.allocatable.devices for n in pool.nodes) * (end - begin)
        out[pool.name] = busy[pool.name] / capacity if capacity > 0 else 0.0
    return out


def cost_over_time(result: SimResult, points: int = 200) -> tuple[list[float], list[float]]:
    """(hours since the first arrival, cost accrued by then): each job accrues evenly while
    it runs, as the accounting does."""
    ran = [r for r in result.records if r.start_s is not None and r.finish_s is not None]
    if not ran:
        return [0.0], [0.0]
    end = max(r.finish_s for r in ran if r.finish_s is not None)
    times = [end * i / (points - 1) for i in range(points)]
    accrued = []
    for t in times:
        total = 0.0
        for r in ran:
            assert r.start_s is not None and r.finish_s is not None
            span = r.finish_s - r.start_s
            done = 1.0 if span <= 0 else min(1.0, max(0.0, (t - r.start_s) / span))
            total += r.cost * done
        accrued.append(total / MICROS)
    return [t / 3600 for t in times], accrued


def summary(result: SimResult) -> dict[str, Any]:
    """A policy's figures as plain data (the JSON output)."""
    ran = [r for r in result.records if r.finish_s is not None and r.start_s is not None]
    jct = [r.finish_s - r.arrival_s for r in ran if r.finish_s is not None]
    wait = [r.start_s - r.arrival_s for r in ran if r.start_s is not None]
    return {
        "policy": result.policy,
        "jobs": len(result.records),
        "completed": len(ran),
        "unplaced": len(result.records) - len(ran),
        "totalCost": round(sum(r.cost for r in result.records) / MICROS, 2),
        "currency": result.currency,
        "deadlineMisses": sum(r.missed for r in result.records),
        "restarts": sum(r.restarts for r in result.records),
        "failed": sum(r.failed for r in result.records),
        "lostWorkCost": round(sum(r.lost_cost for r in result.records) / MICROS, 2),
        "meanJctHours": round(sum(jct) / len(jct) / 3600, 3) if jct else 0.0,
        "p95JctHours": round(_percentile(jct, 0.95) / 3600, 3),
        "meanWaitHours": round(sum(wait) / len(wait) / 3600, 3) if wait else 0.0,
        **waits(result),
        "utilisation": {k: round(v, 4) for k, v in utilisation(result).items()},
        "gpuHoursByPool": _gpu_hours(result),
        "cycles": result.cycles,
        "solverSeconds": round(result.solver_seconds, 2),
        "solverStatuses": dict(sorted(result.statuses.items())),
        "wallSeconds": round(result.wall_seconds, 2),
    }


def waits(result: SimResult) -> dict[str, Any]:
    """How long jobs waited, and how well their first promise told it.

    `maxWaitOverRuntime`: the longest wait as a multiple of the job's own run time;
    `maxWaitHoursUnbound`: the longest wait of a job with no deadline holding it (none, or
    past it), the one a max-wait bound is for, from its arrival; `maxWaitHoursPastDeadline`:
    the longest a late job waited from when its deadline went out of reach (a late job's wait
    before then was one its deadline allowed); `etaError*`: for jobs that waited and were
    promised a start by the first cycle that saw them, |promised - actual start| over the actual
    wait (median and p90), and `promised` the share of waiting jobs that got such a promise.
    """
    ran = [r for r in result.records if r.start_s is not None and r.finish_s is not None]
    ratios = [
        (r.start_s - r.arrival_s) / (r.finish_s - r.start_s)
        for r in ran
        if r.start_s is not None and r.finish_s is not None and r.finish_s > r.start_s
    ]
    unbound = [
        r.start_s - r.arrival_s
        for r in ran
        if r.start_s is not None and (r.deadline_s is None or r.late_s is not None)
    ]
    # To its first start, as the waits above: a run that a reclaim cut short may go late
    # while it waits again, after that start (counted 0 then).
    past_deadline = [
        max(r.start_s - r.late_s, 0.0)
        for r in ran
        if r.start_s is not None and r.late_s is not None
    ]
    waited = [r for r in ran if r.start_s is not None and r.start_s - r.arrival_s > EPSILON_S]
    errors = [
        abs(r.first_promise_s - r.start_s) / (r.start_s - r.arrival_s)
        for r in waited
        if r.first_promise_s is not None and r.start_s is not None
    ]
    return {
        "maxWaitOverRuntime": round(max(ratios, default=0.0), 2),
        "maxWaitHoursUnbound": round(max(unbound, default=0.0) / 3600, 2),
        "maxWaitHoursPastDeadline": round(max(past_deadline, default=0.0) / 3600, 2),
        "etaErrorMedian": round(_percentile(errors, 0.5), 3) if errors else None,
        "etaErrorP90": round(_percentile(errors, 0.9), 3) if errors else None,
        "promised": round(len(errors) / len(waited), 3) if waited else None,
    }


def job_rows(result: SimResult) -> list[dict[str, Any]]:
    """Each job's outcome under the policy as plain data (`-o json --per-job`), in arrival
    order. Times are hours of simulated time (the trace window starts at 0); a job that never
    ran has no start, finish, wait or pool and costs 0; `deadlineMet` is null for a job
    without a deadline, and `late` says its deadline became unreachable while it waited."""

    def hours(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds / 3600, 4)

    rows = []
    for r in sorted(result.records, key=lambda r: (r.arrival_s, r.name)):
        wait = None if r.start_s is None else r.start_s - r.arrival_s
        rows.append(
            {
                "job": r.name,
                "label": r.label,
                "gpus": r.gpus,
                "arrivalHours": hours(r.arrival_s),
                "deadlineHours": hours(r.deadline_s),
                "startHours": hours(r.start_s),
                "finishHours": hours(r.finish_s),
                "waitHours": hours(wait),
                "pool": r.pool,
                "workers": r.workers,
                "cost": round(r.cost / MICROS, 6),
                "deadlineMet": None if r.deadline_s is None else not r.missed,
                "late": r.late_s is not None,
                "lateHours": hours(r.late_s),
                "firstPromiseHours": hours(r.first_promise_s),
            }
        )
    return rows


def _gpu_hours(result: SimResult) -> dict[str, float]:
    hours: dict[str, float] = defaultdict(float)
    for r in result.records:
        if r.pool is not None and r.finish_s is not None and r.start_s is not None:
            hours[r.pool] += r.gpus * (r.finish_s - r.start_s) / 3600
    return {p.name: round(hours[p.name], 1) for p in result.pools}


def render_table(rows: Sequence[Mapping[str, Any]], pools: Sequence[Pool]) -> str:
    """One line per policy, like `kubectl get`."""
    baseline = next((r["totalCost"] for r in rows if r["policy"] == "first-fit"), None)
    head = ["POLICY", "COST", "VS_FIRST_FIT", "MISSES", "MEAN_JCT", "P95_JCT", "MEAN_WAIT",
            "UNPLACED", *(f"UTIL_{p.name}" for p in pools), "CYCLES", "SOLVER_S"]  # fmt: skip
    lines = [head]
    for r in rows:
        versus = f"{r['totalCost'] / baseline - 1:+.1%}" if baseline else "-"
        lines.append(
            [
                r["policy"],
                f"{r['totalCost']:,.2f} {r['currency']}",
                versus,
                str(r["deadlineMisses"]),
                f"{r['meanJctHours']:.2f}h",
                f"{r['p95JctHours']:.2f}h",
                f"{r['meanWaitHours']:.2f}h",
                str(r["unplaced"]),
                *(f"{r['utilisation'][p.name]:.0%}" for p in pools),
                str(r["cycles"]),
                f"{r['solverSeconds']:.1f}",
            ]
        )
    return columns(lines)
