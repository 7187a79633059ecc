"""`pricewise prices import`: prices for a PriceTable's pools from a price catalog in SkyPilot's
`vms.csv` format, and `pricewise prices diff`.

A catalog row is a machine (`InstanceType`) or, on GCP, an accelerator alone (no
`InstanceType`; `AcceleratorName` and `AcceleratorCount`), per region and zone, with `Price`
(on-demand) and `SpotPrice` per hour. On GCP a GPU VM costs its machine row plus its
accelerator row (SkyPilot adds them the same way), and a TPU row is a whole slice
(`tpu-v5litepod-4`, count 1) with its hosts included; AWS and Lambda rows are whole instances.
A machine's price (with its accelerators) becomes the pool's `perNodeHour`, so a worker pays its
share of the node; an accelerator found without its machine, and a TPU slice divided by its
chips, become `perDeviceHour`. Where a region lists a price in several zones, the lowest is
taken (spot prices differ by zone).

A GPU pool is never priced as its machine alone: where the catalog prices accelerators apart
(any row without `InstanceType`, as on GCP), a pool whose GPU row is missing, or whose GPU count
neither the machine's row, the pool's `devicesPerNode` nor the nodes give, is not priced; where
it prices none apart, a GPU machine's row is taken as the whole machine, and its note says so. A
pool that cannot be priced keeps the prices it had; one that had none is left out of the
table, because a pool without prices runs for free. Each is said on stderr with why; a catalog
that prices no pool is an error.

The catalog is checked whole before anything is printed: a missing column, a price that is not
a number or a duplicate row is an error naming the row and column, and nothing is written.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pricewise.api.files import read_text
from pricewise.api.manifests import ManifestError, parse_model, read_objects
from pricewise.api.models import PriceTable
from pricewise.api.nodepools import selects
from pricewise.api.podrequests import resources_of
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
CATALOG_TPUS: dict[str, tuple[str, int]] = {
    "tpu-v4": ("tpu-v4-", 2),
    "tpu-v5e": ("tpu-v5litepod-", 1),
    "tpu-v5p": ("tpu-v5p-", 2),
    "tpu-v6e": ("tpu-v6e-", 1),
}
"""pricewise's TPU name -> the catalog's slice name before its size, and how many of that size
make a chip: v4 and v5p slices are named by TensorCores (two a chip), v5e and v6e by chips."""


CATALOG_CURRENCY = "USD"
"""SkyPilot's catalogs list prices in US dollars."""


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


