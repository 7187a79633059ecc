"""The operator's pure parts: the cache's view of capacity, worker pods, statuses, lifecycle."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pricewise.api.naming import INDEX_LABEL, JOB_LABEL, job_label
from pricewise.controller import status
from pricewise.controller.cache import Cache
from pricewise.controller.records import pod_record
from pricewise.controller.workers import NODE_ANNOTATION, owner_reference, worker_pod
from pricewise.core import lifecycle
from pricewise.core.lifecycle import PodRecord
from pricewise.core.snapshot import Resources

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _node(name: str, gpus: int, pool: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"pricewise.dev/pool": pool}},
        "status": {"allocatable": {"cpu": "96", "memory": "768Gi", "nvidia.com/gpu": str(gpus)}},
    }


def _job(name: str, rv: str = "10", status_: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "resourceVersion": rv,
            "generation": 1,
            "creationTimestamp": "2026-11-29T11:00:00Z",
        },
        "spec": {
            "options": [{"accelerator": "nvidia-l4", "devicesPerWorker": 4, "duration": "1h"}],
            "template": {"spec": {"containers": [{"name": "t", "image": "x"}]}},
        },
        "status": status_ or {},
    }


def _cache() -> Cache:
    cache = Cache()
    cache.upsert_node(_node("l4-0", 8, "l4"))
    cache.upsert_price_table(
        {
            "metadata": {"name": "prices"},
            "spec": {
                "pools": [
                    {
                        "name": "l4",
                        "accelerator": "nvidia-l4",
                        "nodeSelector": {"pricewise.dev/pool": "l4"},
                        "prices": {"perDeviceHour": 1.0},
                    }
                ]
            },
        }
    )
    return cache


def test_snapshot_counts_bound_pods_and_planned_workers() -> None:
    cache = _cache()
    cache.upsert_pod(
        {
            "metadata": {"name": "other", "namespace": "ns"},
            "spec": {
                "nodeName": "l4-0",
                "containers": [{"resources": {"requests": {"nvidia.com/gpu": "2"}}}],
            },
            "status": {"phase": "Running"},
        }
    )
    # Admitted, its worker pod not created yet (the operator stopped in between): the planned
    # node must still be held.
    cache.upsert_job(
        _job(
            "placed",
            status_={
                "phase": "Admitted",
                "accelerator": "nvidia-l4",
                "optionIndex": 0,
                "workers": 1,
                "nodes": ["l4-0"],
            },
        )
    )
    cache.upsert_job(_job("waiting"))
    snap = cache.snapshot(NOW)
    assert cache.pools()[1] == []
    (pool,) = snap.pools
    assert pool.nodes[0].free.gpu == 8 - 2 - 4
    assert [j.name for j in snap.jobs] == ["waiting"]


def test_unbound_worker_holds_its_planned_node() -> None:
    cache = _cache()
    pod = worker_pod(
        _job("placed", status_={"workers": 1}),
        0,
        "l4-0",
        {"pricewise.dev/pool": "l4"},
        {"nvidia.com/gpu": "4", "cpu": "1000m", "memory": "2048Mi"},
        [],
        "l4",
    )
    cache.upsert_pod({**pod, "status": {"phase": "Pending"}})
    assert cache.node_usage() == {"l4-0": Resources(cpu=1000, memory=2048, gpu=4)}


def test_a_worker_that_has_ended_frees_its_node_before_its_job_says_so() -> None:
    # A job still Running in the cache whose worker pod has Succeeded holds nothing, and one
    # whose pod is not created yet still holds its planned node.
    cache = _cache()
    running = {
        "phase": "Running",
        "accelerator": "nvidia-l4",
        "optionIndex": 0,
        "workers": 1,
        "nodes": ["l4-0"],
    }
    cache.upsert_job(_job("done", status_=running))
    pod = worker_pod(
        _job("done", status_={"workers": 1}),
        0,
        "l4-0",
        {"pricewise.dev/pool": "l4"},
        {"nvidia.com/gpu": "4"},
        [],
        "l4",
    )
    cache.upsert_pod(
        {**pod, "spec": {**pod["spec"], "nodeName": "l4-0"}, "status": {"phase": "Running"}}
    )
    assert cache.node_usage()["l4-0"].gpu == 4
    cache.upsert_pod(
        {**pod, "spec": {**pod["spec"], "nodeName": "l4-0"}, "status": {"phase": "Succeeded"}}
    )
    assert cache.node_usage() == {}
    assert cache.snapshot(NOW).pools[0].nodes[0].free.gpu == 8
    cache.forget_pod((pod["metadata"]["namespace"], pod["metadata"]["name"]))
    assert cache.node_usage()["l4-0"].gpu == 4  # no pod at all: the plan holds the node


def test_a_jobs_workers_follow_their_pods_updates_and_deletions() -> None:
    cache = Cache()

    def pod(name: str, job: str, index: str, phase: str = "Running") -> dict[str, Any]:
        labels = {JOB_LABEL: job_label(job), INDEX_LABEL: index}
        owner = owner_reference({"metadata": {"name": job, "uid": f"uid-{job}"}})
        return {
            "metadata": {
                "name": name, "namespace": "ns", "labels": labels, "ownerReferences": [owner]
            },
            "spec": {"nodeName": "l4-0", "containers": []},
            "status": {"phase": phase},
        }  # fmt: skip

    cache.upsert_pod(pod("a-0", "a", "0"))
    cache.upsert_pod(pod("a-1", "a", "1"))
    cache.upsert_pod(pod("b-0", "b", "0"))
    # A pod given a job's labels by hand is no worker of it: one that ended made its job
    # Succeeded while the real worker ran on, unbilled.
    forged = pod("forged", "b", "0", "Succeeded")
    del forged["metadata"]["ownerReferences"]
    cache.upsert_pod(forged)
    # Nor is a pod of another job's given this one's labels.
    copied = pod("copied", "a", "0", "Succeeded")
    copied["metadata"]["labels"] = {JOB_LABEL: job_label("b"), INDEX_LABEL: "0"}
    cache.upsert_pod(copied)
    assert cache.workers_of("ns", "b")[0].phase == "Running"
    assert sorted(cache.workers_of("ns", "a")) == [0, 1]
    assert cache.workers_of("other", "a") == {}
    cache.upsert_pod(pod("a-1", "a", "1", "Succeeded"))
    assert cache.workers_of("ns", "a")[1].phase == "Succeeded"
    cache.upsert_pod(pod("a-1", "b", "1"))  # relabelled: now b's
    assert sorted(cache.workers_of("ns", "a")) == [0]
    assert sorted(cache.workers_of("ns", "b")) == [0, 1]
    cache.forget_pod(("ns", "a-0"))
    assert cache.workers_of("ns", "a") == {}


def test_stale_watch_event_does_not_undo_our_write() -> None:
    cache = _cache()
    cache.upsert_job(_job("j", rv="20", status_={"phase": "Admitted"}))
    cache.upsert_job(_job("j", rv="15"))
    assert cache.jobs[("ns", "j")].phase == "Admitted"


def test_a_status_write_keeps_the_parsed_spec_and_a_new_generation_parses_it_again() -> None:
    cache = _cache()
    first = cache.upsert_job(_job("j", rv="20"))
    written = cache.upsert_job(_job("j", rv="21", status_={"phase": "Pending"}))
    assert written.model is first.model and written.job is first.job
    assert written.phase == "Pending"
    changed = _job("j", rv="22")
    changed["metadata"]["generation"] = 2
    changed["spec"]["options"][0]["devicesPerWorker"] = 2
    reparsed = cache.upsert_job(changed)
    assert reparsed.model is not None and reparsed.model.spec.options[0].devices_per_worker == 2


def test_invalid_job_is_kept_with_its_error() -> None:
    cache = _cache()
    body = _job("bad")
    body["spec"]["workers"] = {"min": 3, "max": 1}
    record = cache.upsert_job(body)
    assert record.model is None
    assert record.error is not None and "workers.min (3)" in record.error
    assert cache.snapshot(NOW).jobs == ()
    # The status said "unknown field; remove it" where `plan` names the field likely meant.
    typo = _job("bad", rv="11")
    typo["metadata"]["generation"] = 2
    typo["spec"]["maxDuraton"] = "8h"
    assert cache.upsert_job(typo).error == (
        "spec.maxDuraton: unknown field; did you mean maxDuration?"
    )


def test_invalid_price_tables_and_budgets_name_the_pool_and_the_field_meant() -> None:
    # Their status messages counted pools by index and had no did-you-mean, unlike `plan`'s.
    cache = _cache()
    pool = {
        "name": "l4",
        "accelerator": "nvidia-l4",
        "nodeSelector": {"pricewise.dev/pool": "l4"},
        "prices": {"perDeviceHour": -1.0},
    }
    cache.upsert_price_table({"metadata": {"name": "bad"}, "spec": {"pools": [pool]}})
    assert cache.price_table_errors["bad"] == (
        'spec.pools[name="l4"].prices.perDeviceHour: must be >= 0 (got -1)'
    )
    cache.upsert_budget({"metadata": {"name": "b", "namespace": "ns"}, "spec": {"limt": 10}})
    assert cache.budget_errors[("ns", "b")] == (
        "spec.limit: required; add it: Most that may be spent per period; "
        "spec.limt: unknown field; did you mean limit?"
    )


def test_worker_pod_is_pinned_and_owned() -> None:
    job = _job("train", status_={"workers": 2})
    pod = worker_pod(
        job,
        1,
        "l4-0",
        {"pricewise.dev/pool": "l4"},
        {"nvidia.com/gpu": "4"},
        [{"key": "nvidia.com/gpu", "operator": "Exists"}],
        "l4",
    )
    assert pod["metadata"]["name"] == "train-worker-1"
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "uid-train"
    assert pod["metadata"]["annotations"][NODE_ANNOTATION] == "l4-0"
    terms = pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms["nodeSelectorTerms"][0]["matchFields"][0]["values"] == ["l4-0"]
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "4"}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["RANK"] == "1" and env["WORLD_SIZE"] == "2"
    assert env["MASTER_ADDR"] == "train-worker-0.train.ns.svc"


def _pod(
    phase: str, node: str | None = "n", start: datetime | None = None, end: datetime | None = None
) -> PodRecord:
    return PodRecord(node, node, Resources(), phase, "j", 0, start, end)


def test_a_failed_worker_says_why_as_the_kubelet_does() -> None:
    def failed(status: dict[str, Any]) -> str | None:
        return pod_record({"metadata": {}, "spec": {}, "status": status}).failure

    oom = {"state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}
    sidecar = {"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    assert failed({"phase": "Failed", "containerStatuses": [sidecar, oom]}) == (
        "OOMKilled, exit code 137"
    )
    assert failed({"phase": "Failed", "reason": "Evicted"}) == "Evicted"
    assert failed({"phase": "Running", "containerStatuses": [oom]}) is None
    spent = lifecycle.Restarts(used=0, allowed=0)
    pod = replace(_pod("Failed", end=NOW), failure="OOMKilled, exit code 137")
    final = lifecycle.transition("Running", 1, {0: pod}, NOW, NOW, restarts=spent)
    assert final is not None
    assert final.message.startswith(
        "worker 0 failed (OOMKilled, exit code 137) at Nov 29 12:00 UTC"
    )


def test_lifecycle() -> None:
    admitted = NOW - timedelta(seconds=30)
    assert lifecycle.transition("Admitted", 2, {0: _pod("Running")}, admitted, NOW) is None
    running = lifecycle.transition(
        "Admitted",
        2,
        {0: _pod("Running", start=admitted), 1: _pod("Running", start=NOW)},
        admitted,
        NOW,
    )
    assert running is not None and (running.phase, running.started_at) == ("Running", NOW)
    done = lifecycle.transition("Running", 1, {0: _pod("Succeeded", end=NOW)}, admitted, NOW)
    assert done is not None and (done.phase, done.finished_at) == ("Succeeded", NOW)
    # Running past its estimated end: still Running, as PastEstimate; before it, no step.
    on = {0: _pod("Running", start=admitted)}
    ahead = lifecycle.transition("Running", 1, on, admitted, NOW, estimated_end=NOW)
    assert ahead is None
    past = lifecycle.transition("Running", 1, on, admitted, NOW, estimated_end=admitted)
    assert past is not None and (past.phase, past.reason) == ("Running", "PastEstimate")
    # A broken job is requeued while its restart budget lasts, then fails with the history.
    started = lifecycle.Restarts(used=0, allowed=3, started_at=NOW - timedelta(minutes=70))
    failed = lifecycle.transition(
        "Running", 2, {0: _pod("Running"), 1: _pod("Failed")}, admitted, NOW, restarts=started
    )
    assert failed is not None and (failed.phase, failed.reason, failed.restart) == (
        "Pending", "Requeued", True,
    )  # fmt: skip
    assert (
        failed.message == "worker 1 failed at Nov 29 12:00 UTC; restart 1 of 3; 1h10m of work lost"
    )
    # What its checkpoints or its trainer saved is not lost.
    saved = replace(started, saved_s=lambda: 1800.0)
    kept = lifecycle.transition(
        "Running", 2, {0: _pod("Running"), 1: _pod("Failed")}, admitted, NOW, restarts=saved
    )
    assert kept is not None and kept.message.endswith("; 40m of work lost")
    lost = lifecycle.transition("Running", 2, {0: _pod("Running")}, admitted, NOW)
    assert lost is not None and (lost.reason, lost.restart) == ("Requeued", True)
    assert lost.message.startswith("worker 1 disappeared")
    gone = lifecycle.transition(
        "Running", 1, {0: _pod("Running")}, admitted, NOW, lost_nodes={"n": "node n is gone"}
    )
    assert gone is not None and gone.message.startswith(
        "worker 0's node n is gone at Nov 29 12:00 UTC"
    )
    # Its pod gone with the node (deleted while no operator ran): lost with the node too.
    with_node = lifecycle.transition(
        "Running", 2, {0: _pod("Running")}, admitted, NOW, lost_nodes={"n1": "node n1 is gone"},
        planned_nodes=["n0", "n1"],
    )  # fmt: skip
    assert with_node is not None and (with_node.cause, with_node.reason) == ("NodeLost", "Requeued")
    assert with_node.message.startswith("worker 1's node n1 is gone at")
    unbound = {0: _pod("Running"), 1: _pod("Pending", node=None)}
    waiting = lifecycle.transition(
        "Admitted", 2, unbound, admitted, NOW, lost_nodes={"n1": "node n1 is gone"},
        planned_nodes=["n0", "n1"],
    )  # fmt: skip
    assert waiting is not None and waiting.cause == "NodeLost"
    spent = lifecycle.Restarts(used=3, allowed=3, history=("worker 0 failed at 10:00",) * 3)
    final = lifecycle.transition(
        "Running", 1, {0: _pod("Failed", end=NOW)}, admitted, NOW, restarts=spent
    )
    assert final is not None and (final.phase, final.reason) == ("Failed", "WorkerFailed")
    assert final.message == (
        "worker 0 failed at Nov 29 12:00 UTC; no restart left (maxRestarts 3); before: "
        + "; ".join(["worker 0 failed at 10:00"] * 3)
    )
    never = lifecycle.transition(
        "Running", 1, {}, admitted, NOW, restarts=lifecycle.Restarts(allowed=0)
    )
    assert never is not None and (never.phase, never.reason) == ("Failed", "WorkerLost")
    late = lifecycle.transition(
        "Admitted", 2, {0: _pod("Pending", node=None)}, NOW - timedelta(minutes=5), NOW
    )
    assert late is not None and late.phase == "Pending" and late.reason == "GangTimeout"
    assert "only 0 of 2 worker(s) were bound" in late.message
    # Workers created a minute ago (by an operator that took over from one stopped before
    # creating them) have had a minute to be bound, not the five since the admission.
    made = NOW - timedelta(minutes=1)
    fresh = {i: replace(_pod("Pending", node=None), created=made) for i in range(2)}
    assert lifecycle.transition("Admitted", 2, fresh, NOW - timedelta(minutes=5), NOW) is None
    # Both bound and still pulling their image: the gang is whole, it only starts slowly...
    pulling = {i: _pod("Pending", node=f"n{i}") for i in range(2)}
    assert lifecycle.transition("Admitted", 2, pulling, NOW - timedelta(minutes=5), NOW) is None
    # ... for half an hour at most, and not when the kubelet says it cannot start it.
    never = lifecycle.transition("Admitted", 2, pulling, NOW - timedelta(minutes=31), NOW)
    assert never is not None and (never.reason, never.cause) == ("Requeued", "WorkerFailed")
    assert never.message.startswith(
        "worker 0 did not start in 31m at Nov 29 12:00 UTC; restart 1 of 3"
    )
    typo = {**pulling, 1: replace(pulling[1], waiting=("ImagePullBackOff",))}
    wrong = lifecycle.transition("Admitted", 2, typo, NOW - timedelta(minutes=5), NOW)
    assert wrong is not None and wrong.message.startswith(
        "worker 1 cannot start (ImagePullBackOff) at Nov 29 12:00 UTC; restart 1 of 3"
    )


def test_conditions_keep_transition_time_until_status_changes() -> None:
    first = status.set_condition([], "Admitted", False, "WaitingForCapacity", "full", NOW)
    later = status.set_condition(
        first, "Admitted", False, "QuotaExceeded", "quota", NOW + timedelta(hours=1)
    )
    assert later[0]["lastTransitionTime"] == "2026-11-29T12:00:00Z"
    flipped = status.set_condition(
        later, "Admitted", True, "Admitted", "ok", NOW + timedelta(hours=2)
    )
    assert flipped[0]["lastTransitionTime"] == "2026-11-29T14:00:00Z"
    assert len(flipped) == 1


def test_single_worker_needs_no_rendezvous_service() -> None:
    pod = worker_pod(_job("solo", status_={"workers": 1}), 0, "l4-0", {}, {}, [], "l4")
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["MASTER_ADDR"] == "localhost"
    assert "subdomain" not in pod["spec"]


def test_lost_nodes_are_gone_tainted_or_not_ready_past_the_grace() -> None:
    cache = _cache()

    def ready(name: str, status: str, since: datetime, taints: tuple[str, ...] = ()) -> None:
        body = _node(name, 8, "l4")
        body["spec"] = {"taints": [{"key": k, "effect": "NoSchedule"} for k in taints]}
        body["status"]["conditions"] = [
            {"type": "Ready", "status": status, "lastTransitionTime": f"{since:%Y-%m-%dT%H:%M:%SZ}"}
        ]
        cache.upsert_node(body)

    ready("fine", "True", NOW - timedelta(hours=1))
    ready("blip", "Unknown", NOW - timedelta(seconds=30))  # within the grace
    ready("down", "Unknown", NOW - timedelta(minutes=5))
    ready("going", "True", NOW - timedelta(hours=1), ("DeletionCandidateOfClusterAutoscaler",))
    ready("other", "True", NOW - timedelta(hours=1), ("example.com/unrelated",))
    names = ["fine", "blip", "down", "going", "other", "gone", None]
    assert cache.lost_nodes(names, NOW, timedelta(minutes=1)) == {
        "down": "node down NotReady since 11:55",
        "going": "node going is being reclaimed (taint DeletionCandidateOfClusterAutoscaler)",
        "gone": "node gone is gone",
    }
    cache.reclaim_taints = frozenset({"example.com/unrelated"})  # PRICEWISE_RECLAIM_TAINTS
    assert set(cache.lost_nodes(names, NOW, timedelta(minutes=1))) == {"down", "other", "gone"}


def test_a_pod_runs_from_its_first_container_s_start_until_the_pod_itself_ends() -> None:
    def pod(phase: str, sidecar: dict[str, Any]) -> dict[str, Any]:
        main = {"running": {"startedAt": "2026-11-29T12:01:00Z"}}
        if phase == "Failed":
            main = {"terminated": {"startedAt": "2026-11-29T12:01:00Z",
                                   "finishedAt": "2026-11-29T13:00:00Z"}}  # fmt: skip
        return {
            "metadata": {"name": "w-0", "namespace": "ns"},
            "spec": {"nodeName": "n1"},
            "status": {
                "phase": phase,
                "containerStatuses": [{"state": main}, {"state": sidecar}],
            },
        }

    # A sidecar that fetched the data and exited: the pod still runs, and still costs.
    fetched = {"terminated": {"startedAt": "2026-11-29T12:00:00Z",
                              "finishedAt": "2026-11-29T12:05:00Z"}}  # fmt: skip
    running = pod_record(pod("Running", fetched))
    assert (running.start, running.end) == (datetime(2026, 11, 29, 12, tzinfo=UTC), None)
    failed = pod_record(pod("Failed", fetched))
    assert failed.end == datetime(2026, 11, 29, 13, tzinfo=UTC)


def test_a_pod_record_keeps_why_its_containers_wait() -> None:
    body = {
        "metadata": {"name": "w-0", "namespace": "ns"},
        "spec": {"nodeName": "n1"},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {"state": {"waiting": {"reason": "ContainerCreating"}}},
                {"state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}},
            ],
        },
    }
    assert pod_record(body).waiting == ("ContainerCreating", "ErrImagePull")
