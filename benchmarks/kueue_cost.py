"""What the same jobs cost through the real Kueue and through pricewise, on the same cluster.

    make peers                                       # build Kueue v0.17.0 once (minutes)
    python benchmarks/kueue_cost.py                  # 100 jobs of trace 103959, ~9 min
    python benchmarks/kueue_cost.py --jobs 40 --hour 0.5

A window of a Gavel trace runs three times on the local control plane (kwok nodes: 2 nodes of
8 GPUs in each of the pools k80, p100 and v100, priced as in `data/pricetable-gcp-gavel.yaml`),
one hour of the trace lasting `--hour` seconds:

- **Kueue, price order**: the full Kueue manager (`cmd/kueue`, batch/v1 Job integration) with
  one ClusterQueue whose ResourceFlavors (one per pool, by its node label) are listed cheapest
  GPU-hour first, as Kueue's docs suggest for cost, each with the pool's GPUs as nominal quota.
  Jobs are created suspended with their LocalQueue's label: Kueue's reconciler makes their
  Workloads, admits them and unsuspends them with the flavor's node selector, as its webhook
  would have them (the webhook itself is not registered: the API server here cannot reach a
  Service, and it only defaults and validates).
- **Kueue, fastest first**: the same with the flavors in the order v100, p100, k80.
- **pricewise**: the same jobs as TrainingJobs, one option per GPU kind with its run time
  there, and the deadline the simulator gives them (arrival + a factor of 1.5-3 x the fastest
  run time).

How long a pod runs depends on where it lands: a watcher gives each bound pod the run time of
its job on its node's pool (annotation `pricewise.dev/run-seconds`, which kwok's stage reads
from the pod's start), for all three runs alike. Cost is then each pod's pool price x GPUs x
its run time in trace hours (so what the compression does not change); a miss is a job that
ended after its deadline (whole seconds: kwok's resolution). Beside them, the simulator on the
same window: its first-fit (the PriceTable's order, which is the price order), its `kueue`
policy (the same, blind to deadlines) and pricewise, and how often each first-fit chose the
pool the real Kueue chose. Jobs run `whenLate: Run` in pricewise, as Kueue and the simulator
run a late job. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import matplotlib
import yaml

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "hack"), str(ROOT / "benchmarks")]

import cluster  # noqa: E402

import live_operator  # noqa: E402
import machine  # noqa: E402
from kueue_side_by_side import kueue_dir  # noqa: E402
from pricewise.core.solver import SolverSettings  # noqa: E402
from pricewise.core.times import parse_time  # noqa: E402
from pricewise.kube import Kube, load_configuration  # noqa: E402
from pricewise.offline import simmodel, simpolicies, simreport, simrun  # noqa: E402
from pricewise.offline.simcluster import load_pools  # noqa: E402
from pricewise.offline.traces import deadline_factors, load_throughputs, load_trace, window  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
PRICES = {"nvidia-tesla-k80": 0.45, "nvidia-tesla-p100": 1.46, "nvidia-tesla-v100": 2.48}
"""USD per GPU-hour, GPU only, as in data/pricetable-gcp-gavel.yaml."""
POOLS = {"k80": "nvidia-tesla-k80", "p100": "nvidia-tesla-p100", "v100": "nvidia-tesla-v100"}
RUN_SECONDS = "pricewise.dev/run-seconds"
JOB_LABEL = "bench.pricewise.dev/job"
PORT = 18083


@dataclass
class Outcome:
    """What one run did to each job: pool, start and end (wall clock), placement latency."""

    pools: dict[str, str] = field(default_factory=dict)
    starts: dict[str, float] = field(default_factory=dict)
    ends: dict[str, float] = field(default_factory=dict)
    """Start plus the run time kwok gives the pod: when it ends."""
    created: dict[str, float] = field(default_factory=dict)
    bound: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    """From the first creation until every job had started."""


def trace_jobs(args: argparse.Namespace) -> list[simmodel.SimJob]:
    """The window of the trace, as the simulator sees it (deadlines included)."""
    table = load_throughputs(DATA / "gavel" / "throughputs-isolated.json")
    trace = window(load_trace(args.trace), 0, args.jobs, args.scale)
    factors = deadline_factors(len(trace), 1.5, 3.0, args.seed)
    jobs, _ = simmodel.sim_jobs(trace, table, factors)
    return jobs


def run_s(sim: simmodel.SimJob, accelerator: str, hour: float) -> int:
    """Wall seconds of the job on this accelerator (kwok ends pods on whole seconds)."""
    option = next(o for o in sim.job.options if o.accelerator == accelerator)
    return max(1, math.ceil(sim.job.work / option.throughput / 3600 * hour))


def name_of(sim: simmodel.SimJob) -> str:
    """The Kubernetes name of a trace job."""
    return sim.job.name


def pod_spec(sim: simmodel.SimJob) -> dict[str, Any]:
    """One worker holding all the job's GPUs (Gavel's throughputs are for the whole job)."""
    gpus = str(sim.gpus)
    resources = {"cpu": str(4 * sim.gpus), "memory": f"{24 * sim.gpus}Gi", "nvidia.com/gpu": gpus}
    return {
        "restartPolicy": "Never",
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [{"name": "trainer", "image": "example.com/trainer:1",
                        "resources": {"requests": resources, "limits": {"nvidia.com/gpu": gpus}}}],
    }  # fmt: skip


def kueue_job(sim: simmodel.SimJob, namespace: str) -> dict[str, Any]:
    """A suspended batch/v1 Job in the namespace's LocalQueue."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name_of(sim), "namespace": namespace,
                     "labels": {"kueue.x-k8s.io/queue-name": "trace"}},
        "spec": {
            "suspend": True, "parallelism": 1, "completions": 1, "backoffLimit": 0,
            "template": {"metadata": {"labels": {JOB_LABEL: name_of(sim)}},
                         "spec": pod_spec(sim)},
        },
    }  # fmt: skip


