"""Why a job cannot run here as specified, where waiting will not help: the reason, and a
message with its figures and the change to its spec (or the cluster's) that lets it run."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from pricewise.core.bounds import MAX_RUN_S
from pricewise.core.costmodel import (
    Candidate,
    Stage,
    candidate_for,
    deadline_binds,
    run_seconds,
    time_limit,
    wider_run,
    workers_held,
)
from pricewise.core.greedy import beyond_quotas, budgets_too_small, quotas_too_small
from pricewise.core.snapshot import BudgetView, Job, Resources, Snapshot
from pricewise.core.units import (
    TimeLimit,
    floor_to_figures,
    format_duration,
    format_micros,
    format_micros_apart,
    format_micros_up,
    format_rate,
    format_share,
)

_STAGE_REASONS = {
    Stage.OUT_OF_RANGE: "OutOfRange",
    Stage.NO_FIT: "WorkerTooLarge",
    Stage.GANG: "GangTooLarge",
    Stage.NO_NODES: "NodesUnavailable",
    Stage.SPOT: "SpotNotAllowed",
    Stage.TIME: "DeadlineUnreachable",
    Stage.THROUGHPUT: "ThroughputUnreachable",
    Stage.MAX_COST: "OverMaxCost",
    Stage.VALUE: "NotWorthRunning",
    Stage.QUOTA: "QuotaTooSmall",
    Stage.BUDGET: "BudgetTooSmall",
    Stage.NODES_DOWN: "NodesUnavailable",
}


INFEASIBLE = frozenset({*_STAGE_REASONS.values(), "NoMatchingPool"} - {"NodesUnavailable"})
"""Reasons that say the job cannot run here as specified: waiting will not help (unlike
capacity, unavailable nodes, or quotas and budgets that are only used up)."""


_SPOT_HELPS = frozenset({Stage.TIME, Stage.THROUGHPUT, Stage.QUOTA, Stage.BUDGET})
"""Stages past spot whose messages name a spot option that `spec.allowSpot` would let run."""


_LATE_ADVICE = "move spec.deadline, or set spec.whenLate: Run to run it late"
"""What lets a job its deadline refuses run."""


def _too_slow(job: Job, closest: list[Candidate], snapshot: Snapshot, kind: str) -> str:
    """Why no option finishes in time, with the fastest option's run in figures that add up,
    and what would let one: a larger maxDuration, a later deadline, or more workers where a
    pool holds them. `kind`: what the options compared are ("option", "on-demand option")."""
    now = snapshot.now
    # By the run time the deadline was checked against: with the reclaims of 9 runs in 10
    # on spot, where the expected run alone read as fitting the limit it was refused for.
    fastest = min(closest, key=lambda c: c.worst_s)
    # Options are too slow only against some limit: 0 s stands in for none, as a guard.
    limit = time_limit(job, now) or TimeLimit.left(0.0)
    wider, wider_s = None, ""
    if limit.seconds <= 0 and job.deadline is not None:
        text = f"deadline passed {format_duration(-limit.seconds)} ago"
    else:
        run = limit.overrun(fastest.worst_s)
        what = "deadline in" if deadline_binds(job, now) else "maxDuration"
        reclaims = " with the reclaims of 9 runs in 10" if fastest.risk is not None else ""
        text = (
            f"{what} {run.limit} cannot be met: fastest {kind} {fastest.label()} needs "
            f"{run.need}{reclaims}"
        )
        wider = _widest_fix(closest, snapshot)
        wider_s = limit.run(wider.worst_s) if wider is not None else ""
    longest = job.max_duration_s
    # Against maxDuration, to the same unit wherever the message names it.
    at_max = TimeLimit.written(longest).overrun(fastest.worst_s) if longest is not None else None
    over_max = longest is not None and fastest.worst_s > longest
    # With whenLate: Run, a deadline is no bar once maxDuration is met.
    over_deadline = (
        job.deadline is not None
        and not job.runs_late
        and fastest.worst_s > (job.deadline - now).total_seconds()
    )
    beyond_any = over_max and fastest.worst_s > MAX_RUN_S  # no maxDuration the API takes
    if beyond_any and wider is None:
        advice = (
            f"no spec.maxDuration up to {format_duration(MAX_RUN_S)} allows it: check spec.work "
            "against the options' throughput (work units a second, per worker)"
        )
    elif beyond_any:
        advice = ""  # more workers is the fix, said below
    elif over_max and over_deadline and at_max is not None:
        advice = (
            f"raise spec.maxDuration to {at_max.need}, and move spec.deadline or set "
            "spec.whenLate: Run to run it late"
        )
    elif over_max and at_max is not None:
        advice = f"raise spec.maxDuration to {at_max.need}"
    else:
        advice = _LATE_ADVICE if over_deadline else ""
    if wider is not None:
        more = f"spec.workers.max to {wider.workers} ({wider.label()} needs {wider_s})"
        if not advice:
            advice = f"raise {more}"
        elif over_max and not over_deadline:  # one "raise" for both
            advice += f", or {more}"
        else:
            advice += f", or raise {more}"
    if fastest.checkpoints_would_help(limit.seconds):
        # A reclaim then costs the run since its last checkpoint, not the whole run so far.
        checkpoint = "set spec.checkpoint.interval, so that a reclaim loses less of the run"
        advice = f"{advice}, or {checkpoint}" if advice else checkpoint
    if advice and (quota := beyond_quotas(fastest, snapshot.quotas)) is not None:
        advice += f"; it also {quota}"  # the fix alone would not let it run
    if job.runs_late and at_max is not None:
        # It still has its deadline only because maxDuration is not met either.
        text += (
            " (whenLate: Run lets a job run past its deadline, not past maxDuration "
            f"{at_max.limit}, which no option meets)"
        )
    return f"{text}; {advice}" if advice else text


def _widest_fix(closest: list[Candidate], snapshot: Snapshot) -> Candidate | None:
    """The fewest workers past `spec.workers.max` that a pool of the closest options holds and
    that meet the job's constraints (the cheapest of those), if any: what raising it would do."""
    return min(
        (
            w
            for c in closest
            if (w := wider_run(c.job, c.option, c.pool, snapshot.now, snapshot.currency))
            is not None
        ),
        key=lambda w: (w.workers, w.cost),
        default=None,
    )


