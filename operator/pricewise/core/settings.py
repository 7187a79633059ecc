"""The solver's settings: its limits, and how it searches."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pricewise.core.lookahead import LookAhead

MIN_SHARE = 0.2
"""Share of the time limit a solve always has, however long its snapshot took: enough to cost
the jobs and explain the greedy plan."""


@dataclass(frozen=True)
class SolverSettings:
    """Limits of one solve. One search worker and a fixed seed keep results reproducible."""

    time_limit_s: float = 10.0
    num_workers: int = 1
    random_seed: int = 0
    max_rounds: int = 5
    relative_gap: float = 0.005
    """Stop once the cost is proved within this fraction of the optimum."""
    relaxed_gap: float = 0.01
    """The same beside a relaxation (models larger than `whole_model_up_to`), against the
    relaxation's bound: CP-SAT proves little of its own on such models within a cycle, while
    its first plans are often already this close (1,000 jobs over 20 pools: 0.52 % after the
    admission phase, where pricing on to 0.44 % took 1.5 s more)."""
    look_ahead: LookAhead = field(default_factory=LookAhead)
    max_jobs: int = 1_000
    """Pending jobs one cycle plans, highest priority, then earliest deadline, then oldest
    first; the others wait their turn (`Queued`) without being costed, which bounds the cycle
    however many are pending (Kueue's scheduler likewise looks at the heads of its queues)."""
    whole_model_up_to: int = 3_000
    """Models with at most this many choices go to CP-SAT whole, which proves them optimal;
    larger ones are solved relaxed first and the choices taken whole are fixed (see
    `relaxation`): CP-SAT alone takes seconds there."""
    job_classes: bool = True
    """Solve jobs that the model cannot tell apart as counts (see `classes`); False solves
    every job on its own, the same plans more slowly (benchmarks compare the two)."""
    deterministic: bool = False
    """Limits count CP-SAT's deterministic time only (see `cpsat.WorkClock`), not seconds:
    the same plans on any machine under any load (with one worker: several race), for the
    simulator and benchmarks. What runs outside CP-SAT is not counted, so the look-ahead is
    never skipped and a relaxation leaves CP-SAT its whole share: a replay's time is not
    bounded by the limit. The operator keeps the default, so that its cycles are bounded in
    seconds."""

    def after(self, spent_s: float) -> SolverSettings:
        """These settings for a solve after `spent_s` seconds of its cycle's own time limit
        (building its snapshot), down to `MIN_SHARE` of it."""
        if self.deterministic:  # its limits are CP-SAT's work, not seconds
            return self
        left = max(self.time_limit_s - spent_s, MIN_SHARE * self.time_limit_s)
        return replace(self, time_limit_s=left)
