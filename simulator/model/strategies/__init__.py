"""The four strategies, one class each, registered by name."""

from __future__ import annotations

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


__all__ = ["STRATEGIES", "Strategy", "StrategyContext", "build_strategy"]
