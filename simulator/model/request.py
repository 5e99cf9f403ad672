"""A request in flight, and the codes of its life cycle.

One small record per request (:class:`Request`, with ``__slots__``) carries it from
arrival to answer, through its login, refresh and retry if it needs them; the job a
worker is doing for it is kept on it too (which worker, since when, what it will answer).
"""

from __future__ import annotations

from enum import IntEnum

from simulator import outcomes


class Phase(IntEnum):
    """What the client sends next."""

    REQUEST = 0  # the authenticated request itself
    LOGIN = 1  # a login (first, or forced by a rejected credential)
    RETRY = 2  # the request again, after a forced login or a refresh
    REFRESH = 3  # an expired access token exchanged for a new one


class Handled(IntEnum):
    """What a worker's handler returns when the job did not end in an error outcome.

    Kept apart from the outcome codes (:mod:`simulator.outcomes`), which a handler
    returns for errors: these values never collide with them.
    """

    ACCEPTED = 100  # the credential was valid: the request was served
    REJECTED = 101  # the credential was rejected (the cause is on the request)
    LOGGED_IN = 102  # a login succeeded: a new credential
    RENEWED = 103  # a refresh succeeded: a new access token


# Module-level names for the hot path: a global is read about 4x faster than an enum member.
REQUEST, LOGIN, RETRY, REFRESH = Phase.REQUEST, Phase.LOGIN, Phase.RETRY, Phase.REFRESH
ACCEPTED, REJECTED = Handled.ACCEPTED, Handled.REJECTED
LOGGED_IN, RENEWED = Handled.LOGGED_IN, Handled.RENEWED
LAST_SERVED = max(outcomes.SERVED)
"""Outcome codes up to this one were served (``ok``, ``relogin``)."""


class Request:
    """One user request in flight (with its login, refresh and retry, if any)."""

    __slots__ = (
        "answer_s",
        "arrival_s",
        "cause",
        "client_s",
        "measured",
        "phase",
        "rejected_for",
        "result",
        "server",
        "service_s",
        "slot",
        "started_s",
        "trips",
        "user",
    )

    # set when a worker starts a job of the request, not at arrival
    slot: int  # the worker (its slot on the server)
    started_s: float  # when the worker started the job, seconds
    trips: int  # store round trips the job still has to make
    result: int  # what the job will answer once its work is done (a Handled or outcome)
    rejected_for: int  # why the job's credential was rejected (``outcomes.VALID``: it was not)

    def __init__(self, user: int, arrival_s: float, service_s: float, measured: bool) -> None:
        self.user = user
        self.arrival_s = arrival_s
        self.service_s = service_s
        self.measured = measured
        self.phase = REQUEST
        self.cause = outcomes.VALID  # why it was forced to log in again, if it was
        self.server = -1
        self.client_s = 0.0  # time the person spent logging in again (not the system's)
        self.answer_s = 0.0  # when a read settled at sending is answered (see Service)
