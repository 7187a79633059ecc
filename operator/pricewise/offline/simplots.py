"""PNG figures of a simulation: cost and deadline misses per policy, cost over time, and
utilisation per pool. matplotlib is a development dependency, so `pricewise simulate` imports
this module only when figures are asked for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI

import matplotlib.pyplot as plt

from pricewise.offline.simmodel import SimResult
from pricewise.offline.simreport import cost_over_time

COLOURS = {
    "pricewise": "#1b7837",
    "first-fit": "#2166ac",
    "kueue": "#92c5de",
    "cheapest": "#b2182b",
    "fifo": "#777777",
}


def _colour(policy: str) -> str:
    return COLOURS.get(policy, "#444444")


def write_plots(
    results: Sequence[SimResult],
    rows: Sequence[Mapping[str, Any]],
    folder: Path,
    floor: float | None = None,
) -> list[Path]:
    """Write the figures into `folder` (created if needed); returns their paths. `floor`, the
    cost floor, is drawn across the cost bars."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [r["policy"] for r in rows]
    colours = [_colour(n) for n in names]
    currency = rows[0]["currency"] if rows else "USD"
    paths = []

    fig, (cost_ax, miss_ax) = plt.subplots(1, 2, figsize=(9, 3.6))
    costs = [r["totalCost"] for r in rows]
    bars = cost_ax.bar(names, costs, color=colours)
    cost_ax.bar_label(bars, labels=[f"{c:,.0f}" for c in costs], fontsize=8)
    if floor is not None:
        cost_ax.axhline(floor, color="black", linestyle="--", linewidth=1)
        # Under the line at the right, on white: above it at the left, it ran into the bars'
        # figures.
        cost_ax.annotate(f"floor {floor:,.0f}", (1, floor), xycoords=("axes fraction", "data"),
                         xytext=(-3, -11), textcoords="offset points", fontsize=8, ha="right",
                         bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})  # fmt: skip
    cost_ax.set_ylabel(f"total cost ({currency})")
    cost_ax.set_title("Cost")
    misses = [r["deadlineMisses"] for r in rows]
    bars = miss_ax.bar(names, misses, color=colours)
    miss_ax.bar_label(bars, fontsize=8)
    miss_ax.set_ylabel("jobs")
    miss_ax.set_title(f"Deadline misses (of {rows[0]['jobs'] if rows else 0} jobs)")
    for ax in (cost_ax, miss_ax):
        # Slanted: eight policies' names side by side overprinted each other.
        ax.tick_params(axis="x", labelsize=8, labelrotation=30)
        plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    fig.tight_layout()
    paths.append(folder / "cost_and_misses.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 3.6))
    for result in results:
        hours, accrued = cost_over_time(result)
        ax.plot(hours, accrued, label=result.policy, color=_colour(result.policy))
    ax.set_xlabel("simulated hours since the first arrival")
    ax.set_ylabel(f"cost accrued ({currency})")
    ax.set_title("Cost over time")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(folder / "cost_over_time.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 3.6))
    pools = list(rows[0]["utilisation"]) if rows else []
    width = 0.8 / max(1, len(rows))
    for i, row in enumerate(rows):
        xs = [p + i * width for p in range(len(pools))]
        ax.bar(xs, [row["utilisation"][p] * 100 for p in pools], width, label=row["policy"],
               color=_colour(row["policy"]))  # fmt: skip
    ax.set_xticks([p + width * (len(rows) - 1) / 2 for p in range(len(pools))], pools)
    ax.set_ylabel("GPU time in use (%)")
    ax.set_title("Utilisation per pool (first arrival to last completion)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(folder / "utilisation.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths
