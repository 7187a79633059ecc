"""The few Kubernetes API calls the operator makes, as plain JSON over aiohttp.

Plain REST keeps the calls on kopf's event loop (no thread per request) and sends manifests
exactly as built; the official client is used only to read the kubeconfig or in-cluster account.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections import Counter
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import aiohttp
import yaml
from kubernetes import client, config

from pricewise.api.models import GROUP, VERSION
from pricewise.api.naming import JOB_LABEL, job_label
from pricewise.core.times import timestamp

log = logging.getLogger(__name__)

COMPONENT = "pricewise"
MERGE_PATCH = "application/merge-patch+json"
_PURPOSE: ContextVar[str] = ContextVar("pricewise_request_purpose", default="other")


@contextlib.contextmanager
def purpose(name: str) -> Iterator[None]:
    """Count the requests made inside under `name` (placement, waiting, lifecycle, ...).

    A context variable rather than an argument: the requests are made deep in the admission
    code, and each task of an `asyncio.gather` keeps the purpose it was started with.
    """
    token = _PURPOSE.set(name)
    try:
        yield
    finally:
        _PURPOSE.reset(token)


def current_purpose() -> str:
    """The purpose the requests made here are counted under."""
    return _PURPOSE.get()


class ApiError(Exception):
    """A request the API server refused, with its HTTP status and message."""

    def __init__(self, status: int, message: str, request: str = "") -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.request = request
        """What was asked, `GET /api/v1/nodes`: for messages that name no object of their own
        (the operator's name the object they were writing, so str() leaves it out)."""


class ConflictError(ApiError):
    """The object changed since it was read (HTTP 409): the write was not made."""


def load_configuration() -> client.Configuration:
    """Server address and credentials: the in-cluster service account, or else the kubeconfig
    (a ConfigException naming the file and what is wrong when it cannot be used)."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        _load_kubeconfig(configuration)
    return configuration


SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
"""Where a pod reads the namespace it runs in."""


def context_namespace() -> str:
    """The namespace `kubectl apply` puts an object without one in, where `load_configuration`
    finds the cluster: the pod's own, or the kubeconfig's current context's; `default` where
    neither says, or the kubeconfig cannot be read (reading the cluster then says why)."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):  # in a pod, as `load_configuration` tells
        with contextlib.suppress(OSError), open(SERVICE_ACCOUNT_NAMESPACE) as file:
            return file.read().strip() or "default"
    where = os.environ.get("KUBECONFIG") or "~/.kube/config"
    try:
        _, active = config.list_kube_config_contexts(config_file=where)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError, yaml.YAMLError, TypeError, AttributeError):
        return "default"
    return str(((active or {}).get("context") or {}).get("namespace") or "default")


def _load_kubeconfig(configuration: client.Configuration) -> None:
    # kubectl's rule: the files $KUBECONFIG lists (an empty one counts as unset), else
    # ~/.kube/config. The client reads its default once at import, so it is passed here.
    kubeconfig = os.environ.get("KUBECONFIG")
    where = kubeconfig or "~/.kube/config"
    paths = [os.path.expanduser(path) for path in where.split(os.pathsep) if path]
    if not any(os.path.exists(path) for path in paths):
        source = "from $KUBECONFIG" if kubeconfig else "kubectl's default: $KUBECONFIG is not set"
        raise config.ConfigException(
            f"no kubeconfig at {', '.join(paths)} ({source}); point KUBECONFIG at your "
            "cluster's kubeconfig"
        )
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=where, client_configuration=configuration
        )
    except yaml.YAMLError as err:
        raise config.ConfigException(_not_yaml(err, where)) from None
    except (TypeError, AttributeError) as err:
        # Valid YAML of another shape (a list, `users: 5`): the client indexes into it as is.
        raise config.ConfigException(
            f"kubeconfig {where} is not a kubeconfig ({err}); compare it with the output of "
            "`kubectl config view`"
        ) from None
    if not configuration.host:
        raise config.ConfigException(
            f"kubeconfig {where}: the current context's cluster has no server; add its "
            "address, e.g. server: https://127.0.0.1:6443"
        )


