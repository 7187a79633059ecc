"""The operator's settings, from its environment (the Helm chart's values set them).

They are read and checked once, before kopf starts: a bad value stops `pricewise run` with a
message that names the variable and what it may be, instead of a stack trace from inside
kopf's startup handler after the operator has begun to watch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pricewise.core import bounds
from pricewise.core.lookahead import MOST_WAIT_COST, LookAhead
from pricewise.core.settings import SolverSettings
from pricewise.core.units import format_duration, parse_duration


class ConfigError(ValueError):
    """An environment variable the operator cannot use; the message says which and why."""


@dataclass(frozen=True)
class OperatorConfig:
    """What `pricewise run` reads from its environment."""

    namespace: str = "default"
    """Where the leader-election Lease lives (PRICEWISE_NAMESPACE)."""
    period_s: float = 30.0
    """Seconds between cycles when nothing changes (PRICEWISE_PERIOD_SECONDS)."""
    solver_seconds: float = 10.0
    """Time limit of a cycle's snapshot and solve (PRICEWISE_SOLVER_SECONDS): the solve has
    what building the snapshot left (`SolverSettings.after`)."""
    solver_workers: int = 1
    """CP-SAT search workers (PRICEWISE_SOLVER_WORKERS). One worker with a fixed seed gives
    the same plan for the same cluster every time; more search in parallel, each plan then
    checked by the independent validator before it is written (see `quarantine`)."""
    accrual_s: float = 60.0
    """How often a running job's accrued cost is written (PRICEWISE_ACCRUAL_SECONDS)."""
    preemption_min_run_s: float = 600.0
    """How long a run is safe from preemption (PRICEWISE_PREEMPTION_MIN_RUN_SECONDS)."""
    reclaim_taints: frozenset[str] | None = None
    """Taints that announce a spot reclaim (PRICEWISE_RECLAIM_TAINTS, comma-separated); None
    keeps the cache's built-in list."""
    wait_cost: float = LookAhead.wait_cost
    """What a planned wait counts for, as a share of the job's price over it
    (PRICEWISE_WAIT_COST; `LookAhead.wait_cost`)."""
    max_wait_s: float = LookAhead.max_wait_s
    """The max wait of a job without `spec.maxWait` (PRICEWISE_MAX_WAIT, a duration such as
    48h; `LookAhead.max_wait_s`): the admin's choice between price and waits. Longer, jobs may
    be held longer for cheaper capacity and the cluster spent less on the simulator's
    contended replays, but a job may wait that long (benchmarks/README.md, "The max wait:
    price against waits")."""

    delete_finished: bool = False
    """Whether finished jobs are deleted once their spec.ttlSecondsAfterFinished passes
    (PRICEWISE_DELETE_FINISHED, true or false): the chart sets it with the verb it needs."""

    def solver(self) -> SolverSettings:
        """The solver settings of a cycle."""
        return SolverSettings(
            time_limit_s=self.solver_seconds,
            num_workers=self.solver_workers,
            look_ahead=LookAhead(max_wait_s=self.max_wait_s, wait_cost=self.wait_cost),
        )

    def describe(self) -> str:
        """The settings in a line for the log at start, so that an admin sees which values the
        operator took (the chart's, or its own defaults where a value was left unset)."""
        taints = (
            "built-in" if self.reclaim_taints is None else ",".join(sorted(self.reclaim_taints))
        )
        return (
            f"cycle every {self.period_s:g}s, solve within {self.solver_seconds:g}s on "
            f"{self.solver_workers} worker(s), max wait {format_duration(self.max_wait_s)}, "
            f"wait cost {self.wait_cost:g}, runs safe from preemption for "
            f"{self.preemption_min_run_s:g}s, cost accrued every {self.accrual_s:g}s, reclaim "
            f"taints {taints}, finished jobs past their TTL "
            f"{'deleted' if self.delete_finished else 'kept'}"
        )


def from_environment(env: Mapping[str, str] | None = None) -> OperatorConfig:
    """The settings in `env` (the process environment by default); raises `ConfigError`."""
    env = os.environ if env is None else env
    default = OperatorConfig()
    taints = env.get("PRICEWISE_RECLAIM_TAINTS")
    return OperatorConfig(
        namespace=env.get("PRICEWISE_NAMESPACE", default.namespace),
        period_s=_number(
            env,
            "PRICEWISE_PERIOD_SECONDS",
            default.period_s,
            0.1,
            MOST_PERIOD_S,
            "a number of seconds",
        ),
        solver_seconds=_seconds(env, "PRICEWISE_SOLVER_SECONDS", default.solver_seconds, 0.1),
        solver_workers=_workers(env, "PRICEWISE_SOLVER_WORKERS", default.solver_workers),
        accrual_s=_seconds(env, "PRICEWISE_ACCRUAL_SECONDS", default.accrual_s, least=0.1),
        preemption_min_run_s=_seconds(
            env, "PRICEWISE_PREEMPTION_MIN_RUN_SECONDS", default.preemption_min_run_s, least=0.0
        ),
        reclaim_taints=None
        if taints is None
        else frozenset(t.strip() for t in taints.split(",") if t.strip()),
        wait_cost=_number(
            env, "PRICEWISE_WAIT_COST", default.wait_cost, 0.0, MOST_WAIT_COST, "a share"
        ),
        max_wait_s=_duration(env, "PRICEWISE_MAX_WAIT", default.max_wait_s),
        delete_finished=_flag(env, "PRICEWISE_DELETE_FINISHED", default.delete_finished),
    )


MOST_SECONDS = 86_400.0
"""A day: no loop setting of the operator needs more."""
MOST_WORKERS = 64


MOST_PERIOD_S = 600.0
"""The longest period between cycles: PricewiseNotScheduling takes a leader that has run no
cycle in 15 minutes for one that has stopped (a period of an hour paged on an idle cluster)."""


def _seconds(env: Mapping[str, str], name: str, default: float, least: float) -> float:
    return _number(env, name, default, least, MOST_SECONDS, "a number of seconds")


def _number(
    env: Mapping[str, str],
    name: str,
    default: float,
    least: float,
    most: float,
    what: str,
    parse: Callable[[str], float] = float,
    shown: Callable[[float], str] = "{:g}".format,
) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = parse(raw)
    except ValueError:
        value = math.nan
    if not least <= value <= most:
        raise ConfigError(
            f"{name}={raw!r}: must be {what} from {shown(least)} to {shown(most)} "
            f"(default {shown(default)}); fix the value in the chart's values or the "
            "Deployment's env"
        )
    return value


def _duration(env: Mapping[str, str], name: str, default: float) -> float:
    what = "a duration such as 48h or 3d,"
    least, most = bounds.MIN_DURATION_S, bounds.MAX_RUN_S
    return _number(env, name, default, least, most, what, parse_duration, format_duration)


def _workers(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MOST_WORKERS:
        raise ConfigError(
            f"{name}={raw!r}: must be a whole number of CP-SAT workers from 1 to "
            f"{MOST_WORKERS} (default {default}: reproducible plans); at most the cores the "
            "operator's container may use"
        )
    return int(raw)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    if raw.strip().lower() not in ("true", "false"):
        raise ConfigError(
            f"{name}={raw!r}: must be true or false (default {str(default).lower()}); fix the "
            "value in the chart's values or the Deployment's env"
        )
    return raw.strip().lower() == "true"