def unfeasible(
    job: Job, rows: list[Candidate], snapshot: Snapshot, offered: list[str]
) -> tuple[str, str]:
    """Reason when no option meets the job's own constraints; `offered`, the accelerators
    the pools offer, sorted."""
    if not rows:
        kinds = ", ".join(
            _guessed(a, offered) for a in sorted({o.accelerator for o in job.options})
        )
        if not offered:  # the admin's to fix, not the job's
            return (
                "NoMatchingPool",
                f"no pool offers {kinds}: no PriceTable defines a pool yet (kubectl get "
                "pricetables); a cluster admin applies one",
            )
        return (
            "NoMatchingPool",
            f"no pool offers {kinds} (pools offer: {_listed(offered, snapshot)})",
        )
    stage = max(c.stage for c in rows)
    closest = [c for c in rows if c.stage == stage]
    # Past maxCost and value, the cost fixes name an excluded cheaper option already.
    spot = _spot_way_out(rows, snapshot) if stage in _SPOT_HELPS else None
    # Where a spot option is the way out, the figures compared are of the others only.
    kind = "option" if spot is None else "on-demand option"
    reason, message = _refusal(job, stage, closest, rows, snapshot, kind)
    if spot is not None:
        fix = (
            f"set spec.allowSpot: true ({spot.label()}, a spot pool, would run in "
            f"{format_duration(spot.duration_s)} for {format_micros(spot.cost, snapshot.currency)})"
        )
        message += f"; or {fix}" if "; " in message else f"; {fix}"
    return reason, message


