"""From API objects and Kubernetes objects (plain dicts) to the solver's snapshot types.

Shared by `pricewise plan` (objects read from files) and the operator (objects from watches).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pricewise.api import models as api
from pricewise.api.naming import PROGRESS_ANNOTATION
from pricewise.core.accounting import period_bounds
from pricewise.core.bounds import MAX_CPU_CORES, MAX_MEMORY_GIB
from pricewise.core.snapshot import (
    GPU,
    TPU,
    BudgetView,
    Job,
    JobOption,
    Node,
    Pool,
    PoolPrices,
    Quota,
    Resources,
)
from pricewise.core.times import as_utc
from pricewise.core.units import cpu_millis, memory_mib, parse_duration, parse_quantity, to_micros

DEFAULT_CPU = "1"
DEFAULT_MEMORY = "2Gi"
TERMINAL_POD_PHASES = ("Succeeded", "Failed")
MOST_SAVED = 0.99
"""Most of a job's work taken as saved: a restarted job always has some left to plan."""


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


def reported_progress(body: Mapping[str, Any]) -> float | None:
    """The share of work the trainer says it has saved (`pricewise.dev/progress`), None when
    it says nothing; a value that is not a number from 0 to 1 raises ValueError naming it."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(PROGRESS_ANNOTATION)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise ValueError(
            f"annotation {PROGRESS_ANNOTATION}={text!r} is not a share of the work from 0 to 1 "
            "(e.g. 0.4): it is ignored"
        )
    return value


def job_from(tj: api.TrainingJob, created: datetime | None = None) -> Job:
    """The solver's view of a TrainingJob."""
    spec = tj.spec
    work = spec.work or 1.0
    # What checkpoints saved before a restart is not done again; the speeds stay per unit.
    left = work * (1 - min(tj.status.progress, MOST_SAVED))
    options = tuple(
        JobOption(
            accelerator=o.accelerator,
            devices_per_worker=o.devices_per_worker,
            worker=worker_resources(o, spec.template),
            throughput=o.throughput
            if o.throughput is not None
            else work / parse_duration(o.duration or "0s"),
            index=i,
            duration_s=None if o.duration is None else parse_duration(o.duration),
        )
        for i, o in enumerate(spec.options)
    )
    return Job(
        namespace=tj.metadata.namespace,
        name=tj.metadata.name,
        options=options,
        work=left,
        min_workers=spec.workers.min,
        max_workers=spec.workers.max,
        scaling_efficiency=spec.scaling_efficiency,
        deadline=spec.deadline and as_utc(spec.deadline),
        max_duration_s=parse_duration(spec.max_duration) if spec.max_duration else None,
        min_throughput=spec.min_throughput,
        max_cost=None if spec.max_cost is None else to_micros(spec.max_cost),
        value=None if spec.value is None else to_micros(spec.value),
        priority=spec.priority,
        allow_spot=spec.allow_spot,
        preempts=spec.preemption_policy == "PreemptLowerPriority",
        created=created and as_utc(created),
        max_wait_s=parse_duration(spec.max_wait) if spec.max_wait else None,
        checkpoint_s=parse_duration(spec.checkpoint.interval) if spec.checkpoint else None,
        restarts_left=max(spec.failure_policy.max_restarts - tj.status.restarts, 0),
        runs_late=spec.when_late == "Run",
    )


def _selector(labels: Mapping[str, str]) -> str:
    """Labels as `kubectl get -l` takes them, keys sorted as Kubernetes prints a selector:
    `pricewise.dev/pool=l4,zone=a`."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Whether a pool's node selector picks a node of these labels."""
    return all(labels.get(k) == v for k, v in selector.items())


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    labels: Mapping[str, str] = (obj.get("metadata") or {}).get("labels") or {}
    return labels


def _schedulable(node: Mapping[str, Any]) -> bool:
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return True


def node_usage(pods: Iterable[Mapping[str, Any]]) -> dict[str, Resources]:
    """Requests of the live pods bound to each node."""
    used: dict[str, Resources] = {}
    for pod in pods:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name or (pod.get("status") or {}).get("phase") in TERMINAL_POD_PHASES:
            continue
        used[node_name] = used.get(node_name, Resources()) + pod_requests(pod["spec"])
    return used


@dataclass(frozen=True)
class PoolProblem:
    """Something about a pool an admin should fix, for the conditions of the PriceTables named."""

    tables: tuple[str, ...]
    reason: str
    message: str
    pool: str = ""
    """The pool left out of its table: its name an older table uses, or its selector one no
    node can match."""


