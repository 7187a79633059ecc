"""Spot risk: what reclaims add to a spot option's run time and cost.

A spot pool declares an interruption rate λ per node-hour (`PriceTable`); reclaims of the nodes
a job holds are taken as a Poisson process of rate λ x nodes. A reclaim loses the work done
since the job's last checkpoint (all of it without checkpoints) and the job starts again from
there. For a run of D seconds cut into segments of s seconds (the checkpoint interval, or the
whole run), the expected time to get through one segment when any failure restarts it is
(e^(r s) - 1) / r, so the expected run time is D / s of those: this is what a spot option is
priced at and planned with. The deadline is held to a likely worst case instead: at 90 %
confidence there are at most k reclaims (the Poisson quantile of the expected count), each
losing at most one segment, so the run ends by D + k s.

Without checkpoints the expected time grows exponentially with the run's length: a 10-hour run
on a node reclaimed 0.2 times an hour needs 32 hours on average, which is why long jobs that
do not checkpoint end up on on-demand pools.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

CONFIDENCE = 0.9
"""Share of runs whose reclaims the deadline check covers."""

FOREVER_S = 1e300
"""Run time of a spot run that, in practice, never gets through: priced out of range."""

NORMAL_FROM = 100.0
"""Mean count of reclaims above which the quantile is taken from the normal approximation."""


@dataclass(frozen=True)
class SpotRisk:
    """A run's time with reclaims: without any (`run_s`), expected and likely worst (seconds),
    and expected restarts."""

    run_s: float
    expected_s: float
    worst_s: float
    restarts: float


def poisson_quantile(mean: float, confidence: float = CONFIDENCE) -> int:
    """The least k with P(N <= k) >= confidence for N ~ Poisson(mean)."""
    if mean <= 0:
        return 0
    if mean > NORMAL_FROM:
        # e^-mean underflows long before this; the normal approximation is exact enough here.
        return math.ceil(mean + NormalDist().inv_cdf(confidence) * math.sqrt(mean))
    k, term = 0, math.exp(-mean)
    total = term
    # Beyond mean + 10 sqrt(mean) + 10 the tail is negligible at any confidence used here.
    limit = int(mean + 10 * math.sqrt(mean) + 10)
    while total < confidence and k < limit:
        k += 1
        term *= mean / k
        total += term
    return k


def spot_risk(
    duration_s: float, nodes: int, rate_per_node_hour: float, checkpoint_s: float | None
) -> SpotRisk:
    """The run time of `duration_s` of work on `nodes` spot nodes reclaimed at the given rate,
    with a checkpoint every `checkpoint_s` (None: never)."""
    rate = rate_per_node_hour * nodes / 3600
    if rate <= 0 or duration_s <= 0:
        return SpotRisk(duration_s, duration_s, duration_s, 0.0)
    segment = duration_s if checkpoint_s is None else min(checkpoint_s, duration_s)
    # Past e^700 a float overflows: such a run never ends on spot, and is priced out of range.
    exponent = min(rate * segment, 700.0)
    expected = min(duration_s / segment * math.expm1(exponent) / rate, FOREVER_S)
    restarts = rate * expected
    worst = min(duration_s + poisson_quantile(restarts) * segment, FOREVER_S)
    return SpotRisk(duration_s, expected, max(worst, expected), restarts)
