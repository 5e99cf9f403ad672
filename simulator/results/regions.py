"""Per-region results: what the users of each region saw (only for scenarios with
``regions``; see :mod:`simulator.model.regions`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from simulator import outcomes
from simulator.results.metrics import clean_float, success_rate


@dataclass(frozen=True)
class RegionStats:
    """The measured requests of one region's users.

    Attributes:
        name: the region.
        users: users in the region.
        store_local: whether the session store is in this region.
        requests: requests its users sent in the measured window.
        succeeded: those served with no error and no forced re-login.
        served: those that got their page (``ok`` and ``relogin``).
        mean_latency_ms: mean latency of the served ones, ms (``None``: none served).
    """

    name: str
    users: int
    store_local: bool
    requests: int
    succeeded: int
    served: int
    mean_latency_ms: float | None

    @property
    def success_rate(self) -> float | None:
        """``succeeded / requests``."""
        return success_rate(self.succeeded, self.requests)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the ``regions`` items of a result)."""
        return {
            "name": self.name,
            "users": self.users,
            "store_local": self.store_local,
            "requests": self.requests,
            "success_rate": clean_float(self.success_rate),
            "mean_latency_ms": clean_float(self.mean_latency_ms),
        }


class RegionTally:
    """Counts and latency sums per region, as requests finish (no memory per request).

    Args:
        names: the regions' names.
        user_region: each user's region index.
        store_region: the index of the store's region.
    """

    __slots__ = (
        "_names",
        "_region_of",
        "_store_region",
        "latency_ms",
        "requests",
        "served",
        "succeeded",
        "users",
    )

    def __init__(self, names: Sequence[str], user_region: Sequence[int], store_region: int) -> None:
        self._names = list(names)
        self._region_of = list(user_region)
        self._store_region = store_region
        count = len(self._names)
        self.users = [0] * count
        for region in self._region_of:
            self.users[region] += 1
        self.requests = [0] * count
        self.succeeded = [0] * count
        self.served = [0] * count
        self.latency_ms = [0.0] * count

    def record(self, user: int, outcome: int, latency_ms: float) -> None:
        """A measured request of ``user`` ended in ``outcome`` after ``latency_ms``."""
        region = self._region_of[user]
        self.requests[region] += 1
        if outcome <= outcomes.RELOGIN:  # served
            self.served[region] += 1
            self.latency_ms[region] += latency_ms
            if outcome == outcomes.OK:
                self.succeeded[region] += 1

    def stats(self) -> list[RegionStats]:
        """One :class:`RegionStats` per region, in scenario order."""
        return [
            RegionStats(
                name=name,
                users=self.users[region],
                store_local=region == self._store_region,
                requests=self.requests[region],
                succeeded=self.succeeded[region],
                served=self.served[region],
                mean_latency_ms=(
                    self.latency_ms[region] / self.served[region] if self.served[region] else None
                ),
            )
            for region, name in enumerate(self._names)
        ]
