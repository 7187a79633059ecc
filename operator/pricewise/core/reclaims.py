"""Reclaim rates observed per spot pool: reclaims of the nodes pricewise's workers held, over
the node-hours they held them.

A PriceTable may declare a spot pool's interruption rate; what the cluster shows may be worse.
The planner prices spot with the larger of the two, once the pool has been watched long
enough for the observed figure to mean something (`MIN_NODE_HOURS`): before that, one early
reclaim would make the pool look far riskier than it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MIN_NODE_HOURS = 10.0
"""Exposure below which an observed rate is not used."""


@dataclass
class PoolExposure:
    """What one pool has shown: reclaims and node-hours held."""

    reclaims: int = 0
    node_hours: float = 0.0

    @property
    def rate(self) -> float | None:
        """Reclaims per node-hour, or None while the exposure is too short to tell."""
        if self.node_hours < MIN_NODE_HOURS:
            return None
        return self.reclaims / self.node_hours


@dataclass
class ReclaimRates:
    """Observed reclaim rates of every spot pool."""

    pools: dict[str, PoolExposure] = field(default_factory=dict)

    def held(self, pool: str, nodes: int, seconds: float) -> None:
        """`nodes` nodes of the pool were held for `seconds`."""
        if nodes > 0 and seconds > 0:
            self.pools.setdefault(pool, PoolExposure()).node_hours += nodes * seconds / 3600

    def reclaimed(self, pool: str) -> None:
        """A node of the pool was reclaimed under a worker."""
        self.pools.setdefault(pool, PoolExposure()).reclaims += 1

    def restore(self, pool: str, reclaims: int, node_hours: float) -> None:
        """What an earlier operator saw of the pool, as its PriceTable's status keeps it, where
        it is more than this one counted: a restart counts from none, and a standby that takes
        over counted nothing while its leader ran."""
        exposure = self.pools.setdefault(pool, PoolExposure())
        exposure.reclaims = max(exposure.reclaims, reclaims)
        exposure.node_hours = max(exposure.node_hours, node_hours)

    def priced(self, pool: str, declared: float) -> float:
        """The rate to price the pool with: the declared one, or the observed one if higher."""
        exposure = self.pools.get(pool)
        observed = exposure.rate if exposure is not None else None
        return declared if observed is None else max(declared, observed)
