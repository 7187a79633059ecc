"""Names and labels of the objects pricewise creates for a TrainingJob: worker pods, the
rendezvous Service, and the labels that find them. Every name the API server accepts for a
TrainingJob (a DNS subdomain: dots allowed, up to 253 characters) gives valid derived names
(label values and hostnames of at most 63 characters, Service names that start with a letter,
no dots where a DNS label is needed).
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
    return _hashed(name, name, limit)


def _hashed(text: str, whole: str, limit: int) -> str:
    """The head of `text` and a stable hash of `whole`, in at most `limit` characters."""
    digest = hashlib.sha256(whole.encode()).hexdigest()[:8]
    return f"{text[: limit - len(digest) - 1].rstrip('-.')}-{digest}"


def dns_label(name: str, limit: int = LABEL_LIMIT) -> str:
    """`name` as a DNS label (hostname, Service name) of at most `limit` characters.

    A name that already is one is kept, so that existing jobs keep their objects' names. A
    dotted name (a DNS subdomain, which the API server accepts for a TrainingJob) has its dots
    replaced by '-' and always gets the hash of the original: `my.job` and `my-job` may both
    exist, and must not share a Service or pods."""
    if "." not in name:
        return shorten(name, limit)
    return _hashed(name.replace(".", "-"), name, limit)


def job_label(job_name: str) -> str:
    """The value of the job label on its workers (TrainingJob names may be longer than a
    label value; dots are allowed in label values, so a dotted name keeps them)."""
    return shorten(job_name)


def service_name(job_name: str) -> str:
    """The rendezvous Service's name: a DNS-1035 label (a letter first, no dots), as Services
    need."""
    return dns_label(job_name if job_name[0].isalpha() else f"tj-{job_name}")


def worker_name(job_name: str, index: int) -> str:
    """`<job>-worker-<index>`, a DNS label short enough to be the pod's hostname; deterministic,
    so creating it twice is harmless."""
    return f"{dns_label(job_name, LABEL_LIMIT - _WORKER_SUFFIX)}-worker-{index}"
