"""A placed job's phase from its workers' real states: Admitted -> Running -> Succeeded/Failed,
and back to Pending when a worker is lost or fails and the job may restart.

Pure: the scheduler passes in the worker pods it has seen, the nodes it knows are lost, and the
job's restart budget, and acts on the transition returned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pricewise.core.snapshot import Resources
from pricewise.core.times import dated
from pricewise.core.units import format_duration


@dataclass
class PodRecord:
    """What the cache keeps of a pod."""

    node: str | None
    planned_node: str | None
    requests: Resources
    phase: str
    job: str | None
    index: int | None
    start: datetime | None
    end: datetime | None
    waiting: tuple[str, ...] = ()
    """Why its containers wait to start, as the kubelet says (ContainerCreating,
    ErrImagePull, ...)."""
    failure: str | None = None
    """Why a failed pod failed, as the kubelet says: `Error, exit code 1`, `OOMKilled, exit
    code 137`, `Evicted`."""
    exit_codes: tuple[int, ...] = ()
    """The non-zero exit codes of its containers that ended (`failure` names the first)."""
    owner: str | None = None
    """The uid of the TrainingJob that controls it: a job deleted and created again under its
    name has the same worker names and labels, and the old one's pods, still terminating, were
    taken for the new one's (billed to it, and its Service never made)."""
    created: datetime | None = None
    """When the pod was created: an admitted gang's wait for its nodes counts from its last
    worker's creation where that came after its admission (workers an operator stopped before
    creating were made by the next one, and the job was released at once as if its nodes had
    not taken them)."""


GANG_TIMEOUT = timedelta(minutes=2)
"""How long admitted workers may take to all be bound before the job is released."""
CANNOT_START = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
"""Why a bound worker's container cannot start (a wrong image, a missing Secret): past the gang
timeout the worker counts as failed, and the job restarts while its restarts last. Bound
workers are otherwise given `START_TIMEOUT`: they may be pulling a large image."""
START_TIMEOUT = timedelta(minutes=30)
"""How long admitted workers may take to start running, once bound, before they count as
failed."""
DEADLINE_EXCEEDED = "DeadlineExceeded"
"""The reason of a job failed for running past its activeDeadlineSeconds, as batch/v1 says it."""
PAST_ESTIMATE = "PastEstimate"
"""The reason of a job still running past its estimated end."""


@dataclass(frozen=True)
class Transition:
    """What the job's status should say now."""

    phase: str
    reason: str
    message: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    restart: bool = False
    """The job goes back to Pending to run again: its workers are removed, `restarts` grows."""
    cause: str = ""
    """Why a restart or failure happened: WorkerFailed, WorkerLost, NodeLost or
    DeadlineExceeded."""
    counted: bool = True
    """Whether a restart counts against maxRestarts (one an Ignore rule matched does not)."""


@dataclass(frozen=True)
class ExitRule:
    """A rule of `spec.failurePolicy.rules`: what a worker failed with some exit code does to
    its job (FailJob, Ignore or Count)."""

    action: str
    codes: frozenset[int]
    within: bool = True
    """In (True: the codes match) or NotIn (False: the other codes do)."""

    def matches(self, code: int) -> bool:
        """Whether a worker that exited with `code` falls under the rule."""
        return (code in self.codes) == self.within


@dataclass(frozen=True)
class Restarts:
    """A job's restart budget: `spec.failurePolicy.maxRestarts` and what it has used."""

    used: int = 0
    allowed: int = 3
    history: tuple[str, ...] = ()
    started_at: datetime | None = None
    """When the current run started (all workers running), for the work a restart loses."""
    saved_s: Callable[[], float] | None = None
    """Seconds of the current run its checkpoints or its trainer saved, not lost: asked only
    where a run is cut (working it out for every placed job each cycle was half the step)."""
    rules: tuple[ExitRule, ...] = ()
    """The job's failure rules by exit code, in its spec's order."""


def _broken(
    workers: int,
    pods: Mapping[int, PodRecord],
    phase: str,
    lost_nodes: Mapping[str, str],
    waited: timedelta | None,
    gang_timeout: timedelta,
    planned: Sequence[str],
) -> tuple[str, str] | None:
    """(reason, cause) when a worker failed, vanished, sits (or was to sit: `planned`, its
    node by index) on a lost node, or, admitted `waited` ago, cannot start (see
    `CANNOT_START`) or has not started in `START_TIMEOUT`."""
    failed = sorted(i for i in range(workers) if i in pods and pods[i].phase == "Failed")
    if failed:
        said = pods[failed[0]].failure
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        return "WorkerFailed", f"worker {failed[0]} failed{f' ({said})' if said else ''}{more}"
    if waited is not None and waited > gang_timeout:
        for i, pod in ((i, pods[i]) for i in range(workers) if i in pods):
            if why := CANNOT_START.intersection(pod.waiting):
                return "WorkerFailed", f"worker {i} cannot start ({', '.join(sorted(why))})"
            if pod.node and pod.phase == "Pending" and waited > START_TIMEOUT:
                took = format_duration(waited.total_seconds())
                return "WorkerFailed", f"worker {i} did not start in {took}"
    for i in range(workers):
        # A worker gone with its node (deleted while no operator ran, its pods collected
        # with it), or not yet bound to it, is lost with the node, not on its own.
        bound = pods[i].node if i in pods else None
        node = bound or (planned[i] if i < len(planned) else None)
        if node in lost_nodes:
            return "NodeLost", f"worker {i}'s {lost_nodes[node or '']}"
    if phase == "Running" and any(i not in pods for i in range(workers)):
        lost = min(i for i in range(workers) if i not in pods)
        return "WorkerLost", f"worker {lost} disappeared"
    return None


