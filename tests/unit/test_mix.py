"""`pricewise plan mix`: the article's resource-mix linear program.

Figures for the shipped examples are checked exactly; random small instances are checked
against brute force (every integer point, every vertex of the continuous polytope) in rational
arithmetic, so that neither the solver nor the greedy bounds are tested against themselves.
"""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ortools.linear_solver import pywraplp

from pricewise.cli import main
from pricewise.offline.mix import MixInputError, MixProblem, MixResult, solve_mix
from pricewise.offline.mixio import load_mix, parse_mix, render, run_mix

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "mix"
COMPUTE = [
    {"name": "cpu", "unitCost": 200, "performance": 1},
    {"name": "gpu", "unitCost": 1000, "performance": 2},
    {"name": "tpu", "unitCost": 5000, "performance": 5},
]


def problem(
    resources: list[dict[str, Any]],
    required: float,
    limit: float,
    integer: bool = False,
) -> MixProblem:
    return MixProblem.model_validate(
        {
            "resources": resources,
            "requiredPerformance": required,
            "resourceLimit": limit,
            "integer": integer,
        }
    )


def run_json(path: Path) -> tuple[dict[str, Any], int]:
    text, code = run_mix(str(path), "json")
    return json.loads(text, parse_constant=_not_json), code


def _not_json(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON: jq and other strict readers refuse it")


# ----------------------------------------------------------------------- the shipped examples


def test_compute_example_is_infeasible_with_the_articles_figures() -> None:
    out, code = run_json(EXAMPLES / "compute.yaml")
    assert code == 1
    assert out == {
        "feasible": False,
        "currency": "USD",
        "reason": "required performance 1000 cannot be reached within the resource limit 100: "
        "the best reachable is 500 (100 x tpu at 5 each); raise resourceLimit to at least 200 "
        "or lower requiredPerformance to 500",
        "maxPerformance": 500,
        "minResourceLimit": 200,
        # The table's best mix, which JSON left out.
        "bestMix": {
            "allocation": {"cpu": 0, "gpu": 0, "tpu": 100},
            "totalCost": 500000,
            "performance": 500,
            "resourcesUsed": 100,
        },
    }


def test_data_sources_example_is_infeasible_and_the_licence_cap_binds() -> None:
    out, code = run_json(EXAMPLES / "data-sources.yaml")
    assert code == 1
    assert out["feasible"] is False
    assert out["maxPerformance"] == 400
    assert out["minResourceLimit"] == 200
    assert (
        "the best reachable is 400 (50 x licensed-dataset at 4 each + 100 x synthetic-data"
        in (out["reason"])
    )
    assert (
        "raise resourceLimit to at least 200 or lower requiredPerformance to 400" in (out["reason"])
    )


def test_algorithms_example_is_infeasible_in_whole_runs() -> None:
    out, code = run_json(EXAMPLES / "algorithms.yaml")
    assert code == 1
    assert out["maxPerformance"] == 140
    assert out["minResourceLimit"] == 43  # 150 / 3.5 = 42.86 runs, rounded up to whole runs
    assert "40 x train-from-scratch at 3.5 each" in out["reason"]


def test_algorithms_example_continuous_needs_a_fractional_limit() -> None:
    relaxed = load_mix(EXAMPLES / "algorithms.yaml").model_copy(update={"integer": False})
    result = solve_mix(relaxed)
    assert result.max_performance == 140
    assert result.to_dict()["minResourceLimit"] == 42.857143


def test_compute_feasible_example_has_the_hand_computed_optimum() -> None:
    # Both constraints tight with gpu and tpu basic: 2g + 5t = 1000, g + t = 250.
    out, code = run_json(EXAMPLES / "compute-feasible.yaml")
    assert code == 0
    assert out == {
        "feasible": True,
        "currency": "USD",
        "allocation": {"cpu": 0, "gpu": 83.333333, "tpu": 166.666667},
        "totalCost": 916666.666667,
        "performance": 1000,
        "resourcesUsed": 250,
    }


def test_examples_as_printed_are_all_infeasible_and_each_says_why_in_its_header() -> None:
    for name in ("compute.yaml", "data-sources.yaml", "algorithms.yaml"):
        path = EXAMPLES / name
        assert path.read_text().startswith("#")
        assert "Infeasible as printed" in path.read_text()
        assert run_mix(str(path), "json")[1] == 1


# --------------------------------------------------------------------- feasible, by hand


def test_integer_optimum_differs_from_the_continuous_one() -> None:
    continuous = solve_mix(problem(COMPUTE, 1000, 250))
    integer = solve_mix(problem(COMPUTE, 1000, 250, integer=True))
    assert continuous.total_cost == pytest.approx(2_750_000 / 3)
    # t = 167, g = 82 leaves one unit and one point short: a cpu covers both, cheaper than
    # t = 167, g = 83 (918,000) or t = 168, g = 78, cpu = 4 (918,800).
    assert integer.allocation == {"cpu": 1, "gpu": 82, "tpu": 167}
    assert integer.total_cost == 917_200
    assert integer.total_cost > continuous.total_cost


def test_cheapest_resource_alone_when_the_limit_is_loose() -> None:
    result = solve_mix(problem(COMPUTE, 1000, 1000))
    assert result.allocation == {"cpu": 1000, "gpu": 0, "tpu": 0}
    assert result.total_cost == 200_000
    assert result.performance == 1000


def test_limit_exactly_at_the_minimum_is_feasible() -> None:
    for integer in (False, True):
        result = solve_mix(problem(COMPUTE, 1000, 200, integer=integer))
        assert result.feasible
        assert result.allocation["tpu"] == pytest.approx(200)
        assert result.total_cost == pytest.approx(1_000_000)


def test_zero_requirement_costs_nothing() -> None:
    result = solve_mix(problem(COMPUTE, 0, 0))
    assert result.to_dict() == {
        "feasible": True,
        "currency": "USD",
        "allocation": {"cpu": 0, "gpu": 0, "tpu": 0},
        "totalCost": 0,
        "performance": 0,
        "resourcesUsed": 0,
    }


def test_decimal_costs_are_exact_in_integer_mode() -> None:
    resources = [
        {"name": "a", "unitCost": 0.1, "performance": 0.3},
        {"name": "b", "unitCost": 0.25, "performance": 0.7},
    ]
    result = solve_mix(problem(resources, 2.1, 10, integer=True))
    assert result.feasible
    assert brute_force_integer(problem(resources, 2.1, 10, integer=True)) == pytest.approx(
        result.total_cost
    )


def test_per_resource_max_is_honoured() -> None:
    capped = [*COMPUTE[:2], {**COMPUTE[2], "max": 100}]
    result = solve_mix(problem(capped, 1000, 400))
    assert result.feasible
    assert result.allocation["tpu"] <= 100
    assert result.performance >= 1000 - 1e-6


# ------------------------------------------------------------------------ infeasible corners


def test_no_resource_performs() -> None:
    result = solve_mix(problem([{"name": "idle", "unitCost": 1, "performance": 0}], 10, 100))
    out = result.to_dict()
    assert out["feasible"] is False
    assert out["maxPerformance"] == 0
    assert out["minResourceLimit"] is None
    assert "no resource has a positive performance" in out["reason"]


def test_maxima_too_low_for_any_limit() -> None:
    capped = [{**r, "max": 10} for r in COMPUTE]
    out = solve_mix(problem(capped, 1000, 20)).to_dict()
    assert out["maxPerformance"] == 70  # 10 tpu + 10 gpu
    assert out["minResourceLimit"] is None
    assert "even without a resource limit the per-resource maxima cap it at 80" in out["reason"]
    # Raised maxima alone are not enough: the limit binds too (1000 / 5 units of tpu).
    assert out["reason"].endswith(
        "raise the max of tpu, gpu or cpu, and resourceLimit to at least 200 (what tpu alone "
        "would need), or lower requiredPerformance to 70"
    )
    # Where the limit leaves room, only the maxima bind: the limit is not blamed.
    out = solve_mix(problem(capped, 1000, 1000)).to_dict()
    assert out["reason"] == (
        "required performance 1000 cannot be reached: the per-resource maxima cap it at 80 (10 x "
        "tpu at 5 each + 10 x gpu at 2 each + 10 x cpu at 1 each) whatever the resource limit; "
        "raise the max of tpu, gpu or cpu, or lower requiredPerformance to 80"
    )


def test_zero_limit() -> None:
    out = solve_mix(problem(COMPUTE, 5, 0)).to_dict()
    assert out["maxPerformance"] == 0
    assert out["minResourceLimit"] == 1
    assert "the best reachable is 0 (no units)" in out["reason"]


def test_fractional_limit_in_integer_mode_counts_whole_units() -> None:
    out = solve_mix(problem(COMPUTE, 20, 3.5, integer=True)).to_dict()
    assert out["maxPerformance"] == 15
    assert out["minResourceLimit"] == 4
    assert "within the resource limit 3.5 (3 whole units)" in out["reason"]


# -------------------------------------------------------------------------------- output


def test_table_output_feasible() -> None:
    text, code = run_mix(str(EXAMPLES / "compute-feasible.yaml"), "table")
    assert code == 0
    lines = text.splitlines()
    # Money as the rest of the CLI prints it: it was 916666.666667, with no currency.
    assert lines[0].startswith("feasible (continuous): total cost 916,666.67 USD for ")
    header = ["RESOURCE", "UNITS", "UNIT", "COST", "COST", "PERF/UNIT", "PERFORMANCE"]
    assert lines[2].split() == header
    gpu = ["gpu", "83.333333", "1,000.00", "USD", "83,333.33", "USD", "2", "166.666667"]
    assert lines[4].split() == gpu
    assert lines[-1].split() == ["total", "250", "916,666.67", "USD", "1000"]


def test_table_output_infeasible() -> None:
    text, code = run_mix(str(EXAMPLES / "compute.yaml"), "table")
    assert code == 1
    assert text.startswith("INFEASIBLE (continuous): required performance 1000")
    assert "max performance within the limit: 500" in text
    assert "min resource limit for the required performance: 200" in text
    assert text.splitlines()[-1].split() == ["total", "100", "500,000.00", "USD", "500"]


def test_the_currency_of_the_costs_is_the_files(tmp_path: Path) -> None:
    path = tmp_path / "eur.yaml"
    path.write_text((EXAMPLES / "compute.yaml").read_text() + "currency: EUR\n")
    text, code = run_mix(str(path), "table")
    assert code == 1
    assert text.splitlines()[-1].split() == ["total", "100", "500,000.00", "EUR", "500"]
    assert run_json(path)[0]["currency"] == "EUR"


def test_yaml_output_matches_json() -> None:
    for name in ("compute.yaml", "compute-feasible.yaml"):
        as_yaml, code_yaml = run_mix(str(EXAMPLES / name), "yaml")
        as_json, code_json = run_mix(str(EXAMPLES / name), "json")
        assert code_yaml == code_json
        assert yaml.safe_load(as_yaml) == json.loads(as_json)


def test_plan_mix_has_a_help_and_usage_of_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    # `plan mix --help` printed plan's help: its FILE... and options mix does not read.
    with pytest.raises(SystemExit) as stopped:
        main(["plan", "mix", "--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: pricewise plan mix [-h] [-o {table,json,yaml}] FILE\n")
    with pytest.raises(SystemExit) as stopped:
        main(["plan", "mix"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "pricewise plan mix: error: the following arguments are required: FILE" in err
    # Options before `mix` still reach it.
    assert main(["plan", "-o", "json", "mix", str(EXAMPLES / "compute.yaml")]) == 1
    assert json.loads(capsys.readouterr().out)["feasible"] is False
    # ... and those it has no use for are refused, not dropped.
    assert (
        main(["plan", "-v", "--now", "2026-12-01T08:00:00Z", "mix", str(EXAMPLES / "compute.yaml")])
        == 2
    )
    assert capsys.readouterr().err == "error: plan mix takes -o only, not --verbose, --now\n"


def test_unknown_output_format() -> None:
    text, code = run_mix(str(EXAMPLES / "compute.yaml"), "xml")
    assert code == 2
    assert "xml" in text


def test_same_input_same_answer() -> None:
    p = problem(COMPUTE, 1000, 250, integer=True)
    assert solve_mix(p) == solve_mix(p)


# --------------------------------------------------------------------------- invalid input


def valid(**fields: object) -> dict[str, object]:
    """A mix file's fields, valid unless `fields` change them."""
    return {"resources": COMPUTE, "requiredPerformance": 1, "resourceLimit": 1, **fields}


INVALID = [
    pytest.param(
        valid(resources=[*COMPUTE[:1], {**COMPUTE[1], "unitCost": -3}]),
        'resources[name="gpu"].unitCost: must be >= 0 (got -3)',
        id="negative-cost",
    ),
    pytest.param(
        {"resources": COMPUTE, "resourceLimit": 1},
        "requiredPerformance: required; add it: The performance the mix must reach, a number >= 0",
        id="missing-field",
    ),
    pytest.param(
        valid(resources=[*COMPUTE, COMPUTE[0]]),
        "resources: name 'cpu' is given twice (resources[0] and resources[3]); "
        "give each resource a unique name",
        id="duplicate-name",
    ),
    pytest.param(
        valid(budget=5),
        "budget: unknown field; remove it or use one of",
        id="unknown-field",
    ),
    pytest.param(
        valid(resources=[{**COMPUTE[0], "cost": 1}]),
        'resources[name="cpu"].cost: unknown field; remove it or use one of name, unitCost',
        id="unknown-resource-field",
    ),
    pytest.param(
        valid(requiredPerformance="1000"),
        "requiredPerformance: must be a number (got '1000')",
        id="string-number",
    ),
    pytest.param(
        valid(resources=[{**COMPUTE[0], "name": ""}]),
        "resources[0].name: must not be empty: A unique name for the resource",
        id="empty-name",
    ),
    pytest.param(
        valid(resources=[]),
        "resources: must have at least one entry: The resource kinds to choose from",
        id="no-resources",
    ),
    pytest.param(
        valid(resourceLimit=-1), "resourceLimit: must be >= 0 (got -1)", id="negative-limit"
    ),
    pytest.param(
        valid(resources=[{**COMPUTE[0], "max": -2}]),
        'resources[name="cpu"].max: must be >= 0 (got -2)',
        id="negative-max",
    ),
    pytest.param(
        valid(currency="usd"),
        "currency: 'usd' is not valid: use an ISO 4217 code in capitals, e.g. USD",
        id="currency",
    ),
    pytest.param(
        valid(resources=[{**COMPUTE[0], "unitcost": 1}]),
        'resources[name="cpu"].unitcost: unknown field; did you mean unitCost?',
        id="misspelt-field",
    ),
    pytest.param(
        valid(resources=[{**COMPUTE[0], "name": " cpu"}]),
        "' cpu' is not valid: A unique name for the resource, without spaces at either end",
        id="spaced-name",
    ),
    pytest.param(
        valid(resources=5),
        "resources: must be a list (got 5): The resource kinds to choose from, each {name, "
        "unitCost, performance}",
        id="resources-not-a-list",
    ),
    pytest.param(
        valid(resources=[5]),
        "resources[0]: must be a mapping with name, unitCost, performance, max (got 5)",
        id="resource-not-a-mapping",
    ),
    pytest.param(
        valid(currency=5),
        "currency: must be a string (got 5): The ISO 4217 code of every unitCost, e.g. USD",
        id="currency-not-a-string",
    ),
    pytest.param([1, 2], "expected a mapping", id="not-a-mapping"),
]


@pytest.mark.parametrize(("data", "message"), INVALID)
def test_invalid_input_exits_2_naming_the_field(data: object, message: str, tmp_path: Path) -> None:
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(data))
    text, code = run_mix(str(path), "json")
    assert code == 2
    assert f"{path}: " in text
    assert message in text
    with pytest.raises(MixInputError, match=r"\S"):
        load_mix(path)


def test_unreadable_and_malformed_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, code = run_mix(str(tmp_path / "missing.yaml"), "table")
    assert code == 2
    assert "cannot read" in text
    # As every other command says an error: `plan mix` alone printed it bare.
    assert main(["plan", "mix", str(tmp_path / "missing.yaml")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'missing.yaml'}: cannot read")
    broken = tmp_path / "broken.yaml"
    broken.write_text("resources: [\n")
    text, code = run_mix(str(broken), "table")
    assert code == 2
    assert "not valid YAML" in text


def test_input_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="resourceLimit: required; add it: The most units"):
        parse_mix({"resources": COMPUTE, "requiredPerformance": 1})


def test_kubernetes_style_header_is_accepted_and_checked() -> None:
    base = {"resources": COMPUTE, "requiredPerformance": 1, "resourceLimit": 1}
    parse_mix({"apiVersion": "pricewise.dev/v1alpha1", "kind": "ResourceMix", **base})
    with pytest.raises(MixInputError, match="kind: must be 'ResourceMix'"):
        parse_mix({"kind": "TrainingJob", **base})


# ------------------------------------------------------------------- brute force references


def _exact(value: float) -> Fraction:
    return Fraction(repr(value))


def _bounds(p: MixProblem, cap_all: int) -> list[int]:
    """Per-resource integer upper bounds for enumeration."""
    out = []
    for r in p.resources:
        ub = cap_all if r.max_units is None else min(cap_all, math.floor(r.max_units))
        out.append(ub)
    return out


def brute_force_integer(p: MixProblem) -> float | None:
    """The integer optimum by enumerating every point; None when infeasible."""
    limit = math.floor(p.resource_limit)
    best: Fraction | None = None
    costs = [_exact(r.unit_cost) for r in p.resources]
    perfs = [_exact(r.performance) for r in p.resources]
    for x in itertools.product(*(range(u + 1) for u in _bounds(p, limit))):
        if sum(x) > limit:
            continue
        if sum(w * n for w, n in zip(perfs, x, strict=True)) < _exact(p.required_performance):
            continue
        cost = sum((c * n for c, n in zip(costs, x, strict=True)), Fraction(0))
        best = cost if best is None else min(best, cost)
    return None if best is None else float(best)


def brute_force_continuous(p: MixProblem) -> float | None:
    """The LP optimum by enumerating every basic solution in rational arithmetic.

    The polytope is bounded (sum x <= R, x >= 0), so the optimum is a vertex: every variable at
    0 or at its max, except at most two "basic" ones fixed by the two rows held tight.
    """
    n = len(p.resources)
    costs = [_exact(r.unit_cost) for r in p.resources]
    perfs = [_exact(r.performance) for r in p.resources]
    caps = [None if r.max_units is None else _exact(r.max_units) for r in p.resources]
    required, limit = _exact(p.required_performance), _exact(p.resource_limit)
    best: Fraction | None = None

    def consider(x: list[Fraction]) -> None:
        nonlocal best
        if any(v < 0 or (c is not None and v > c) for v, c in zip(x, caps, strict=True)):
            return
        if sum(x) > limit or sum(w * v for w, v in zip(perfs, x, strict=True)) < required:
            return
        cost = sum((c * v for c, v in zip(costs, x, strict=True)), Fraction(0))
        best = cost if best is None else min(best, cost)

    for basic_count in range(3):
        for basic in itertools.combinations(range(n), basic_count):
            others = [i for i in range(n) if i not in basic]
            choices = [[Fraction(0), *_finite(caps[i])] for i in others]
            for fixed in itertools.product(*choices):
                x = [Fraction(0)] * n
                for i, v in zip(others, fixed, strict=True):
                    x[i] = v
                perf_left = required - sum(perfs[i] * x[i] for i in others)
                units_left = limit - sum(x[i] for i in others)
                if basic_count == 0:
                    consider(x)
                elif basic_count == 1:
                    (j,) = basic
                    if perfs[j]:
                        consider([*x[:j], perf_left / perfs[j], *x[j + 1 :]])
                    consider([*x[:j], units_left, *x[j + 1 :]])
                else:
                    j, k = basic
                    det = perfs[j] - perfs[k]
                    if det:
                        xj = (perf_left - perfs[k] * units_left) / det
                        y = list(x)
                        y[j], y[k] = xj, units_left - xj
                        consider(y)
    return None if best is None else float(best)


def _finite(cap: Fraction | None) -> list[Fraction]:
    return [] if cap is None else [cap]


def glop_bound(p: MixProblem, maximise_performance: bool) -> float | None:
    """maxPerformance (maximise performance within R) or minResourceLimit (minimise units
    reaching P), solved as LPs by GLOP: an independent check of the exact greedy figures."""
    solver = pywraplp.Solver.CreateSolver("GLOP")
    inf = solver.infinity()
    xs = [
        solver.NumVar(0, inf if r.max_units is None else r.max_units, r.name) for r in p.resources
    ]
    perf = solver.Sum([r.performance * x for r, x in zip(p.resources, xs, strict=True)])
    if maximise_performance:
        solver.Add(solver.Sum(xs) <= p.resource_limit)
        solver.Maximize(perf)
    else:
        solver.Add(perf >= p.required_performance)
        solver.Minimize(solver.Sum(xs))
    status = solver.Solve()
    if status == pywraplp.Solver.INFEASIBLE:
        return None
    assert status == pywraplp.Solver.OPTIMAL
    return float(solver.Objective().Value())


def brute_force_integer_bounds(p: MixProblem, cap_all: int) -> tuple[Fraction, int | None]:
    """(max performance within R, fewest units reaching P if at most cap_all, else None)."""
    limit = math.floor(p.resource_limit)
    perfs = [_exact(r.performance) for r in p.resources]
    best_perf = Fraction(0)
    fewest: int | None = None
    for x in itertools.product(*(range(u + 1) for u in _bounds(p, cap_all))):
        perf = sum((w * n for w, n in zip(perfs, x, strict=True)), Fraction(0))
        if sum(x) <= limit:
            best_perf = max(best_perf, perf)
        if perf >= _exact(p.required_performance) and sum(x) <= cap_all:
            fewest = sum(x) if fewest is None else min(fewest, sum(x))
    return best_perf, fewest


# --------------------------------------------------------------------------- properties

HALVES = st.integers(0, 12).map(lambda n: n / 2)


@st.composite
def problems(draw: st.DrawFn) -> MixProblem:
    count = draw(st.integers(1, 3))
    resources = []
    for i in range(count):
        entry: dict[str, Any] = {
            "name": f"r{i}",
            "unitCost": draw(st.integers(0, 40).map(lambda n: n / 4)),
            "performance": draw(st.sampled_from([0, 0.5, 1, 1.5, 2, 3, 5])),
        }
        if draw(st.booleans()):
            entry["max"] = draw(HALVES)
        resources.append(entry)
    return problem(
        resources,
        required=draw(st.integers(0, 40).map(lambda n: n / 2)),
        limit=draw(st.integers(0, 16).map(lambda n: n / 2)),
    )


def assert_meets_constraints(p: MixProblem, result: MixResult) -> None:
    x = [result.allocation[r.name] for r in p.resources]
    tolerance = 1e-6
    assert sum(x) <= p.resource_limit + tolerance
    perf = sum(r.performance * v for r, v in zip(p.resources, x, strict=True))
    assert perf >= p.required_performance - tolerance
    assert result.performance == pytest.approx(perf)
    for r, v in zip(p.resources, x, strict=True):
        assert v >= -tolerance
        if r.max_units is not None:
            assert v <= r.max_units + tolerance
        if p.integer:
            assert v == int(v)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_continuous_and_integer_agree_with_brute_force(p: MixProblem) -> None:
    pi = p.model_copy(update={"integer": True})
    continuous, integer = solve_mix(p), solve_mix(pi)
    expected_continuous = brute_force_continuous(p)
    expected_integer = brute_force_integer(pi)

    assert continuous.feasible == (expected_continuous is not None)
    assert integer.feasible == (expected_integer is not None)
    if integer.feasible:
        assert continuous.feasible
    if continuous.feasible:
        assert_meets_constraints(p, continuous)
        assert continuous.total_cost == pytest.approx(expected_continuous, abs=1e-6)
    if integer.feasible:
        assert_meets_constraints(pi, integer)
        assert integer.total_cost == pytest.approx(expected_integer, abs=1e-9)
        assert continuous.total_cost <= integer.total_cost + 1e-6


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_infeasibility_figures_agree_with_lp_and_brute_force(p: MixProblem) -> None:
    # Continuous: the greedy figures equal what GLOP finds maximising / minimising directly.
    continuous = solve_mix(p)
    lp_max = glop_bound(p, maximise_performance=True)
    assert lp_max is not None
    lp_min = glop_bound(p, maximise_performance=False)
    if not continuous.feasible:
        assert continuous.max_performance is not None
        assert continuous.max_performance == pytest.approx(lp_max, abs=1e-6)
        assert continuous.max_performance < p.required_performance
        if lp_min is None:
            assert continuous.min_resource_limit is None
        else:
            assert continuous.min_resource_limit is not None
            assert continuous.min_resource_limit == pytest.approx(lp_min, abs=1e-6)
            assert continuous.min_resource_limit > p.resource_limit
            relaxed = p.model_copy(update={"resource_limit": continuous.min_resource_limit})
            assert solve_mix(relaxed).feasible

    # Integer: the same figures against every integer point up to a bound.
    pi = p.model_copy(update={"integer": True})
    integer = solve_mix(pi)
    cap_all = 12
    best_perf, fewest = brute_force_integer_bounds(pi, cap_all)
    if integer.feasible:
        return
    assert integer.max_performance == best_perf
    if integer.min_resource_limit is not None and integer.min_resource_limit <= cap_all:
        assert integer.min_resource_limit == fewest
    else:
        assert fewest is None
    if integer.min_resource_limit is not None:
        relaxed = pi.model_copy(update={"resource_limit": integer.min_resource_limit})
        assert solve_mix(relaxed).feasible
        tighter = pi.model_copy(update={"resource_limit": integer.min_resource_limit - 1})
        assert not solve_mix(tighter).feasible


def test_scip_fallback_when_data_does_not_scale_to_int64() -> None:
    # Thirds written out in 16 digits do not fit CP-SAT's int64 after exact scaling.
    resources = [
        {"name": "a", "unitCost": 1 / 3, "performance": 1 / 7},
        {"name": "b", "unitCost": 2 / 3, "performance": 3 / 7},
        {"name": "c", "unitCost": 0.5, "performance": 0.2},
    ]
    p = problem(resources, 2, 12, integer=True)
    result = solve_mix(p)
    assert result.feasible
    assert_meets_constraints(p, result)
    assert result.total_cost == pytest.approx(brute_force_integer(p))


def test_render_rejects_unknown_format() -> None:
    p = problem(COMPUTE, 1, 1)
    with pytest.raises(ValueError, match="unknown output format"):
        render(p, solve_mix(p), "csv")


def test_exponents_are_numbers_as_kubectl_reads_them(tmp_path: Path) -> None:
    # PyYAML's YAML 1.1 read `1e12` as a string, refused as "must be a number (got "1e12")".
    path = tmp_path / "big.yaml"
    text = (EXAMPLES / "compute.yaml").read_text()
    text = text.replace("requiredPerformance: 1000", "requiredPerformance: 1e12")
    path.write_text(text.replace("resourceLimit: 100", "resourceLimit: 1E+12"))
    out, code = run_json(path)
    assert code == 0
    assert out["allocation"]["cpu"] == 10**12


def test_a_huge_figure_prints_as_a_float_not_as_its_noise_digits(tmp_path: Path) -> None:
    path = tmp_path / "dear.yaml"
    path.write_text(
        (EXAMPLES / "compute.yaml").read_text().replace("unitCost: 200", "unitCost: 1e300")
    )
    text, code = run_mix(str(path), "table")
    assert code == 1
    assert "1e+300" in text and "0000000000000000" not in text


@pytest.mark.parametrize(
    ("replace", "field"),
    [
        (("unitCost: 200", "unitCost: 1e50"), "resources[0].unitCost: 1e+50"),
        (("performance: 5}", "performance: 1e50}"), "resources[2].performance: 1e+50"),
    ],
    ids=["unit-cost", "performance"],
)
@pytest.mark.parametrize("integer", [False, True], ids=["continuous", "integer"])
def test_figures_too_large_for_the_solver_are_one_error_line_naming_the_field(
    replace: tuple[str, str],
    field: str,
    integer: bool,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # GLOP stopped ABNORMAL, and SCIP printed its own errors, then a RuntimeError traceback.
    path = tmp_path / "dear.yaml"
    text = (EXAMPLES / "compute-feasible.yaml").read_text().replace(*replace)
    path.write_text(text.replace("integer: false", f"integer: {str(integer).lower()}"))
    assert main(["plan", "mix", str(path), "-o", "json"]) == 2
    out, err = capfd.readouterr()  # file descriptors: SCIP writes past Python's sys.stderr
    assert out == ""
    assert err.startswith(f"error: {path}: {field} is too large for the solver")
    assert "larger" in err and err.count("\n") == 1


def test_an_overflowing_cost_in_the_best_mix_prints_as_inf(tmp_path: Path) -> None:
    # The infeasible answer's table multiplied 100 units by 1.7e308: OverflowError in floor().
    path = tmp_path / "dear.yaml"
    text = (EXAMPLES / "compute.yaml").read_text()
    dear = "unitCost: 1.7e308, performance: 9"
    path.write_text(text.replace("unitCost: 200, performance: 1", dear))
    text, code = run_mix(str(path), "table")
    assert code == 1
    assert "100  1.7e+308 USD   inf USD" in text
    out, _ = run_json(path)
    assert out["bestMix"]["totalCost"] is None


def test_a_limit_past_the_largest_float_prints_as_inf(tmp_path: Path) -> None:
    # 1e300 of performance at 1e-300 a unit needs 1e600 units: float() of that exact figure
    # raised OverflowError, a traceback instead of an answer.
    path = tmp_path / "tiny.yaml"
    path.write_text(
        "resources:\n"
        "  - {name: a, unitCost: 1e300, performance: 1e-300}\n"
        "requiredPerformance: 1e300\n"
        "resourceLimit: 1e300\n"
    )
    out, code = run_json(path)
    assert code == 1
    # None, as where no limit reaches it: Infinity is not JSON, and jq refused the whole output.
    assert out["feasible"] is False and out["minResourceLimit"] is None
    # "raise resourceLimit to at least inf" named a fix no value is.
    assert (
        "no resourceLimit a number can hold reaches it: lower requiredPerformance"
        in (out["reason"])
    )