def _spot_way_out(rows: list[Candidate], snapshot: Snapshot) -> Candidate | None:
    """The cheapest option on a spot pool that only `spec.allowSpot` keeps out: it meets the
    job's constraints, quotas and budgets once allowed. The messages of the stages past spot
    (too slow, too dear, a quota or budget too small) named only the others: "fastest option
    od x1 needs 10h; raise spec.maxDuration to 10h", where spot ran it in 2h40m for less."""
    job = rows[0].job
    if job.allow_spot:
        return None
    allowed = replace(job, allow_spot=True)
    ways = (
        candidate_for(allowed, c.option, c.pool, snapshot.now, snapshot.currency)
        for c in rows
        if c.stage is Stage.SPOT and c.pool.is_spot
    )
    return min(
        (
            c
            for c in ways
            if c.feasible
            and beyond_quotas(c, snapshot.quotas) is None
            and not budgets_too_small(c, snapshot.budgets)
        ),
        key=lambda c: (c.cost, c.duration_s),
        default=None,
    )


@dataclass(frozen=True)
class _Refused:
    """What a stage's message is made from: the options that reached the furthest stage
    (`closest`), every option (`rows`), and the word for the options compared (`kind`: "option",
    or "on-demand option" where a spot one is the way out)."""

    job: Job
    closest: list[Candidate]
    rows: list[Candidate]
    snapshot: Snapshot
    kind: str

    @property
    def cheapest(self) -> Candidate:
        return min(self.closest, key=lambda c: c.cost)


def _refusal(
    job: Job,
    stage: Stage,
    closest: list[Candidate],
    rows: list[Candidate],
    snapshot: Snapshot,
    kind: str,
) -> tuple[str, str]:
    """The reason and message of the stage the closest options reached (`unfeasible`)."""
    message = _MESSAGES.get(stage, _excluded)
    return _STAGE_REASONS[stage], message(_Refused(job, closest, rows, snapshot, kind))


def _deadline_unreachable(r: _Refused) -> str:
    return _too_slow(r.job, r.closest, r.snapshot, r.kind)


def _throughput_unreachable(r: _Refused) -> str:
    best = max(r.closest, key=lambda c: c.throughput)
    text = (
        f"minThroughput {format_rate(r.job.min_throughput or 0)}/s cannot be reached: "
        f"fastest {r.kind} {best.label()} gives {format_rate(best.throughput)}/s"
    )
    # More workers, where a pool holds them, as DeadlineUnreachable offers (it had no fix).
    wider = _widest_fix(r.closest, r.snapshot)
    if wider is not None:
        text += (
            f"; raise spec.workers.max to {wider.workers} ({wider.label()} gives "
            f"{format_rate(wider.throughput)}/s), or"
        )
    else:
        text += ";"
    # Rounded down, so that the figure given is one the run reaches.
    return f"{text} lower spec.minThroughput to {_floor_rate(best)}"


def _gang_too_large(r: _Refused) -> str:
    spot = " (a spot pool: it would also need spec.allowSpot: true)"
    text = "; ".join(
        f"{c.pool.name}: {c.note}{spot if c.pool.is_spot and not r.job.allow_spot else ''}"
        for c in r.closest
    )
    # The most workers a pool of these holds: what spec.workers.min may be lowered to.
    widest = max(r.closest, key=lambda c: workers_held(c.worker, c.pool))
    most = workers_held(widest.worker, widest.pool)
    fewer = ""
    if most:  # none held: no run time to give
        fewer = f"lower spec.workers.min to {most}{_slower(widest, most, r.snapshot)}, or "
    return f"{text}; {fewer}ask for less per worker (spec.options), or for larger nodes"


def _worker_too_large(r: _Refused) -> str:
    # Each worker beside the pools it was too large for: options of other sizes read as the
    # smallest worker against the largest node of any pool, which it would fit.
    shapes: dict[Resources, list[Candidate]] = {}
    for c in r.closest:
        shapes.setdefault(c.worker, []).append(c)
    text = "; ".join(
        f"a worker needs {worker.describe()}; no node is that large in "
        f"{', '.join(sorted({c.pool.name for c in these}))} (largest: "
        f"{max((c.pool.node_shape for c in these), key=lambda r: r.size).describe()})"
        for worker, these in sorted(shapes.items(), key=lambda item: item[0].size)
    )
    return (
        f"{text}; ask for less per worker (spec.options: devicesPerWorker, cpu, memory, "
        "with more workers in spec.workers), or for larger nodes"
    )


