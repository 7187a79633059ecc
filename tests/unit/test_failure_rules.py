"""`spec.failurePolicy.rules`: what a worker's exit code does to its job, as a batch/v1
podFailurePolicy's onExitCodes rules do. A code bug fails the job at once instead of billing its
restarts on paid nodes; an exit an infrastructure signal caused restarts it without counting."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fake_kube import run_cycle
from pydantic import ValidationError
from test_isolation import NOW, NS, World, job
from test_planning_status import EIGHT, start_workers

from pricewise.api.convert import exit_rules
from pricewise.api.models import FailurePolicy
from pricewise.controller.records import pod_record
from pricewise.core import lifecycle
from pricewise.core.lifecycle import ExitRule, PodRecord, Restarts
from pricewise.core.snapshot import Resources

AT = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)


def failed(code: int | None, failure: str = "Error") -> PodRecord:
    pod = PodRecord("n", "n", Resources(), "Failed", "j", 0, AT - timedelta(hours=1), AT)
    said = f"{failure}, exit code {code}" if code is not None else failure
    return replace(pod, failure=said, exit_codes=() if code is None else (code,))


def step(pod: PodRecord, *rules: ExitRule, used: int = 0) -> lifecycle.Transition:
    restarts = Restarts(used, 3, (), AT - timedelta(hours=1), None, rules)
    done = lifecycle.transition("Running", 1, {0: pod}, AT - timedelta(hours=1), AT,
                                restarts=restarts)  # fmt: skip
    assert done is not None
    return done


BUG = ExitRule("FailJob", frozenset({1, 2}))
SIGTERM = ExitRule("Ignore", frozenset({143}))


def test_a_fail_job_rule_fails_the_job_at_once_without_a_restart() -> None:
    done = step(failed(2), SIGTERM, BUG)
    assert (done.phase, done.reason, done.restart) == ("Failed", "FailurePolicyRule", False)
    assert done.message == (
        "worker 0 failed (Error, exit code 2) at Nov 29 13:00 UTC; failurePolicy.rules[1] "
        "(FailJob) matches worker 0's exit code 2; no restart"
    )
    assert (done.cause, done.finished_at) == ("WorkerFailed", AT)


def test_an_ignore_rule_restarts_the_job_without_counting_even_with_none_left() -> None:
    done = step(failed(143), SIGTERM, BUG, used=3)
    assert (done.phase, done.reason, done.restart, done.counted) == (
        "Pending", "Requeued", True, False,
    )  # fmt: skip
    assert done.message == (
        "worker 0 failed (Error, exit code 143) at Nov 29 13:00 UTC; failurePolicy.rules[0] "
        "(Ignore) matches worker 0's exit code 143: restarted, not counted against maxRestarts; "
        "1h of work lost"
    )


def test_the_first_rule_that_matches_decides_and_not_in_matches_the_other_codes() -> None:
    everything_but_bugs = ExitRule("Count", frozenset({1, 2}), within=False)
    done = step(failed(137, "OOMKilled"), everything_but_bugs, BUG)
    assert (done.reason, done.counted) == ("Requeued", True)
    assert "; failurePolicy.rules[0] (Count) matches worker 0's exit code 137; restart 1 of 3;" in (
        done.message
    )
    assert step(failed(1), everything_but_bugs, BUG).reason == "FailurePolicyRule"


@pytest.mark.parametrize(
    "pod",
    [
        failed(137),  # no rule names it
        failed(None, "Evicted"),  # no exit code at all
    ],
)
def test_a_failure_no_rule_matches_counts_a_restart_as_without_rules(pod: PodRecord) -> None:
    done = step(pod, BUG, SIGTERM)
    assert (done.reason, done.restart, done.counted) == ("Requeued", True, True)
    assert "failurePolicy" not in done.message
    assert step(pod, BUG, SIGTERM, used=3).reason == "WorkerFailed"


def test_a_worker_that_cannot_start_or_a_lost_node_matches_no_rule() -> None:
    # Its container never ran, so it has no exit code: a rule on code 1 must not fail it.
    waiting = replace(failed(None), phase="Pending", waiting=("ErrImagePull",))
    restarts = Restarts(0, 3, (), None, None, (ExitRule("FailJob", frozenset({1}), False),))
    done = lifecycle.transition("Admitted", 1, {0: waiting}, AT - timedelta(minutes=5), AT,
                                restarts=restarts)  # fmt: skip
    assert done is not None and done.reason == "Requeued", done


def test_a_failed_worker_s_exit_codes_are_every_container_s_that_exited_with_one() -> None:
    def codes(status: dict[str, Any]) -> tuple[int, ...]:
        return pod_record({"metadata": {}, "spec": {}, "status": status}).exit_codes

    done = {"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    trainer = {"state": {"terminated": {"exitCode": 42, "reason": "Error"}}}
    sidecar = {"state": {"terminated": {"exitCode": 143, "reason": "Error"}}}
    assert codes({"phase": "Failed", "containerStatuses": [done, sidecar, trainer]}) == (143, 42)
    assert codes({"phase": "Failed", "reason": "Evicted", "containerStatuses": [trainer]}) == ()
    assert codes({"phase": "Running", "containerStatuses": [trainer]}) == ()


def test_a_rule_matches_a_worker_by_any_of_its_containers_codes() -> None:
    # The kubelet lists containers by name: a sidecar's 143 before the trainer's 1 decided.
    both = replace(failed(143), exit_codes=(143, 1))
    assert step(both, SIGTERM, BUG).reason == "Requeued"  # its first rule in order: Ignore
    assert step(both, BUG, SIGTERM).reason == "FailurePolicyRule"


def gang(*pods: PodRecord, used: int = 0) -> lifecycle.Transition:
    restarts = Restarts(used, 3, (), AT - timedelta(hours=1), None, (SIGTERM, BUG))
    mine = {i: replace(p, index=i) for i, p in enumerate(pods)}
    done = lifecycle.transition("Running", len(pods), mine, AT - timedelta(hours=1), AT,
                                restarts=restarts)  # fmt: skip
    assert done is not None
    return done


def test_a_gang_fails_by_the_rule_any_failed_worker_meets_and_ignores_only_if_all_do() -> None:
    # Worker 1 exited 1 (a bug), and its launcher then stopped worker 0 with 143: only worker
    # 0's code was read, and the gang restarted uncounted, for ever.
    bug = gang(failed(143), failed(1), used=3)
    assert (bug.reason, bug.restart) == ("FailurePolicyRule", False)
    assert "failurePolicy.rules[1] (FailJob) matches worker 1's exit code 1" in bug.message
    # Worker 0 evicted (no code) and worker 1 stopped with 143: counted, not ignored.
    mixed = gang(failed(None, "Evicted"), failed(143))
    assert (mixed.reason, mixed.counted) == ("Requeued", True)
    assert "failurePolicy" not in mixed.message
    both = gang(failed(143), failed(143), used=3)
    assert (both.reason, both.counted) == ("Requeued", False)


def test_rules_read_from_the_spec_in_order() -> None:
    policy = FailurePolicy.model_validate({"rules": [
        {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [143]}},
        {"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [137, 143]}},
    ]})  # fmt: skip
    assert exit_rules(policy) == (
        ExitRule("Ignore", frozenset({143}), True),
        ExitRule("FailJob", frozenset({137, 143}), False),
    )


@pytest.mark.parametrize(
    ("codes", "says"),
    [
        ({"operator": "In", "values": [1, 2, 1]}, "1 given twice: list each code once"),
        ({"operator": "In", "values": [0]}, "greater than or equal to 1"),
        ({"operator": "In", "values": []}, "at least 1 item"),
        ({"operator": "Above", "values": [1]}, "'In' or 'NotIn'"),
    ],
)
def test_a_bad_rule_is_refused_with_what_to_fix(codes: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError) as err:
        FailurePolicy.model_validate({"rules": [{"action": "FailJob", "onExitCodes": codes}]})
    assert says in str(err.value)


def fail_worker(world: World, name: str, code: int) -> None:
    (pod,) = [p for p in world.kube.pods(NS) if p["metadata"]["name"] == f"{name}-worker-0"]
    world.kube.put("pods", {**copy.deepcopy(pod), "status": {
        "phase": "Failed", "startTime": "2026-11-29T12:00:00Z",
        "containerStatuses": [{"name": "main", "state": {"terminated": {
            "exitCode": code, "reason": "Error", "finishedAt": "2026-11-29T12:20:00Z"}}}],
    }})  # fmt: skip


RULES = {"rules": [
    {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [143]}},
    {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1]}},
]}  # fmt: skip


def test_the_operator_fails_a_job_its_rule_says_to_and_restarts_one_uncounted() -> None:
    world = World()
    for name in ("bug", "signal"):
        world.kube.put("trainingjobs", job(name, options=[EIGHT], failurePolicy=RULES))
    world.cycle()
    start_workers(world, "2026-11-29T12:00:00Z")
    fail_worker(world, "bug", 1)
    fail_worker(world, "signal", 143)
    run_cycle(world.scheduler, NOW + timedelta(minutes=21))
    bug, signal = world.job("bug"), world.job("signal")
    assert (bug["phase"], bug["reason"], bug.get("restarts", 0)) == (
        "Failed", "FailurePolicyRule", 0,
    )  # fmt: skip
    assert next(c for c in bug["conditions"] if c["type"] == "Failed")["status"] == "True"
    # Requeued, and placed again in the same cycle (the failed job's node freed), uncounted.
    assert (signal["phase"], signal.get("restarts", 0)) == ("Admitted", 0)
    assert signal["restartHistory"][-1].startswith(
        "worker 0 failed (Error, exit code 143) at Nov 29 12:21 UTC; failurePolicy.rules[0] "
        "(Ignore) matches worker 0's exit code 143: restarted, not counted"
    )
