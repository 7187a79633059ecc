"""Hunting for the next poison object: random objects, extreme figures included, never stop a cycle.

The objects are those the API server's schema accepted before the bounds existed (any positive
float, any duration string of the right form), so they cover what an old cluster may still hold.
Beside them a canary job in its own namespace must always be placed, and every job decided.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_isolation import NS, World, budget, job, node, pool, table

from pricewise.api.fields import SUBDOMAIN_PATTERN

EXTREMES = [0.0, 5e-324, 1e-300, 1e-6, 1e9, 1e13, 1e15, 1e16, 1e308]
# Half the objects are ordinary, so that examples also reach placement, budgets and quotas;
# the other half may carry any figure the old schema accepted.
ordinary_floats = st.floats(0.01, 1e4)
any_floats = st.one_of(
    st.sampled_from(EXTREMES), st.floats(0, 1e308, allow_nan=False, allow_infinity=False)
)
ordinary_durations = st.sampled_from(["30m", "1h", "8h", "2d"])
any_durations = st.one_of(
    st.sampled_from(["0s", "0.5s", "1s", "36500d", "99999999999999999999d"]),
    st.from_regex(r"\A([0-9]{1,25}(ms|s|m|h|d)){1,3}\Z"),
)
names = st.from_regex(SUBDOMAIN_PATTERN.replace("^", r"\A").replace("$", r"\Z")).filter(
    lambda n: len(n) <= 253 and n != "canary"
)
ordinary_quantities = st.sampled_from(["1", "500m", "8", "64Gi", "1Ti"])
any_quantities = st.from_regex(r"\A[0-9]{1,30}(m|k|M|G|T|Ki|Mi|Gi|Ti)?\Z")


@st.composite
def figures(draw: st.DrawFn, ordinary: st.SearchStrategy[Any], extreme: st.SearchStrategy[Any]):
    """Ordinary values for an ordinary object, any value for a poison one."""
    return draw(st.one_of(ordinary, extreme) if draw(POISON) else ordinary)


POISON = st.shared(st.booleans(), key="poison")
floats = figures(ordinary_floats, any_floats)
positive = figures(ordinary_floats, any_floats.filter(lambda x: x > 0))
durations = figures(ordinary_durations, any_durations)
quantities = figures(ordinary_quantities, any_quantities)


class Errors(logging.Handler):
    """Collects what the operator logs as an error (a failed step, a job set aside)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@st.composite
def option(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "accelerator": draw(st.sampled_from(["nvidia-l4", "nvidia-h100", "cpu"])),
        "devicesPerWorker": draw(st.sampled_from([1, 2, 4, 8, 16, 256])),
    }
    if draw(st.booleans()):
        body["throughput"] = draw(positive)
    else:
        body["duration"] = draw(durations)
    if draw(st.booleans()):
        body["cpu"] = draw(quantities)
    if draw(st.booleans()):
        body["memory"] = draw(quantities)
    return body


@st.composite
def job_spec(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "options": draw(st.lists(option(), min_size=1, max_size=3)),
        "work": draw(positive),
    }
    low = draw(st.sampled_from([1, 2, 3, 1024]))
    spec["workers"] = {"min": low, "max": draw(st.sampled_from([low, low + 1, 1024]))}
    for field, strategy in (
        ("value", floats),
        ("maxCost", floats),
        ("minThroughput", positive),
        ("maxDuration", durations),
        ("priority", st.integers(-1000, 1000)),
        ("scalingEfficiency", st.floats(0.5, 1)),
        ("allowSpot", st.booleans()),
        ("deadline", st.sampled_from(["2026-11-29T13:00:00Z", "0001-01-01T00:00:00Z",
                                      "9999-12-31T23:59:59Z", "2026-11-30T00:00:00"])),
    ):  # fmt: skip
        if draw(st.booleans()):
            spec[field] = draw(strategy)
    if draw(st.booleans()):
        requests = {"cpu": draw(quantities), "memory": draw(quantities)}
        spec["template"] = {
            "spec": {"containers": [{"name": "m", "resources": {"requests": requests}}]}
        }
    return spec


@st.composite
def budget_spec(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "limit": draw(floats),
        "currency": draw(st.sampled_from(["USD", "EUR"])),
        "period": draw(st.sampled_from(["day", "week", "month", "total"])),
        "timeZone": draw(st.sampled_from(["UTC", "Europe/Paris", "Mars/Olympus", "../etc", ""])),
        "enforcement": draw(st.sampled_from(["hard", "soft"])),
        "thresholds": draw(st.lists(positive, max_size=3)),
    }


@st.composite
def prices(draw: st.DrawFn) -> dict[str, Any]:
    return {
        key: draw(floats)
        for key in ("perDeviceHour", "perCpuHour", "perGiBHour", "perNodeHour")
        if draw(st.booleans())
    }


@given(
    jobs=st.lists(st.tuples(names, job_spec()), max_size=3, unique_by=lambda t: t[0]),
    budgets=st.lists(budget_spec(), max_size=2),
    quota=st.none()
    | st.dictionaries(
        st.sampled_from(["requests.nvidia.com/gpu", "requests.cpu", "requests.memory", "pods"]),
        quantities,
    ),
    extra_table=st.none() | st.tuples(prices(), st.sampled_from(["USD", "EUR"])),
)
@settings(
    max_examples=int(os.environ.get("PRICEWISE_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
def test_no_object_stops_a_cycle(
    jobs: list[tuple[str, dict[str, Any]]],
    budgets: list[dict[str, Any]],
    quota: dict[str, str] | None,
    extra_table: tuple[dict[str, Any], str] | None,
) -> None:
    world = World()
    world.kube.put("nodes", node("h100-0", "h100"))
    # The canary has a pool of its own: no random job can fairly take its room.
    world.kube.put("nodes", node("t4-0", "t4"))
    world.kube.put("pricetables", table("canary", pool("t4", "nvidia-t4", 0.35)))
    for i, spec in enumerate(budgets):
        world.kube.put("budgets", {**budget(f"b{i}"), "spec": spec})
    if quota is not None:
        world.kube.put(
            "resourcequotas",
            {"metadata": {"name": "q", "namespace": NS}, "spec": {"hard": quota}},
        )
    if extra_table is not None:
        h100 = pool("h100", "nvidia-h100", 1.0, prices=extra_table[0])
        world.kube.put(
            "pricetables",
            table("extra", h100, currency=extra_table[1], created="2026-06-01T00:00:00Z"),
        )
    canary = [{"accelerator": "nvidia-t4", "duration": "1h"}]
    world.kube.put("trainingjobs", job("canary", namespace="other", options=canary))
    for name, spec in jobs:
        world.kube.put("trainingjobs", {**job(name), "spec": spec})
    errors = Errors()
    logging.getLogger("pricewise").addHandler(errors)
    try:
        world.cycle()
    finally:
        logging.getLogger("pricewise").removeHandler(errors)
    # The guards (a step that fails, a job set aside) are the last line: reaching them is a bug.
    assert errors.messages == []
    assert world.cache.quarantined == {}
    assert world.job("canary", "other")["phase"] == "Admitted"
    for name, _ in jobs:
        status = world.job(name)
        assert status.get("reason"), f"job {name} was not decided: {status}"
        event(f"job reason: {status['reason']}")
    for i in range(len(budgets)):
        ready = world.ready("budgets", f"b{i}", NS)
        event(f"budget: {ready['reason']}")
