"""Builders of the objects that run a placed job: one Pod per worker and a headless Service.

Pods rather than an Indexed Job: each worker is pinned to the node the solver packed it on
(a Job's pods share one template and could not be), and deterministic names make creation
idempotent, so a restarted operator can never create a worker twice.
"""

from __future__ import annotations

import copy
from typing import Any

from pricewise.api.models import API_VERSION
from pricewise.api.naming import (
    INDEX_LABEL,
    JOB_LABEL,
    NODE_ANNOTATION,
    POOL_LABEL,
    RENDEZVOUS_PORT,
    job_label,
    service_name,
    worker_name,
)


def owner_reference(job: dict[str, Any]) -> dict[str, Any]:
    """An ownerReference to the TrainingJob, so deleting it deletes its workers."""
    meta = job["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _device_toleration(resource: str) -> dict[str, Any]:
    return {"key": resource, "operator": "Exists", "effect": "NoSchedule"}


def worker_pod(
    job: dict[str, Any],
    index: int,
    node: str,
    node_selector: dict[str, str],
    requests: dict[str, str],
    tolerations: list[dict[str, Any]],
    pool: str,
) -> dict[str, Any]:
    """Pod of worker `index`, pinned to `node` of the pool.

    `requests` are set on the first container: the devices always, CPU and memory where the
    option gives them (they are what the solver packed).
    """
    meta = job["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    template = copy.deepcopy(job["spec"].get("template") or {})
    pod_meta = template.get("metadata") or {}
    spec = template.get("spec") or {}
    containers = spec.get("containers") or [{"name": "worker", "image": "busybox"}]
    world = job["status"]["workers"]
    # A single worker needs no rendezvous Service: it talks to itself.
    service = service_name(name)
    rendezvous = f"{worker_name(name, 0)}.{service}.{namespace}.svc" if world > 1 else "localhost"
    for i, container in enumerate(containers):
        if i == 0:
            resources = container.setdefault("resources", {})
            resources.setdefault("requests", {}).update(requests)
            extended = {k: v for k, v in requests.items() if "/" in k}
            if extended:  # extended resources need limits equal to requests
                resources.setdefault("limits", {}).update(extended)
        env = container.setdefault("env", [])
        env.extend(
            [
                {"name": "PRICEWISE_JOB", "value": name},
                {"name": "WORLD_SIZE", "value": str(world)},
                {"name": "RANK", "value": str(index)},
                {"name": "MASTER_ADDR", "value": rendezvous},
                {"name": "MASTER_PORT", "value": str(RENDEZVOUS_PORT)},
            ]
        )
    spec["containers"] = containers
    spec["restartPolicy"] = spec.get("restartPolicy", "Never")
    if world > 1:
        spec["hostname"] = worker_name(name, index)
        spec["subdomain"] = service
    spec["nodeSelector"] = {**(spec.get("nodeSelector") or {}), **node_selector}
    spec["tolerations"] = [*(spec.get("tolerations") or []), *tolerations]
    spec["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
                ]
            }
        }
    }
    labels = {**(pod_meta.get("labels") or {}), JOB_LABEL: job_label(name), INDEX_LABEL: str(index)}
    labels[POOL_LABEL] = pool
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": worker_name(name, index),
            "namespace": namespace,
            "labels": labels,
            "annotations": {**(pod_meta.get("annotations") or {}), NODE_ANNOTATION: node},
            "ownerReferences": [owner_reference(job)],
        },
        "spec": spec,
    }


def headless_service(job: dict[str, Any]) -> dict[str, Any]:
    """The Service that gives every worker a stable DNS name for rendezvous."""
    meta = job["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(meta["name"]),
            "namespace": meta["namespace"],
            "labels": {JOB_LABEL: job_label(meta["name"])},
            "ownerReferences": [owner_reference(job)],
        },
        "spec": {
            "clusterIP": "None",
            "selector": {JOB_LABEL: job_label(meta["name"])},
            "ports": [{"name": "rendezvous", "port": RENDEZVOUS_PORT}],
            "publishNotReadyAddresses": True,
        },
    }


def device_tolerations(
    resource: str | None, configured: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The pool's tolerations: as the PriceTable says, or one for the device taint."""
    if configured:
        return configured
    return [_device_toleration(resource)] if resource else []
