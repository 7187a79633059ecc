"""Job classes: pending jobs the placement model cannot tell apart, solved as counts.

A platform's pending jobs are mostly copies: a sweep of one script, a team's nightly runs, the
few shapes of a benchmark's thousands of workloads. Two jobs are in one class when every choice
the model has for them is the same choice: same namespace (quotas and budgets count per
namespace), counted by the same scoped quotas (whose scopes match some jobs of a namespace only),
same priority, no promised start (a promise is one job's own), waits that count
alike (not at all for a job with a deadline), and the same options, pools, widths, starts,
costs, demands and run times. A class's choice is then one integer (how
many of its jobs take it) instead of a 0/1 choice per job: the model is as large as one job's
choices per class, and CP-SAT no longer searches through plans that differ only in which of two
identical jobs runs. Which member takes which choice is decided afterwards, in the order a cycle
serves jobs (earliest deadline, then oldest, then by name): the first members get the earliest
starts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pricewise.core.costmodel import Candidate
from pricewise.core.lookahead import duration_units, waits_count
from pricewise.core.snapshot import Job
from pricewise.core.times import FAR_FUTURE

ChoiceKey = tuple[str, int, str, int]
"""(job `namespace/name`, index of the option in the job's spec, pool, start in seconds from
now, 0 for now): one choice of one job. In the model, the job is a class's first member and the
choice counts how many of the class's jobs take it."""


def serving_order(job: Job) -> tuple[datetime, datetime, str]:
    """How members of a class are served: earliest deadline, then oldest, then by name."""
    return (job.deadline or FAR_FUTURE, job.created or FAR_FUTURE, job.key)


def _signature(
    job: Job,
    choices: Sequence[tuple[Candidate, int]],
    seen: dict[int, Hashable] | None = None,
    apart: Hashable = 0,
) -> Hashable:
    """What the model sees of a job: jobs with equal signatures are interchangeable. `seen`
    keeps what was read of each candidate (by identity: its later starts share it); `apart`
    sets apart jobs the model weighs or counts otherwise (an overdue job's hours, the scoped
    quotas that count it)."""
    if job.promised_start is not None:
        return job.key
    known = {} if seen is None else seen
    parts = []
    for c, start in choices:
        part = known.get(id(c))
        if part is None:
            # The worker's fields, not the worker: a tuple of ints hashes without a call to
            # `Resources.__hash__`, and compares the same.
            w = c.worker
            part = known[id(c)] = (
                c.option.index,
                c.pool.name,
                c.cost,
                (w.cpu, w.memory, w.gpu, w.tpu),
                c.workers,
                duration_units(c),
            )
        parts.append((part, start))
    return (job.namespace, job.priority, apart, waits_count(job), tuple(parts))


@dataclass(frozen=True)
class JobClasses:
    """The classes of one model: each named by its first member's key."""

    members: dict[str, tuple[str, ...]]
    """Class name to its jobs' keys, in serving order."""
    of: dict[str, str]
    """Job key to its class's name."""

    @classmethod
    def of_choices(
        cls,
        choices: Mapping[str, Sequence[tuple[Candidate, int]]],
        together: bool = True,
        apart: Callable[[Job], Hashable] = lambda job: 0,
    ) -> JobClasses:
        """The classes of jobs given every choice of each (candidate, start); with
        `together=False` every job is a class of its own. Jobs `apart` tells apart (a weight
        of their own) are never in one class."""
        jobs = sorted((opts[0][0].job for opts in choices.values()), key=serving_order)
        grouped: dict[Hashable, list[str]] = defaultdict(list)
        seen: dict[int, Hashable] = {}
        for job in jobs:
            key = job.key
            signature = _signature(job, choices[key], seen, apart(job)) if together else key
            grouped[signature].append(key)
        members = {keys[0]: tuple(keys) for keys in grouped.values()}
        return cls(members, {job: name for name, keys in members.items() for job in keys})

    def class_key(self, key: ChoiceKey) -> ChoiceKey:
        """A job's choice as its class's choice."""
        return (self.of[key[0]], *key[1:])

    def assign(self, taken: Mapping[ChoiceKey, int]) -> list[ChoiceKey]:
        """The jobs' choices for a count of each class choice: members in serving order take
        the earliest starts."""
        by_class: dict[str, list[ChoiceKey]] = defaultdict(list)
        for key in sorted(taken, key=lambda k: (k[3], k)):
            by_class[key[0]].extend([key] * taken[key])
        out = []
        for name, keys in by_class.items():
            for job, key in zip(self.members[name], keys, strict=False):
                out.append((job, *key[1:]))
        return sorted(out)