def training_job(sim: simmodel.SimJob, namespace: str, t0: float, hour: float) -> dict[str, Any]:
    """The job as a TrainingJob: an option per GPU kind with its run time, and its deadline."""
    options = [
        {"accelerator": o.accelerator, "devicesPerWorker": sim.gpus,
         "duration": f"{run_s(sim, o.accelerator, hour)}s",
         "cpu": str(4 * sim.gpus), "memory": f"{24 * sim.gpus}Gi"}
        for o in sim.job.options
    ]  # fmt: skip
    spec: dict[str, Any] = {
        "options": options,
        "whenLate": "Run",  # as Kueue (which knows no deadlines) and the simulator run it
        "template": {"metadata": {"labels": {JOB_LABEL: name_of(sim)}},
                     "spec": {"containers": [{"name": "trainer",
                                              "image": "example.com/trainer:1"}]}},
    }  # fmt: skip
    if sim.deadline_s is not None:
        due = datetime.fromtimestamp(t0 + sim.deadline_s / 3600 * hour, UTC)
        spec["deadline"] = due.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "pricewise.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name_of(sim), "namespace": namespace},
        "spec": spec,
    }


async def replay(
    jobs: list[simmodel.SimJob],
    namespace: str,
    make: Any,
    hour: float,
) -> Outcome:
    """Create each job at its (compressed) arrival with `make(sim, t0)`; give each bound pod its
    run time on its pool; return when every job's pod has started."""
    kube = Kube(load_configuration(), connections=32)
    await kube.request("GET", "/version")  # opens the session
    assert kube._session is not None
    by_name = {name_of(s): s for s in jobs}
    outcome = Outcome()
    pool_of_node: dict[str, str] = {}
    for node in (await kube.request("GET", "/api/v1/nodes"))["items"]:
        pool_of_node[node["metadata"]["name"]] = node["metadata"]["labels"].get(
            "pricewise.dev/pool", ""
        )
    done = asyncio.Event()
    patches: set[asyncio.Task[None]] = set()

    async def give_run_time(pod: dict[str, Any], name: str, pool: str) -> None:
        seconds = run_s(by_name[name], POOLS[pool], hour)
        patch = {"metadata": {"annotations": {RUN_SECONDS: str(seconds)}}}
        path = f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}"
        for attempt in range(5):  # a pod without its run time would never end
            try:
                await kube.request("PATCH", path, patch, "application/merge-patch+json")
                return
            except aiohttp.ClientError:
                await asyncio.sleep(0.2 * (attempt + 1))
        raise RuntimeError(f"could not give {path} its run time")

    async def watch() -> None:
        assert kube._session is not None
        url = f"{kube.host}/api/v1/namespaces/{namespace}/pods?watch=1"
        timeout = aiohttp.ClientTimeout(total=None)
        async with kube._session.get(url, timeout=timeout) as response:
            async for line in response.content:
                pod = json.loads(line)["object"]
                name = (pod["metadata"].get("labels") or {}).get(JOB_LABEL)
                node = pod["spec"].get("nodeName")
                if name not in by_name or not node:
                    continue
                if name not in outcome.bound:
                    outcome.bound[name] = time.time()
                    outcome.pools[name] = pool_of_node[node]
                if RUN_SECONDS not in (pod["metadata"].get("annotations") or {}):
                    task = asyncio.create_task(give_run_time(pod, name, pool_of_node[node]))
                    patches.add(task)
                    task.add_done_callback(patches.discard)
                started = parse_time((pod.get("status") or {}).get("startTime"))
                if started is not None and name not in outcome.starts:
                    outcome.starts[name] = started.timestamp()
                    # kwok ends it exactly then: once every job has started, nothing is left
                    # to decide, and the run need not wait for the slowest to end.
                    run = run_s(by_name[name], POOLS[outcome.pools[name]], hour)
                    outcome.ends[name] = outcome.starts[name] + run
                    if len(outcome.starts) == len(jobs):
                        done.set()
                        return

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.5)
    t0 = time.time()

    async def create(sim: simmodel.SimJob) -> None:
        await asyncio.sleep(max(0.0, t0 + sim.arrival_s / 3600 * hour - time.time()))
        body = make(sim, t0)
        group = "apis/batch/v1" if body["kind"] == "Job" else "apis/pricewise.dev/v1alpha1"
        plural = "jobs" if body["kind"] == "Job" else "trainingjobs"
        await kube.request("POST", f"/{group}/namespaces/{namespace}/{plural}", body)
        outcome.created[name_of(sim)] = time.time()

    await asyncio.gather(*(create(s) for s in jobs))
    with contextlib.suppress(TimeoutError):  # the jobs that never started are counted so
        await asyncio.wait_for(done.wait(), timeout=1800)
    watcher.cancel()
    await kube.close()
    outcome.wall_s = time.time() - t0
    outcome.created["_t0"] = t0
    return outcome