def _no_nodes(r: _Refused) -> str:
    return "; ".join(sorted({f"pool {c.pool.name}: {c.note}" for c in r.closest}))


def _nodes_down(r: _Refused) -> str:
    return "; ".join(
        f"{c.label()} would do, done in {format_duration(c.duration_s)} for "
        f"{format_micros(c.cost, r.snapshot.currency)}, but {c.note}"
        for c in sorted(r.closest, key=lambda c: (c.cost, c.pool.name))
    )


def _over_max_cost(r: _Refused) -> str:
    cheapest, currency = r.cheapest, r.snapshot.currency
    cost, limit = format_micros_apart(cheapest.cost, r.job.max_cost or 0, currency)
    text = (
        f"maxCost {limit}: cheapest option that meets the constraints, {cheapest.label()}, "
        f"costs {cost}"
    )
    return text + _cost_fixes(cheapest, r.rows, currency)


def _not_worth_running(r: _Refused) -> str:
    cheapest, currency, value = r.cheapest, r.snapshot.currency, r.job.value or 0
    cost, worth = format_micros_apart(cheapest.cost, value, currency)
    text = (
        f"not worth running: cheapest option {cheapest.label()} costs {cost}, more than the "
        f"job's value {worth} (net benefit {format_micros(value - cheapest.cost, currency)})"
    )
    return text + _cost_fixes(cheapest, r.rows, currency)


def _quota_too_small(r: _Refused) -> str:
    cheapest, quotas = r.cheapest, r.snapshot.quotas
    # A quota of pods, or of devices that several workers need, is met with fewer, where one
    # worker is within every quota.
    fits = r.job.min_workers > 1 and beyond_quotas(replace(cheapest, workers=1), quotas) is None
    fewer = ", or fewer workers: spec.workers.min" if fits else ""
    several = len(quotas_too_small(cheapest, quotas)) > 1
    which = "each of those ResourceQuotas'" if several else "that ResourceQuota's"
    return (
        f"{cheapest.label()} {cheapest.note}; raise {which} spec.hard, or ask for less "
        f"(spec.options{fewer})"
    )


def _budget_too_small(r: _Refused) -> str:
    cheapest, currency = r.cheapest, r.snapshot.currency

    # To what: a limit that takes the run, beside what a `total` Budget spent already; and,
    # where more, one that takes it now, beside what the period spent and committed (at the
    # first figure alone, the job waited as BudgetExceeded).
    def limit(b: BudgetView) -> str:
        now = format_micros_up(b.spent + b.committed + cheapest.cost, currency)
        if b.period == "total":
            # What its running jobs are committed to is spent by the time they end, and the
            # limit that took the run beside what was spent then no longer does.
            return now
        least = format_micros_up(b.limit - b.most + cheapest.cost, currency)
        return least if now == least else f"{least} ({now} for it to start now)"

    raised = [(b, limit(b)) for b in budgets_too_small(cheapest, r.snapshot.budgets)]
    if len(raised) == 1:
        fix = f"raise that Budget's spec.limit to {raised[0][1]}"
    else:
        each = ", ".join(f"{b.namespace}/{b.name} to {limit}" for b, limit in raised)
        fix = f"raise each of those Budgets' spec.limit ({each})"
    return f"cheapest {r.kind} {cheapest.label()} {cheapest.note}; {fix}, or {_cost_less(r.job)}"


def _spot_not_allowed(r: _Refused) -> str:
    # Spot is the way out; why the on-demand options are not was in the table alone (a job
    # whose on-demand pool lost a node read only "set spec.allowSpot: true").
    others = [c for c in r.rows if not c.pool.is_spot]
    text = _excluded(r) + "".join(f"; {c.label()}: {c.note}" for c in others[:2])
    if len(others) > 2:
        text += f" ({len(others) - 2} other on-demand option(s) excluded too)"
    return text


def _excluded(r: _Refused) -> str:
    return f"{r.cheapest.label()}: {r.cheapest.note}"


