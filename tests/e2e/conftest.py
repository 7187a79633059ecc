"""The local control plane for the end-to-end tests: started once per session (or reused when
one is already up), with a fresh namespace per test. If it cannot start, the suite fails with
the reason; it never skips.

    cluster      session: the control plane (hack/localcluster/), with the default node
                 pools of hack/pools.yaml. Reused, and left running, when a healthy one runs
                 from $PRICEWISE_CLUSTER_DIR (default .cluster/) or when $PRICEWISE_KUBECONFIG
                 names another cluster; stopped at the end when this session started it
                 (unless PRICEWISE_KEEP_CLUSTER=1).
    namespace    function: a fresh namespace whose default ServiceAccount exists; deleted after.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from operator_fixtures import Operator, Pools, free_port, wait_for

from pathload import load_script

ROOT = Path(__file__).resolve().parents[2]


local = load_script("pricewise_localcluster", "hack/localcluster")


class Kubectl(str):
    """The path of the pinned kubectl binary (a str, usable in a command line), which can also
    be called: `cluster.kubectl("get", "pods")` runs it against the cluster. With `check`, a
    failure fails the test with kubectl's own message."""

    env: dict[str, str]

    def __new__(cls, path: str, env: dict[str, str]) -> Kubectl:
        self = super().__new__(cls, path)
        self.env = env
        return self

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result


@dataclass(frozen=True)
class Cluster:
    """A running cluster and the pinned tools for it.

    kubeconfig   path of the admin kubeconfig
    kubectl      path of kubectl (str), and callable: kubectl(*args, input=None, check=True)
    env          os.environ plus KUBECONFIG and PATH with the cached binaries first
    bin_dirs     the binary directories (kubectl, kube-*, etcd, kwok, helm)
    local        True when it is the local control plane of hack/localcluster/
    """

    kubeconfig: str
    kubectl: Kubectl
    env: dict[str, str]
    bin_dirs: list[str] = field(default_factory=list)
    local: bool = True

    @property
    def kubectl_path(self) -> str:
        """The kubectl binary (same as str(cluster.kubectl))."""
        return str(self.kubectl)

    @property
    def helm(self) -> str:
        """The pinned helm binary."""
        return str(local.binary("helm"))

    def create_nodes(self, pools: Path | dict[str, Any]) -> list[str]:
        """Create simulated nodes from a pool file (or its parsed content), wait until Ready."""
        config = None if self.local else self.kubeconfig
        return list(local.create_nodes(pools, log=lambda _: None, config=config))


def _cluster_error(err: BaseException) -> str:
    if isinstance(err, subprocess.CalledProcessError):
        return f"{err} {err.stderr or ''}".strip()
    return str(err)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The control plane for the session (see the module docstring)."""
    external = os.environ.get("PRICEWISE_KUBECONFIG")
    started_here = False
    error = None
    try:
        local.build(["kubernetes", "helm"])
        if external:
            config = str(Path(external).resolve())
        else:
            started_here = not local.healthy()
            config = str(local.up(local.DEFAULT_POOLS))
    except (local.ClusterError, subprocess.SubprocessError, OSError) as err:
        error = _cluster_error(err)
    if error is not None:  # failed outside the except block: one message, not two
        pytest.fail(f"the local Kubernetes control plane did not start: {error}", pytrace=False)
    dirs = [str(d) for d in local.bin_dirs()]
    env = {
        **os.environ,
        "KUBECONFIG": config,
        "PATH": os.pathsep.join([*dirs, os.environ.get("PATH", "")]),
    }
    kubectl = Kubectl(str(local.binary("kubectl")), env)
    yield Cluster(config, kubectl, env, dirs, local=not external)
    if started_here and not os.environ.get("PRICEWISE_KEEP_CLUSTER"):
        local.down()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace for one test (its default ServiceAccount exists), deleted after."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    deadline = time.monotonic() + 60
    while cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode:
        if time.monotonic() > deadline:
            pytest.fail(f"namespace {name}: no default ServiceAccount after 60s")
        time.sleep(0.2)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> None:
    """The pricewise CRDs, installed and established."""
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    # Polled rather than `kubectl wait`: a CRD created a moment ago has no conditions yet, and
    # `kubectl wait` fails on that instead of waiting.
    established = "jsonpath={.status.conditions[?(@.type=='Established')].status}"
    for crd in ("trainingjobs", "pricetables", "budgets"):
        wait_for(
            lambda name=f"crd/{crd}.pricewise.dev": (
                cluster.kubectl("get", name, "-o", established, check=False).stdout == "True"
            ),
            60,
            f"CRD {crd} to be established",
        )


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    """One operator for the session, with short cycles so that tests run fast."""
    env = {
        **os.environ,
        **cluster.env,
        "PRICEWISE_PERIOD_SECONDS": "2",
        "PRICEWISE_ACCRUAL_SECONDS": "5",
        "PRICEWISE_SOLVER_SECONDS": "5",
        "PRICEWISE_PREEMPTION_MIN_RUN_SECONDS": "3",
        "PRICEWISE_NAMESPACE": "default",
        "PRICEWISE_DELETE_FINISHED": "true",
    }
    op = Operator(env, tmp_path_factory.mktemp("operator") / "operator.log", free_port())
    op.start()
    yield op
    op.stop()
    print(op.log()[-5000:])


@pytest.fixture
def pools(cluster: Cluster) -> Iterator[Pools]:
    """Pools private to one test, removed afterwards."""
    made = Pools(cluster)
    yield made
    made.remove()