def _not_yaml(err: yaml.YAMLError, where: str) -> str:
    """Where a kubeconfig the client could not parse goes wrong, on one line: PyYAML's own
    message spans several, in parser terms, and names the file twice."""
    if isinstance(err, yaml.MarkedYAMLError) and err.problem_mark is not None:
        mark = err.problem_mark
        return (
            f"kubeconfig {mark.name} is not valid YAML: {err.problem} at line {mark.line + 1}, "
            f"column {mark.column + 1}; fix it, or point KUBECONFIG at another file"
        )
    return f"kubeconfig {where} is not valid YAML: {err}"


def _unserved(path: str, answer: object) -> bool:
    """Whether a 404 says that pricewise's own kinds are not served: the API server names the
    object it did not find (`details.name`), and names none when the kind itself is unknown."""
    details = answer.get("details") if isinstance(answer, dict) else None
    named = isinstance(details, dict) and details.get("name")
    return path.startswith(f"/apis/{GROUP}/") and not named


RETRIES_429 = 5
"""How many times a request the API server answers 429 is asked again."""


def _retry_after(header: str | None) -> float:
    """Seconds a 429's Retry-After asks for (1 where it says none), at most 10."""
    try:
        return min(10.0, max(0.0, float(header))) if header is not None else 1.0
    except ValueError:
        return 1.0


async def _answer(response: aiohttp.ClientResponse, method: str, path: str) -> dict[str, Any]:
    """A response's decoded JSON, or the ApiError it says."""
    request = f"{method} {path}"
    try:
        data = await response.json(content_type=None) if response.content_length != 0 else {}
    except ValueError:  # a proxy's error page, or a server that is not Kubernetes at all
        raise ApiError(
            response.status,
            f"the answer is {response.content_type or 'not JSON'}, not the API server's JSON: "
            f"is {response.url.origin()} the cluster's API server (the kubeconfig's server)?",
            request,
        ) from None
    data = {} if data is None else data  # an empty body sent in chunks
    if response.status >= 400:
        said = data.get("message") if isinstance(data, dict) else None
        message = str(said or response.reason)
        if response.status == 404 and _unserved(path, data):
            message += "; the pricewise CRDs are not installed: kubectl apply -f crds/"
        error = ConflictError if response.status == 409 else ApiError
        raise error(response.status, message, request)
    if not isinstance(data, dict):
        raise ApiError(response.status, f"the answer is a JSON {type(data).__name__}", request)
    return data