def figures(jobs: list[simmodel.SimJob], outcome: Outcome, hour: float) -> dict[str, Any]:
    """Cost (USD), misses, mean wait and makespan of one run, in trace terms."""
    t0 = outcome.created["_t0"]
    cost = misses = 0.0
    waits = []
    never = 0
    for sim in jobs:
        name = name_of(sim)
        if name not in outcome.starts:
            never += 1
            continue
        accelerator = POOLS[outcome.pools[name]]
        runtime_h = run_s(sim, accelerator, hour) / hour
        cost += PRICES[accelerator] * sim.gpus * runtime_h
        end_s = (outcome.starts[name] - t0) / hour * 3600 + runtime_h * 3600
        # One wall second of slack: kwok's and startTime's whole seconds.
        if sim.deadline_s is not None and end_s > sim.deadline_s + 3600 / hour:
            misses += 1
        waits.append(outcome.bound[name] - outcome.created[name])
    by_pool = {p: sum(1 for v in outcome.pools.values() if v == p) for p in POOLS}
    waits = waits or [0.0]
    return {
        "cost": cost,
        "misses": int(misses) + never,
        "never": never,
        "wait_s": sum(waits) / len(waits),
        "makespan_h": (max(outcome.ends.values(), default=t0) - t0) / hour,
        "wall_s": outcome.wall_s,
        "by_pool": by_pool,
    }


