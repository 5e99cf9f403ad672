"""What each strategy is, in words: the facts the explanations, the cheat sheet and the
animation print about a strategy, kept with the strategy itself (its class's ``about``).

Output code asks a strategy to describe itself instead of naming it, so a new strategy
shows up in every table and caption without touching them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StrategyAbout:
    """A strategy described for people.

    Attributes:
        proof_lives: where the proof of identity lives (``one server's memory``).
        each_request_costs: the strategy's extra work on every request, in words.
        fails_when: what breaks it, in one line.
        sessions_elsewhere: for a strategy that keeps no session in server memory, where
            the proof is instead (a caption for the servers' empty session counts);
            ``None`` for strategies that keep sessions in server memory.
    """

    proof_lives: str
    each_request_costs: str
    fails_when: str
    sessions_elsewhere: str | None = None