_MESSAGES: dict[Stage, Callable[[_Refused], str]] = {
    Stage.TIME: _deadline_unreachable,
    Stage.THROUGHPUT: _throughput_unreachable,
    Stage.GANG: _gang_too_large,
    Stage.NO_FIT: _worker_too_large,
    Stage.NO_NODES: _no_nodes,
    Stage.NODES_DOWN: _nodes_down,
    Stage.MAX_COST: _over_max_cost,
    Stage.VALUE: _not_worth_running,
    Stage.QUOTA: _quota_too_small,
    Stage.BUDGET: _budget_too_small,
    Stage.SPOT: _spot_not_allowed,
}
"""Each stage's message; a stage not named (OUT_OF_RANGE) says the cheapest option's note."""


def _floor_rate(cand: Candidate) -> str:
    """The candidate's throughput as `format_rate` prints it (four significant figures, or
    whole from 10,000 on), rounded down."""
    rate = cand.throughput
    return format_rate(float(math.floor(rate)) if rate >= 1e4 else floor_to_figures(rate, 4))


def _slower(cand: Candidate, workers: int, snapshot: Snapshot) -> str:
    """What else fewer workers need, where they run past the job's time limit: ` (4 workers
    need 2h30m, past spec.maxDuration 2h10m: raise it too)`; empty where they do not. Lowering
    spec.workers.min alone led to a DeadlineUnreachable next."""
    job, now = cand.job, snapshot.now
    limit = time_limit(job, now)
    run_s = run_seconds(job, cand.option, workers)
    if limit is None or run_s <= limit.seconds:
        return ""
    run = limit.overrun(run_s)
    if deadline_binds(job, now):
        return (
            f" ({workers} workers need {run.need}, past its deadline in {run.limit}: move it too)"
        )
    return f" ({workers} workers need {run.need}, past spec.maxDuration {run.limit}: raise it too)"


def _cost_less(job: Job) -> str:
    """How a job can be made to cost less, in the fields it uses: `spec.work` for options that
    give a throughput, their `duration` for those that give one (a job of those alone has no
    spec.work to lower), and a cheaper pool for either."""
    ways = []
    if any(o.duration_s is None for o in job.options):
        ways.append("spec.work")
    if any(o.duration_s is not None for o in job.options):
        ways.append("a shorter duration in spec.options")
    # Never empty: a job has an option (the CRD asks for one), which gives one or the other.
    return f"make the job cost less ({', '.join(ways)}, or spec.options on a cheaper pool)"


def _cost_fixes(cheapest: Candidate, rows: list[Candidate], currency: str) -> str:
    """What lets a job run whose cheapest option costs more than its maxCost or its value:
    either raised to that cost (both, where both fall short: raising one alone only changes
    the reason), a cheaper way to run it, or the cheapest option it excludes within both."""
    job = cheapest.job
    bounds = {"spec.maxCost": job.max_cost, "spec.value": job.value}
    short = [
        field for field, bound in bounds.items() if bound is not None and cheapest.cost > bound
    ]
    least = format_micros_up(cheapest.cost, currency)
    text = f"; raise {' and '.join(short)} to {least}, or {_cost_less(job)}"
    alt = cheaper_excluded(
        rows, cheapest, lambda c: all(b is None or c.cost <= b for b in bounds.values())
    )
    if alt is not None:
        # Its cost, said as such: "would save 82% (47.43 USD)" read as the amount saved.
        within = " and ".join(short)
        text += would_save(alt, cheapest, f" (it costs {format_micros(alt.cost, currency)}, "
                                          f"within {within})")  # fmt: skip
    return text


def unoffered(job: Job, offered: list[str], snapshot: Snapshot) -> str:
    """The options no pool offers, beside others that some pool does (all of them unoffered
    is `NoMatchingPool`): a typo in one accelerator name made its option vanish from the table,
    and the job wait for another one, without a word."""
    missing = [o for o in job.options if o.accelerator not in offered]
    if not missing or len(missing) == len(job.options):
        return ""
    asks = "; ".join(
        f"options[{o.index}] asks for {_guessed(o.accelerator, offered)}" for o in missing
    )
    return f"; {asks}, which no pool offers (pools offer: {_listed(offered, snapshot)})"


