"""What every part of the plain-language explanation shares: :class:`Paragraph`, the
thresholds that turn numbers into words, and what each cause, error and cost source
means for readers.

:mod:`simulator.present.explain` assembles the paragraphs; the topics live there and in
:mod:`simulator.present.explain_events`. Numbers and words are written through
:mod:`simulator.present.format`.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.present.format import seconds
from simulator.results.records import EventMark

SUCCESS_NEAR_TOTAL = 0.995
"""A success rate at least this high (a fraction) counts as "served nearly everything"."""

THEORY_CLOSE = 0.15
"""A measured value within this relative distance of theory is "close to" it."""

RATE_CHANGE_PP = 1.0
"""A change of success rate between two event windows smaller than this (percentage
points) is reported as "held"."""

EVEN_MAX_OVER_MEAN = 1.15
"""Peak-to-mean load at or below this (dimensionless) counts as even."""

EVEN_JAIN = 0.98
"""Jain's index at or above this (dimensionless) counts as even."""

BUSY_UTILISATION = 0.7
"""A server or store busy at least this fraction of the time is called busy (queues
grow quickly beyond it: waits scale like rho / (1 - rho))."""

SLOWER_FACTOR = 2.0
"""A mean latency this many times the fastest one is described as a multiple."""

CAUSE_MEANINGS: dict[str, str] = {
    "wrong_server": "the session was in another server's memory",
    "session_lost": "the memory that held the session was gone (crash, restart, "
    "scale-in or a store that lost its data)",
    "expired": "the token's lifetime had ended",
    "revoked": "the credential had been revoked",
    "key_rotated": "the token was signed with a key that no longer verifies",
    "refresh_failed": "the token had expired and its refresh could not reach the store",
    "stale_read": "a replica had not yet received the session just written",
}
"""Why a credential was rejected, for readers (keys: :data:`simulator.outcomes.CAUSES`)."""

ERROR_MEANINGS: dict[str, str] = {
    "server_down": "sent to a server that was down",
    "overload": "refused by a full queue",
    "store_unavailable": "the session store was unreachable",
    "timeout": "answered too late",
    "unauthorized": "rejected again after the forced re-login",
}
"""What each error outcome means, for readers."""

COST_SOURCES: dict[str, str] = {
    "scenario": "as set in the scenario",
    "calibration": "measured on this machine by authsim calibrate",
    "reference": "the reference figure",
}
"""Where an authentication cost came from, for readers."""


@dataclass(frozen=True)
class Paragraph:
    """One topic of the explanation.

    Attributes:
        topic: a short heading (``Success``, ``Latency``...).
        sentences: the sentences, in order, each ending with a full stop.
    """

    topic: str
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        """The sentences joined by spaces."""
        return " ".join(self.sentences)


def event_when(mark: EventMark) -> str:
    """An event and its time: ``crash of server 2 at 42 s``, ``store outage from 43 s to
    53 s``."""
    if mark.end_s is None:
        return f"{mark.label} at {seconds(mark.start_s)}"
    return f"{mark.label} from {seconds(mark.start_s)} to {seconds(mark.end_s)}"
