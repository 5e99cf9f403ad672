"""Regions: users and servers split over datacentres, each with its own balancer.

A scenario with ``regions`` sends each user to the servers of its own region (as geo-DNS
or an anycast front door does) and balances there with the strategy's own policy. The
session store lives in one region (``shared_store.region``): a server elsewhere pays the
cross-region round trip on every store operation, which is where a token that any
server verifies locally wins.

:class:`RegionMap` says who is where; :class:`RegionalView` is one region's share of the
balancer's view of the cluster; :class:`RegionalBalancer` routes a user with the
balancer of its region. Without ``regions`` none of this is built and the model is the
single-region one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from simulator.model.balancer import Balancer, ClusterView, Loaded
from simulator.model.rng import Streams
from simulator.scenario.models import Scenario


class RegionMap:
    """Which region each user and each server is in.

    Args:
        names: the regions' names, in scenario order.
        user_region: each user's region index.
        server_region: each server's region index (grows on scale-out).
        server_shares: the regions' shares of the servers (for servers added later).
        store_region: the region index of the store's datacentre.
    """

    def __init__(
        self,
        names: Sequence[str],
        user_region: npt.NDArray[np.int64],
        server_region: list[int],
        server_shares: Sequence[float],
        store_region: int,
    ) -> None:
        self.names = list(names)
        self.user_region = user_region
        self.server_region = server_region
        self._shares = list(server_shares)
        self.store_region = store_region

    @classmethod
    def build(cls, scenario: Scenario, streams: Streams) -> RegionMap | None:
        """The regions of ``scenario`` (``None`` without ``regions``): users drawn by
        share from the stream ``regions``; servers split by share (largest remainder,
        at least one each), in contiguous runs of indices."""
        regions = scenario.regions
        if not regions:
            return None
        user_shares = np.array([region.users for region in regions], dtype=np.float64)
        user_region = streams.generator("regions").choice(
            len(regions), size=scenario.workload.users, p=user_shares / user_shares.sum()
        )
        server_shares = [region.servers for region in regions]
        counts = _split(scenario.cluster.servers, server_shares)
        server_region = [index for index, count in enumerate(counts) for _ in range(count)]
        names = [region.name for region in regions]
        store = scenario.shared_store.region
        return cls(
            names,
            user_region.astype(np.int64),
            server_region,
            server_shares,
            names.index(store) if store is not None else 0,
        )

    def add_server(self) -> int:
        """Place a new server (scale-out) in the region furthest below its share;
        returns that region."""
        counts = np.bincount(self.server_region, minlength=len(self.names))
        shares = np.array(self._shares) / sum(self._shares)
        wanted = shares * (len(self.server_region) + 1) - counts
        region = int(np.argmax(wanted))
        self.server_region.append(region)
        return region

    def remote(self, server: int) -> bool:
        """Whether ``server`` is in another region than the store."""
        return self.server_region[server] != self.store_region


def _split(total: int, shares: Sequence[float]) -> list[int]:
    """``total`` split in proportion to ``shares``, at least one each, largest remainder."""
    weights = np.array(shares, dtype=np.float64) / sum(shares)
    spare = total - len(shares)
    exact = weights * spare
    counts = np.floor(exact).astype(int)
    for index in np.argsort(-(exact - counts), kind="stable")[: spare - int(counts.sum())]:
        counts[index] += 1
    return [int(count) + 1 for count in counts]


class RegionalView(ClusterView):
    """One region's servers as its balancer sees them: the live servers of the whole
    view that are in this region (kept up to date by :class:`RegionalClusterView`)."""

    def __init__(self, servers: Sequence[Loaded], members: Callable[[int], bool]) -> None:
        super().__init__(servers)
        self._members = members
        self.set_live([index for index in range(len(servers)) if members(index)])

    def follow(self, live: Sequence[int]) -> None:
        """The whole view changed: keep this region's part of it."""
        self.set_live([index for index in live if self._members(index)])


class RegionalClusterView(ClusterView):
    """The balancer's view of a cluster split in regions: every change of the live servers
    is passed on to each region's :class:`RegionalView`."""

    def __init__(self, servers: Sequence[Loaded], regions: RegionMap) -> None:
        super().__init__(servers)
        self.regions = [
            RegionalView(servers, _member_of(regions, region))
            for region in range(len(regions.names))
        ]

    def set_live(self, live: Sequence[int]) -> None:
        """Replace the servers believed up, in the whole view and in every region."""
        super().set_live(live)
        for view in self.regions:
            view.follow(self.live)


def _member_of(regions: RegionMap, region: int) -> Callable[[int], bool]:
    server_region = regions.server_region
    return lambda server: server < len(server_region) and server_region[server] == region


class RegionalBalancer:
    """Routes each user with the balancer of its own region, or, while its region has no
    live server, with the balancer of the whole cluster (a global front door fails the
    region over)."""

    name = "regional"

    def __init__(
        self,
        balancers: Sequence[Balancer],
        views: Sequence[ClusterView],
        fallback: Balancer,
        user_region: npt.NDArray[np.int64],
    ) -> None:
        self._balancers = list(balancers)
        self._views = list(views)
        self._fallback = fallback
        self._region_of: list[int] = user_region.tolist()

    def choose(self, user: int) -> int:
        """The server the user's region's balancer picks (any region's if it has none)."""
        region = self._region_of[user]
        if self._views[region].live:
            return self._balancers[region].choose(user)
        return self._fallback.choose(user)
