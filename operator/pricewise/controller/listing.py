"""The cache filled from lists of the API server: every kind once at start-up (`list_into`), and
TrainingJobs, pods and nodes again now and then to forget what a broken watch never said was
deleted (`forget_unlisted`).

A watch that breaks for longer than the API server keeps its history (410 Gone), or across an
API server restart, lists again: every object it lists comes as an event, but an object deleted
meanwhile comes as nothing. Kept in the cache, a deleted job's worker held its node (the job
waiting for it was told the pool frees at its estimated end), its cost accrued to its Budget,
and every cycle failed writing its status (seen live).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pricewise.api.models import GROUP, VERSION
from pricewise.controller.cache import Cache
from pricewise.controller.records import Key, key_of
from pricewise.kube import Kube

log = logging.getLogger(__name__)

RELIST_EVERY_S = 300.0
"""Seconds between the lists that forget what a watch missed: how long at most a job deleted
unseen is billed and holds its room. A list of every pod is the heaviest request the operator
makes; five minutes keeps it a small share of them."""

JOBS = f"/apis/{GROUP}/{VERSION}/trainingjobs"


def _listed(cache: Cache) -> list[tuple[str, Callable[[Mapping[str, Any]], Any]]]:
    return [
        ("/api/v1/nodes", cache.upsert_node),
        ("/api/v1/pods", cache.upsert_pod),
        ("/api/v1/resourcequotas", cache.upsert_quota),
        (f"/apis/{GROUP}/{VERSION}/pricetables", cache.upsert_price_table),
        (f"/apis/{GROUP}/{VERSION}/budgets", cache.upsert_budget),
        (JOBS, cache.upsert_job),
    ]


async def list_into(cache: Cache, kube: Kube) -> None:
    """List every kind the cache holds into it, once."""
    for path, upsert in _listed(cache):
        listed = await kube.request("GET", path)
        for item in listed.get("items") or []:
            try:
                upsert(item)
            except Exception:  # one object the cache cannot take must not keep out the rest
                meta = item.get("metadata") or {}
                name = "/".join(filter(None, (meta.get("namespace"), meta.get("name"))))
                log.exception("%s %s left out of the cache", path.rsplit("/", 1)[-1], name)


async def forget_unlisted(
    cache: Cache, kube: Kube, now: datetime, job_deleted: Callable[[Key], None]
) -> list[str]:
    """List TrainingJobs, pods and nodes, and forget those the cache holds that the list does
    not, as their deletion events would have at `now` (`job_deleted` settles a job's costs
    first; a worker is billed up to then); the objects forgotten, for the log. One that changed
    identity meanwhile (deleted and made again under its name, its event come during the
    list) is kept."""
    forgotten: list[str] = []
    jobs = {key: record.body["metadata"].get("uid") for key, record in cache.jobs.items()}
    listed = await _keys(kube, JOBS)
    for key, uid in jobs.items():
        record = cache.jobs.get(key)
        if key not in listed and record is not None and record.body["metadata"].get("uid") == uid:
            job_deleted(key)
            cache.forget_job(key)
            forgotten.append(f"TrainingJob {key[0]}/{key[1]}")
    pods = {key: cache.pod_uid(key) for key in cache.pods}
    listed = await _keys(kube, "/api/v1/pods")
    for key, uid in pods.items():
        if key not in listed and key in cache.pods and cache.pod_uid(key) == uid:
            cache.forget_pod(key, now)
            forgotten.append(f"pod {key[0]}/{key[1]}")
    nodes = set(cache.nodes)
    listed = await _keys(kube, "/api/v1/nodes")
    for _, name in {("", n) for n in nodes} - listed:
        cache.forget_node(name)
        forgotten.append(f"node {name}")
    return forgotten


async def _keys(kube: Kube, path: str) -> set[Key]:
    """The keys of the objects a list of `path` holds."""
    listed = await kube.request("GET", path)
    return {key_of(item) for item in listed.get("items") or []}
