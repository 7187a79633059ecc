"""Gavel's job traces and measured throughputs, read into plain data for the simulator.

Gavel (Narayanan et al., OSDI 2020, github.com/stanford-futuredata/gavel, MIT licence) ships
the throughputs it measured for 26 model configurations on K80, P100 and V100 GPUs, and job
traces it derived from Microsoft's Philly cluster. A copy of the parts the benchmarks use is in
`benchmarks/data/gavel/`, with its licence and a note of where each file comes from.
"""

from __future__ import annotations

import ast
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pricewise.api.files import read_text
from pricewise.api.manifests import TYPE_NAMES

GAVEL_ACCELERATORS = {
    "k80": "nvidia-tesla-k80",
    "p100": "nvidia-tesla-p100",
    "v100": "nvidia-tesla-v100",
}
"""Gavel's worker types and the accelerator names pools use for them (GKE's label values)."""

Throughputs = Mapping[tuple[str, int], Mapping[str, float]]
"""(job type, scale factor) to steps per second of the whole job, by accelerator."""


class TraceError(ValueError):
    """A trace or throughput file that cannot be read, with the file and line."""


@dataclass(frozen=True)
class TraceJob:
    """One job of a trace: what it runs, how much, when it arrives, how many GPUs."""

    index: int
    """Line number in the trace (1-based): a stable name for the job."""
    job_type: str
    steps: int
    arrival_s: float
    scale_factor: int
    """GPUs the job uses; Gavel's throughput for this scale factor is for all of them."""


def load_throughputs(path: str | Path) -> dict[tuple[str, int], dict[str, float]]:
    """Isolated throughputs (steps/s) of Gavel's `simulation_throughputs.json`.

    Reads either Gavel's file as published (values are dicts whose `"null"` key is the job
    alone on the GPUs) or the reduced copy in `benchmarks/data/gavel/` (values are the numbers
    themselves). Unconsolidated worker types and zero throughputs (the configuration did not
    run) are left out, so every entry is a way the job can really run.
    """
    try:
        raw = json.loads(read_text(path, TraceError))
    except json.JSONDecodeError as err:
        raise TraceError(f"{path}: cannot read throughputs: {err}") from None
    if not isinstance(raw, dict):
        raise TraceError(f"{path}: throughputs must be a map of worker types, not {_kind(raw)}")
    out: dict[tuple[str, int], dict[str, float]] = {}
    for worker_type, table in raw.items():
        accelerator = GAVEL_ACCELERATORS.get(worker_type)
        if accelerator is None:
            continue
        if not isinstance(table, dict):
            raise TraceError(
                f"{path}: {worker_type}: must be a map of jobs to throughputs, not {_kind(table)}"
            )
        for key, value in table.items():
            job_type, scale_factor = _job_key(str(path), key)
            alone = value.get("null") if isinstance(value, dict) else value
            if isinstance(alone, int | float) and alone > 0:
                out.setdefault((job_type, scale_factor), {})[accelerator] = float(alone)
    return out


def _kind(value: object) -> str:
    """`a list`: what a value in a file is, for a message."""
    return TYPE_NAMES.get(type(value), type(value).__name__)


def _job_key(where: str, key: str) -> tuple[str, int]:
    # Gavel writes its keys as Python tuple literals: "('ResNet-50 (batch size 64)', 4)".
    try:
        parsed = ast.literal_eval(key)
    except (ValueError, SyntaxError):
        parsed = None
    if (
        not isinstance(parsed, tuple)
        or len(parsed) != 2
        or not isinstance(parsed[0], str)
        or not isinstance(parsed[1], int)
    ):
        raise TraceError(f"{where}: key {key!r} is not ('<job type>', <scale factor>)")
    return parsed[0], parsed[1]


def load_trace(path: str | Path) -> list[TraceJob]:
    """The jobs of a Gavel trace, in the file's order.

    Two layouts are read: the Philly-derived traces (7 tab-separated fields: job type, command,
    step argument, needs data dir, total steps, arrival time, scale factor) and the physical
    cluster traces (10 fields: job type, command, working dir, step argument, needs data dir,
    total steps, scale factor, priority weight, SLO, arrival time).
    """
    lines = read_text(path, TraceError).splitlines()
    jobs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        # Where each figure is: (total steps, arrival time, scale factor) by field number.
        at = {7: (4, 5, 6), 10: (5, 9, 6)}.get(len(fields))
        if at is None:
            raise TraceError(
                f"{path}:{number}: {len(fields)} tab-separated fields; a Gavel trace line "
                "has 7 (Philly-derived) or 10 (physical cluster)"
            )
        figures = []
        for field, what, kind in zip(at, ("total steps", "arrival time", "scale factor"),
                                     (int, float, int), strict=True):  # fmt: skip
            try:
                figures.append(kind(fields[field]))
            except ValueError:
                said = f"{fields[field]!r} is not a number" if fields[field] else "is empty"
                raise TraceError(
                    f"{path}:{number}: field {field + 1} ({what}) {said}: is the file cut short?"
                ) from None
        steps, arrival, scale = int(figures[0]), figures[1], int(figures[2])
        if steps <= 0 or scale <= 0 or arrival < 0:
            raise TraceError(f"{path}:{number}: steps and scale factor must be positive")
        jobs.append(TraceJob(number, fields[0], steps, arrival, scale))
    return jobs


def throughputs_of(job: TraceJob, table: Throughputs) -> Mapping[str, float]:
    """The job's measured throughputs by accelerator; empty when Gavel measured none."""
    return table.get((job.job_type, job.scale_factor), {})


def fastest_runtime_s(job: TraceJob, table: Throughputs) -> float | None:
    """Seconds the job takes alone on its fastest accelerator, or None if it cannot run."""
    speeds = throughputs_of(job, table)
    return job.steps / max(speeds.values()) if speeds else None


def deadline_factors(count: int, low: float, high: float, seed: int) -> list[float]:
    """`count` slack factors drawn uniformly from [low, high] with a fixed seed.

    A job's deadline is its arrival plus its factor times its fastest runtime: the traces carry
    no deadlines, so this rule stands in for them (documented in benchmarks/README.md).
    """
    if not 1.0 <= low <= high:
        raise ValueError(f"deadline factors must satisfy 1 <= low <= high (got {low}, {high})")
    rng = random.Random(seed)
    return [rng.uniform(low, high) for _ in range(count)]


def window(jobs: Sequence[TraceJob], skip: int, count: int | None, scale: float) -> list[TraceJob]:
    """`count` jobs after the first `skip` (arrival order), arrivals shifted to start at 0 and
    their gaps multiplied by `scale` (below 1 packs the same jobs into less time)."""
    if scale <= 0:
        raise ValueError(f"arrival scale must be positive (got {scale})")
    ordered = sorted(jobs, key=lambda j: (j.arrival_s, j.index))
    chosen = ordered[skip : None if count is None else skip + count]
    if not chosen:
        return []
    start = chosen[0].arrival_s
    return [
        TraceJob(j.index, j.job_type, j.steps, (j.arrival_s - start) * scale, j.scale_factor)
        for j in chosen
    ]
