"""What the session store holds, and what a lagging replica sees of it.

Redis replicates asynchronously: a write is acknowledged by the primary before its
replicas have it. A replica that lags by ``replication_lag_ms`` therefore answers a read
with the value the key had before writes younger than the lag (a login just made looks
missing; a session just deleted is still there), and a failover to such a replica loses
those writes. :class:`StoreData` keeps, for each key written within the lag, the value it
had before those writes and the writes themselves, which is all either effect needs.
"""

from __future__ import annotations

from collections.abc import Callable


class StoreData:
    """Keys (users) to values (session ids, refresh tokens) and the denylist of token ids.

    Args:
        lag_s: replication lag, seconds (0: replicas are always up to date, and no
            history is kept).

    Attributes:
        latest: what the primaries hold now (the truth), key -> value.
    """

    __slots__ = ("_base", "_denied_at", "_lag_s", "_pending", "latest")

    def __init__(self, lag_s: float) -> None:
        self._lag_s = lag_s
        self.latest: dict[int, int] = {}
        # per key written within the lag: its value before those writes, and the writes
        # (when, new value; ``None`` for a delete) a lagging replica may not have yet
        self._base: dict[int, int | None] = {}
        self._pending: dict[int, list[tuple[float, int | None]]] = {}
        self._denied_at: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self.latest)

    # ------------------------------------------------------------------ reads

    def get(self, key: int, now_s: float, from_replica: bool) -> int | None:
        """The value of ``key`` as the primary (or, ``from_replica``, a replica lagging
        ``lag_s`` behind it) sees it at ``now_s``; ``None``: no such key."""
        if from_replica and self._lag_s:
            pending = self._pending.get(key)
            if pending and now_s - pending[-1][0] < self._lag_s:
                seen = self._base[key]
                for written_s, value in pending:
                    if now_s - written_s < self._lag_s:
                        break
                    seen = value
                return seen
        return self.latest.get(key)

    def is_denied(self, token: int, now_s: float, from_replica: bool) -> bool:
        """Whether token ``token`` is on the denylist as seen at ``now_s``."""
        denied_s = self._denied_at.get(token)
        if denied_s is None:
            return False
        return not (from_replica and now_s - denied_s < self._lag_s)

    def denylist(self, now_s: float, from_replica: bool) -> set[int]:
        """The denylist as seen at ``now_s`` (a copy)."""
        if not (from_replica and self._lag_s):
            return set(self._denied_at)
        return {token for token, at_s in self._denied_at.items() if now_s - at_s >= self._lag_s}

    # ----------------------------------------------------------------- writes

    def put(self, key: int, value: int, now_s: float) -> None:
        """Write ``value`` under ``key`` at ``now_s``."""
        self._remember(key, value, now_s)
        self.latest[key] = value

    def delete(self, key: int, now_s: float) -> None:
        """Delete ``key`` at ``now_s`` (nothing happens if it is absent)."""
        if key in self.latest:
            self._remember(key, None, now_s)
            del self.latest[key]

    def deny(self, token: int, now_s: float) -> None:
        """Add token ``token`` to the denylist at ``now_s``."""
        self._denied_at.setdefault(token, now_s)

    def _remember(self, key: int, value: int | None, now_s: float) -> None:
        if not self._lag_s:
            return
        pending = self._pending.get(key)
        if pending is None:
            self._base[key] = self.latest.get(key)
            pending = self._pending[key] = []
        while pending and now_s - pending[0][0] >= self._lag_s:
            self._base[key] = pending.pop(0)[1]  # every replica has it by now
        pending.append((now_s, value))

    # ---------------------------------------------------------------- failures

    def clear(self, belongs: Callable[[int], bool] | None = None) -> None:
        """Forget every key (``belongs``: only those it accepts): a restart without
        persistence. The denylist is kept."""
        if belongs is None:
            self.latest.clear()
            self._base.clear()
            self._pending.clear()
            return
        for key in [key for key in self.latest if belongs(key)]:
            del self.latest[key]
            self._base.pop(key, None)
            self._pending.pop(key, None)

    def lose_writes_since(self, since_s: float, belongs: Callable[[int], bool]) -> int:
        """A failover to a lagging replica: writes at or after ``since_s`` to keys
        ``belongs`` accepts never reached it; undo them. Returns how many keys changed."""
        lost = 0
        for key, pending in list(self._pending.items()):
            if not belongs(key):
                continue
            kept = [(written_s, value) for written_s, value in pending if written_s < since_s]
            if len(kept) == len(pending):
                continue
            value = kept[-1][1] if kept else self._base[key]
            if value is None:
                self.latest.pop(key, None)
            else:
                self.latest[key] = value
            self._pending[key] = kept
            lost += 1
        return lost

    def lose_denials_since(self, since_s: float) -> None:
        """Forget denylist entries added at or after ``since_s`` (a lost write)."""
        for token in [token for token, at_s in self._denied_at.items() if at_s >= since_s]:
            del self._denied_at[token]
