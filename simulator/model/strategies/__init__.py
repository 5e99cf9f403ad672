"""The four strategies, one class each, registered by name.

A new strategy is a new module here with one class that follows :class:`Strategy`,
its entry in :data:`STRATEGIES`, its name in ``scenario.models.StrategyName`` and its
colour in ``present.palette``; nothing else names a strategy.
"""

from __future__ import annotations

from simulator.model.strategies.about import StrategyAbout
from simulator.model.strategies.base import Strategy, StrategyContext
from simulator.model.strategies.jwt import JwtTokens
from simulator.model.strategies.local import LocalSessions
from simulator.model.strategies.shared_store import SharedStoreSessions
from simulator.model.strategies.sticky import StickySessions

STRATEGIES: dict[str, type[LocalSessions | StickySessions | SharedStoreSessions | JwtTokens]] = {
    cls.name: cls for cls in (LocalSessions, StickySessions, SharedStoreSessions, JwtTokens)
}
"""Strategy classes by name; each is built as ``cls(context)``."""


def build_strategy(name: str, context: StrategyContext) -> Strategy:
    """Build the strategy called ``name`` for one run."""
    return STRATEGIES[name](context)


def about(name: str) -> StrategyAbout:
    """The strategy called ``name`` described in words (see :class:`StrategyAbout`)."""
    return STRATEGIES[name].about


__all__ = ["STRATEGIES", "Strategy", "StrategyAbout", "StrategyContext", "about", "build_strategy"]
