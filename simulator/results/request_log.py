"""The per-request log of a strategy run: one typed array per column, no object per
request; a tidy pandas DataFrame only when asked for."""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from simulator import outcomes

if TYPE_CHECKING:
    import pandas as pd

REQUEST_COLUMNS: tuple[str, ...] = (
    "strategy",
    "arrival_s",
    "user",
    "server",
    "outcome",
    "latency_ms",
    "forced_relogin",
    "relogin_cause",
)
"""Columns of the per-request table, in order."""

Column: TypeAlias = "array[Any] | npt.NDArray[Any]"
"""A column of a :class:`RequestLog`: a typed array, or a numpy array of the same type."""

_COLUMNS = ("arrival_s", "user", "server", "outcome", "latency_ms", "cause")
_TYPES = (
    ("d", np.float64),
    ("q", np.int64),
    ("q", np.int64),
    ("b", np.int8),
    ("d", np.float64),
    ("b", np.int8),
)
"""Each column's typecode and numpy type, in the order of ``_COLUMNS``."""


class RequestLog:
    """Measured requests of one strategy run, one typed array per column.

    The columns are :class:`array.array` (the simulation appends to them) or, in a log
    made whole by :meth:`of_columns`, numpy arrays of the same types; either way
    ``np.frombuffer(column, dtype)`` is a view of it.

    Attributes:
        arrival_s: arrival time, seconds of simulated time.
        user: user index.
        server: the server that gave the final answer (-1: none was reached).
        outcome: outcome code (see :mod:`simulator.outcomes`).
        latency_ms: arrival to final answer, ms.
        cause: why the request forced a re-login (a code of ``outcomes.CAUSES``), or -1.
    """

    def __init__(self) -> None:
        self.arrival_s: Column = array("d")
        self.user: Column = array("q")
        self.server: Column = array("q")
        self.outcome: Column = array("b")
        self.latency_ms: Column = array("d")
        self.cause: Column = array("b")
        self._adopted = False  # columns given whole (numpy arrays), by of_columns

    @classmethod
    def of_columns(
        cls,
        arrival_s: npt.NDArray[np.float64],
        user: npt.NDArray[np.int64],
        server: npt.NDArray[np.int64],
        outcome: npt.NDArray[np.int8],
        latency_ms: npt.NDArray[np.float64],
        cause: npt.NDArray[np.int8],
    ) -> RequestLog:
        """A log whose columns are these equal-length numpy arrays, kept as they are (no
        copy: the vector engine's whole log at once, its memory written once).

        Raises:
            ValueError: a column of another type or length, or not contiguous.
        """
        log = cls()
        given = (arrival_s, user, server, outcome, latency_ms, cause)
        for name, values, (typecode, dtype) in zip(_COLUMNS, given, _TYPES, strict=True):
            if not (
                isinstance(values, np.ndarray)
                and values.dtype == dtype
                and values.ndim == 1
                and values.flags.c_contiguous
                and len(values) == len(arrival_s)
            ):
                raise ValueError(
                    f"column {name}: expected a contiguous 1-d {np.dtype(dtype).name} "
                    f"array ('{typecode}') of {len(arrival_s)} values"
                )
            setattr(log, name, values)
        log._adopted = True
        return log

    def _growable(self) -> tuple[array[Any], ...]:
        """The columns as :class:`array.array` (a log of numpy columns is copied into
        arrays once, before anything is appended to it)."""
        if self._adopted:
            for name, (typecode, _) in zip(_COLUMNS, _TYPES, strict=True):
                grown = array(typecode)
                grown.frombytes(np.ascontiguousarray(getattr(self, name)).data.cast("B"))
                setattr(self, name, grown)
            self._adopted = False
        return tuple(getattr(self, name) for name in _COLUMNS)

    def __len__(self) -> int:
        return len(self.outcome)

    def record(
        self,
        arrival_s: float,
        user: int,
        server: int,
        outcome: int,
        latency_ms: float,
        cause: int,
    ) -> None:
        """Append one finished request."""
        arrivals, users, servers, outcomes_, latencies, causes = self._growable()
        arrivals.append(arrival_s)
        users.append(user)
        servers.append(server)
        outcomes_.append(outcome)
        latencies.append(latency_ms)
        causes.append(cause)

    def record_many(
        self,
        arrival_s: npt.ArrayLike,
        user: npt.ArrayLike,
        server: npt.ArrayLike,
        outcome: npt.ArrayLike,
        latency_ms: npt.ArrayLike,
        cause: npt.ArrayLike,
    ) -> None:
        """Append many finished requests at once (equal-length arrays, in the order they
        finished): the same rows as :meth:`record` called on each in turn."""
        given = (arrival_s, user, server, outcome, latency_ms, cause)
        for column, values, (_, dtype) in zip(self._growable(), given, _TYPES, strict=True):
            block = np.ascontiguousarray(values, dtype=dtype)
            column.frombytes(block.data.cast("B"))  # a view of the block's bytes, no copy

    def columns(
        self,
    ) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.int8], npt.NDArray[np.float64], npt.NDArray[np.int8]
    ]:
        """Zero-copy numpy views: arrival_s, outcome, latency_ms, cause."""
        return (
            np.frombuffer(self.arrival_s, dtype=np.float64),
            np.frombuffer(self.outcome, dtype=np.int8),
            np.frombuffer(self.latency_ms, dtype=np.float64),
            np.frombuffer(self.cause, dtype=np.int8),
        )

    def outcome_counts(self) -> npt.NDArray[np.int64]:
        """Requests per outcome code."""
        codes = np.frombuffer(self.outcome, dtype=np.int8)
        return np.bincount(codes, minlength=len(outcomes.NAMES)).astype(np.int64)

    def served_latency_ms(self) -> npt.NDArray[np.float64]:
        """Latencies of the served requests (``ok`` and ``relogin``), ms."""
        codes = np.frombuffer(self.outcome, dtype=np.int8)
        latency = np.frombuffer(self.latency_ms, dtype=np.float64)
        served: npt.NDArray[np.float64] = latency[
            (codes == outcomes.OK) | (codes == outcomes.RELOGIN)
        ]
        return served

    def relogin_share(self, since_s: float, cause: str | None = None) -> float | None:
        """Of the users who sent a request at or after ``since_s``, the fraction forced to
        log in again by one of those requests (for ``cause`` only, when given).

        After a crash of one of N servers, about 1/N of active ``sticky`` users (cause
        ``session_lost``); after a modulo scale-out from N to N+1, about N/(N+1) (cause
        ``wrong_server``). ``None`` when nobody sent a request after ``since_s``.

        Raises:
            ValueError: an unknown cause.
        """
        arrival = np.frombuffer(self.arrival_s, dtype=np.float64)
        users = np.frombuffer(self.user, dtype=np.int64)
        causes = np.frombuffer(self.cause, dtype=np.int8)
        after = arrival >= since_s
        active = np.unique(users[after])
        if active.size == 0:
            return None
        if cause is None:
            hit = causes >= 0
        elif cause in outcomes.CAUSES:
            hit = causes == outcomes.CAUSES.index(cause)
        else:
            raise ValueError(f"unknown cause {cause!r}; causes: {', '.join(outcomes.CAUSES)}")
        return float(np.unique(users[after & hit]).size / active.size)

    def to_frame(self, strategy: str) -> pd.DataFrame:
        """The tidy per-request table (columns :data:`REQUEST_COLUMNS`)."""
        import pandas as pd  # noqa: PLC0415 (slow to import: only for frames)

        codes = np.frombuffer(self.outcome, dtype=np.int8)
        causes = np.frombuffer(self.cause, dtype=np.int8)
        return pd.DataFrame(
            {
                "strategy": pd.Categorical([strategy] * len(codes)),
                "arrival_s": np.frombuffer(self.arrival_s, dtype=np.float64).copy(),
                "user": np.frombuffer(self.user, dtype=np.int64).copy(),
                "server": np.frombuffer(self.server, dtype=np.int64).copy(),
                "outcome": pd.Categorical.from_codes(
                    codes.astype(np.int64), categories=pd.Index(outcomes.NAMES)
                ),
                "latency_ms": np.frombuffer(self.latency_ms, dtype=np.float64).copy(),
                "forced_relogin": causes >= 0,
                "relogin_cause": pd.Categorical.from_codes(
                    causes.astype(np.int64), categories=pd.Index(outcomes.CAUSES)
                ),
            },
            columns=list(REQUEST_COLUMNS),
        )