def clear(namespace: str, kind: str) -> None:
    """Delete a finished run's jobs and pods at once, so that the next run finds every node
    empty (its long runs would otherwise hold nodes for minutes)."""
    cluster.kubectl("delete", kind, "--all", "-n", namespace, "--wait=false")
    cluster.kubectl("delete", "pods", "--all", "-n", namespace, "--grace-period=0", "--force")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        left = cluster.kubectl("get", "pods", "-n", namespace, "-o", "name").stdout.split()
        if not left:
            return
        time.sleep(1)
    sys.exit(f"the pods of {namespace} are still there after 2 minutes")


def kueue_setup(out: Path, module: Path) -> subprocess.Popen[bytes]:
    """Kueue's CRDs, certificates for its (unregistered) webhook and metrics servers, and its
    manager started against the local cluster."""
    cluster.install_crds(module / "config" / "components" / "crd" / "bases")
    certs = out / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(certs / "tls.key"),
         "-out", str(certs / "tls.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    # The manager reads its metrics certificate from a fixed path when it does not manage
    # certificates itself (which needs an in-cluster Service).
    metrics = Path("/etc/kueue/metrics/certs")
    try:
        metrics.mkdir(parents=True, exist_ok=True)
        for name in ("tls.crt", "tls.key"):
            (metrics / name).write_bytes((certs / name).read_bytes())
    except PermissionError:
        sys.exit(f"Kueue's manager reads its metrics certificate from {metrics}: make that "
                 "folder writable for this user (or run as root), then run again")  # fmt: skip
    config = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": "kueue-system",
        "health": {"healthProbeBindAddress": "127.0.0.1:18082"},
        "metrics": {"bindAddress": "127.0.0.1:18443"},
        "webhook": {"port": 19443, "host": "127.0.0.1", "certDir": str(certs)},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "manageJobsWithoutQueueName": False,
        "integrations": {"frameworks": ["batch/job"]},
        # Its on-demand visibility API needs an aggregated API server: not used here.
        "featureGates": {"VisibilityOnDemand": False},
    }
    (out / "kueue-config.yaml").write_text(yaml.safe_dump(config))
    cluster.kubectl("create", "namespace", "kueue-system", check=False)
    manager = subprocess.Popen(
        [str(cluster.bin_dir("kueue") / "kueue"), f"--config={out / 'kueue-config.yaml'}"],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig())},
        stdout=(out / "kueue.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if "Starting workers" in (out / "kueue.log").read_text(errors="replace"):
            return manager
        if manager.poll() is not None:
            break
        time.sleep(0.5)
    tail = (out / "kueue.log").read_text(errors="replace")[-3000:]
    manager.kill()
    sys.exit(f"Kueue's manager did not start; the end of its log:\n{tail}")


def kueue_queue(namespace: str, order: list[str], nodes: int) -> list[dict[str, Any]]:
    """ResourceFlavors (one per pool), a ClusterQueue with them in `order` (each with the pool's
    GPUs, CPUs and memory as nominal quota), the namespace and its LocalQueue `trace`."""
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    ]
    for pool in POOLS:
        objects.append({
            "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor",
            "metadata": {"name": pool},
            "spec": {"nodeLabels": {"pricewise.dev/pool": pool}},
        })  # fmt: skip
    quota = {"nvidia.com/gpu": 8 * nodes, "cpu": 64 * nodes, "memory": f"{416 * nodes}Gi"}
    objects.append({
        "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue",
        "metadata": {"name": namespace},
        "spec": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "resourceGroups": [{
                "coveredResources": list(quota),
                "flavors": [{"name": p, "resources": [{"name": r, "nominalQuota": q}
                                                      for r, q in quota.items()]}
                            for p in order],
            }],
        },
    })  # fmt: skip
    objects.append({
        "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue",
        "metadata": {"name": "trace", "namespace": namespace},
        "spec": {"clusterQueue": namespace},
    })  # fmt: skip
    return objects


