"""The last line of isolation at its edges: the settings a job is tried alone with, and a plan
of several solver workers that breaks no rule."""

from __future__ import annotations

from dataclasses import replace

import pytest
from factory import gpu_nodes, job, option, pool, snapshot

from pricewise.core import quarantine
from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import Snapshot
from pricewise.core.solver import Plan

L4 = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 2))
WORKER = option("nvidia-l4", 1000.0)


def _recording(
    monkeypatch: pytest.MonkeyPatch, poison: str | None = None
) -> list[tuple[tuple[str, ...], SolverSettings]]:
    """Every solve's jobs and settings; a snapshot holding the `poison` job raises."""
    calls: list[tuple[tuple[str, ...], SolverSettings]] = []
    real = quarantine.solve

    def solve(snap: Snapshot, settings: SolverSettings) -> Plan:
        calls.append((tuple(j.name for j in snap.jobs), settings))
        if poison in (j.name for j in snap.jobs):
            raise OverflowError("cannot convert float infinity to integer")
        return real(snap, settings)

    monkeypatch.setattr(quarantine, "solve", solve)
    return calls


@pytest.mark.parametrize("limit", [5.0, 0.5])
def test_each_job_is_tried_alone_with_the_cycle_s_settings_for_a_second_at_most(
    monkeypatch: pytest.MonkeyPatch, limit: float
) -> None:
    # Tried alone with the defaults (10 s each: a cycle of 100 jobs set aside one in minutes),
    # or with a limit above the cycle's own.
    calls = _recording(monkeypatch, poison="bad")
    settings = SolverSettings(time_limit_s=limit, num_workers=1, relative_gap=0.05)
    snap = snapshot([L4], [job("bad", WORKER), job("good", WORKER)])
    plan, failed = quarantine.solve_isolated(snap, settings)
    assert failed == {"team-a/bad": "OverflowError: cannot convert float infinity to integer"}
    assert [d.job.name for d in plan.placed] == ["good"]
    alone = replace(settings, time_limit_s=min(limit, 1.0))
    assert calls == [
        (("bad", "good"), settings),
        ((), alone),
        (("bad",), alone),
        (("good",), alone),
        (("good",), settings),
    ]


def test_a_plan_of_several_workers_that_breaks_no_rule_is_used_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The check of the plan against the snapshot raised (or checked nothing): the valid plan
    # of 2 workers was planned again, or the cycle failed.
    calls = _recording(monkeypatch)
    settings = SolverSettings(num_workers=2)
    snap = snapshot([L4], [job("j", WORKER), job("k", WORKER)])
    plan, failed = quarantine.solve_isolated(snap, settings)
    assert failed == {} and len(plan.placed) == 2
    assert calls == [(("j", "k"), settings)]