def _pool(spec: api.Pool, members: list[Node], order: int, unavailable: list[Node]) -> Pool:
    return Pool(
        name=spec.name,
        accelerator=spec.accelerator,
        capacity_type=spec.capacity_type,
        prices=PoolPrices(
            per_device_hour=to_micros(spec.prices.per_device_hour),
            per_cpu_hour=to_micros(spec.prices.per_cpu_hour),
            per_gib_hour=to_micros(spec.prices.per_gib_hour),
            per_node_hour=to_micros(spec.prices.per_node_hour),
        ),
        nodes=tuple(sorted(members, key=lambda n: n.name)),
        order=order,
        power_per_device_watts=spec.power_per_device_watts,
        unavailable=tuple(unavailable),
        interruption_rate=spec.interruption_rate if spec.capacity_type == "spot" else 0.0,
    )


def pools_from(
    tables: Iterable[api.PriceTable],
    nodes: Iterable[Mapping[str, Any]],
    used: Mapping[str, Resources] | None = None,
) -> tuple[tuple[Pool, ...], list[PoolProblem]]:
    """Pools with their schedulable nodes' free room, and problems worth an admin's attention.

    `tables` come oldest first: a node two pools select belongs to the first pool that selects
    it, so a table added later can never take over nodes that are already priced; a pool name
    already used by an earlier table is left out. Both are reported to the table that came
    later, whose pools they change: the older one works as it did, and stays Ready.
    """
    used = used or {}
    node_list = list(nodes)
    pools: list[Pool] = []
    problems: list[PoolProblem] = []
    owner: dict[str, tuple[str, str]] = {}
    """node name -> (table, pool) it is counted in."""
    selector: dict[tuple[str, str], dict[str, str]] = {}
    pool_table: dict[str, str] = {}
    for table in tables:
        here = table.metadata.name
        for spec in table.spec.pools:
            if spec.name in pool_table:
                first = pool_table[spec.name]
                message = (
                    f"pool {spec.name} is defined by PriceTable {first} and {here}; "
                    f"only {first}'s is used"
                )
                problems.append(PoolProblem((here,), "DuplicatePool", message, spec.name))
                continue
            pool_table[spec.name] = here
            bad = next(
                (why for k, v in spec.node_selector.items() if (why := api.bad_label(k, v))), None
            )
            if bad is not None:
                # No node can match it; said as such, not as nodes missing.
                message = f"pool {spec.name}: spec.nodeSelector: {bad}; it is not used"
                problems.append(PoolProblem((here,), "InvalidSelector", message, spec.name))
                continue
            selector[(here, spec.name)] = spec.node_selector
            members: list[Node] = []
            unavailable: list[Node] = []
            taken: dict[tuple[str, str], list[str]] = {}
            """(table, pool) that counts nodes this pool selects too: those nodes."""
            for node in node_list:
                labels = _labels(node)
                if not selects(spec.node_selector, labels):
                    continue
                name = node["metadata"]["name"]
                if name in owner:
                    taken.setdefault(owner[name], []).append(name)
                    continue
                owner[name] = (here, spec.name)
                allocatable = resources_of(
                    (node.get("status") or {}).get("allocatable") or {}, room=True
                )
                if not _schedulable(node):
                    unavailable.append(Node(name, allocatable, Resources()))
                    continue
                members.append(Node(name, allocatable, allocatable - used.get(name, Resources())))
            for (first_table, first_pool), names in taken.items():
                narrower = selector[(first_table, first_pool)].items()
                if first_table == here and narrower > spec.node_selector.items():
                    # A pool listed first in the same table whose selector adds labels to this
                    # one's (a spot pool before the on-demand pool of its machine type, as
                    # `prices init` writes them): meant, as a selector cannot say a label is
                    # absent.
                    continue
                # No count: it would rewrite the table's status at every scale-up.
                listed = ", ".join(names[:3]) + (", ..." if names[3:] else "")
                problems.append(
                    PoolProblem(
                        (here,),
                        "NodeInTwoPools",
                        f"node(s) {listed} match pools {first_pool} ({first_table}) and "
                        f"{spec.name} ({here}); they are counted in {first_pool} only",
                    )
                )
            if not members and not unavailable and not taken:
                problems.append(
                    PoolProblem(
                        (here,),
                        "PoolWithoutNodes",
                        f"pool {spec.name} matches no node (selector "
                        f"{_selector(spec.node_selector)})",
                    )
                )
            elif without := _without_devices(spec, members):
                problems.append(PoolProblem((here,), "PoolWithoutDevices", without))
            if not spec.prices.model_fields_set:
                # Unset prices are zero: the pool is free, and every job that can run there
                # goes there first, which an admin rarely means (a typo, a pool to price later).
                problems.append(
                    PoolProblem(
                        (here,),
                        "PoolWithoutPrice",
                        f"pool {spec.name} has no price: jobs placed there cost nothing; set "
                        "its prices (perDeviceHour, perCpuHour, perGiBHour or perNodeHour, 0 "
                        "for a free pool; `pricewise prices import` fills them from a catalog)",
                    )
                )
            elif (
                device_resource(spec.accelerator) is None
                and spec.prices.per_device_hour > 0
                and not (
                    spec.prices.per_cpu_hour
                    or spec.prices.per_gib_hour
                    or spec.prices.per_node_hour
                )
            ):
                # A cpu pool's workers ask for no device: a price per device is never charged.
                problems.append(
                    PoolProblem(
                        (here,),
                        "PoolWithoutPrice",
                        f"pool {spec.name} is priced perDeviceHour only, but a cpu pool's "
                        "workers ask for no GPU or TPU: jobs placed there cost nothing; price "
                        "its CPU cores with perCpuHour (and memory with perGiBHour)",
                    )
                )
            pools.append(_pool(spec, members, len(pools), unavailable))
    return tuple(pools), problems


