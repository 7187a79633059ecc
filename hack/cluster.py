#!/usr/bin/env python3
"""A real local Kubernetes control plane for the tests and the demo, without Docker.

    python hack/cluster.py build              # build (or reuse) every binary; print their paths
    python hack/cluster.py build kueue        # the peer compared with (not needed by the tests)
    python hack/cluster.py up [--pools F]     # start etcd, kube-apiserver, controller-manager,
                                              # scheduler and kwok (or reuse a healthy cluster);
                                              # create the node pools (default hack/pools.yaml)
    python hack/cluster.py nodes --pools F    # add the simulated nodes of a pool file
    python hack/cluster.py status             # up or down, ports, pids, memory (exit 1: down)
    python hack/cluster.py env                # `eval $(python hack/cluster.py env)`
    python hack/cluster.py down               # stop everything; no process stays behind

The logic is in the hack/localcluster/ package (the pytest fixtures load it too). The names below
are re-exported so that scripts can `import cluster` from hack/.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from localcluster import (
    COMPONENTS,
    DEFAULT_POOLS,
    ETCD,
    HELM,
    KUBERNETES,
    KWOK,
    ClusterError,
    bin_dir,
    bin_dirs,
    binary,
    build,
    built,
    cluster_dir,
    create_nodes,
    down,
    env,
    healthy,
    install_crds,
    kubeconfig,
    kubectl,
    node_manifests,
    status,
    up,
)

__all__ = [
    "COMPONENTS",
    "ETCD",
    "HELM",
    "KUBERNETES",
    "KWOK",
    "ClusterError",
    "bin_dir",
    "bin_dirs",
    "binary",
    "build",
    "built",
    "cluster_dir",
    "create_nodes",
    "down",
    "env",
    "healthy",
    "install_crds",
    "kubeconfig",
    "kubectl",
    "node_manifests",
    "status",
    "up",
]


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="build or reuse binaries, print their directories")
    build_cmd.add_argument(
        "components",
        nargs="*",
        help=f"only these (default: all but peers): {', '.join(COMPONENTS)}",
    )
    up_cmd = sub.add_parser("up", help="start the cluster (or reuse it) and create the pools")
    up_cmd.add_argument("--pools", type=Path, default=DEFAULT_POOLS, help="pool file")
    up_cmd.add_argument("--no-pools", action="store_true", help="create no nodes")
    nodes_cmd = sub.add_parser("nodes", help="create the simulated nodes of a pool file")
    nodes_cmd.add_argument("--pools", type=Path, required=True, help="pool file")
    sub.add_parser("status", help="print what runs; exit 1 when the cluster is down")
    sub.add_parser("env", help="print KUBECONFIG and PATH as shell exports")
    sub.add_parser("kubeconfig", help="print the kubeconfig path")
    sub.add_parser("down", help="stop the cluster")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            unknown = sorted(set(args.components) - set(COMPONENTS))
            if unknown:
                raise ClusterError(
                    f"no component {', '.join(unknown)}; known: {', '.join(COMPONENTS)}"
                )
            for name, path in build(args.components or None).items():
                print(f"{name:<11} {COMPONENTS[name].version:<8} {path}")
        elif args.command == "up":
            up(None if args.no_pools else args.pools)
        elif args.command == "nodes":
            if not healthy():
                raise ClusterError(f"no cluster runs from {cluster_dir()}; run `up` first")
            create_nodes(args.pools)
        elif args.command == "status":
            info = status()
            print(json.dumps(info, indent=1))
            return 0 if info["up"] else 1
        elif args.command == "env":
            variables = env()
            for key in ("KUBECONFIG", "PATH"):
                print(f"export {key}={shlex.quote(variables[key])}")
        elif args.command == "kubeconfig":
            print(kubeconfig())
        elif args.command == "down":
            down()
    except ClusterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
