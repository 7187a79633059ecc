"""Names and labels of the objects pricewise creates for a TrainingJob: worker pods, the
rendezvous Service, and the labels that find them. Every name the API server accepts for a
TrainingJob gives valid derived names (label values and hostnames of at most 63 characters,
Service names that start with a letter).
"""

from __future__ import annotations

import hashlib

JOB_LABEL = "pricewise.dev/job"
INDEX_LABEL = "pricewise.dev/worker-index"
POOL_LABEL = "pricewise.dev/pool"
NODE_ANNOTATION = "pricewise.dev/node"
PROGRESS_ANNOTATION = "pricewise.dev/progress"
"""On a TrainingJob, written by its trainer: the share of the work saved so far (0 to 1)."""
RENDEZVOUS_PORT = 29500


LABEL_LIMIT = 63
"""Longest label value, DNS label (hostname) and Service name Kubernetes accepts."""
_WORKER_SUFFIX = len("-worker-1023")


def shorten(name: str, limit: int = LABEL_LIMIT) -> str:
    """`name` if it is short enough, else its head and a stable hash of the whole name, so that
    two long names that share a head still differ."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - len(digest) - 1].rstrip('-')}-{digest}"


def job_label(job_name: str) -> str:
    """The value of the job label on its workers (TrainingJob names may be longer than a
    label value)."""
    return shorten(job_name)


def service_name(job_name: str) -> str:
    """The rendezvous Service's name: a DNS label that starts with a letter, as Services need."""
    return shorten(job_name if job_name[0].isalpha() else f"tj-{job_name}")


def worker_name(job_name: str, index: int) -> str:
    """`<job>-worker-<index>`, short enough to be the pod's hostname; deterministic, so creating
    it twice is harmless."""
    return f"{shorten(job_name, LABEL_LIMIT - _WORKER_SUFFIX)}-worker-{index}"