def pricewise_setup(namespace: str) -> list[dict[str, Any]]:
    """pricewise's PriceTable for the three pools and the namespace."""
    table = {
        "apiVersion": "pricewise.dev/v1alpha1", "kind": "PriceTable",
        "metadata": {"name": "gavel"},
        "spec": {"currency": "USD", "pools": [
            {"name": p, "accelerator": a, "nodeSelector": {"pricewise.dev/pool": p},
             "prices": {"perDeviceHour": PRICES[a]}} for p, a in POOLS.items()]},
    }  # fmt: skip
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, table]


def simulated(jobs: list[simmodel.SimJob], nodes: int) -> dict[str, simmodel.SimResult]:
    """The simulator on the same window and cluster: its first-fit (which skips the options
    that would miss the deadline), first-fit blind to deadlines (as Kueue is), and pricewise."""
    pools, currency = load_pools(
        DATA / "pricetable-gcp-gavel.yaml", DATA / "nodepools-gavel.yaml",
        dict.fromkeys(POOLS, nodes),
    )  # fmt: skip

    def run(name: str, policy: simmodel.Policy, blind: bool = False) -> simmodel.SimResult:
        return simrun.run(jobs, pools, policy, name, currency=currency, deadline_blind=blind)

    return {
        "first-fit": run("first-fit", simpolicies.first_fit_policy),
        "kueue (first-fit, deadline-blind)": run("kueue", simpolicies.first_fit_policy, True),
        "pricewise": run("pricewise", simpolicies.pricewise_policy(SolverSettings(2.0))),
    }


