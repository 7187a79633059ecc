"""What a worker pod asks of a node: its requests read as kube-scheduler counts them (init
containers, sidecars), a job option's worker with its template's requests, and a template's
device asks that its option does not name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pricewise.api import models as api
from pricewise.core.bounds import MAX_CPU_CORES, MAX_MEMORY_GIB
from pricewise.core.snapshot import (
    GPU,
    TPU,
    Resources,
)
from pricewise.core.units import cpu_millis, memory_mib, parse_quantity

DEFAULT_CPU = "1"
DEFAULT_MEMORY = "2Gi"
TERMINAL_POD_PHASES = ("Succeeded", "Failed")
"""Phases of a pod that holds no room on its node any more."""


def device_resource(accelerator: str) -> str | None:
    """The extended resource a worker of this accelerator kind requests, if any."""
    if accelerator == "cpu":
        return None
    return TPU if accelerator.startswith("tpu") else GPU


def resources_of(requests: Mapping[str, Any], room: bool = False) -> Resources:
    """Kubernetes requests, or with `room` allocatable (`{"cpu": "32", ...}`), as `Resources`
    (see `memory_mib`: 954Mi asked fitted 1000M allocatable, which the kubelet refuses)."""
    return Resources(
        cpu=cpu_millis(requests.get("cpu", 0)),
        memory=memory_mib(requests.get("memory", 0), room),
        gpu=int(parse_quantity(requests.get(GPU, 0))),
        tpu=int(parse_quantity(requests.get(TPU, 0))),
    )


def pod_requests(pod_spec: Mapping[str, Any]) -> Resources:
    """What a pod requests, as kube-scheduler counts it: its containers' requests and its
    sidecars' (init containers that keep running) summed, or, where more, what an init
    container asks beside the sidecars started before it (an init container of 500 CPUs on a
    worker planned for 1 left its pod unschedulable, and its job requeued every two minutes)."""

    def asked(container: Mapping[str, Any]) -> Resources:
        return resources_of((container.get("resources") or {}).get("requests") or {})

    sidecars = Resources()
    peak = Resources()
    for container in pod_spec.get("initContainers") or []:
        if _is_sidecar(container):
            sidecars = sidecars + asked(container)
        else:
            peak = _most(peak, sidecars + asked(container))
    total = sidecars
    for container in pod_spec.get("containers") or []:
        total = total + asked(container)
    return _most(total, peak)


def first_container_requests(worker: Resources, pod_spec: Mapping[str, Any]) -> dict[str, str]:
    """CPU and memory for the first container of a worker's pod, so that the pod asks what
    `worker` is as kube-scheduler counts it (`pod_requests`): none where the template's own
    requests already do, else what the other containers and the sidecars leave of it (the
    worker's whole CPU written onto the first container came on top of a sidecar's again)."""
    asked = pod_requests(pod_spec)
    containers = pod_spec.get("containers") or []
    inits = pod_spec.get("initContainers") or []
    sidecars = [c for c in inits if _is_sidecar(c)]
    beside = pod_requests({"containers": containers[1:], "initContainers": sidecars})
    out = {}
    if asked.cpu != worker.cpu:
        out["cpu"] = f"{max(worker.cpu - beside.cpu, 0)}m"
    if asked.memory != worker.memory:
        out["memory"] = f"{max(worker.memory - beside.memory, 0)}Mi"
    return out


def _is_sidecar(container: Mapping[str, Any]) -> bool:
    """Whether an init container keeps running beside the containers (a sidecar)."""
    return container.get("restartPolicy") == "Always"


def _most(a: Resources, b: Resources) -> Resources:
    """Each resource's larger amount."""
    return Resources(
        max(a.cpu, b.cpu), max(a.memory, b.memory), max(a.gpu, b.gpu), max(a.tpu, b.tpu)
    )


def _devices_elsewhere(pod_spec: Mapping[str, Any]) -> str | None:
    """A device request of a container other than the first (a sidecar's, an init
    container's), as an error naming it: pricewise plans a worker's devices from its option,
    given to the first container, and a sidecar's 3 GPUs beside them ran on 4 billed as 1."""
    inits = enumerate(pod_spec.get("initContainers") or [])
    others = list(enumerate(pod_spec.get("containers") or []))[1:]
    places = [(f"initContainers[{i}]", c) for i, c in inits]
    places += [(f"containers[{i}]", c) for i, c in others]
    for where, container in places:
        for kind, name, _ in _device_asks(container):
            return (
                f"spec.template.spec.{where}.resources.{kind}[{name}]: only the first "
                "container holds devices, as spec.options[].devicesPerWorker gives them; "
                "remove it"
            )
    return None