class Kube:
    """An asynchronous JSON client for the handful of requests the operator makes."""

    def __init__(self, configuration: client.Configuration, connections: int = 32) -> None:
        self.host = configuration.host.rstrip("/")
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, configuration.key_file)
        if not configuration.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self.ssl = context
        self.headers = {"Accept": "application/json"}
        token = (configuration.api_key or {}).get("authorization") or (
            configuration.api_key or {}
        ).get("BearerToken")
        if token:
            self.headers["Authorization"] = (
                token if token.startswith("Bearer") else f"Bearer {token}"
            )
        self.connections = connections
        self.may_write: Callable[[], bool] = lambda: True
        """Whether writes may go out: the scheduler's client sends none once its replica's
        Lease lapsed (a cycle that went on writing for 20 s after it could place beside the
        next leader's)."""
        self._session: aiohttp.ClientSession | None = None
        self.requests: Counter[str] = Counter()
        """Requests made so far, by purpose (for the API requests per placed and per waiting
        job that the benchmarks report)."""

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> dict[str, Any]:
        """One request; the decoded JSON answer, or ApiError. A 429 (the API server's priority
        and fairness, or a kind whose storage is still starting) is asked again after its
        Retry-After, as client-go does, up to `RETRIES_429` times: a quote made right after
        the CRDs were installed failed with "storage is (re)initializing"."""
        if method != "GET" and not self.may_write():
            raise ApiError(503, "this replica's Lease lapsed: not written", f"{method} {path}")
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self.ssl, limit=self.connections)
            self._session = aiohttp.ClientSession(connector=connector, headers=self.headers)
        retries = 0
        while True:
            self.requests[current_purpose()] += 1
            async with self._session.request(
                method, self.host + path, json=body, headers={"Content-Type": content_type}
            ) as response:
                if response.status != 429 or retries == RETRIES_429:
                    return await _answer(response, method, path)
                wait = _retry_after(response.headers.get("Retry-After"))
            retries += 1
            await asyncio.sleep(wait)

    @staticmethod
    def _custom_path(plural: str, namespace: str | None, name: str) -> str:
        scope = f"/namespaces/{namespace}" if namespace else ""
        return f"/apis/{GROUP}/{VERSION}{scope}/{plural}/{name}"

    async def patch_status(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        status: dict[str, Any],
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patch an object's status; with `resource_version`, only if it is unchanged."""
        body: dict[str, Any] = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        path = self._custom_path(plural, namespace, name) + "/status"
        return await self.request("PATCH", path, body, MERGE_PATCH)

    async def create(self, manifest: dict[str, Any]) -> bool:
        """Create a Pod or Service; False when it already exists (creation is idempotent).
        Strict: a field the API server does not know is refused, not dropped (a template's
        `comand:` ran the image's own entrypoint on a paid node)."""
        namespace = manifest["metadata"]["namespace"]
        plural = "pods" if manifest["kind"] == "Pod" else "services"
        path = f"/api/v1/namespaces/{namespace}/{plural}?fieldValidation=Strict"
        try:
            await self.request("POST", path, manifest)
        except ConflictError:
            return False
        return True

    async def delete_job(self, namespace: str, name: str, uid: str, resource_version: str) -> bool:
        """Delete a TrainingJob as it was read (its uid and resourceVersion as preconditions),
        its workers after it by the garbage collector; False where it is gone or changed since
        (re-created under its name, or edited: its TTL is then read again from the new one)."""
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"uid": uid, "resourceVersion": resource_version},
            "propagationPolicy": "Background",
        }
        try:
            path = self._custom_path("trainingjobs", namespace, name)
            await self.request("DELETE", path, options)
        except ApiError as err:
            if err.status in (404, 409):
                return False
            raise
        return True

    async def owner_uid(self, plural: str, namespace: str, name: str) -> str | None:
        """The uid of the controller of a pod or Service (`plural`): empty where it has none,
        None where it is gone."""
        try:
            obj = await self.request("GET", f"/api/v1/namespaces/{namespace}/{plural}/{name}")
        except ApiError as err:
            if err.status == 404:
                return None
            raise
        refs = (obj.get("metadata") or {}).get("ownerReferences") or []
        return next((str(r.get("uid")) for r in refs if r.get("controller")), "")

    async def delete_workers(self, namespace: str, job: str, ended_too: bool = True) -> None:
        """Delete a job's worker pods (its Service stays for the next placement); without
        `ended_too`, only those still running or to run: the ended ones keep their logs."""
        still = (
            "" if ended_too else "&fieldSelector=status.phase!%3DSucceeded,status.phase!%3DFailed"
        )
        await self.request(
            "DELETE",
            f"/api/v1/namespaces/{namespace}/pods?labelSelector={JOB_LABEL}%3D{job_label(job)}"
            f"{still}&gracePeriodSeconds=0",
        )

    async def event(
        self, obj: dict[str, Any], kind: str, reason: str, message: str, warning: bool = False
    ) -> None:
        """Record an Event on an object, shown by `kubectl describe`."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        now = timestamp(datetime.now(UTC))
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": kind,
                "name": meta["name"],
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self.request("POST", f"/api/v1/namespaces/{namespace}/events", event)

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Lease, or None when there is none."""
        try:
            return await self.request(
                "GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"
            )
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    async def write_lease(self, lease: dict[str, Any], create: bool) -> None:
        """Create a Lease, or replace it (guarded by its resourceVersion)."""
        meta = lease["metadata"]
        base = f"/apis/coordination.k8s.io/v1/namespaces/{meta['namespace']}/leases"
        if create:
            await self.request("POST", base, lease)
        else:
            await self.request("PUT", f"{base}/{meta['name']}", lease)


async def record_event(
    kube: Kube, obj: dict[str, Any], kind: str, reason: str, message: str, warning: bool = False
) -> None:
    """`Kube.event`, best effort: an event never fails a cycle. One the API server refuses is
    logged as a warning, naming the object: an admission policy denying Events in a namespace
    left its jobs' `Admitted` and `MaxWaitExceeded` events missing without a word."""
    try:
        await kube.event(obj, kind, reason, message, warning)
    except Exception as err:
        meta = obj["metadata"]
        where = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
        log.warning(
            "%s event on %s %s not recorded (RBAC, an admission policy on Events, or its "
            "namespace being deleted?): %s",
            reason, kind, where, err, exc_info=not isinstance(err, ApiError),
        )  # fmt: skip
