"""The operator's settings from its environment: defaults, the chart's values, clear errors."""

from __future__ import annotations

import asyncio
import inspect
import re
import socket
from urllib.request import urlopen

import kopf
import pytest

from pricewise import cli
from pricewise.controller import config, handlers, serving
from pricewise.controller.accountant import Accountant
from pricewise.controller.cache import Cache
from pricewise.controller.config import ConfigError, OperatorConfig, from_environment
from pricewise.controller.metrics import Metrics


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
            "PRICEWISE_WAIT_COST": "0",
            "PRICEWISE_MAX_WAIT": "2d12h",
            "PRICEWISE_DELETE_FINISHED": "True",
        }
    )
    taints = frozenset({"a/b", "c/d"})
    assert config == OperatorConfig("ops", 2.0, 5.5, 4, 5.0, 0.0, taints, 0.0, 216_000.0, True)
    solver = config.solver()
    assert (solver.time_limit_s, solver.num_workers, solver.look_ahead.wait_cost) == (5.5, 4, 0)
    assert solver.look_ahead.max_wait_s == 216_000.0


def test_the_settings_read_as_one_line_for_the_log_at_start() -> None:
    assert OperatorConfig().describe() == (
        "cycle every 30s, solve within 10s on 1 worker(s), max wait 1d, wait cost 0.3, runs "
        "safe from preemption for 600s, cost accrued every 60s, reclaim taints built-in, "
        "finished jobs past their TTL kept"
    )
    given = from_environment({"PRICEWISE_MAX_WAIT": "36h", "PRICEWISE_RECLAIM_TAINTS": "b,a"})
    assert "max wait 1d12h," in given.describe()
    assert "reclaim taints a,b," in given.describe()


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("PRICEWISE_SOLVER_SECONDS", "ten", "seconds from 0.1 to 86400"),
        ("PRICEWISE_SOLVER_SECONDS", "0", "seconds from 0.1"),
        ("PRICEWISE_PERIOD_SECONDS", "nan", "seconds from 0.1"),
        # A cycle every half hour read as a stopped loop to PricewiseNotScheduling.
        ("PRICEWISE_PERIOD_SECONDS", "1800", "seconds from 0.1 to 600"),
        ("PRICEWISE_ACCRUAL_SECONDS", "1e9", "to 86400"),
        ("PRICEWISE_PREEMPTION_MIN_RUN_SECONDS", "-1", "seconds from 0 to"),
        ("PRICEWISE_SOLVER_WORKERS", "0", "from 1 to 64"),
        ("PRICEWISE_SOLVER_WORKERS", "2.5", "whole number"),
        ("PRICEWISE_SOLVER_WORKERS", "1000", "from 1 to 64"),
        ("PRICEWISE_WAIT_COST", "-0.1", "a share from 0 to 10"),
        ("PRICEWISE_MAX_WAIT", "2 days", "a duration such as 48h or 3d, from 1s to 3650d"),
        ("PRICEWISE_MAX_WAIT", "0s", "from 1s"),
        ("PRICEWISE_MAX_WAIT", "86400", "a duration such as 48h"),
        ("PRICEWISE_DELETE_FINISHED", "yes", "true or false (default false)"),
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


def test_pricewise_run_stops_when_the_metrics_port_is_taken(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The port was bound in kopf's startup handler: a traceback, retried by kopf forever.
    monkeypatch.setattr(kopf, "run", lambda **_: pytest.fail("kopf started on a taken port"))
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["run", "--metrics-port", str(port)]) == 2
    assert capsys.readouterr().err == (
        f"pricewise run: --metrics-port {port}: cannot serve /metrics on 0.0.0.0:{port}: "
        "Address already in use; give a free port with --metrics-port (the Helm chart's "
        "metrics.port)\n"
    )
    assert issubclass(serving.MetricsPortError, kopf.PermanentError)  # not retried by kopf
    with pytest.raises(SystemExit):
        cli.main(["run", "--metrics-port", "70000"])
    assert "'70000' is not a port number from 1 to 65535" in capsys.readouterr().err


def test_metrics_are_served_on_the_port_bound_before_kopf_started() -> None:
    cache = Cache()
    metrics = Metrics(cache, Accountant(cache, None))  # type: ignore[arg-type]

    async def scrape() -> str:
        bound = serving.bind_metrics_port(0)  # 0: any free port, for the test
        runner = await serving.serve_metrics(metrics, bound)
        try:
            port = bound.getsockname()[1]
            url = f"http://127.0.0.1:{port}/metrics"
            return await asyncio.to_thread(lambda: urlopen(url, timeout=10).read().decode())
        finally:
            await runner.cleanup()

    assert "pricewise_rejected_objects" in asyncio.run(scrape())


def test_pricewise_run_logs_with_time_and_level_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A plain message per line could not be lined up with events and edits.
    formats: list[kopf.LogFormat] = []
    monkeypatch.setattr(kopf, "run", lambda **_: None)
    monkeypatch.setattr(kopf, "configure", lambda **kw: formats.append(kw["log_format"]))
    monkeypatch.setattr(serving, "bind_metrics_port", lambda port: None)
    monkeypatch.setattr(handlers, "configure", lambda **_: None)
    assert cli.main(["run"]) == 0
    assert cli.main(["run", "--log-format", "json"]) == 0
    assert formats == [kopf.LogFormat.FULL, kopf.LogFormat.JSON]


def test_run_help_names_every_variable_the_operator_reads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    read = set(re.findall(r"PRICEWISE_[A-Z_]+", inspect.getsource(config.from_environment)))
    assert read and all(name in shown for name in read), read - set(shown.split())
