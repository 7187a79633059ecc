"""What a TrainingJob's figures say, and when they are written: a waiting job's costs after a
price change, the work a preemption loses, and the cost columns of `kubectl get tj`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fake_kube import run_cycle
from test_isolation import NOW, job, pool, table
from test_planning_status import EIGHT, H100, busy_world

from pricewise.api.models import TrainingJobStatus
from pricewise.controller.status import cost_moved, pending_changed
from pricewise.controller.teller import REWRITE_EVERY_S


def costs(status: dict[str, object]) -> dict[str, float]:
    return {row["pool"]: row["cost"] for row in status["options"]}  # type: ignore[attr-defined]


def test_a_waiting_job_s_costs_follow_a_price_change_at_its_next_write() -> None:
    world = busy_world()  # l4 taken for an hour: c waits for it, h100 free now at 4 USD
    world.kube.put("trainingjobs", job("c", options=[EIGHT, H100]))
    world.cycle()
    assert costs(world.job("c")) == {"l4": 8.0, "h100": 32.0}
    written = world.kube.requests["waiting"]
    prices = table("prices", pool("l4", "nvidia-l4", 1.0), pool("h100", "nvidia-h100", 5.0))
    world.kube.put("pricetables", prices)
    run_cycle(world.scheduler, NOW + timedelta(seconds=REWRITE_EVERY_S))
    # Written within seconds, not five minutes later, and in one request.
    assert costs(world.job("c")) == {"l4": 8.0, "h100": 40.0}
    assert "saves 32.00 USD against h100 x1 now" in world.job("c")["message"]
    assert world.kube.requests["waiting"] == written + 1


def test_a_waiting_job_is_not_rewritten_for_a_cost_that_barely_moved() -> None:
    world = busy_world()
    world.kube.put("trainingjobs", job("c", options=[EIGHT, H100]))
    world.cycle()
    written = world.kube.requests["waiting"]
    # 32.00 to 32.16: half a percent, written at the next refresh with the message.
    prices = table("prices", pool("l4", "nvidia-l4", 1.0), pool("h100", "nvidia-h100", 4.02))
    world.kube.put("pricetables", prices)
    run_cycle(world.scheduler, NOW + timedelta(seconds=REWRITE_EVERY_S))
    run_cycle(world.scheduler, NOW + timedelta(seconds=2 * REWRITE_EVERY_S))
    assert world.kube.requests["waiting"] == written
    assert costs(world.job("c"))["h100"] == 32.0


@pytest.mark.parametrize(
    ("before", "after", "moved"),
    [
        (8.0, 8.01, False),  # a rounding flip at the half cent
        (0.1 + 0.2, 0.3, False),  # float representation
        (32.0, 32.3, False),  # under 1 %
        (32.0, 32.33, True),
        (0.5, 0.52, True),  # two cents on a small job: 4 %
        (None, 8.0, True),
        (8.0, None, True),
        (None, None, False),
    ],
)
def test_a_cost_moves_by_more_than_a_cent_and_a_percent(
    before: float | None, after: float | None, moved: bool
) -> None:
    assert cost_moved(before, after) is moved


def test_a_waiting_job_whose_option_costs_moved_is_due_a_write() -> None:
    row = {"pool": "h100", "accelerator": "nvidia-h100", "capacityType": "on-demand",
           "workers": 1, "devices": 8, "cost": 32.0, "duration": "1h",
           "verdict": "feasible"}  # fmt: skip
    previous = TrainingJobStatus.model_validate({"reason": "Reserved", "options": [row]})
    same = {"phase": "Pending", "reason": "Reserved", "options": [{**row, "cost": 32.01}]}
    dearer = {**same, "options": [{**row, "cost": 40.0}]}
    spot = {**same, "options": [{**row, "listCost": 20.0}]}
    assert not pending_changed(previous, same)
    assert pending_changed(previous, dearer)
    assert pending_changed(previous, spot)
