"""`pricewise prices import`: prices for a PriceTable's pools from a price catalog in SkyPilot's
`vms.csv` format, and `pricewise prices diff`.

A catalog row is a machine (`InstanceType`) or, on GCP, an accelerator alone (no
`InstanceType`; `AcceleratorName` and `AcceleratorCount`), per region and zone, with `Price`
(on-demand) and `SpotPrice` per hour. On GCP a GPU VM costs its machine row plus its
accelerator row (SkyPilot adds them the same way); AWS and Lambda rows are whole instances. A
machine's price (with its accelerators) becomes the pool's `perNodeHour`, so a worker pays its
share of the node; an accelerator found without its machine becomes `perDeviceHour`. Where a
region lists a price in several zones, the lowest is taken (spot prices differ by zone).

The catalog is checked whole before anything is printed: a missing column, a price that is not
a number or a duplicate row is an error naming the row and column, and nothing is written.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pricewise.api.convert import resources_of
from pricewise.api.models import PriceTable
from pricewise.offline.columns import columns

REQUIRED = ("InstanceType", "AcceleratorName", "AcceleratorCount", "Region", "Price", "SpotPrice")
CATALOG_ACCELERATORS = {
    "nvidia-t4": "T4",
    "nvidia-p100": "P100",
    "nvidia-v100": "V100",
    "nvidia-a100": "A100",
    "nvidia-a100-80gb": "A100-80GB",
    "nvidia-l4": "L4",
    "nvidia-a10g": "A10G",
    "nvidia-h100": "H100",
    "nvidia-h200": "H200",
}
"""pricewise's accelerator name -> the catalog's `AcceleratorName`."""


class CatalogError(ValueError):
    """A catalog that cannot be used, naming the row and the column."""


@dataclass(frozen=True)
class Row:
    """One catalog row: what it prices, where, and for how much per hour."""

    line: int
    instance_type: str
    accelerator: str
    count: int
    region: str
    zone: str
    price: float | None
    spot: float | None


def _number(text: str, line: int, column: str, blank_ok: bool) -> float | None:
    if text.strip() == "":
        if blank_ok:
            return None
        raise CatalogError(f"row {line}, column {column}: empty; a price is required")
    try:
        value = float(text)
    except ValueError:
        raise CatalogError(f"row {line}, column {column}: {text!r} is not a number") from None
    if value < 0:
        raise CatalogError(f"row {line}, column {column}: {text} is negative")
    return value


def read_catalog(path: str | Path) -> list[Row]:
    """Every row of a `vms.csv` catalog, checked."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise CatalogError(f"{path}: cannot read: {err.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise CatalogError(
            f"{path}: missing column(s) {', '.join(missing)}; a SkyPilot vms.csv has "
            f"{', '.join(REQUIRED)} (and AvailabilityZone)"
        )
    rows: list[Row] = []
    seen: dict[tuple[str, str, int, str, str], int] = {}
    for line, record in enumerate(reader, start=2):
        count = _number(record.get("AcceleratorCount") or "", line, "AcceleratorCount", True)
        row = Row(
            line=line,
            instance_type=(record.get("InstanceType") or "").strip(),
            accelerator=(record.get("AcceleratorName") or "").strip(),
            count=int(count or 0),
            region=(record.get("Region") or "").strip(),
            zone=(record.get("AvailabilityZone") or "").strip(),
            price=_number(record.get("Price") or "", line, "Price", blank_ok=True),
            spot=_number(record.get("SpotPrice") or "", line, "SpotPrice", blank_ok=True),
        )
        key = (row.instance_type, row.accelerator, row.count, row.region, row.zone)
        if key in seen:
            what = ", ".join(str(part) for part in key if part)
            raise CatalogError(f"{path}: row {line} repeats row {seen[key]} ({what})")
        seen[key] = line
        rows.append(row)
    return rows


def _cheapest(rows: Iterable[Row], spot: bool) -> float | None:
    prices = [r.spot if spot else r.price for r in rows]
    known = [p for p in prices if p is not None]
    return min(known) if known else None


def _devices(pool: Mapping[str, Any], nodes: Sequence[Mapping[str, Any]]) -> int | None:
    """Devices of one node of the pool, from the node list (when given)."""
    selector = pool.get("nodeSelector") or {}
    for node in nodes:
        labels = (node.get("metadata") or {}).get("labels") or {}
        if all(labels.get(k) == v for k, v in selector.items()):
            return resources_of((node.get("status") or {}).get("allocatable") or {}).devices
    return None


def price_pool(
    pool: Mapping[str, Any], rows: Sequence[Row], nodes: Sequence[Mapping[str, Any]] = ()
) -> tuple[dict[str, float] | None, str]:
    """The prices of one pool from the catalog, and how they were found (or why not)."""
    machine, region = pool.get("instanceType"), pool.get("region")
    if not machine or not region:
        return None, "no instanceType or region to look up"
    here = [r for r in rows if r.region == region]
    if not here:
        return None, f"the catalog has no row in region {region}"
    spot = pool.get("capacityType") == "spot"
    kind = "spot" if spot else "on-demand"
    hosts = [r for r in here if r.instance_type == machine]
    host = _cheapest(hosts, spot)
    accelerator = CATALOG_ACCELERATORS.get(str(pool.get("accelerator")))
    count = next((r.count for r in hosts if r.count), None) or _devices(pool, nodes)
    attached = [
        r for r in here
        if not r.instance_type and r.accelerator == accelerator and r.count == count
    ]  # fmt: skip
    extra = _cheapest(attached, spot) if attached else None
    if host is None and hosts:
        return None, f"{machine} in {region} has no {kind} price"
    if host is None and extra is not None and count:
        return {"perDeviceHour": round(extra / count, 6)}, (
            f"{accelerator} x{count} {kind} {extra:g}/h (accelerator only; machine not listed)"
        )
    if host is None:
        return None, f"the catalog has no row for {machine} in {region}"
    total = host + (extra or 0.0)
    how = f"{machine} {kind} {host:g}/h"
    if extra is not None:
        how += f" + {accelerator} x{count} {extra:g}/h"
    return {"perNodeHour": round(total, 6)}, how


def import_prices(
    table: PriceTable, rows: Sequence[Row], nodes: Sequence[Mapping[str, Any]] = ()
) -> tuple[dict[str, Any], list[str]]:
    """The PriceTable with its pools priced from the catalog, and a line per pool saying how
    (or why it could not be priced; such a pool keeps its prices)."""
    wire = table.model_dump(by_alias=True, mode="json", exclude_none=True, exclude={"status"})
    wire["metadata"] = {"name": table.metadata.name}
    notes = []
    for pool in wire["spec"]["pools"]:
        prices, how = price_pool(pool, rows, nodes)
        if prices is None:
            notes.append(f"{pool['name']}: not priced: {how}")
        else:
            pool["prices"] = prices
            notes.append(f"{pool['name']}: {how}")
    return wire, notes


UNITS = (("perDeviceHour", "device"), ("perCpuHour", "CPU"), ("perGiBHour", "GiB"),
         ("perNodeHour", "node"))  # fmt: skip


def diff(old: PriceTable, new: PriceTable) -> str:
    """Per pool and unit: the old price, the new one, and the change in percent."""
    before = {p.name: p.prices.model_dump(by_alias=True) for p in old.spec.pools}
    after = {p.name: p.prices.model_dump(by_alias=True) for p in new.spec.pools}
    rows = [["POOL", "UNIT", "OLD", "NEW", "CHANGE"]]
    for name in [*before, *(n for n in after if n not in before)]:
        if name not in after:
            rows.append([name, "-", "", "", "removed"])
            continue
        if name not in before:
            rows.append([name, "-", "", "", "added"])
            continue
        for key, unit in UNITS:
            was, now = before[name][key], after[name][key]
            if was == now == 0:
                continue
            change = f"{(now - was) / was:+.1%}" if was else "new"
            rows.append([name, unit, f"{was:g}", f"{now:g}", change])
    return columns(rows, right=(2, 3, 4))
