"""A SimPy environment that replays the request stream without an event per arrival.

The arrivals of a run are known in advance and come in time order, so the environment
can run them itself: before each event it runs the arrival due first, if that is
earlier. An arrival then costs a comparison instead of a :class:`simpy.Timeout` (its
creation, a push onto and a pop off the event heap, and a step), about a tenth of the
cost of a request. Everything else is SimPy's: events, processes, ``run(until=...)``.

The stream is an iterator of items, each a tuple whose first element is its gap to the
item before (:meth:`StreamEnvironment.replay`); only the next item is pending at a time,
and the environment takes the one after it once its callback has run. An arrival at the
very same instant as an event runs after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.core import EmptySchedule, Infinity, StopSimulation
from simpy.events import NORMAL, EventPriority

_CALL_LENGTH = 5
"""Entries of the event queue this long are :meth:`StreamEnvironment.call_later` calls."""


def _no_item(item: Any) -> None:
    """No stream is being replayed."""


def _no_end() -> None:
    """No stream is being replayed."""


class StreamEnvironment(simpy.Environment):
    """:class:`simpy.Environment` plus one stream of timed callbacks (the arrivals)."""

    now: float = 0.0
    """The current simulated time, seconds: a plain attribute, kept equal to SimPy's
    ``_now`` by :meth:`step` (reading SimPy's ``now`` property is a call, and the model
    reads the time several times per request)."""

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        self.now = self._now
        self._next_s: float = Infinity  # when the pending stream item is due
        self._items: Iterator[tuple[Any, ...]] = iter(())
        self._item: tuple[Any, ...] = ()  # the pending stream item
        self._on_item: Callable[[Any], None] = _no_item
        self._on_end: Callable[[], None] = _no_end
        self._in_run = False  # inside run: step loops (see run)

    def replay(
        self,
        items: Iterator[tuple[Any, ...]],
        on_item: Callable[[Any], None],
        on_end: Callable[[], None] = _no_end,
    ) -> None:
        """Replay a stream: call ``on_item(item)`` at each item's time, then ``on_end()``
        once the stream is exhausted (at once if it is empty; else right after the last
        item's callback).

        Each item is a tuple whose first element is its gap, seconds: the first item is
        due that long after now, each other that long after the item before (``time +
        gap``, as a timeout's time). The next item is taken from ``items`` once the
        callback of the one before has run. It replaces any stream being replayed.
        """
        self._items, self._on_item, self._on_end = items, on_item, on_end
        self._next_s = Infinity
        self._take(self._now)

    def _take(self, now_s: float) -> None:
        """Take the stream's next item, due its gap after ``now_s`` (or end the stream)."""
        item = next(self._items, None)
        if item is not None and item[0] >= 0:
            self._item = item
            self._next_s = now_s + item[0]
        else:
            self._no_next(item)

    def _no_next(self, item: tuple[Any, ...] | None) -> None:
        """The stream has no next item (``None``: it ended), or one with a bad gap."""
        if item is not None:
            raise ValueError(f"a stream item's gap must be a number >= 0, not {item[0]}")
        self._items, self._item = iter(()), ()
        self._on_end()

    def call_later(self, delay_s: float, function: Callable[[Any], None], arg: Any) -> None:
        """Call ``function(arg)`` ``delay_s`` seconds from now, ordered among the events
        exactly as a :class:`simpy.Timeout` of ``delay_s`` made now would be, for less
        (no event object to wait on, no :meth:`schedule` call, no closure).

        The call is one entry of the event queue, ``(time, priority, id, function,
        arg)``: SimPy's entries are ``(time, priority, id, event)``, and as the ids are
        unique, entries never compare beyond them. Only :meth:`step` reads the fifth.
        """
        if delay_s < 0:
            raise ValueError(f"negative delay {delay_s}")
        queue: list[Any] = self._queue
        heappush(queue, (self._now + delay_s, NORMAL, next(self._eid), function, arg))

    def call_at(self, at_s: float, function: Callable[[Any], None], arg: Any) -> None:
        """Call ``function(arg)`` at time ``at_s`` (not before now): :meth:`call_later`
        with the time itself, for a time that was computed before now (the order among
        events at that instant is still the order in which they were scheduled)."""
        if at_s < self._now:
            raise ValueError(f"time {at_s} is before now ({self._now})")
        queue: list[Any] = self._queue
        heappush(queue, (at_s, NORMAL, next(self._eid), function, arg))

    def peek(self) -> float:
        """The time of the next event or stream item (``Infinity``: none)."""
        queue: list[Any] = self._queue
        head: float = queue[0][0] if queue else Infinity
        return self._next_s if self._next_s < head else head

    def run(self, until: Any = None) -> Any:
        """SimPy's :meth:`~simpy.Environment.run`, whose loop calls :meth:`step` once:
        the steps then run in :meth:`step`'s own loop (no call per event), until the
        run's end stops it as it stops SimPy's loop (``StopSimulation`` or
        ``EmptySchedule``)."""
        self._in_run = True
        try:
            return super().run(until)
        finally:
            self._in_run = False

    def step(self) -> None:
        """Run the stream's next item if it comes before the next event, else the event;
        inside :meth:`run`, go on with the next one until the run stops."""
        once = not self._in_run
        self._in_run = False  # a step called from a callback of this loop takes one item
        queue: list[Any] = self._queue
        while True:
            if queue and queue[0][0] <= self._next_s:
                # the next event (simpy.Environment.step, inlined)
                entry = heappop(queue)
                self._now = self.now = entry[0]
                if len(entry) == _CALL_LENGTH:  # a call_later: no event
                    entry[3](entry[4])
                    if once:
                        return
                    continue
                event = entry[3]
                callbacks, event.callbacks = event.callbacks, None
                try:
                    for done in callbacks:
                        done(event)
                except StopSimulation:
                    # as SimPy does: the remaining callbacks run when the simulation resumes
                    event.callbacks = callbacks[callbacks.index(done) + 1 :]
                    self.schedule(event, EventPriority(-1))
                    raise
                if not event._ok and not hasattr(event, "_defused"):
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    raise exc
            else:
                # the stream's next item: due before the next event (an event at the
                # same instant runs first), or nothing at all is scheduled
                next_s = self._next_s
                if next_s == Infinity:
                    raise EmptySchedule
                self._now = self.now = next_s
                self._next_s = Infinity  # (what the callback peeks at: the events)
                self._on_item(self._item)
                # the next item (_take, without its call: this runs for every arrival)
                item = next(self._items, None)
                if item is not None and item[0] >= 0:
                    self._item = item
                    self._next_s = next_s + item[0]
                else:
                    self._no_next(item)
            if once:
                return
