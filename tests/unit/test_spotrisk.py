"""Spot risk: the Poisson quantile, the expected and likely worst run times worked by hand, and
the simulator's reclaims (cost paid up to the cut, work lost since the last checkpoint)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_simulate import SETTINGS, gpu_pool, jobs_of, trace

from pricewise.core.reclaims import ReclaimRates
from pricewise.core.snapshot import Pool
from pricewise.core.spotrisk import poisson_quantile, spot_risk
from pricewise.core.units import to_micros
from pricewise.offline import simpolicies
from pricewise.offline.simmodel import SimJob
from pricewise.offline.simreport import summary
from pricewise.offline.simrun import run

HOUR = 3600.0


@pytest.mark.parametrize(
    ("mean", "confidence", "k"),
    [
        (0.0, 0.9, 0),
        (0.1, 0.9, 0),  # P(N=0) = e^-0.1 = 0.905
        (1.0, 0.9, 2),  # P(N<=1) = 0.736, P(N<=2) = 0.920
        (1.0, 0.5, 1),
        (2.103, 0.9, 4),  # 0.838 at 3, 0.938 at 4
        (10_000.0, 0.9, 10_129),  # normal: 10,000 + 1.2816 x 100
    ],
)
def test_poisson_quantile_by_hand(mean: float, confidence: float, k: int) -> None:
    assert poisson_quantile(mean, confidence) == k


def test_no_rate_no_risk() -> None:
    risk = spot_risk(10 * HOUR, 4, 0.0, None)
    assert (risk.run_s, risk.expected_s, risk.worst_s, risk.restarts) == (36000, 36000, 36000, 0)


def test_ten_hours_without_checkpoints_at_a_fifth_per_hour_take_32_hours() -> None:
    # One segment of 10 h at r = 0.2/h: e^2 - 1 = 6.389 hours-per-rate, / 0.2 = 31.9 h.
    risk = spot_risk(10 * HOUR, 1, 0.2, None)
    assert risk.expected_s == pytest.approx(math.expm1(2) / 0.2 * HOUR)
    assert risk.expected_s / HOUR == pytest.approx(31.94, abs=0.01)
    assert risk.restarts == pytest.approx(math.expm1(2))


def test_half_hour_checkpoints_cut_the_loss_and_bound_the_worst_case() -> None:
    # 20 segments of 30 min at r s = 0.1: 20 x (e^0.1 - 1) / 0.2 h = 10.517 h, 2.103 reclaims
    # expected, 4 at 90 %: the deadline is held to 10 h + 4 x 30 min.
    risk = spot_risk(10 * HOUR, 1, 0.2, 1800)
    assert risk.expected_s / HOUR == pytest.approx(20 * math.expm1(0.1) / 0.2)
    assert risk.restarts == pytest.approx(2.103, abs=1e-3)
    assert risk.worst_s == 10 * HOUR + 4 * 1800


def test_two_nodes_double_the_rate() -> None:
    assert spot_risk(HOUR, 2, 0.1, None) == spot_risk(HOUR, 1, 0.2, None)


def test_a_rate_that_overflows_stays_finite() -> None:
    risk = spot_risk(1000 * HOUR, 64, 100.0, None)
    assert math.isfinite(risk.expected_s) and risk.expected_s > 1e100


@given(
    hours=st.floats(0.01, 100),
    nodes=st.integers(1, 16),
    rate=st.floats(0.001, 1),
    checkpoint=st.none() | st.floats(60, 7200),
)
def test_risk_is_never_below_the_run_and_grows_with_the_rate(
    hours: float, nodes: int, rate: float, checkpoint: float | None
) -> None:
    risk = spot_risk(hours * HOUR, nodes, rate, checkpoint)
    assert risk.run_s <= risk.expected_s * (1 + 1e-12) <= risk.worst_s * (1 + 1e-12)
    assert spot_risk(hours * HOUR, nodes, rate * 2, checkpoint).expected_s >= risk.expected_s


SPOT = replace(gpu_pool("v100", "nvidia-tesla-v100", 1.0), capacity_type="spot")


def _on_spot(checkpoint_s: float | None, rate: float, seed: int = 0) -> tuple[SimJob, dict]:
    # One V100 job of 900 s at 1 USD an hour, allowed on spot; reclaimed at `rate` per hour.
    (sim,) = jobs_of(trace((0.0, 1)), [100.0])
    sim = replace(sim, job=replace(sim.job, allow_spot=True, checkpoint_s=checkpoint_s))
    result = run(
        [sim],
        (SPOT,),
        simpolicies.pricewise_policy(SETTINGS),
        "pricewise",
        reclaims={"v100": rate},
        seed=seed,
        max_restarts=100,  # the mechanics of a cut, not the bound on restarts
    )
    return sim, {"summary": summary(result), "record": result.records[0]}


def test_a_reclaimed_run_is_paid_to_the_cut_and_runs_again() -> None:
    # At 8 reclaims an hour a 15-minute run is cut 86 times in 100: every run is paid for, the
    # work since its start is lost (no checkpoints), and the job ends after its restarts.
    records = [_on_spot(None, 8.0, seed)[1] for seed in range(10)]
    assert sum(seen["record"].restarts for seen in records) >= 5
    run_cost = to_micros(0.25)
    for seen in records:
        record = seen["record"]
        assert record.finish_s is not None
        assert record.cost - record.lost_cost == pytest.approx(run_cost, abs=record.restarts + 1)
        assert (record.lost_cost > 0) == (record.restarts > 0)
        assert seen["summary"]["restarts"] == record.restarts
        assert seen["summary"]["lostWorkCost"] == pytest.approx(record.lost_cost / 1e6, abs=0.01)


def test_checkpoints_keep_the_work_done_before_the_cut() -> None:
    # Checkpoints every minute: at most a minute of work is lost per reclaim.
    per_minute = to_micros(1.0) / 60
    for seed in range(10):
        record = _on_spot(60.0, 8.0, seed)[1]["record"]
        assert record.lost_cost <= record.restarts * per_minute + 1
        assert record.cost - record.lost_cost == pytest.approx(to_micros(0.25), abs=100)


def test_reclaims_are_seeded() -> None:
    first = _on_spot(None, 8.0, seed=3)[1]["record"]
    again = _on_spot(None, 8.0, seed=3)[1]["record"]
    assert (first.restarts, first.cost, first.finish_s) == (
        again.restarts,
        again.cost,
        again.finish_s,
    )


def test_an_on_demand_pool_is_never_reclaimed() -> None:
    pool: Pool = gpu_pool("v100", "nvidia-tesla-v100", 1.0)
    (sim,) = jobs_of(trace((0.0, 1)), [100.0])
    result = run([sim], (pool,), simpolicies.pricewise_policy(SETTINGS), "p", reclaims={})
    assert result.records[0].restarts == 0
    assert result.records[0].cost == to_micros(0.25)


def test_observed_reclaims_price_spot_only_when_worse_and_known() -> None:
    rates = ReclaimRates()
    rates.reclaimed("spot")
    rates.held("spot", 2, 3 * HOUR)  # 6 node-hours: too few to tell
    assert rates.priced("spot", 0.01) == 0.01
    rates.held("spot", 2, 2 * HOUR)  # 10 node-hours, 1 reclaim: 0.1 per node-hour
    assert rates.priced("spot", 0.01) == pytest.approx(0.1)
    assert rates.priced("spot", 0.5) == 0.5  # the declared rate is worse: it stands
    assert rates.priced("other", 0.02) == 0.02


def test_a_job_reclaimed_past_its_restarts_fails() -> None:
    # At 40 reclaims an hour a 15-minute run is almost never done: after 3 restarts it fails.
    (sim,) = jobs_of(trace((0.0, 1)), [100.0])
    sim = replace(sim, job=replace(sim.job, allow_spot=True))
    result = run(
        [sim], (SPOT,), simpolicies.pricewise_policy(SETTINGS), "p", reclaims={"v100": 40.0}
    )
    record = result.records[0]
    assert (record.failed, record.restarts, record.finish_s) == (True, 4, None)
    assert record.missed and summary(result)["failed"] == 1
    assert record.cost == record.lost_cost > 0  # every run was thrown away