def _listed(offered: list[str], snapshot: Snapshot) -> str:
    """The accelerators the pools offer, those whose pools have no node said so: a typo's
    message named a pool of no nodes as one to ask for instead."""
    stocked = {p.accelerator for p in snapshot.pools if p.nodes}
    return ", ".join(a if a in stocked else f"{a} (no nodes)" for a in offered)


def _guessed(accelerator: str, offered: list[str]) -> str:
    """`tpu-v5 (did you mean tpu-v5e or tpu-v5p?)`: an accelerator no pool offers, with the
    offered ones it is the start of, or else the one its name is closest to, if any is close.
    By closeness alone nvidia-a100 was nvidia-h100 rather than nvidia-a100-80gb; a start that
    a digit follows is another model (nvidia-a10 of nvidia-a100, nvidia-l4 of nvidia-l40s)."""
    close = [
        name
        for name in offered
        if name.startswith(accelerator)
        and len(name) > len(accelerator)
        and not name[len(accelerator)].isdigit()
    ]
    if not close:  # a typo, but not of a name it starts: those are other models
        others = [name for name in offered if not name.startswith(accelerator)]
        scored = [(score, name) for name in others if (score := _likeness(accelerator, name))]
        close = [max(scored)[1]] if scored else []
    return f"{accelerator} (did you mean {' or '.join(close)}?)" if close else accelerator


MODELS = frozenset(
    {
        "nvidia-a100", "nvidia-a100-80gb", "nvidia-a10g", "nvidia-h100", "nvidia-h200",
        "nvidia-l4", "nvidia-l40s", "nvidia-p100", "nvidia-t4", "nvidia-v100", "nvidia-k80",
        "tpu-v4", "tpu-v5e", "tpu-v5p", "tpu-v6e",
    }
)  # fmt: skip
"""Accelerators that exist, as pricewise names them (`prices init` among them): no typo of
another, though one key apart (nvidia-t4, nvidia-l4)."""


def _likeness(typed: str, name: str) -> float:
    """How much `typed` reads as a typo of `name` (0 where not enough): one key apart in their
    models where they share a vendor (nvidia-a10g was "nvidia-h100?" by the "nvidia-" they
    have in common), the same model of a vendor alike, or alike as a whole (cpu)."""
    if typed in MODELS:
        return 0.0
    if "-" in typed and "-" in name:
        (vendor, model), (their_vendor, theirs) = typed.split("-", 1), name.split("-", 1)
        if vendor == their_vendor:
            apart = _edits(model, theirs)
            return 1.0 / (1 + apart) if apart <= 1 else 0.0
        # A vendor misspelt, the model right (nvida-h100); with the model one key off too
        # (nvdia-t4) it is as likely another model.
        alike = difflib.SequenceMatcher(None, vendor, their_vendor).ratio()
        return alike if alike >= 0.7 and model == theirs else 0.0
    ratio = difflib.SequenceMatcher(None, typed, name).ratio()
    return ratio if ratio >= 0.8 else 0.0


def _edits(a: str, b: str) -> int:
    """Levenshtein distance: characters inserted, deleted or replaced to turn `a` into `b`."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def cheaper_excluded(
    rows: list[Candidate], than: Candidate, fits: Callable[[Candidate], bool] | None = None
) -> Candidate | None:
    """The cheapest option the job's own constraints exclude that costs less than `than`
    (and that `fits` takes): what changing the job's spec would save."""
    return min(
        (c for c in rows if not c.feasible and c.cost < than.cost and (fits is None or fits(c))),
        key=lambda c: c.cost,
        default=None,
    )


def would_save(alt: Candidate, than: Candidate, figures: str = "") -> str:
    """`; h100-spot x1 would save 82% but spot pool; set spec.allowSpot: true`: an excluded
    option against `than`, with its note (why, and the fix), and `figures` to add."""
    saving = 1 - alt.cost / than.cost if than.cost else 0.0
    return f"; {alt.label()} would save {format_share(saving)}{figures} but {alt.note}"