def plot(table: list[tuple[str, float, int]], path: Path) -> None:
    """Cost and deadline misses of every run, side by side, as a PNG."""
    names = [
        name.replace(", ", "\n").replace(" (", "\n(").replace("flavors ", "flavors\n")
        for name, _, _ in table
    ]

    def colour(name: str) -> str:
        simulated = name.startswith("simulator")
        if "pricewise" in name:
            return "#a6dba0" if simulated else "#1b7837"
        if "ueue" in name:
            return "#92c5de" if simulated else "#2166ac"
        return "#bbbbbb"

    colours = [colour(name) for name, _, _ in table]
    fig, (cost_ax, miss_ax) = plt.subplots(2, 1, figsize=(9, 6.5))
    for ax, values, title in ((cost_ax, [c for _, c, _ in table], "Cost (USD)"),
                              (miss_ax, [m for _, _, m in table], "Deadline misses")):  # fmt: skip
        bars = ax.bar(names, values, color=colours)
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8)
        ax.set_title(title)
        ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    """Run the three live runs and the simulator; print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trace", type=Path, default=DATA / "gavel/traces/philly-derived-seed0-103959.trace"
    )
    parser.add_argument("--jobs", type=int, default=100, help="the trace's first jobs")
    parser.add_argument("--scale", type=float, default=0.25, help="arrival scale")
    parser.add_argument("--hour", type=float, default=1.0, help="wall seconds per trace hour")
    parser.add_argument("--nodes", type=int, default=2, help="nodes of 8 GPUs a pool")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="keep logs here")
    parser.add_argument("--only", choices=["kueue", "pricewise"])
    parser.add_argument("--plot", type=Path, help="write the cost and misses chart here (PNG)")
    args = parser.parse_args()
    if not cluster.built("kueue"):
        sys.exit("Kueue is not built: run `make peers` first (a few minutes, once)")
    jobs = trace_jobs(args)
    out = args.out or Path(tempfile.mkdtemp(prefix="kueue-cost-"))
    out.mkdir(parents=True, exist_ok=True)
    load = machine.conditions()
    cluster.up(None)
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig())
    pools = {"pools": [{"name": p, "count": args.nodes, "instanceType": f"n1-{p}",
                        "allocatable": {"cpu": "64", "memory": "416Gi", "nvidia.com/gpu": "8"}}
                       for p in POOLS]}  # fmt: skip
    (out / "pools.yaml").write_text(yaml.safe_dump(pools))
    cluster.create_nodes(out / "pools.yaml")
    rows: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, Outcome] = {}
    hour = args.hour
    try:
        if args.only != "pricewise":
            manager = kueue_setup(out, kueue_dir())
            try:
                for label, order in (("price", ["k80", "p100", "v100"]),
                                     ("fastest", ["v100", "p100", "k80"])):  # fmt: skip
                    namespace = f"kueue-{label}"
                    objects = kueue_queue(namespace, order, args.nodes)
                    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
                    outcome = asyncio.run(replay(jobs, namespace,
                                                 lambda s, _t, n=namespace: kueue_job(s, n),
                                                 hour))  # fmt: skip
                    clear(namespace, "jobs")
                    outcomes[f"Kueue, {label} order"] = outcome
                    rows[f"Kueue v0.17.0, flavors {' > '.join(order)}"] = figures(
                        jobs, outcome, hour
                    )
            finally:
                manager.terminate()
                manager.wait(30)
        if args.only != "kueue":
            cluster.install_crds(ROOT / "crds")
            cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(pricewise_setup("pw")))
            os.environ["PRICEWISE_PERIOD_SECONDS"] = "2"
            operator = live_operator.start(out / "operator.log", PORT)
            try:
                outcome = asyncio.run(replay(
                    jobs, "pw", lambda s, t0: training_job(s, "pw", t0, hour), hour))  # fmt: skip
                clear("pw", "trainingjobs")
            finally:
                live_operator.stop(operator)
            outcomes["pricewise"] = outcome
            rows["pricewise"] = figures(jobs, outcome, hour)
    finally:
        cluster.down()
    sims = simulated(jobs, args.nodes)
    print(f"# {args.trace.name}, first {len(jobs)} jobs, arrivals x{args.scale:g}, one trace "
          f"hour = {hour:g} s; {args.nodes} nodes of 8 GPUs in k80, p100, v100; "
          f"{load}; logs in {out}\n")  # fmt: skip
    print("| run | cost (USD) | deadline misses | jobs on k80 / p100 / v100 | mean wait for a node "
          "| makespan (trace h) | wall |")  # fmt: skip
    print("|---|---:|---:|---|---:|---:|---:|")
    for name, r in rows.items():
        pools_ = " / ".join(str(r["by_pool"][p]) for p in POOLS)
        never = f" ({r['never']} never started)" if r["never"] else ""
        misses = f"{r['misses']}{never}"
        print(f"| {name} | {r['cost']:,.0f} | {misses} | {pools_} | {r['wait_s']:.1f} s "
              f"| {r['makespan_h']:.0f} | {r['wall_s']:.0f} s |")  # fmt: skip
    chart = [(name, r["cost"], r["misses"]) for name, r in rows.items()]
    for name, result in sims.items():
        summary = simreport.summary(result)
        placed = {r.name: r.pool for r in result.records}
        pools_ = " / ".join(str(sum(1 for v in placed.values() if v == p)) for p in POOLS)
        print(f"| simulator, {name} | {summary['totalCost']:,.0f} | "
              f"{summary['deadlineMisses']} | {pools_} | - | - | - |")  # fmt: skip
        chart.append((f"simulator, {name}", summary["totalCost"], summary["deadlineMisses"]))
    if args.plot:
        plot(chart, args.plot)
    real = outcomes.get("Kueue, price order")
    if real is not None:
        print()
        for name in ("first-fit", "kueue (first-fit, deadline-blind)"):
            chosen = {r.name: r.pool for r in sims[name].records}
            same = sum(1 for s in jobs if chosen.get(s.job.key) == real.pools[name_of(s)])
            print(f"The simulator's {name} chose the pool real Kueue (price order) chose for "
                  f"{same} of {len(jobs)} jobs.")  # fmt: skip


if __name__ == "__main__":
    main()