def transition(
    phase: str,
    workers: int,
    pods: Mapping[int, PodRecord],
    admitted_at: datetime | None,
    now: datetime,
    gang_timeout: timedelta = GANG_TIMEOUT,
    lost_nodes: Mapping[str, str] | None = None,
    restarts: Restarts | None = None,
    estimated_end: datetime | None = None,
    planned_nodes: Sequence[str] = (),
    active_until: datetime | None = None,
    active_limit_s: float | None = None,
) -> Transition | None:
    """The next phase of an Admitted or Running job, or None when it stays as it is.

    `lost_nodes` maps a node that went away (deleted, NotReady past its grace, reclaimed) to
    what happened to it; `planned_nodes` are the workers' nodes by index, for workers whose pod
    is gone. A broken job restarts while its budget allows, else fails with the
    history of its restarts. A running job whose `estimated_end` (given until its status says
    it is past it) has passed stays Running, as `PastEstimate`. A run past `active_until`
    (its admission and its job's activeDeadlineSeconds, `active_limit_s`) fails, whatever else
    happened to it, unless it succeeded.
    """
    restarts = restarts or Restarts()
    mine = [pods[i] for i in range(workers) if i in pods]
    succeeded = len(mine) == workers and all(p.phase == "Succeeded" for p in mine)
    if not succeeded and active_until is not None and now > active_until:
        return _past_active_deadline(active_until, now, active_limit_s)
    waited = _waited(phase, mine, admitted_at, now)
    broken = _broken(workers, pods, phase, lost_nodes or {}, waited, gang_timeout, planned_nodes)
    if broken is not None:
        rule = _rule_met(workers, pods, restarts.rules) if broken[0] == "WorkerFailed" else None
        if restarts.started_at is None and len(mine) == workers and all(p.start for p in mine):
            # Started, and broken before its Running status was written: "0s of work lost"
            # beside the money the run cost.
            restarts = replace(restarts, started_at=max(p.start for p in mine if p.start))
        return _restart_or_fail(broken, restarts, mine, now, rule)
    if succeeded:
        return _succeeded(workers, mine, now)
    if phase == "Admitted":
        return _started_or_timed_out(workers, mine, waited, gang_timeout, now)
    if phase == "Running" and estimated_end is not None and now > estimated_end:
        return _past_estimate(estimated_end)
    return None


def _waited(
    phase: str, mine: Sequence[PodRecord], admitted_at: datetime | None, now: datetime
) -> timedelta | None:
    """How long an admitted job's workers have had to start: from its admission, or from its
    last worker's creation where that came later; None where it is not Admitted."""
    if phase != "Admitted" or admitted_at is None:
        return None
    return now - max([admitted_at, *(p.created for p in mine if p.created is not None)])


@dataclass(frozen=True)
class RuleMet:
    """The rule of `spec.failurePolicy.rules` that decides a broken run, and what it met."""

    index: int
    rule: ExitRule
    worker: int
    code: int

    def text(self) -> str:
        """`; failurePolicy.rules[1] (FailJob) matches worker 0's exit code 2`."""
        return (
            f"; failurePolicy.rules[{self.index}] ({self.rule.action}) matches worker "
            f"{self.worker}'s exit code {self.code}"
        )


def _rule_met(
    workers: int, pods: Mapping[int, PodRecord], rules: Sequence[ExitRule]
) -> RuleMet | None:
    """The rule that decides a run whose workers failed, as batch/v1 reads a podFailurePolicy
    (each failed worker takes the first rule any of its containers' exit codes matches): a
    FailJob any failed worker meets; else an Ignore, only where every failed worker meets one
    (a gang's worker that exited 1, a bug, and another its launcher then stopped with 143 were
    restarted uncounted, for ever); else the Count met, if any (None: counted, as without
    rules)."""
    failed = [i for i in range(workers) if i in pods and pods[i].phase == "Failed"]
    met = [_first_rule(i, pods[i].exit_codes, rules) for i in failed]
    by_action = {a: [m for m in met if m and m.rule.action == a] for a in ("FailJob", "Ignore")}
    if by_action["FailJob"]:
        return by_action["FailJob"][0]
    if met and len(by_action["Ignore"]) == len(met):
        return by_action["Ignore"][0]
    return next((m for m in met if m and m.rule.action == "Count"), None)


