"""A solve whose time runs out part-way through its phases: the status a plan reports, and what
solve_in_phases returns."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from test_solver import job_by_job, urgent_and_slow_on_h100

from pricewise.core import cpsat, phases
from pricewise.core.settings import SolverSettings

OPTIMISE = cpsat.CpSat.optimise


def running_out_after(monkeypatch: pytest.MonkeyPatch, found: int) -> None:
    """CP-SAT finds a plan in its first `found` phases, then nothing: the cycle's time is up."""
    optimise = OPTIMISE
    calls = {"n": 0}

    def limited(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return optimise(self, *args, **kwargs) if calls["n"] <= found else None

    monkeypatch.setattr(cpsat.CpSat, "optimise", limited)


def phases_of(found: int, monkeypatch: pytest.MonkeyPatch) -> phases.Outcome | None:
    running_out_after(monkeypatch, found)
    model = job_by_job(urgent_and_slow_on_h100())
    backend = cpsat.CpSat(model, Counter(), [])
    return phases.solve_in_phases(backend, model, [1, 0], SolverSettings(), 1e9, True,
                                  clock=lambda: 0.0)  # fmt: skip


def test_phases_that_run_out_of_time_say_how_far_they_got(monkeypatch: pytest.MonkeyPatch) -> None:
    # Levels 1 and 0, each counted then priced: nothing found is None; a level counted but not
    # priced is neither complete nor priced; a level priced then the next one's count cut short
    # is priced within its gap but not complete.
    assert phases_of(0, monkeypatch) is None
    counted = phases_of(1, monkeypatch)
    assert counted is not None
    assert (counted.complete, counted.priced, counted.within_gap) == (False, False, False)
    priced = phases_of(2, monkeypatch)
    assert priced is not None
    assert (priced.complete, priced.priced, priced.within_gap, priced.counts) == (
        False, False, True, [1]
    )  # fmt: skip
    whole = phases_of(99, monkeypatch)
    assert whole is not None
    assert (whole.complete, whole.priced, whole.within_gap, whole.counts) == (
        True, True, True, [1, 1]
    )  # fmt: skip
    # The bound of a plan priced level by level is the sum of the levels' (16.00 + 106.67 USD).
    assert whole.bound == 122_666_667


def test_a_round_cut_short_is_feasible_without_a_bound_and_none_when_nothing_was_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Cut short after level 1 was priced, the round read "optimal", though level 0 was never
    # priced; where nothing was found it failed instead of returning None.
    model = job_by_job(urgent_and_slow_on_h100())
    settings = SolverSettings()

    def round_after(found: int) -> Any:
        running_out_after(monkeypatch, found)
        return phases.solve_round(model, [1, 0], set(), settings, 1e9, lambda: 0.0)

    assert round_after(0) is None
    keys, status, bound, by_level, narrowed = round_after(2)
    assert (status, bound, by_level, narrowed) == ("feasible", None, True, False)
    assert len(keys) == 1
    status, bound = round_after(99)[1:3]
    assert status == "optimal" and bound is not None


def test_a_level_priced_outside_its_gap_keeps_the_whole_plan_outside_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Level 1's cost phase stops 0.7 % above its bound, past the 0.5 % gap of a model solved
    # whole (within the relaxation's 1 %); level 0's proves its optimum. The plan read as within
    # its gap, by level 0's verdict alone or by the relaxation's gap.
    calls = {"n": 0}

    def loose(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        found = OPTIMISE(self, *args, **kwargs)
        if calls["n"] == 2 and found is not None:  # level 1's cost phase
            value, _ = found
            return value, value * (1 - 0.007)
        return found

    monkeypatch.setattr(cpsat.CpSat, "optimise", loose)
    model = job_by_job(urgent_and_slow_on_h100())
    out = phases.solve_in_phases(cpsat.CpSat(model, Counter(), []), model, [1, 0],
                                 SolverSettings(), 1e9, True, clock=lambda: 0.0)  # fmt: skip
    assert out is not None and (out.complete, out.within_gap) == (True, False)
