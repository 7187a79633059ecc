"""The local control plane for the end-to-end tests: started once per session (or reused when
one is already up), with a fresh namespace per test. If it cannot start, the suite fails."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from operator_fixtures import Operator, Pools, free_port

ROOT = Path(__file__).resolve().parents[2]


def _load_cluster_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "pricewise_local_cluster", ROOT / "hack" / "cluster.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


local = _load_cluster_module()


@dataclass(frozen=True)
class Cluster:
    """A running local cluster and a real kubectl for it."""

    kubeconfig: str
    kubectl_path: str
    env: dict[str, str]

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; with `check`, a failure fails the test with kubectl's own message."""
        result = subprocess.run(
            [self.kubectl_path, *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The local control plane with the default node pools."""
    started_here = not local.healthy()
    if started_here:
        try:
            local.up()
        except (SystemExit, subprocess.CalledProcessError, OSError) as err:
            pytest.fail(f"the local Kubernetes control plane did not start: {err}")
    bin_dirs = [str(local.bin_dir(c)) for c in ("kubernetes", "helm")]
    env = {
        **os.environ,
        "KUBECONFIG": str(local.kubeconfig()),
        "PATH": os.pathsep.join([*bin_dirs, os.environ.get("PATH", "")]),
    }
    yield Cluster(str(local.kubeconfig()), str(local.binary("kubectl")), env)
    if started_here and not os.environ.get("PRICEWISE_KEEP_CLUSTER"):
        local.down()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    deadline_args = ("get", "serviceaccount", "default", "-n", name)
    for _ in range(100):
        if cluster.kubectl(*deadline_args, check=False).returncode == 0:
            break
        subprocess.run(["sleep", "0.2"], check=True)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> None:
    """The pricewise CRDs, installed and established."""
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    for crd in ("trainingjobs", "pricetables", "budgets"):
        cluster.kubectl(
            "wait", "--for=condition=Established", f"crd/{crd}.pricewise.dev", "--timeout=60s"
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
        "PRICEWISE_SOLVER_SECONDS": "5",
        "PRICEWISE_NAMESPACE": "default",
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