def _without_devices(spec: api.Pool, members: list[Node]) -> str:
    """Why no worker can ever fit the pool's nodes, when the device its accelerator name asks
    for is on none of them (a TPU pool named `v5e` asks for GPUs); empty when some node has it.
    """
    device = device_resource(spec.accelerator)
    if device is None or not members:
        return ""
    if any(n.allocatable.tpu if device == TPU else n.allocatable.gpu for n in members):
        return ""
    # No node count in the message: it would rewrite the table's status at every scale-up.
    return (
        f"pool {spec.name}: accelerator {spec.accelerator} asks each worker for {device}, which "
        f"none of its nodes has, so no job can run there: either its nodes' device plugin has "
        f"not registered yet, or the name is wrong (an accelerator named tpu-... asks for "
        f"{TPU}, cpu for CPU cores, any other name for {GPU})"
    )


QUOTA_KEYS = {
    "requests.nvidia.com/gpu": GPU,
    "requests.google.com/tpu": TPU,
    "requests.cpu": "cpu",
    "cpu": "cpu",
    "requests.memory": "memory",
    "memory": "memory",
    "pods": "pods",
}
"""ResourceQuota keys the planner counts, and what each counts in a `Quota`."""


def _quota_amount(resource: str, value: Any, room: bool) -> int:
    if resource == "cpu":
        return cpu_millis(value)
    if resource == "memory":
        return memory_mib(value, room)
    return int(parse_quantity(value))


def _quota_field(path: str, resource: str, value: Any, room: bool = False) -> int:
    """`_quota_amount` (a limit is `room`), its error naming the field it came from."""
    try:
        return _quota_amount(resource, value, room)
    except (ValueError, ArithmeticError) as err:
        raise ValueError(f"{path}: {err}") from err


def quota_from(
    resource_quota: Mapping[str, Any],
    jobs: Iterable[tuple[str, str, Mapping[str, Any]]] = (),
) -> Quota:
    """What a ResourceQuota still allows: hard minus used, for the resources pricewise places;
    where it has scopes, which of `jobs` (namespace, name and pod template of each) it counts
    (`quota_counts`).

    Raises ValueError naming the field (`spec.hard.requests.cpu: ...`) for a quantity it cannot
    read."""
    meta = resource_quota.get("metadata") or {}
    spec = resource_quota.get("spec") or {}
    counted = None
    if spec.get("scopes") or spec.get("scopeSelector"):
        namespace = meta.get("namespace", "default")
        counted = frozenset(
            name
            for where, name, template in jobs
            if where == namespace and quota_counts(resource_quota, template)
        )
    status = resource_quota.get("status") or {}
    # The API server copies spec.hard into status.hard; users correct it in spec, so errors
    # name spec.hard either way.
    hard = status.get("hard") or (resource_quota.get("spec") or {}).get("hard") or {}
    used = status.get("used") or {}
    remaining: dict[str, int] = {}
    limits: dict[str, int] = {}
    for key, value in hard.items():
        resource = QUOTA_KEYS.get(key)
        if resource is not None:
            limit = _quota_field(f"spec.hard.{key}", resource, value, room=True)
            left = limit - _quota_field(f"status.used.{key}", resource, used.get(key, 0))
            remaining[resource] = min(left, remaining.get(resource, left))
            limits[resource] = min(limit, limits.get(resource, limit))
    return Quota(
        meta.get("namespace", "default"), meta.get("name", ""), remaining, hard=limits, jobs=counted
    )