def _first_rule(worker: int, codes: Sequence[int], rules: Sequence[ExitRule]) -> RuleMet | None:
    for index, rule in enumerate(rules):
        code = next((c for c in codes if rule.matches(c)), None)
        if code is not None:
            return RuleMet(index, rule, worker, code)
    return None


FAILED_BY_RULE = "FailurePolicyRule"
"""The reason of a job failed at once by a FailJob rule of its failurePolicy."""


def _restart_or_fail(
    broken: tuple[str, str],
    restarts: Restarts,
    mine: Sequence[PodRecord],
    now: datetime,
    rule: RuleMet | None = None,
) -> Transition:
    """A broken job requeued while its restarts allow (an Ignore rule's without counting it),
    with the work it lost; else, or at once by a FailJob rule, failed, with the history of its
    restarts."""
    reason, cause = broken
    ran = now - restarts.started_at if restarts.started_at else timedelta(0)
    saved_s = restarts.saved_s() if restarts.saved_s is not None else 0.0
    lost_s = max(ran.total_seconds() - saved_s, 0.0)
    lost = f"{format_duration(lost_s)} of work lost"
    action = rule.rule.action if rule else "Count"
    matched = rule.text() if rule else ""
    if action == "Ignore":
        return Transition(
            "Pending",
            "Requeued",
            f"{cause} at {dated(now)}{matched}: restarted, not counted against maxRestarts; {lost}",
            restart=True,
            cause=reason,
            counted=False,
        )
    if action == "Count" and restarts.used < restarts.allowed:
        return Transition(
            "Pending",
            "Requeued",
            f"{cause} at {dated(now)}{matched}; restart {restarts.used + 1} of "
            f"{restarts.allowed}; {lost}",
            restart=True,
            cause=reason,
        )
    earlier = f"; before: {'; '.join(restarts.history)}" if restarts.history else ""
    ends = [p.end for p in mine if p.end]
    why = "no restart"
    if action != "FailJob":
        why = f"no restart left (maxRestarts {restarts.allowed})"
    return Transition(
        "Failed",
        FAILED_BY_RULE if action == "FailJob" else reason,
        f"{cause} at {dated(now)}{matched}; {why}{earlier}",
        finished_at=max(ends) if ends else now,
        cause=reason,
    )


def _succeeded(workers: int, mine: Sequence[PodRecord], now: datetime) -> Transition:
    """Every worker succeeded: the job did, from its last worker's start to its last end."""
    ends = [p.end for p in mine if p.end]
    starts = [p.start for p in mine if p.start]
    return Transition(
        "Succeeded",
        "Completed",
        f"all {workers} worker(s) succeeded",
        started_at=max(starts) if starts else None,
        finished_at=max(ends) if ends else now,
    )


def _started_or_timed_out(
    workers: int,
    mine: Sequence[PodRecord],
    waited: timedelta | None,
    gang_timeout: timedelta,
    now: datetime,
) -> Transition | None:
    """An Admitted job Running once every worker runs; released when its nodes did not all
    take its workers within the gang timeout; else as it is."""
    if len(mine) == workers and all(p.phase in ("Running", "Succeeded") for p in mine):
        starts = [p.start for p in mine if p.start]
        return Transition(
            "Running",
            "Running",
            f"all {workers} worker(s) running",
            started_at=max(starts) if starts else now,
        )
    bound = sum(1 for p in mine if p.node)
    # Workers bound to their nodes may still be pulling a large image (one that cannot start
    # is broken, above): only a gang the nodes did not all take in time gives its room back.
    if waited is not None and waited > gang_timeout and bound < workers:
        return Transition(
            "Pending",
            "GangTimeout",
            f"only {bound} of {workers} worker(s) were bound within "
            f"{int(gang_timeout.total_seconds())}s; "
            "released to be placed again",
        )
    return None


def _past_active_deadline(until: datetime, now: datetime, limit_s: float | None) -> Transition:
    """A run that lasted past its job's activeDeadlineSeconds (`limit_s`, where known) fails,
    for good, as a batch/v1 Job's: a hung run bills on until someone notices, and a restart
    would bill again."""
    limit = f" ({format_duration(limit_s)})" if limit_s else ""
    stopped = "" if dated(now) == dated(until) else f" at {dated(now)}"
    return Transition(
        "Failed",
        DEADLINE_EXCEEDED,
        f"its run reached its activeDeadlineSeconds{limit} at {dated(until)}: its workers are "
        f"stopped{stopped}, without a restart",
        finished_at=now,
        cause=DEADLINE_EXCEEDED,
    )


def _past_estimate(estimated_end: datetime) -> Transition:
    """A running job past its estimated end, said once: its ETA column is in the past from
    here on, and the jobs that wait for its room (`lookahead.due_s`) slide."""
    return Transition(
        "Running",
        PAST_ESTIMATE,
        # The end counts its run from its workers' start, which the ETA column (counted from
        # admission) does not: the two differ by the time its workers took to start.
        f"running past its estimated end, {dated(estimated_end)} counted from its workers' "
        "start: jobs waiting for its room are planned as if it runs on as long again as it "
        "has overrun",
    )
