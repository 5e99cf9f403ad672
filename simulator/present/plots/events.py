"""The run's events on a time axis: a marker per event (a line for an instant, a band
for an event that lasts), labels above the axes on as many rows as they need, and the
events outside the measured window listed under the x axis.

Shared by the time-series figures and the per-server heatmap.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.transforms import blended_transform_factory

from simulator.present.plots.style import LABEL_SIZE, seconds_text
from simulator.results.records import EventMark, RunResult

_EVENT_COLOUR = "0.2"  # event lines, band edges and label frames
_EVENT_BAND_ALPHA = 0.14  # opacity of the grey band of an event that lasts
_EVENT_LABEL_SIZE = 10
_EVENT_LABEL_BASE_PT = 6.0  # gap between the top of the axes and the first row of labels
_EVENT_LABEL_ROW_PT = 19.0  # height of a row of event labels
_EVENT_LABEL_GAP_PT = 6.0  # least horizontal gap between two labels in a row


@dataclass(frozen=True)
class ShownEvent:
    """An event clipped to the measured window."""

    mark: EventMark
    start_s: float
    end_s: float | None

    @property
    def anchor_s(self) -> float:
        """Where its label points: the instant, or the middle of the clipped band."""
        return self.start_s if self.end_s is None else (self.start_s + self.end_s) / 2

    @property
    def caption(self) -> str:
        """The label with when it happened, in seconds."""
        mark = self.mark
        if mark.end_s is None:
            return f"{mark.label} ({seconds_text(mark.start_s)} s)"
        return f"{mark.label} ({seconds_text(mark.start_s)}–{seconds_text(mark.end_s)} s)"


def shown_events(
    marks: Sequence[EventMark], start_s: float, end_s: float
) -> tuple[list[ShownEvent], list[EventMark]]:
    """The events inside the window (clipped to it) and the ones outside it."""
    shown: list[ShownEvent] = []
    hidden: list[EventMark] = []
    for mark in marks:
        if mark.end_s is None:
            if start_s <= mark.start_s <= end_s:
                shown.append(ShownEvent(mark, mark.start_s, None))
            else:
                hidden.append(mark)
        elif mark.start_s < end_s and mark.end_s > start_s:
            shown.append(ShownEvent(mark, max(mark.start_s, start_s), min(mark.end_s, end_s)))
        else:
            hidden.append(mark)
    return shown, hidden


def draw_events(ax: Axes, shown: Sequence[ShownEvent], on_heatmap: bool) -> None:
    """One marker per event: a dash-dot vertical line, or a band for an event that lasts.

    On a heatmap the markers are white with a dark outline (visible on every colour) and
    a band is drawn as an outline only, so it does not change the colours under it.
    """
    # On a heatmap a line and a band's frame are drawn alike: white dashes, dark outline.
    on_map: dict[str, Any] = {
        "linestyle": (0, (5, 3)),
        "linewidth": 1.5,
        "zorder": 5,
        "path_effects": [patheffects.withStroke(linewidth=3.2, foreground="black")],
        "gid": "event",
    }
    for item in shown:
        if item.end_s is None:
            if on_heatmap:
                ax.axvline(item.start_s, color="white", **on_map)
            else:
                ax.axvline(
                    item.start_s,
                    color=_EVENT_COLOUR,
                    linestyle=(0, (7, 2, 1.5, 2)),  # dash-dot: unlike any strategy's line
                    linewidth=1.4,
                    zorder=2,
                    gid="event",
                )
        elif on_heatmap:
            ax.axvspan(item.start_s, item.end_s, fill=False, edgecolor="white", **on_map)
        else:
            ax.axvspan(
                item.start_s,
                item.end_s,
                facecolor=_EVENT_COLOUR,
                alpha=_EVENT_BAND_ALPHA,
                edgecolor="none",
                zorder=1,
                gid="event",
            )


def label_events(fig: Figure, ax: Axes, shown: Sequence[ShownEvent], title: str) -> None:
    """Label the events above ``ax``, on as many rows as needed so no two overlap, and
    put ``title`` above the labels.

    Labels are first placed to find the axes' final width, then each goes on the lowest
    row where it does not overlap a label already there, centred on its event (shifted
    inwards at the edges of the axes), with a thin line down to its event.
    """
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    labels: list[tuple[ShownEvent, Annotation]] = []
    for item in shown:
        annotation = ax.annotate(
            item.caption,
            xy=(item.anchor_s, 1.0),
            xycoords=trans,
            xytext=(0.0, _EVENT_LABEL_BASE_PT),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=_EVENT_LABEL_SIZE,
            color=_EVENT_COLOUR,
            bbox={
                "boxstyle": "round,pad=0.25",
                "facecolor": "white",
                "edgecolor": _EVENT_COLOUR,
                "linewidth": 0.7,
            },
            arrowprops={
                "arrowstyle": "-",
                "color": _EVENT_COLOUR,
                "linewidth": 0.7,
                "shrinkA": 0.0,
                "shrinkB": 0.0,
            },
            annotation_clip=False,
            gid="event-label",
        )
        labels.append((item, annotation))
    rows = 0
    if labels:
        fig.draw_without_rendering()  # runs the layout: the axes' final place and width
        px_per_pt = fig.dpi / 72.0
        box = ax.get_window_extent()
        gap_px = _EVENT_LABEL_GAP_PT * px_per_pt
        row_ends: list[float] = []
        ordered = sorted(labels, key=lambda pair: pair[0].anchor_s)
        for item, annotation in ordered:
            patch = annotation.get_bbox_patch()
            extent = patch.get_window_extent() if patch else annotation.get_window_extent()
            width = extent.width + 2.0  # a pixel of slack on each side
            anchor = float(ax.transData.transform((item.anchor_s, 0.0))[0])
            centre = min(max(anchor, box.x0 + width / 2), box.x1 - width / 2)
            if width > box.width:
                centre = (box.x0 + box.x1) / 2
            left = centre - width / 2
            row = next(
                (index for index, end in enumerate(row_ends) if left >= end + gap_px),
                len(row_ends),
            )
            if row == len(row_ends):
                row_ends.append(0.0)
            row_ends[row] = centre + width / 2
            annotation.xyann = (
                (centre - anchor) / px_per_pt,
                _EVENT_LABEL_BASE_PT + row * _EVENT_LABEL_ROW_PT,
            )
            annotation.set_zorder(20 - row)  # lower rows cover the lines from higher ones
        rows = len(row_ends)
    pad = _EVENT_LABEL_BASE_PT + rows * _EVENT_LABEL_ROW_PT + 4.0 if rows else 8.0
    # About 11 characters per inch of axes at this font size.
    width = max(int((fig.get_figwidth() - 3.0) * 11), 40)
    ax.set_title(textwrap.fill(title, width), fontsize=LABEL_SIZE, pad=pad)


def time_label(bucket_s: float, hidden: Sequence[EventMark], heatmap: bool = False) -> str:
    """The x axis label, with the events that fall outside the measured window."""
    if heatmap:
        label = f"simulated time (s); one column per {bucket_s:g}-s bucket"
    else:
        label = f"simulated time (s); one step per {bucket_s:g}-s bucket"
    if hidden:
        listed = "; ".join(
            f"{mark.label} at {seconds_text(mark.start_s)} s"
            + (f" to {seconds_text(mark.end_s)} s" if mark.end_s is not None else "")
            for mark in hidden
        )
        label += "\n" + textwrap.fill(f"outside the measured window, not drawn: {listed}", 130)
    return label


def time_window(result: RunResult) -> tuple[float, float, float]:
    """Start and end of the measured window and the bucket width, seconds."""
    for item in result.results:
        if item.series is not None and len(item.series.t_s):
            series = item.series
            start = float(series.t_s[0])
            return start, start + series.bucket_s * len(series.t_s), series.bucket_s
    scenario = result.scenario
    return scenario.warmup_s, scenario.duration_s, scenario.time_bucket_s
