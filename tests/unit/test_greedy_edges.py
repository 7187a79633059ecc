"""Greedy placement's ledger and exclusions at their edges: a quota or a budget met exactly, a
figure of CPU or memory in a message, a pool drained while a quota is too small, and the
room of a pool that lost a node."""

from __future__ import annotations

from factory import NOW, gpu_nodes, job, option, pool

from pricewise.core.costmodel import Candidate, Stage, candidate_for
from pricewise.core.greedy import Ledger, within_budgets, within_quotas
from pricewise.core.snapshot import GPU, BudgetView, Quota
from pricewise.core.units import to_micros

L4 = option("nvidia-l4", 1000.0)
"""One worker of 8 GPUs, 8 CPUs and 64 GiB for an hour: 16.00 USD on `POOL`."""
POOL = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 2))


def _cand(name: str = "j", per_device_hour: float = 2.0) -> Candidate:
    j = job(name, L4)
    return candidate_for(j, L4, pool("l4", "nvidia-l4", per_device_hour, POOL.nodes), NOW, "USD")


def _ledger(quota: Quota | None = None, budget: BudgetView | None = None) -> Ledger:
    quotas = [quota] if quota else []
    return Ledger(
        nodes={"l4": POOL.nodes},
        quotas={(q.namespace, q.name): dict(q.remaining) for q in quotas},
        budgets={(budget.namespace, budget.name): budget.remaining} if budget else {},
        quota_of={(q.namespace, q.name): q for q in quotas},
    )


def test_a_quota_too_small_for_good_names_cpu_and_memory_as_a_spec_writes_them() -> None:
    # CPU read in millicores ("needs 8000 cpu ... spec.hard: 4000"), memory in MiB.
    cpu = Quota("team-a", "cpu", {"cpu": 4000}, hard={"cpu": 4000})
    memory = Quota("team-a", "mem", {"memory": 32 * 1024}, hard={"memory": 32 * 1024})
    (out,) = within_quotas([_cand()], [cpu, memory])
    assert out.stage is Stage.QUOTA
    assert out.note == (
        "needs 8 cpu, more than quota team-a/cpu allows in all (spec.hard: 4) and needs 64Gi "
        "memory, more than quota team-a/mem allows in all (spec.hard: 32Gi)"
    )


def test_a_job_waiting_for_drained_nodes_is_told_when_its_quota_could_never_hold_it() -> None:
    # It waited for its nodes (NodesUnavailable) though, back, the quota refuses it for good.
    down = _cand().restaged(Stage.NODES_DOWN, "all 2 node(s) of the pool are cordoned")
    gpus = Quota("team-a", "gpus", {GPU: 4}, hard={GPU: 4})
    (out,) = within_quotas([down], [gpus])
    assert (out.stage, out.note) == (
        Stage.QUOTA,
        "needs 8 nvidia.com/gpu, more than quota team-a/gpus allows in all (spec.hard: 4)",
    )


def test_a_candidate_a_budget_can_never_take_goes_after_the_ones_it_can() -> None:
    # The first candidate, dearer than the budget's whole limit, stayed first: the feasible
    # one a planner takes first came after a refused one.
    dear, cheap = _cand(per_device_hour=3.0), _cand(per_device_hour=2.0)
    budget = BudgetView("team-a", "b", limit=to_micros(20.0), spent=0, committed=0, hard=True)
    out = within_budgets([dear, cheap], [budget])
    assert [(c.cost, c.stage) for c in out] == [
        (to_micros(16.0), Stage.FEASIBLE),
        (to_micros(24.0), Stage.BUDGET),
    ]
    assert out[1].note == (
        "costs 24.00 USD, more than budget team-a/b allows in a month (spec.limit: 20.00 USD)"
    )


def test_a_quota_with_exactly_the_room_admits_and_one_short_names_the_figures() -> None:
    # Exactly 8 GPUs left took no job of 8; CPU over the quota read in millicores.
    exact = Quota("team-a", "q", {GPU: 8, "cpu": 8000})
    assert _ledger(exact).quota_blocker(_cand()) is None
    assert _ledger(exact).admits(_cand()) == ("l4-0",)
    short = Quota("team-a", "q", {GPU: 7})
    assert _ledger(short).quota_blocker(_cand()) == (
        "quota team-a/q: 7 nvidia.com/gpu left, l4 x1 needs 8"
    )
    lowered = Quota("team-a", "q", {"cpu": -2000})
    assert _ledger(lowered).quota_blocker(_cand()) == (
        "quota team-a/q: 0 cpu left (2 over it), l4 x1 needs 8"
    )


def test_a_hard_budget_with_exactly_the_cost_left_admits_and_a_micro_unit_less_does_not() -> None:
    cost = to_micros(16.0)
    exact = BudgetView("team-a", "b", limit=cost, spent=0, committed=0, hard=True)
    assert _ledger(budget=exact).budget_blocker(_cand()) is None
    short = BudgetView("team-a", "b", limit=cost - 1, spent=0, committed=0, hard=True)
    assert _ledger(budget=short).budget_blocker(_cand()) == ("b", cost - 1)
    assert _ledger(budget=short).budget_blocker(_cand(), given_back=1) is None


def test_what_a_plan_gives_others_of_a_hard_budget_is_counted_from_nothing() -> None:
    # A job held back by the budget is told how much the plan gave to others: a micro-unit
    # too many read as money that was never spent.
    budget = BudgetView("team-a", "b", limit=to_micros(100.0), spent=0, committed=0, hard=True)
    ledger = _ledger(budget=budget)
    ledger.hold(_cand("a"))
    ledger.take(_cand("c"), ("l4-0",))
    assert ledger.planned_spend == {("team-a", "b"): to_micros(32.0)}
    assert ledger.budgets == {("team-a", "b"): to_micros(68.0)}


def test_a_pool_that_lost_a_node_has_room_for_what_its_nodes_left_hold() -> None:
    # The room cached for the pool's two nodes was kept, or the update raised on the change
    # in their number.
    ledger = _ledger()
    worker = L4.worker
    assert ledger.room("l4", worker) == 2
    ledger.set_free("l4", POOL.nodes[:1])
    assert ledger.room("l4", worker) == 1
    assert ledger.fits(_cand()) and ledger.fit(_cand()) == ("l4-0",)
