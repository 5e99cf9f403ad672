"""The measured window split at every event: the :class:`~simulator.results.records.Window`
list of a strategy run, built from the streaming tally's per-window counts.

The counts come from :class:`simulator.results.timeseries.Tally` (``window_counts`` and
``window_users``), keyed by the arrival time of each request.
"""

from __future__ import annotations

from collections.abc import Callable

from simulator import outcomes
from simulator.results.records import EventMark, Window

WindowCounts = Callable[[float, float, bool], list[int]]
"""``counts(begin_s, end_s, first)``: requests, ``ok`` and forced re-logins by cause of
the requests that arrived in ``[begin_s, end_s)`` (see ``timeseries.Tally``)."""

WindowUsers = Callable[[float, float, bool], int]
"""``users(begin_s, end_s, first)``: distinct users forced to log in again by a request
that arrived in ``[begin_s, end_s)`` (see ``timeseries.Tally.window_users``)."""


def event_windows(
    marks: list[EventMark],
    start_s: float,
    end_s: float,
    counts: WindowCounts,
    users: WindowUsers | None = None,
) -> list[Window]:
    """Split the measured window at every event's start (and end, for lasting events).

    A window is labelled by what opened it: ``during <event>`` for a lasting event,
    ``after <event>`` for an instantaneous one or after a lasting one ended. Events in the
    warm-up open the first window. ``first`` (the callables' third argument) is true for
    the first window, which also takes the requests counted before any window edge.

    Args:
        marks: the events as they happened.
        start_s: start of the measured window, seconds.
        end_s: end of the measured window, seconds.
        counts: requests, ``ok`` and forced re-logins by cause per window.
        users: distinct users logged out per window (``None``: 0 in every window).
    """
    edges: list[tuple[float, str]] = []
    for mark in marks:
        if mark.end_s is None:
            edges.append((mark.start_s, f"after {mark.label}"))
        else:
            edges.append((mark.start_s, f"during {mark.label}"))
            edges.append((mark.end_s, f"after {mark.label}"))
    edges.sort(key=lambda edge: edge[0])
    first_label = f"before {marks[0].label}" if marks else "whole run"
    cuts: list[tuple[float, str]] = [(start_s, first_label)]
    for time_s, label in edges:
        if time_s >= end_s:
            continue
        if time_s <= cuts[-1][0]:
            cuts[-1] = (cuts[-1][0], label)  # a later label for the same start wins
        else:
            cuts.append((time_s, label))
    windows = []
    for position, (begin, label) in enumerate(cuts):
        finish = cuts[position + 1][0] if position + 1 < len(cuts) else end_s
        first = position == 0
        requests, succeeded, *causes = counts(begin, finish, first)
        windows.append(
            Window(
                label=label,
                start_s=begin,
                end_s=finish,
                requests=requests,
                succeeded=succeeded,
                forced_relogins_by_cause=dict(zip(outcomes.CAUSES, causes, strict=True)),
                users_logged_out=users(begin, finish, first) if users is not None else 0,
            )
        )
    return windows
