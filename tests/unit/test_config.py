"""The operator's settings from its environment: defaults, the chart's values, clear errors."""

from __future__ import annotations

import pytest

from pricewise import cli
from pricewise.controller.config import ConfigError, OperatorConfig, from_environment


def test_no_variables_give_the_defaults() -> None:
    assert from_environment({}) == OperatorConfig()
    assert OperatorConfig().solver().num_workers == 1


def test_every_variable_is_read() -> None:
    config = from_environment(
        {
            "PRICEWISE_NAMESPACE": "ops",
            "PRICEWISE_PERIOD_SECONDS": "2",
            "PRICEWISE_SOLVER_SECONDS": "5.5",
            "PRICEWISE_SOLVER_WORKERS": "4",
            "PRICEWISE_ACCRUAL_SECONDS": "5",
            "PRICEWISE_PREEMPTION_MIN_RUN_SECONDS": "0",
            "PRICEWISE_RECLAIM_TAINTS": " a/b , c/d,",
        }
    )
    assert config == OperatorConfig("ops", 2.0, 5.5, 4, 5.0, 0.0, frozenset({"a/b", "c/d"}))
    solver = config.solver()
    assert (solver.time_limit_s, solver.num_workers) == (5.5, 4)


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("PRICEWISE_SOLVER_SECONDS", "ten", "seconds from 0.1 to 86400"),
        ("PRICEWISE_SOLVER_SECONDS", "0", "seconds from 0.1"),
        ("PRICEWISE_PERIOD_SECONDS", "nan", "seconds from 0.1"),
        ("PRICEWISE_ACCRUAL_SECONDS", "1e9", "to 86400"),
        ("PRICEWISE_PREEMPTION_MIN_RUN_SECONDS", "-1", "seconds from 0 to"),
        ("PRICEWISE_SOLVER_WORKERS", "0", "from 1 to 64"),
        ("PRICEWISE_SOLVER_WORKERS", "2.5", "whole number"),
        ("PRICEWISE_SOLVER_WORKERS", "1000", "from 1 to 64"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_it_may_be(name: str, raw: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_environment({name: raw})
    assert str(err.value).startswith(f"{name}={raw!r}: must be")
    assert says in str(err.value)


def test_pricewise_run_stops_on_a_bad_value_with_the_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRICEWISE_SOLVER_WORKERS", "many")
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pricewise run: PRICEWISE_SOLVER_WORKERS='many': must be a whole number")
    assert "Traceback" not in err
