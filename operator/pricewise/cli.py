"""The `pricewise` command: `run` (the operator), `plan` (a dry run, offline or against the
cluster), `plan mix`, `simulate` (trace replays), `prices` (PriceTables from the nodes and a
price catalog), `crds`.

Subcommands import their modules when they run, so that `pricewise --help` does not pay for
loading OR-Tools and the Kubernetes client.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pricewise import __version__
from pricewise.core.bounds import time_out_of_range
from pricewise.core.times import as_utc, parse_time
from pricewise.offline.arguments import time_limit, wait_cost

PROG = "kubectl pricewise" if os.path.basename(sys.argv[0]) == "kubectl-pricewise" else "pricewise"
"""The command as typed: run as the kubectl plugin, its usage lines say `kubectl pricewise`."""

if TYPE_CHECKING:
    from pricewise.controller.config import OperatorConfig
    from pricewise.core.settings import SolverSettings


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?")
"""A date and a time, the offset optional (`--now` reads none as UTC): Python's own reading
took `2026-12-04` (midnight), `20261204T1200` and `2026-W49-5` as well."""


def _moment(text: str) -> datetime:
    """`--now`: an RFC 3339 time, in UTC when it names no offset."""
    try:
        moment = parse_time(text) if _RFC3339.fullmatch(text.strip()) else None
    except ValueError:
        moment = None
    if moment is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 time (e.g. 2026-12-01T08:00:00Z)"
        )
    moment = as_utc(moment)
    # A Budget's period from 9999-12-31T23:00Z ended past the years a datetime holds.
    if (wrong := time_out_of_range(moment)) is not None:
        raise argparse.ArgumentTypeError(f"{text!r} {wrong}")
    return moment


def _plan(args: argparse.Namespace) -> int:
    from pricewise.api.manifests import ManifestError, load
    from pricewise.offline.plan import run_plan

    if args.files[0] == "mix":  # options before `mix`: `pricewise plan -o json mix FILE`
        defaults = vars(parser().parse_args(["plan", "mix"]))
        stray = [f"--{key.replace('_', '-')}" for key, value in vars(args).items()
                 if key not in ("files", "output") and value != defaults[key]]  # fmt: skip
        if stray:  # `plan -v mix` printed the mix without the options -v asked for
            print(f"error: plan mix takes -o only, not {', '.join(stray)}", file=sys.stderr)
            return 2
        return _mix(_mix_parser().parse_args([*args.files[1:], "--output", args.output]))
    if args.cluster:
        return _quote(args)
    try:
        found = load(args.files)
        text = run_plan(
            found,
            args.now or datetime.now(UTC),
            args.output,
            args.verbose,
            _solver_settings(args),
        )
    except ManifestError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(text)
    return 0


def _solver_settings(
    args: argparse.Namespace, operator: OperatorConfig | None = None
) -> SolverSettings:
    """The solver settings of `plan`: the operator's (`operator`, read for a quote; else its
    defaults), with `--time-limit`, `--solver-workers` and, where given, `--wait-cost`. Its
    limits count CP-SAT's deterministic time: a dry run or a quote cut by its limit is the same
    every run, where in seconds the plan of a few hundred jobs changed from run to run."""
    from dataclasses import replace

    from pricewise.controller.config import OperatorConfig

    given = operator or OperatorConfig()
    wait_cost = given.wait_cost if args.wait_cost is None else args.wait_cost
    settings = replace(
        given,
        solver_seconds=args.time_limit,
        solver_workers=args.solver_workers,
        wait_cost=wait_cost,
    ).solver()
    return replace(settings, deterministic=True)


def _workers(text: str) -> int:
    from pricewise.controller.config import MOST_WORKERS  # the operator's bound, one source

    if not text.isdigit() or not 1 <= int(text) <= MOST_WORKERS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to {MOST_WORKERS}")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number from 1 to 65535")
    return int(text)


def _quote(args: argparse.Namespace) -> int:
    """`pricewise plan --cluster FILES`: the new TrainingJobs planned in the live cluster."""
    import asyncio
    from dataclasses import replace

    import aiohttp
    from kubernetes.config import ConfigException

    from pricewise.api.manifests import ManifestError, load
    from pricewise.controller.quote import Quote, QuoteError, quote
    from pricewise.core.refusals import INFEASIBLE
    from pricewise.core.solver import solve
    from pricewise.kube import ApiError, Kube, context_namespace, load_configuration
    from pricewise.offline.moves import moves
    from pricewise.offline.plan import outlasting, render_plan

    async def snapshot_now() -> Quote:
        kube = Kube(load_configuration())
        try:
            return await quote(kube, found.jobs, args.now or datetime.now(UTC))
        finally:
            await kube.close()

    try:
        found = load(args.files, context_namespace())
        if not found.jobs:
            raise found.missing("no TrainingJob given: --cluster quotes new TrainingJobs")
        quoted = asyncio.run(snapshot_now())
    except (ManifestError, QuoteError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ConfigException as err:
        print(f"error: cannot read the cluster: {err}", file=sys.stderr)
        return 2
    except ApiError as err:
        print(f"error: cannot read the cluster: {err.request}: {err}", file=sys.stderr)
        return 2
    except (OSError, aiohttp.ClientError) as err:
        print(
            f"error: cannot read the cluster: {err} (--cluster uses the kubeconfig as kubectl "
            "finds it: $KUBECONFIG, or ~/.kube/config)",
            file=sys.stderr,
        )
        return 2
    snapshot, keys = quoted.snapshot, quoted.keys
    settings = _solver_settings(args, quoted.config)
    plan = solve(snapshot, settings)
    # What applying them changes for the others: the plan of the cluster as it is beside it
    # (none to change where no other job is pending).
    moved, cut_short = [], False
    if any(j.key not in keys for j in quoted.before.jobs):
        alone = solve(quoted.before, settings)
        moved = moves(alone.decisions, plan.decisions, snapshot.now, keys)
        cut_short = {plan.status, alone.status} != {"optimal"}
    decided = tuple(d for d in quoted.told(plan.decisions) if d.job.key in keys)
    # Those that may run: a job held as specified (a deadline no option meets) competes with none.
    others = sum(d.job.key not in keys and d.reason not in INFEASIBLE for d in plan.decisions)
    # The quoted jobs' own totals: the plan's would add what the cluster's jobs cost too.
    mine = replace(
        plan,
        decisions=decided + tuple(quoted.held),
        total_cost=sum(d.chosen.cost for d in decided if d.chosen),
        reserved_cost=sum(d.reservation.candidate.cost for d in decided if d.reservation),
        best_bound=None,
    )
    # As `plan` with files warns: a `kind: BudGet` skipped without a word went unnoticed.
    warnings = found.skipped_warnings() + found.template_warnings()
    if quoted.config_warning:
        warnings.append(quoted.config_warning)
    warnings += quoted.warnings() + outlasting(mine, found.jobs)
    if moved and cut_short:
        # Two solves cut short can differ where the files change nothing.
        warnings.append(
            "a solve stopped at its time limit (--time-limit): some of the pending jobs listed "
            "as changed may differ between the two plans by the solver, not by the files"
        )
    unused = [
        f"{len(objs)} {kind}(s)"
        for kind, objs in (("PriceTable", found.price_tables), ("Budget", found.budgets))
        if objs
    ]
    if unused:
        warnings.append(
            f"the files' {' and '.join(unused)} are not used: a quote uses the cluster's own"
        )
    print(render_plan(mine, snapshot, warnings, args.output, args.verbose, others, moved))
    return 0


def _mix(args: argparse.Namespace) -> int:
    from pricewise.offline.mixio import run_mix

    text, code = run_mix(args.file, args.output)
    if code == 2:  # as every other command says an error
        print(f"error: {text}", file=sys.stderr)
    else:
        print(text)
    return code


def _mix_parser() -> argparse.ArgumentParser:
    mix = argparse.ArgumentParser(
        prog="pricewise plan mix",
        description="Solve a resource-mix linear program: the cheapest units of each "
        "resource that reach requiredPerformance within resourceLimit units; when none do, "
        "which limit binds and how far it must move. Exit 0: a mix; 1: infeasible, with the "
        "best mix within the limit; 2: the file cannot be used.",
    )
    mix.add_argument(
        "file",
        metavar="FILE",
        help="YAML with resources, requiredPerformance, resourceLimit (see examples/mix/)",
    )
    mix.add_argument(
        "-o",
        "--output",
        choices=["table", "json", "yaml"],
        default="table",
        help="a table for people (the default), or JSON or YAML for tools",
    )
    return mix


def _run(args: argparse.Namespace) -> int:
    import kopf

    # Importing `handlers` registers them with kopf.
    from pricewise.controller import handlers, serving
    from pricewise.controller.config import ConfigError, from_environment

    try:
        config = from_environment()
        metrics = serving.bind_metrics_port(args.metrics_port)
    except (ConfigError, serving.MetricsPortError) as err:
        print(f"pricewise run: {err}", file=sys.stderr)
        return 2
    handlers.configure(metrics=metrics, config=config)
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat[args.log_format.upper()])
    if not args.verbose:
        # kopf logs every handled watch event; at cluster scale that drowns the cycle lines.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    kopf.run(
        clusterwide=True,
        standalone=True,  # one replica schedules by holding a Lease; kopf peering is not used
        liveness_endpoint=args.liveness,
    )
    return 0


def _prices(args: argparse.Namespace) -> int:
    """`pricewise prices init|import|diff`: errors name the file, row or field; nothing is
    printed to stdout unless the whole answer is."""
    import yaml

    from pricewise.api.manifests import ManifestError, read_nodes
    from pricewise.offline import catalog, discover

    try:
        if args.action == "init":
            text, warnings = discover.init_table(args.files, args.name, args.currency, args.map)
            for warning in warnings:
                print(f"warning: {warning}", file=sys.stderr)
            print(text, end="")
        elif args.action == "import":
            nodes = read_nodes(args.nodes)
            priced, notes = catalog.import_prices(
                catalog.read_table(args.table), catalog.read_catalog(args.catalog), nodes
            )
            for note in notes:
                print(note, file=sys.stderr)
            print(yaml.safe_dump(priced, sort_keys=False), end="")
        else:
            if args.old == args.new == "-":  # stdin is read once: the second table would be none
                print("error: OLD and NEW are both -: give one of them as a file", file=sys.stderr)
                return 2
            old, new = catalog.read_table(args.old), catalog.read_table(args.new)
            print(catalog.diff(old, new))
            return 0 if catalog.same_tables(old, new) else 1
    except (ManifestError, catalog.CatalogError, discover.DiscoveryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _crds(args: argparse.Namespace) -> int:
    from pricewise.api.crdgen import main as write_crds

    return write_crds([args.directory])


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    top = argparse.ArgumentParser(
        prog=PROG,
        description="Cost-aware placement of training jobs on Kubernetes node pools.",
    )
    top.add_argument("--version", action="version", version=f"pricewise {__version__}")
    commands = top.add_subparsers(dest="command", required=True)

    plan = commands.add_parser(
        "plan",
        help="dry run: where jobs would go and what they would cost",
        description="Read TrainingJob, PriceTable, Budget, ResourceQuota and Pod YAML plus a "
        "node list (`kubectl get nodes -o yaml`) and print the placement. "
        "`pricewise plan mix FILE` solves a resource-mix linear program instead (see "
        "`pricewise plan mix --help`).",
    )
    plan.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="YAML files or directories; - reads standard input (`helm template ... | "
        "pricewise plan - prices.yaml`)",
    )
    plan.add_argument(
        "-o",
        "--output",
        # `wide` as kubectl users know it: the table with more, here each MESSAGE whole.
        choices=["table", "wide", "json", "yaml"],
        default="table",
        help="table (the default), wide (the table with each MESSAGE whole), json or yaml",
    )
    plan.add_argument("-v", "--verbose", action="store_true", help="print every job's options")
    plan.add_argument("--now", type=_moment, help="plan as of this RFC 3339 time (default: now)")
    plan.add_argument(
        "--cluster",
        action="store_true",
        help="quote the TrainingJobs in FILE against the live cluster of the kubeconfig (as "
        "kubectl finds it): where, when and for how much they would run beside what runs, "
        "is planned and waits there, with the operator's settings (its wait cost, max wait and "
        "preemption guard)",
    )
    plan.add_argument(
        "--time-limit",
        type=time_limit,
        default=10.0,
        help="solver time limit, in CP-SAT's deterministic seconds (about seconds, but the "
        "same on any machine, so that a plan cut by it is the same every run; default 10)",
    )
    plan.add_argument(
        "--solver-workers",
        type=_workers,
        default=1,
        help="CP-SAT search workers (default 1: the same plan every run; more search in "
        "parallel on as many cores, and the plans of a solve cut by --time-limit may differ)",
    )
    plan.add_argument(
        "--wait-cost",
        type=wait_cost,
        metavar="F",
        help="what a planned wait of a job without a deadline counts for against what it "
        "saves, as a share of the job's price over the wait (default 0.3; with --cluster, "
        "the operator's scheduler.waitCost, read from its Deployment; 0: it waits for any "
        "saving)",
    )
    plan.set_defaults(handler=_plan)

    run = commands.add_parser(
        "run",
        help="run the operator (watches TrainingJobs and places them)",
        description="Run the operator against the cluster of the current kubeconfig (or the "
        "in-cluster service account).",
        epilog="Its settings come from the environment: PRICEWISE_PERIOD_SECONDS, "
        "PRICEWISE_SOLVER_SECONDS, PRICEWISE_SOLVER_WORKERS, PRICEWISE_WAIT_COST, "
        "PRICEWISE_MAX_WAIT and PRICEWISE_DELETE_FINISHED (ttlAfterFinished.enabled), which "
        "the chart sets from its values (charts/pricewise/values.yaml "
        "says what each does); PRICEWISE_ACCRUAL_SECONDS, PRICEWISE_PREEMPTION_MIN_RUN_SECONDS "
        "and PRICEWISE_RECLAIM_TAINTS, set through the chart's extraEnv (docs/install.md); and "
        "PRICEWISE_NAMESPACE, where its leader-election Lease lives (the chart gives it the "
        "release's namespace). It logs the values it read as it starts.",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    run.add_argument(
        "--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8081/healthz"
    )
    run.add_argument(
        "--metrics-port", type=_port, default=8080, help="port of /metrics (default 8080)"
    )
    run.add_argument(
        "--log-format",
        choices=["full", "plain", "json"],  # kopf.LogFormat's, without importing kopf here
        default="full",
        help="log lines with time, logger and level (full, the default), the message only "
        "(plain), or JSON (json)",
    )
    run.set_defaults(handler=_run)

    simulate = commands.add_parser(
        "simulate",
        help="replay a job trace through simulated time under a placement policy",
        add_help=False,
    )
    simulate.add_argument("arguments", nargs=argparse.REMAINDER)

    prices = commands.add_parser(
        "prices",
        help="PriceTables from the cluster's nodes and a price catalog",
        description="Propose a PriceTable from the cluster's nodes (init), price it from a "
        "catalog (import), compare it with the one applied (diff); review the output, then "
        "`kubectl apply -f` it. `pricewise prices ACTION --help` says more.",
    )
    actions = prices.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser(
        "init",
        help="propose pools from the nodes' labels",
        description="Propose pools from node labels (GKE, EKS, Karpenter, instance type) of "
        "`kubectl get nodes -o yaml` output, one per node pool and capacity type, with empty "
        "prices.",
    )
    init.add_argument("files", nargs="+", metavar="NODES", help="node lists; - reads stdin")
    init.add_argument("--name", default="prices", help="the PriceTable's name (default prices)")
    init.add_argument("--currency", default="USD", help="the prices' currency (default USD)")
    init.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="CLOUD=NAME",
        help="name a cloud accelerator (or AWS instance family) the built-in table lacks",
    )
    imports = actions.add_parser(
        "import",
        help="fill a PriceTable's prices from a catalog",
        description="Fill the pools' prices from a SkyPilot vms.csv catalog. A pool it cannot "
        "price keeps the prices it had, or is left out if it had none (never printed at 0), "
        "and is said on stderr; a catalog that prices no pool is an error (exit 2).",
    )
    imports.add_argument("catalog", metavar="CATALOG", help="a SkyPilot vms.csv; - reads stdin")
    imports.add_argument("table", metavar="TABLE", help="the PriceTable to price; - reads stdin")
    imports.add_argument(
        "--nodes",
        action="append",
        default=[],
        metavar="FILE",
        help="the node list, for pools without devicesPerNode whose machine's catalog row does "
        "not say how many accelerators it carries (N1 with GPUs attached)",
    )
    diff = actions.add_parser(
        "diff",
        help="compare two PriceTables",
        description="Compare two PriceTables (e.g. `kubectl get pricetable X -o yaml` and a new "
        "one): prices, and every other field that changed; exit 1 where they differ, as diff "
        "does.",
    )
    diff.add_argument("old", metavar="OLD", help="the PriceTable as it is; - reads stdin")
    diff.add_argument("new", metavar="NEW", help="the PriceTable as it would be; - reads stdin")
    prices.set_defaults(handler=_prices)

    crds = commands.add_parser("crds", help="write the CRDs generated from the API models")
    crds.add_argument(
        "directory",
        nargs="?",
        default="crds",
        help="where to write them, one file per kind; made if missing (default crds)",
    )
    crds.set_defaults(handler=_crds)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `pricewise` console script."""
    try:
        return _dispatch(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:
        # `pricewise plan -v examples/ | head`: the reader left, and the rest goes nowhere,
        # as with any Unix tool, instead of a traceback. Python would flush stdout again at
        # exit and fail once more, so it is pointed at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool the pipe closed on
    except KeyboardInterrupt:
        # Ctrl-C: stopped, as the shell says of any tool (a traceback read as a crash).
        print("interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT


def _dispatch(given: list[str]) -> int:
    if given[:1] == ["simulate"]:
        # Everything after `simulate` is the simulator's own (argparse's REMAINDER would
        # swallow neither a leading --help nor other options reliably).
        from pricewise.offline.simulate import main as simulate

        return simulate(given[1:])
    if given[:2] == ["plan", "mix"]:
        # Its own parser, for its own --help: plan's FILE... would take `mix` as a file.
        return _mix(_mix_parser().parse_args(given[2:]))
    args = parser().parse_args(given)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