def quota_counts(resource_quota: Mapping[str, Any], template: Mapping[str, Any]) -> bool:
    """Whether a ResourceQuota counts the workers pricewise makes from a TrainingJob's pod
    `template`, by its scopes (`spec.scopes`, `spec.scopeSelector`), as the API server matches
    them: every scope must. Workers always request what they run on (`workers.worker_pod`), so
    they are never BestEffort, and their affinity is pricewise's own, with no pod affinity
    across namespaces; a priority class is the template's own (a cluster's global default is
    not known here). A scope pricewise does not know counts them, as a limit must not be
    missed."""
    spec = resource_quota.get("spec") or {}
    pod = template.get("spec") or {}
    priority = pod.get("priorityClassName") or ""
    terminating = pod.get("activeDeadlineSeconds") is not None
    known: dict[str, bool] = {
        "Terminating": terminating,
        "NotTerminating": not terminating,
        "BestEffort": False,
        "NotBestEffort": True,
        "PriorityClass": bool(priority),
        "CrossNamespacePodAffinity": False,
    }
    if not all(known.get(scope, True) for scope in spec.get("scopes") or ()):
        return False
    for term in (spec.get("scopeSelector") or {}).get("matchExpressions") or ():
        scope, operator = term.get("scopeName"), term.get("operator")
        values = term.get("values") or ()
        if scope == "PriorityClass" and operator in ("In", "NotIn"):
            if (priority in values) != (operator == "In"):
                return False
        elif operator == "DoesNotExist":
            if known.get(scope, False):
                return False
        elif not known.get(scope, True):  # Exists
            return False
    return True


def budget_from(
    budget: api.Budget,
    spent: float | None = None,
    committed: float | None = None,
    now: datetime | None = None,
) -> BudgetView:
    """The solver's view of a Budget; spent and committed default to its status, and the end
    of its period, without `now` to tell the current one, too."""
    end = budget.status.period_end
    if now is not None:
        _, end = period_bounds(budget.spec.period, budget.spec.time_zone, now)
    return BudgetView(
        namespace=budget.metadata.namespace,
        name=budget.metadata.name,
        limit=to_micros(budget.spec.limit),
        spent=to_micros(budget.status.spent if spent is None else spent),
        committed=to_micros(budget.status.committed if committed is None else committed),
        hard=budget.spec.enforcement == "hard",
        currency=budget.spec.currency,
        period=budget.spec.period,
        period_end=end,
    )


def price_changes(old: api.PriceTable, new: api.PriceTable) -> str:
    """What a PriceTable edit changed in its pools' prices, for an event on it; empty where
    nothing did. One phrase a pool, in the new table's order: `nvidia-l4 perDeviceHour 0.7 -> 2
    USD`, a pool added (at its prices) or taken out (its running jobs go on at their last
    prices); where a pool's prices moved, what that does to running and waiting jobs."""
    before = {p.name: p.prices.model_dump(by_alias=True) for p in old.spec.pools}
    currency, said, repriced = new.spec.currency, [], False
    for pool in new.spec.pools:
        now = pool.prices.model_dump(by_alias=True)
        was = before.get(pool.name)
        if was is None:
            prices = [f"{unit} {price:g}" for unit, price in now.items() if price]
            said.append(f"{pool.name} added at {', '.join(prices) or 'no price'} {currency}")
            continue
        moved = [f"{unit} {was[unit]:g} -> {now[unit]:g}" for unit in now if was[unit] != now[unit]]
        if moved:
            said.append(f"{pool.name} {', '.join(moved)} {currency}")
            repriced = True
    after = {p.name for p in new.spec.pools}
    said += [
        f"{name} taken out (jobs running on it go on accruing at its last prices)"
        for name in before
        if name not in after
    ]
    if not said:
        return ""
    message = f"prices changed: {'; '.join(said)}"
    if repriced:
        message += (
            ". Running jobs accrue at the new prices from the change on, and their estimates "
            "and budgets' committed follow; waiting jobs are planned at them"
        )
    return message