def _device_asks(container: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """Each device a container asks for: (requests or limits, resource name, amount)."""
    resources = container.get("resources") or {}
    for kind in ("requests", "limits"):
        for name in (GPU, TPU):
            given = (resources.get(kind) or {}).get(name)
            if given is not None:
                yield kind, name, given


def _bad_request(pod_spec: Mapping[str, Any]) -> str | None:
    """The first container request that is not a quantity, with its field: "a container's
    requests: 'lots' is not a quantity" named neither the container nor the resource."""
    for i, container in enumerate(pod_spec.get("containers") or []):
        requests = (container.get("resources") or {}).get("requests") or {}
        for name in ("cpu", "memory", GPU, TPU):
            try:
                resources_of({name: requests.get(name, 0)})
            except ValueError as err:
                return f"spec.template.spec.containers[{i}].resources.requests[{name}]: {err}"
    return None


def _too_large(pod_spec: Mapping[str, Any], name: str, most: str) -> str:
    """The error for a worker asking more `name` than any node could have, naming the field
    of the container that asks most."""
    asked = [
        getattr(resources_of((c.get("resources") or {}).get("requests") or {}), name)
        for c in pod_spec.get("containers") or []
    ]
    field = f"spec.template.spec.containers[{asked.index(max(asked))}].resources.requests"
    return (
        f"{field}[{name}]: a worker requests more than {most}, which no node has; request "
        "what one worker (one pod) needs"
    )


def worker_resources(option: api.JobOption, template: Mapping[str, Any]) -> Resources:
    """Requests of one worker of this option: the template's CPU and memory, the option's
    devices, with the option's own cpu/memory taking precedence.

    Raises ValueError, naming the field, for a template request that is not a quantity or is
    larger than any node could be.
    """
    spec = template.get("spec") or {}
    try:
        from_template = pod_requests(spec)
    except ValueError as err:
        raise ValueError(_bad_request(spec) or f"spec.template: {err}") from None
    elsewhere = _devices_elsewhere(spec)
    if elsewhere is not None:
        raise ValueError(elsewhere)
    if from_template.cpu > MAX_CPU_CORES * 1000:
        raise ValueError(_too_large(spec, "cpu", f"{MAX_CPU_CORES:,} CPUs"))
    if from_template.memory > MAX_MEMORY_GIB * 1024:
        raise ValueError(_too_large(spec, "memory", f"{MAX_MEMORY_GIB:,}Gi of memory"))
    if option.cpu is not None:
        cpu = cpu_millis(option.cpu)
    elif option.accelerator == "cpu":
        cpu = option.devices_per_worker * 1000
    else:
        cpu = from_template.cpu or cpu_millis(DEFAULT_CPU)
    memory = (
        memory_mib(option.memory)
        if option.memory is not None
        else from_template.memory or memory_mib(DEFAULT_MEMORY)
    )
    # At least what the pod asks beside its first container: kube-scheduler reserves that
    # whatever the option says (an option of 1 CPU beside an init container of 4 was planned
    # at 1, and its pod asked 4 on a node packed for 1).
    containers = spec.get("containers") or []
    bare = {**spec, "containers": [{}, *containers[1:]]} if containers else spec
    floor = pod_requests(bare)
    cpu, memory = max(cpu, floor.cpu), max(memory, floor.memory)
    device = device_resource(option.accelerator)
    return Resources(
        cpu=cpu,
        memory=memory,
        gpu=option.devices_per_worker if device == GPU else 0,
        tpu=option.devices_per_worker if device == TPU else 0,
    )


def template_devices(option: api.JobOption, template: Mapping[str, Any]) -> str | None:
    """What the first container of a worker's template asks of devices that pricewise does not
    plan, said as a Warning event says it; None where it asks none, or what the option gives.

    A pod spec copied from elsewhere often carries `nvidia.com/gpu: 8`: the option's own count
    (`devicesPerWorker: 1`) replaces it, and the worker ran with one without a word; asked of
    an option with another device, or none (cpu), it is kept, and the pod cannot start.
    """
    device = device_resource(option.accelerator)
    containers = (template.get("spec") or {}).get("containers") or []
    for kind, name, given in _device_asks(containers[0]) if containers else ():
        field = f"spec.template.spec.containers[0].resources.{kind}[{name}]: {given}"
        fix = "leave devices out of the template: spec.options[].devicesPerWorker gives them"
        if name != device:
            return (
                f"{field} is kept, but option {option.accelerator} gives no {name}: the "
                f"worker cannot start on its pool's nodes; {fix}"
            )
        try:
            same = parse_quantity(given) == option.devices_per_worker
        except ValueError:
            same = False
        if not same:
            return (
                f"{field} is replaced by the option's devicesPerWorker "
                f"({option.devices_per_worker} on {option.accelerator}); {fix}"
            )
    return None