def _number(text: str, where: str, column: str, blank_ok: bool) -> float | None:
    if text.strip() == "":
        if blank_ok:
            return None
        raise CatalogError(f"{where}, column {column}: empty; a price is required")
    try:
        value = float(text)
    except ValueError:
        raise CatalogError(f"{where}, column {column}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise CatalogError(f"{where}, column {column}: {text!r} is not a finite number")
    if value < 0:
        raise CatalogError(f"{where}, column {column}: {text} is negative")
    return value


def read_catalog(path: str | Path) -> list[Row]:
    """Every row of a `vms.csv` catalog, checked."""
    text = read_text(path, CatalogError, "a SkyPilot vms.csv is a CSV file")
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
        where = f"{path}: row {line}"
        count = _number(record.get("AcceleratorCount") or "", where, "AcceleratorCount", True)
        if count is not None and not count.is_integer():
            raise CatalogError(f"{where}, column AcceleratorCount: {count:g} is not a whole number")
        row = Row(
            line=line,
            instance_type=(record.get("InstanceType") or "").strip(),
            accelerator=(record.get("AcceleratorName") or "").strip(),
            count=int(count or 0),
            region=(record.get("Region") or "").strip(),
            zone=(record.get("AvailabilityZone") or "").strip(),
            price=_number(record.get("Price") or "", where, "Price", blank_ok=True),
            spot=_number(record.get("SpotPrice") or "", where, "SpotPrice", blank_ok=True),
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
        if selects(selector, (node.get("metadata") or {}).get("labels") or {}):
            return resources_of((node.get("status") or {}).get("allocatable") or {}).devices
    return None


def price_pool(
    pool: Mapping[str, Any], rows: Sequence[Row], nodes: Sequence[Mapping[str, Any]] = ()
) -> tuple[dict[str, float] | None, str]:
    """The prices of one pool from the catalog, and how they were found (or why not)."""
    machine, region = pool.get("instanceType"), pool.get("region")
    accelerator = str(pool.get("accelerator") or "cpu")
    if not region:
        return None, "no region to look up (set the pool's region)"
    here = [r for r in rows if r.region == region]
    if not here:
        return None, f"the catalog has no row in region {region}"
    spot = pool.get("capacityType") == "spot"
    kind = "spot" if spot else "on-demand"
    if accelerator in CATALOG_TPUS:
        return _price_slice(pool, here, spot, nodes)
    if not machine:
        return None, "no instanceType to look up (set the pool's instanceType)"
    hosts = [r for r in here if r.instance_type == machine]
    host = _cheapest(hosts, spot)
    if host is None and hosts:
        return None, f"{machine} in {region} has no {kind} price"
    apart = any(not r.instance_type for r in rows)
    if accelerator == "cpu" or not apart:
        if host is None:
            return None, f"the catalog has no row for {machine} in {region}"
        how = f"{machine} {kind} {_price(host)}/h"
        if accelerator != "cpu":
            # Right for AWS and Lambda, whose rows are whole instances; a GCP catalog cut to
            # its machine rows priced an L4 node at its host alone, a fifth of its price.
            how += ", GPUs included (the catalog has no GPU row to add)"
        return {"perNodeHour": round(host, 6)}, how
    name = CATALOG_ACCELERATORS.get(accelerator)
    if name is None:
        known = ", ".join(sorted([*CATALOG_ACCELERATORS, *CATALOG_TPUS]))
        return None, f"{accelerator} has no catalog name (known: {known}); price the pool by hand"
    count = (
        next((r.count for r in hosts if r.count), None)
        or _devices(pool, nodes)
        or pool.get("devicesPerNode")
    )
    if not count:
        return None, (
            f"how many {name} a {machine} node carries is unknown (its catalog row does not "
            "say): set the pool's devicesPerNode (`pricewise prices init` writes it) or pass "
            "--nodes"
        )
    attached = [
        r for r in here
        if not r.instance_type and r.accelerator == name and r.count == count
    ]  # fmt: skip
    extra = _cheapest(attached, spot)
    if extra is None:
        missing = f"no {kind} price for" if attached else "no row for"
        return None, (
            f"the catalog has {missing} {name} x{count} in {region}; {machine} alone would "
            "leave its GPUs unpriced"
        )
    if host is None:
        return {"perDeviceHour": round(extra / count, 6)}, (
            f"{name} x{count} {kind} {_price(extra)}/h (GPU only: {machine} is not in the catalog, "
            "its host is not priced)"
        )
    return {"perNodeHour": round(host + extra, 6)}, (
        f"{machine} {kind} {_price(host)}/h + {name} x{count} {_price(extra)}/h"
    )


def _price_slice(
    pool: Mapping[str, Any], here: Sequence[Row], spot: bool, nodes: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, float] | None, str]:
    """A TPU pool per chip from a slice row: the slice of the node's chips when the catalog has
    it (a single-host slice), else the smallest listed; GCP prices every size of a generation
    at the same price per chip."""
    prefix, per_chip = CATALOG_TPUS[str(pool.get("accelerator"))]
    kind = "spot" if spot else "on-demand"
    slices: list[tuple[int, float, Row]] = []
    for row in here:
        suffix = row.accelerator.removeprefix(prefix)
        if row.instance_type or not row.accelerator.startswith(prefix) or not suffix.isdigit():
            continue
        price = row.spot if spot else row.price
        if price is not None and int(suffix) >= per_chip:
            slices.append((int(suffix) // per_chip, price, row))
    if not slices:
        return None, f"the catalog has no {kind} {prefix}N slice row in {here[0].region}"
    chips = _devices(pool, nodes) or pool.get("devicesPerNode")
    fitting = [s for s in slices if s[0] == chips] or [min(slices, key=lambda s: s[0])]
    size, price, row = min(fitting, key=lambda s: s[1])
    return {"perDeviceHour": round(price / size, 6)}, (
        f"{row.accelerator} {kind} {_price(price)}/h whole slice of {size} chips, "
        f"{_price(price / size)} a chip"
    )


def import_prices(
    table: PriceTable, rows: Sequence[Row], nodes: Sequence[Mapping[str, Any]] = ()
) -> tuple[dict[str, Any], list[str]]:
    """The PriceTable with its pools priced from the catalog, and a line per pool saying how.
    A pool that cannot be priced keeps the prices it had, or is left out if it had none; if
    the catalog prices none, CatalogError with every reason."""
    if table.spec.currency != CATALOG_CURRENCY:
        raise CatalogError(
            f"the table is in {table.spec.currency}, the catalog's prices in "
            f"{CATALOG_CURRENCY}: import into a {CATALOG_CURRENCY} table (prices init "
            f"--currency {CATALOG_CURRENCY})"
        )
    # The fields the table sets, and no default beside them (`interruptionRate: 0.0`,
    # `tolerations: []` on every pool), so that the output reads as the table did and a
    # diff with it shows prices. The header is written whole: kubectl needs apiVersion and
    # kind, and the currency says what unit the prices are in.
    wire: dict[str, Any] = {
        "apiVersion": table.api_version,
        "kind": table.kind,
        "metadata": {"name": table.metadata.name},
        "spec": {
            "currency": table.spec.currency,
            **table.spec.model_dump(
                by_alias=True, mode="json", exclude_unset=True, exclude_none=True
            ),
        },
    }
    notes, kept, priced = [], [], 0
    for pool in wire["spec"]["pools"]:
        prices, how = price_pool(pool, rows, nodes)
        if prices is not None:
            pool["prices"] = prices
            notes.append(f"{pool['name']}: {how}")
            priced += 1
        elif any(pool["prices"].values()):
            notes.append(f"{pool['name']}: not priced: {how}; keeps the prices it had")
        else:
            notes.append(f"{pool['name']}: left out: {how} (without prices it would be free)")
            continue
        kept.append(pool)
    if not priced:
        # A table printed back as it came, exit 0, read as refreshed.
        raise CatalogError("no pool could be priced from the catalog:\n  " + "\n  ".join(notes))
    wire["spec"]["pools"] = kept
    parse_model(PriceTable, wire, "the imported table")  # a catalog price past the API's bounds
    return wire, notes


PRICES = ("perDeviceHour", "perCpuHour", "perGiBHour", "perNodeHour")


def _pools(table: PriceTable) -> dict[str, dict[str, Any]]:
    return {p.name: p.model_dump(by_alias=True, exclude_none=True) for p in table.spec.pools}


def read_table(path: str) -> PriceTable:
    """The one PriceTable in a file (`-`: stdin), or a ManifestError saying how many it holds."""
    docs = [d for d in read_objects(path) if d.get("kind") == "PriceTable"]
    if len(docs) != 1:
        raise ManifestError(f"{path}: expected one PriceTable, found {len(docs)}")
    return parse_model(PriceTable, docs[0], path)


def same_tables(old: PriceTable, new: PriceTable) -> bool:
    """Whether two PriceTables name the same pools with the same fields (what `prices diff`
    exits 0 for, as diff(1) does, so that a CI step can gate on it)."""
    return (
        old.metadata.name == new.metadata.name
        and old.spec.currency == new.spec.currency
        and old.spec.carbon_intensity == new.spec.carbon_intensity
        and _pools(old) == _pools(new)
    )


def diff(old: PriceTable, new: PriceTable) -> str:
    """Per pool: each price, old and new, with the change in percent, then every other field
    that changed (a pool turned spot, another selector); pools added, removed, and those left
    without any price (free, were the table applied). Tables in two currencies are not
    compared: CatalogError."""
    if old.spec.currency != new.spec.currency:
        raise CatalogError(
            f"the tables are in {old.spec.currency} and {new.spec.currency}: prices in two "
            "currencies cannot be compared"
        )
    before, after = _pools(old), _pools(new)
    rows = [["POOL", "FIELD", "OLD", "NEW", "CHANGE"]]
    if old.metadata.name != new.metadata.name:
        # Applied, it is a second PriceTable beside the first, not an update of it.
        rows.append(["-", "metadata.name", old.metadata.name, new.metadata.name, "another table"])
    was, now = old.spec.carbon_intensity, new.spec.carbon_intensity
    if was != now:  # the table's own, for every pool's emissions
        rows.append(["-", "carbonIntensity", _shown(was), _shown(now), "changed"])
    for name in [*before, *(n for n in after if n not in before)]:
        if name not in after:
            rows.append([name, "-", "", "", "removed"])
            continue
        if name not in before:
            rows.append([name, "-", "", "", "added"])
        else:
            was_priced, now_priced = before[name]["prices"], after[name]["prices"]
            # Priced in other units (per device before, per node after, as `prices import`
            # writes a whole VM), each field read -100% and "priced": the node's price is what
            # compares, where the table says it.
            units = [{k for k in PRICES if prices[k]} for prices in (was_priced, now_priced)]
            moved = all(units) and units[0] != units[1]
            old_node, new_node = _node_hour(before[name]), _node_hour(after[name])
            whole = None
            if moved and old_node is not None and new_node is not None:
                whole = (old_node, new_node)
            for key in PRICES:
                was, now = was_priced[key], now_priced[key]
                if was == now:  # a review reads what changed
                    continue
                if whole is not None:
                    rows.append([name, key, f"{was:.15g}" if was else "-", f"{now:.15g}", "moved"])
                elif was:
                    rows.append([name, key, f"{was:.15g}", f"{now:.15g}", _change(was, now)])
                else:  # a pool given a price it had not: nothing to compare it with
                    rows.append([name, key, "-", f"{now:.15g}", "priced"])
            if whole is not None:
                was, now = whole
                change = "same" if was == now else _change(was, now) if was else "priced"
                rows.append([name, "a node's price", f"{was:.15g}", f"{now:.15g}", change])
            # A price review passed a pool turned spot, or moved to other nodes, as unchanged.
            fields = sorted({*before[name], *after[name]} - {"name", "prices"})
            rows += [
                [name, key, _shown(before[name].get(key)), _shown(after[name].get(key)), "changed"]
                for key in fields
                if before[name].get(key) != after[name].get(key)
            ]
        if not any(after[name]["prices"].values()):
            rows.append([name, "-", "", "0", "unpriced: free if applied"])
    if len(rows) == 1:
        return "no change: the tables price every pool the same"
    return columns(rows, right=(2, 3, 4))


def _price(hourly: float) -> str:
    """A price as the table gets it, to the millionth and no further digits: `77.8325` read
    beside the 87.83247 written, and a sum of the printed parts did not make it."""
    return f"{round(hourly, 6):.15g}"


def _node_hour(pool: dict[str, Any]) -> float | None:
    """What one of the pool's nodes costs an hour, where its prices say without its size: its
    devices' (`devicesPerNode`) and its own; None where a price per CPU or GiB needs more."""
    prices, devices = pool["prices"], pool.get("devicesPerNode")
    if (
        prices["perCpuHour"]
        or prices["perGiBHour"]
        or (prices["perDeviceHour"] and devices is None)
    ):
        return None
    return float((devices or 0) * prices["perDeviceHour"] + prices["perNodeHour"])


def _change(was: float, now: float) -> str:
    """`+5.0%`; a change too small for a tenth of a percent with the digits it needs
    (`+0.00073%`): 10.97906 to 10.97914 read `+0.0%`, as if unchanged."""
    share = (now - was) / was
    text = f"{share:+.1%}"
    if text not in ("+0.0%", "-0.0%"):
        return text
    # Two significant digits, without an exponent (+9.1e-05% read as a typo).
    digits = 1 - math.floor(math.log10(abs(share * 100)))
    return f"{share * 100:+.{digits}f}%"


def _shown(value: Any) -> str:
    # On one line, near the YAML's own: spot, true, {"pool": "a"}; a field not set is `-`.
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))
