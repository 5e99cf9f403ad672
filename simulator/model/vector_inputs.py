"""The vector engine's draws and its checks of what the draws give.

The draws are those a :class:`~simulator.model.rng.DrawBuffer` gives, in its blocks, so
the engine takes exactly the values the DES takes. The checks find what the scenario
allows but the draws make inexact for the vector engine (a token expiring during the
run, a queue that would overflow): each raises :class:`InexactError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from simulator.model.vector_queue import ServerSchedule
from simulator.model.workload import draw
from simulator.scenario.models import Latency

if TYPE_CHECKING:
    from simulator.model.run import RunInputs

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DRAW_BLOCK = 4096
"""Values a :class:`~simulator.model.rng.DrawBuffer` draws at once (its default)."""


class InexactError(Exception):
    """What this run's draws give cannot be computed exactly (see :func:`run_vector`).

    Attributes:
        reason: why, in words.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def draws(inputs: RunInputs, stream: str, latency: Latency, count: int) -> FloatArray | None:
    """The first ``count`` values a :class:`DrawBuffer` of ``latency`` on ``stream`` gives
    (seconds), drawn in its blocks; ``None`` when it is always 0 (the DES skips it)."""
    if latency.mean == 0:
        return None
    generator = inputs.streams.generator(stream)
    mean_s = latency.mean / 1000.0
    blocks = [
        draw(generator, latency.distribution, mean_s, latency.sigma, DRAW_BLOCK)
        for _ in range(-(-count // DRAW_BLOCK))
    ]
    return np.concatenate(blocks)[:count] if blocks else np.zeros(0)


def uniforms(inputs: RunInputs, stream: str, count: int) -> FloatArray:
    """The first ``count`` values of ``uniform_buffer(generator(stream))``."""
    generator = inputs.streams.generator(stream)
    blocks = [generator.random(DRAW_BLOCK) for _ in range(-(-count // DRAW_BLOCK))]
    return np.concatenate(blocks)[:count] if blocks else np.zeros(0)


def credential_expiries(inputs: RunInputs, lifetime_s: float | None) -> FloatArray | None:
    """When each user's credential expires, seconds (``None``: credentials do not expire):
    each was issued a random part of a lifetime before the run (stream
    ``initial_logins``), as the DES's logins at time 0 issue them."""
    if lifetime_s is None:
        return None
    ages = uniforms(inputs, "initial_logins", inputs.population.users)
    return -ages * lifetime_s + lifetime_s


def expires_before(expires_s: FloatArray | None, end_s: float) -> None:
    """Tokens: refuse at once when one expires (``expires_s``, see
    :func:`credential_expiries`) before ``end_s`` (the last arrival), with no need for the
    request stream; a user whose token expires then almost surely sends a request after it
    did (:func:`check_credentials` decides the rest exactly)."""
    if expires_s is not None and len(expires_s) and float(expires_s.min()) < end_s:
        raise InexactError("a token expires during the run (its refresh or re-login feeds back)")


def check_credentials(
    expires_s: FloatArray | None,
    who: Callable[[], IntArray],
    checked_s: Callable[[], FloatArray],
    latest_s: float,
) -> None:
    """Tokens: each must still be valid when its request is checked (an expired one is
    refreshed or forces a login, which go back through the queues).

    Args:
        expires_s: when each user's credential expires (``None``: they do not expire; see
            :func:`credential_expiries`).
        who: the user of each job (called only if needed).
        checked_s: when each job's credential is checked (called only if needed).
        latest_s: no credential is checked after it, seconds.
    """
    if expires_s is None or not len(expires_s):
        return
    earliest_s = float(expires_s.min())
    if latest_s < earliest_s:
        return  # no token expires before the last check
    checked = checked_s()
    if not len(checked) or float(checked.max()) < earliest_s:
        return  # no token expires before the last check
    if np.any(checked >= expires_s[who()]):
        raise InexactError("a token expires during the run (its refresh or re-login feeds back)")


def check_queues(done: ServerSchedule, limit: int) -> None:
    """No job may find its server's queue full (``overload`` depends on the queue)."""
    if int(np.diff(done.bounds).max(initial=0)) <= limit:
        return  # fewer jobs than places in any queue
    for index in range(done.servers):
        routed = done.routes(index)
        began = done.starts(index)
        waiting = began > routed
        if not waiting.any():
            continue
        # jobs before this one still waiting when it arrives (starts are in FIFO order;
        # a job served at once is counted by searchsorted itself)
        ahead = np.arange(len(routed)) - np.searchsorted(began, routed, side="right")
        if np.any(ahead[waiting] >= limit):
            raise InexactError("a queue would overflow queue_limit (overload depends on it)")
