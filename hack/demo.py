#!/usr/bin/env python3
"""The demo: a local cluster, the sample PriceTable, Budgets and TrainingJobs, and the operator.

    make demo            # or: python hack/demo.py [--keep]

Starts the local control plane (hack/cluster.py), installs the CRDs and the examples, runs
`pricewise run`, and shows where the jobs went, what they cost and why. Then two more jobs
arrive (hack/demo-arrivals.yaml) where their cheapest pool has room for one: the other is planned
there with a start time and why it waits, and starts when the node frees. The simulated workers
run for two minutes (kwok), so jobs go from Admitted to Running to Succeeded while you watch.
With --keep the operator and the cluster stay up (Ctrl-C stops the operator).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

HACK = Path(__file__).resolve().parent
REPO = HACK.parent
sys.path.insert(0, str(HACK))

import cluster  # noqa: E402  (hack/cluster.py, next to this file)

from pricewise.core.units import parse_duration  # noqa: E402

RUN_FOR = "120s"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _show(*args: str) -> None:
    print(f"\n$ kubectl {' '.join(args)}", flush=True)
    print(cluster.kubectl(*args, check=False).stdout, flush=True)


def apply_examples(run_for: str) -> int:
    """Install the CRDs and apply examples/ (the PriceTable, the Budgets and the TrainingJobs,
    whose simulated workers run for `run_for`) to the local cluster; returns how many jobs."""
    cluster.install_crds(REPO / "crds")
    # A cluster an earlier demo left up holds its jobs, long ended, and its Budgets' spend: the
    # story was told over them ("placing jobs ..." above tables of jobs done minutes before).
    namespaces = ("team-nlp", "team-vision")
    cluster.kubectl(  # kubectl's own timeout first, so that it says what it waited for
        "delete", "namespace", *namespaces, "--ignore-not-found", "--timeout=120s", timeout=180
    )
    for namespace in namespaces:
        cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("apply", "-f", str(REPO / "examples" / "pricetable.yaml"))
    cluster.kubectl("apply", "-f", str(REPO / "examples" / "budgets.yaml"))
    return apply_jobs(REPO / "examples" / "jobs.yaml", run_for)


def apply_jobs(path: Path, run_for: str) -> int:
    """Apply the TrainingJobs of `path`, their simulated workers running for `run_for`;
    returns how many jobs."""
    jobs = list(yaml.safe_load_all(path.read_text()))
    for job in jobs:
        # Simulated run time for kwok, in the spelling the README gives (users copy it from
        # `kubectl describe`); a real cluster ignores the annotation.
        meta = job["spec"]["template"].setdefault("metadata", {})
        seconds = str(round(parse_duration(run_for)))
        meta.setdefault("annotations", {})["pricewise.dev/run-seconds"] = seconds
    cluster.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": jobs})
    )
    return len(jobs)


def job_statuses(namespace: str | None = None) -> dict[str, dict[str, Any]]:
    """The status of each TrainingJob of the namespace by name, or of every namespace by
    namespace/name."""
    scope = ["-n", namespace] if namespace else ["-A"]
    found = cluster.kubectl("get", "tj", *scope, "-o", "json", check=False).stdout
    items = json.loads(found or "{}").get("items", [])
    statuses = {}
    for item in items:
        meta = item["metadata"]
        key = meta["name"] if namespace else f"{meta['namespace']}/{meta['name']}"
        statuses[key] = item.get("status", {})
    return statuses


def wait_running(namespace: str, names: list[str], timeout_s: float) -> None:
    """Wait until every job of `names` runs (or has run), or for `timeout_s` seconds at most."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        statuses = job_statuses(namespace)
        if all(statuses.get(n, {}).get("phase") in ("Running", "Succeeded") for n in names):
            return
        time.sleep(2)


def wait_decided(jobs: int, timeout_s: float) -> None:
    """Wait until `jobs` TrainingJobs each have a reason (placed, or waiting and why), or for
    `timeout_s` seconds at most."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(1 for status in job_statuses().values() if status.get("reason")) == jobs:
            return
        time.sleep(1)


def main() -> int:
    """Run the demo."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the operator and cluster up")
    args = parser.parse_args()

    cluster.up()
    jobs = apply_examples(RUN_FOR)

    # A SIGTERM (a CI timeout, `kill`) stops the operator as Ctrl-C does, not leaving it behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    port = _free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig()),
        "PRICEWISE_PERIOD_SECONDS": "5",
        "PRICEWISE_NAMESPACE": "default",
    }
    log = (cluster.cluster_dir() / "logs" / "operator.log").open("ab")
    operator = subprocess.Popen(
        [sys.executable, "-m", "pricewise", "run", "--metrics-port", str(port)],
        env=env,
        stdout=None if args.keep else log,
        stderr=subprocess.STDOUT if not args.keep else None,
    )
    try:
        print(f"operator started (metrics on http://127.0.0.1:{port}/metrics); placing jobs ...")
        wait_decided(jobs, 60)
        time.sleep(3)
        _show("get", "tj", "-A", "-o", "wide")
        _show("describe", "tj", "llm-finetune", "-n", "team-nlp")
        _show("get", "budgets", "-A")
        _show("get", "pods", "-A", "-l", "pricewise.dev/job", "-o", "wide")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            lines = response.read().decode().splitlines()
        shown = ("pricewise_job_estimated_cost", "pricewise_budget_spent")
        print(f"\n$ curl -s localhost:{port}/metrics | grep -E '^({'|'.join(shown)})'")
        print("\n".join(line for line in lines if line.startswith(shown)))
        print("\nTwo more jobs arrive, both cheapest on tpu-v5e, which has one node free:")
        jobs += apply_jobs(HACK / "demo-arrivals.yaml", RUN_FOR)
        wait_decided(jobs, 60)
        time.sleep(3)
        _show("get", "tj", "-n", "team-nlp", "-o", "wide")
        statuses = job_statuses("team-nlp")
        waiting = [name for name, st in statuses.items() if st.get("reason") == "Reserved"]
        for name in waiting:
            _show("describe", "tj", name, "-n", "team-nlp")
        if waiting:
            print(f"\nThe workers run for {RUN_FOR} here (kwok), not for hours: once a TPU node")
            print("frees, the next cycle starts the waiting job there.")
            wait_running("team-nlp", waiting, 240)
            _show("get", "tj", "-n", "team-nlp", *waiting, "-o", "wide")
        if args.keep:
            print(f"\nKUBECONFIG={cluster.kubeconfig()}  (Ctrl-C stops the operator)")
            operator.wait()
    except KeyboardInterrupt:
        pass
    finally:
        operator.terminate()
        operator.wait(timeout=30)
    if not args.keep:
        print(
            "\nThe operator has stopped; the cluster stays up for a look around: "
            f"export KUBECONFIG={cluster.kubeconfig()}. To have new jobs placed, run "
            "`pricewise run` (or the demo again with `python hack/demo.py --keep`). "
            "`make cluster-down` stops the cluster."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
