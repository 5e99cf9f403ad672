"""A SimPy environment that replays the request stream without an event per arrival.

The arrivals of a run are known in advance and come in time order, so the environment
can run them itself: before each event it runs the arrival due first, if that is
earlier. An arrival then costs a comparison instead of a :class:`simpy.Timeout` (its
creation, a push onto and a pop off the event heap, and a step), about a tenth of the
cost of a request. Everything else is SimPy's: events, processes, ``run(until=...)``.

Only one arrival is pending at a time (:meth:`StreamEnvironment.next_at`); its callback
sets the next. An arrival at the very same instant as an event runs after it.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.core import EmptySchedule, Infinity, StopSimulation
from simpy.events import NORMAL, EventPriority


class _Call:
    """The least a scheduled call needs to be stepped like an event: its callbacks.

    :meth:`StreamEnvironment.call_later` puts these on the event queue instead of a
    :class:`simpy.Timeout`; nothing can wait on one (use a timeout for that). The call
    carries its argument, so the caller needs no closure (a closure over several
    variables costs more to make than this object).
    """

    __slots__ = ("_arg", "_function", "callbacks")
    _ok = True

    def __init__(self, function: Callable[[Any], None], arg: Any) -> None:
        self._function = function
        self._arg = arg
        self.callbacks: list[Callable[[object], None]] | None = [self._call]

    def _call(self, _: object) -> None:
        self._function(self._arg)


class StreamEnvironment(simpy.Environment):
    """:class:`simpy.Environment` plus one stream of timed callbacks (the arrivals)."""

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        self._next_s: float = Infinity
        self._on_next: Callable[[], None] | None = None

    def next_at(self, delay_s: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` ``delay_s`` seconds from now (the stream's next item); it
        replaces any pending one. The time is ``now + delay_s``, as for a timeout."""
        if delay_s < 0:
            raise ValueError(f"negative delay {delay_s}")
        self._next_s = self._now + delay_s
        self._on_next = callback

    def call_later(self, delay_s: float, function: Callable[[Any], None], arg: Any) -> None:
        """Call ``function(arg)`` ``delay_s`` seconds from now, ordered among the events
        exactly as a :class:`simpy.Timeout` of ``delay_s`` made now would be, for less
        (no event object to wait on, no :meth:`schedule` call, no closure)."""
        if delay_s < 0:
            raise ValueError(f"negative delay {delay_s}")
        call: Any = _Call(function, arg)  # stepped like an event: it has callbacks and _ok
        heappush(self._queue, (self._now + delay_s, NORMAL, next(self._eid), call))

    def peek(self) -> float:
        """The time of the next event or stream item (``Infinity``: none)."""
        queue = self._queue
        head: float = queue[0][0] if queue else Infinity
        return self._next_s if self._next_s < head else head

    def step(self) -> None:
        """Run the stream's next item if it comes before the next event, else the event."""
        next_s = self._next_s
        if next_s != Infinity:
            queue = self._queue
            if not queue or next_s < queue[0][0]:
                callback = self._on_next
                assert callback is not None
                self._now = next_s
                self._next_s = Infinity
                self._on_next = None
                callback()
                return
        # simpy.Environment.step, inlined (one call fewer per event)
        try:
            self._now, _, _, event = heappop(self._queue)
        except IndexError:
            raise EmptySchedule from None
        callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
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
