"""Figures: panels, labels, edge cases (1 and 40 servers, nothing served) and PNG files."""

from __future__ import annotations

import dataclasses
import io
import itertools
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, QuadMesh
from matplotlib.colors import is_color_like, to_rgba
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox

import simulator.present.plots
from simulator import RunResult, StrategyName, load_scenario, run
from simulator.experiments.replications import ReplicatedResult, run_replications
from simulator.experiments.warmup import WelchResult, welch
from simulator.present.plots import (
    FALLBACK_COLOUR,
    STRATEGY_COLOURS,
    TIMESERIES_METRICS,
    comparison_ci_figure,
    comparison_figure,
    save_figures,
    server_heatmap_figure,
    server_load_figure,
    strategy_colour,
    timeseries_figure,
    timeseries_values,
    welch_figure,
)
from simulator.results.records import EventMark

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NO_LATENCY: dict[str, float | None] = {"mean": None, "p50": None, "p95": None, "p99": None}


def short_run(**overrides: object) -> RunResult:
    """A few seconds of the baseline scenario, with extra dotted-key overrides."""
    settings: dict[str, object] = {"duration_s": 12, "warmup_s": 4}
    settings |= {key.replace("__", "."): value for key, value in overrides.items()}
    return run(load_scenario("baseline").with_overrides(settings))


@pytest.fixture(scope="module")
def result() -> RunResult:
    return short_run()


OUTAGE_AND_CRASH: list[dict[str, object]] = [
    {"at_s": 15, "kind": "store_outage", "duration_s": 4},
    {"at_s": 22, "kind": "server_crash", "server": 2},
    {"at_s": 32, "kind": "server_recover"},
]


@pytest.fixture(scope="module")
def events_result() -> RunResult:
    """40 s (30 measured) with a store outage, a crash and a recovery; two strategies."""
    return short_run(
        duration_s=40,
        warmup_s=10,
        strategies=["sticky", "shared_store"],
        events=OUTAGE_AND_CRASH,
    )


def render(fig: Figure) -> bytes:
    """Draw the figure completely (layout included) and return the PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    return buffer.getvalue()


def texts(ax: Axes) -> list[str]:
    """Every piece of text drawn inside an axes (labels, notes, annotations)."""
    return [child.get_text() for child in ax.get_children() if isinstance(child, Text)]


def bars(ax: Axes) -> list[Rectangle]:
    return [patch for patch in ax.patches if isinstance(patch, Rectangle)]


def strategy_lines(ax: Axes) -> dict[str, Line2D]:
    """The line of each strategy in a time-series panel, by strategy name."""
    return {
        str(line.get_gid()).removeprefix("series:"): line
        for line in ax.lines
        if str(line.get_gid()).startswith("series:")
    }


def event_markers(ax: Axes) -> list[Artist]:
    """The vertical lines and bands that mark events in an axes."""
    return [artist for artist in [*ax.lines, *ax.patches] if artist.get_gid() == "event"]


def event_labels(ax: Axes) -> list[Annotation]:
    return [text for text in ax.texts if isinstance(text, Annotation)]


def heatmap_panels(fig: Figure) -> list[Axes]:
    """The strategy panels of a heatmap figure (not its colour bar)."""
    return [ax for ax in fig.axes if any(item.get_gid() == "load" for item in ax.collections)]


def heatmap_mesh(ax: Axes) -> QuadMesh:
    (mesh,) = [item for item in ax.collections if isinstance(item, QuadMesh)]
    return mesh


def mesh_values(ax: Axes) -> npt.NDArray[np.float64]:
    """The colour values of a heatmap panel (servers × buckets)."""
    return np.asarray(heatmap_mesh(ax).get_array(), dtype=np.float64)


def xdata(line: Line2D) -> npt.NDArray[np.float64]:
    return np.asarray(line.get_xdata(), dtype=np.float64)


def ydata(line: Line2D) -> npt.NDArray[np.float64]:
    return np.asarray(line.get_ydata(), dtype=np.float64)


def label_box(label: Annotation) -> Bbox:
    """Where a label's framed text is drawn (its leader line excluded), display units."""
    patch = label.get_bbox_patch()
    assert patch is not None
    return patch.get_window_extent()


def down_cells(ax: Axes) -> list[Rectangle]:
    """The hatched cells of a heatmap panel: a server down for whole buckets."""
    cells = [patch for patch in ax.patches if patch.get_gid() == "down"]
    assert all(isinstance(cell, Rectangle) for cell in cells)
    return [cell for cell in cells if isinstance(cell, Rectangle)]


def with_nothing_served(result: RunResult, strategy: str) -> RunResult:
    """A copy of the run in which one strategy served no request at all."""
    results = [
        dataclasses.replace(item, served=0, succeeded=0, latency_ms=dict(NO_LATENCY))
        if item.strategy == strategy
        else item
        for item in result.results
    ]
    return dataclasses.replace(result, results=results)


# ------------------------------------------------------------------------- colours


def test_every_strategy_has_its_own_colour() -> None:
    names = [str(name) for name in StrategyName]
    assert set(STRATEGY_COLOURS) == set(names)
    colours = [strategy_colour(name) for name in names]
    assert len(set(colours)) == len(colours)
    assert all(is_color_like(colour) for colour in colours)
    assert strategy_colour(StrategyName.JWT) == STRATEGY_COLOURS["jwt"]


def test_unknown_strategy_gets_the_fallback_colour() -> None:
    assert strategy_colour("carrier_pigeon") == FALLBACK_COLOUR
    assert FALLBACK_COLOUR not in STRATEGY_COLOURS.values()


# ---------------------------------------------------------------- comparison figure


def test_comparison_figure_has_four_labelled_panels(result: RunResult) -> None:
    fig = comparison_figure(result)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4
    titles = [ax.get_title() for ax in fig.axes]
    for letter, topic in zip("abcd", ("Success", "Latency", "skew", "Jain"), strict=True):
        assert any(title.startswith(f"({letter})") and topic in title for title in titles)
    assert "baseline" in fig.get_suptitle()
    for ax in fig.axes:
        assert ax.get_ylabel()
        assert [label.get_text() for label in ax.get_xticklabels()] == result.strategies
    success, latency, _, _ = fig.axes
    assert "%" in success.get_ylabel()
    assert "ms" in latency.get_ylabel()
    render(fig)


def test_comparison_figure_marks_one_over_n(result: RunResult) -> None:
    success = comparison_figure(result).axes[0]
    assert "1/N = 20%" in texts(success)
    local = result["local"]
    assert local.success_rate is not None
    assert f"{local.success_rate * 100:.1f}%" in texts(success)


def test_comparison_figure_colours_bars_by_strategy(result: RunResult) -> None:
    success = comparison_figure(result).axes[0]
    colours = [patch.get_facecolor() for patch in bars(success)]
    assert colours == [to_rgba(strategy_colour(name)) for name in result.strategies]


def test_latency_panel_has_three_percentiles_per_strategy(result: RunResult) -> None:
    latency = comparison_figure(result).axes[1]
    assert len(bars(latency)) == 3 * len(result.strategies)
    legend = latency.get_legend()
    assert legend is not None
    assert [text.get_text() for text in legend.get_texts()] == ["p50 (median)", "p95", "p99"]


def test_strategy_with_nothing_served_does_not_crash(result: RunResult) -> None:
    broken = with_nothing_served(result, "sticky")
    fig = comparison_figure(broken)
    latency = fig.axes[1]
    assert "no served\nrequests" in texts(latency)
    assert len(bars(latency)) == 3 * (len(result.strategies) - 1)
    render(fig)
    render(server_load_figure(broken))


def test_no_strategy_served_anything_does_not_crash(result: RunResult) -> None:
    broken = result
    for name in result.strategies:
        broken = with_nothing_served(broken, name)
    render(comparison_figure(broken))


def test_no_requests_and_no_load_do_not_crash(result: RunResult) -> None:
    idle = [
        dataclasses.replace(
            item,
            requests=0,
            served=0,
            succeeded=0,
            latency_ms=dict(NO_LATENCY),
            server_requests=[0] * len(item.server_requests),
        )
        for item in result.results
    ]
    empty = dataclasses.replace(result, results=idle)
    fig = comparison_figure(empty)
    assert "no requests" in texts(fig.axes[0])
    assert "no load" in texts(fig.axes[2])
    render(fig)
    load = server_load_figure(empty)
    assert all("no load" in texts(ax) for ax in load.axes)
    render(load)


# --------------------------------------------------------------- server load figure


def test_server_load_figure_has_one_panel_per_strategy(result: RunResult) -> None:
    fig = server_load_figure(result)
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == result.strategies
    assert "baseline" in fig.get_suptitle()
    assert fig.axes[0].get_ylabel().startswith("jobs received")
    servers = result.scenario.cluster.servers
    for ax, strategy in zip(fig.axes, result.results, strict=True):
        heights = [patch.get_height() for patch in bars(ax)]
        assert heights == strategy.server_requests
        assert len(heights) == servers
        assert ax.get_xlabel().startswith("server")
        assert any(text.startswith("max / mean = ") for text in texts(ax))
    limits = {ax.get_ylim() for ax in fig.axes}
    assert len(limits) == 1  # shared y axis
    render(fig)


# ---------------------------------------------------------------- time-series figures


def test_timeseries_metrics_are_the_documented_ones() -> None:
    assert TIMESERIES_METRICS == (
        "success_rate",
        "throughput",
        "latency",
        "forced_relogins",
        "login_cpu",
        "queue_length",
    )


@pytest.mark.parametrize("metric", TIMESERIES_METRICS)
def test_timeseries_figure_has_a_line_per_strategy_and_marks_every_event(
    events_result: RunResult, metric: str
) -> None:
    fig = timeseries_figure(events_result, metric)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == (3 if metric == "latency" else 1)
    marks = events_result.events
    assert [mark.kind for mark in marks] == ["store_outage", "server_crash", "server_recover"]
    series = events_result.results[0].series
    assert series is not None
    for ax in fig.axes:
        lines = strategy_lines(ax)
        assert list(lines) == events_result.strategies
        for name, line in lines.items():
            assert to_rgba(line.get_color()) == to_rgba(strategy_colour(name))
            assert line.get_drawstyle() == "steps-post"
            assert len(xdata(line)) == len(series.t_s) + 1  # every bucket's start, then the end
        markers = event_markers(ax)
        assert len(markers) == len(marks)  # one marker per event
        assert sum(isinstance(marker, Line2D) for marker in markers) == 2  # crash, recover
        (band,) = [marker for marker in markers if isinstance(marker, Rectangle)]
        assert band.get_x() == pytest.approx(15.0)  # the outage: 15 to 19 s
        assert band.get_width() == pytest.approx(4.0)
        assert ax.get_xlim() == pytest.approx((10.0, 40.0))
        assert ax.get_ylabel()
    # Labelled once, above the top panel.
    captions = [label.get_text() for label in event_labels(fig.axes[0])]
    assert captions == [
        "store outage (15–19 s)",
        "crash server 2 (22 s)",
        "recover server 2 (32 s)",
    ]
    assert all(not event_labels(ax) for ax in fig.axes[1:])
    assert fig.axes[-1].get_xlabel().startswith("simulated time (s)")
    assert fig.legends
    render(fig)


@pytest.mark.parametrize(
    ("metric", "unit"),
    [
        ("success_rate", "(%)"),
        ("throughput", "(requests/s)"),
        ("latency", "(ms)"),
        ("forced_relogins", "(per bucket)"),
        ("login_cpu", "(s per bucket)"),
        ("queue_length", "(jobs waiting)"),
    ],
)
def test_timeseries_title_says_the_metric_and_its_unit(
    result: RunResult, metric: str, unit: str
) -> None:
    fig = timeseries_figure(result, metric)
    title = fig.get_suptitle()
    assert "baseline" in title
    assert "over time" in title
    assert unit in title
    assert len(fig.axes[0].get_title()) > 40  # what is counted, in words


def test_timeseries_lines_show_the_series(events_result: RunResult) -> None:
    series = events_result["sticky"].series
    assert series is not None
    edges = np.append(series.t_s, series.t_s[-1] + series.bucket_s)
    expected = {
        "success_rate": series.success_rate * 100,
        "throughput": series.served / series.bucket_s,
        "forced_relogins": series.forced_relogins,
        "login_cpu": series.login_cpu_s,
        "queue_length": series.queue_length.sum(axis=0),
    }
    for metric, values in expected.items():
        line = strategy_lines(timeseries_figure(events_result, metric).axes[0])["sticky"]
        # Steps: each bucket's value from its start; the last value again at the end.
        np.testing.assert_allclose(xdata(line), edges)
        np.testing.assert_allclose(ydata(line), np.append(values, values[-1]))
    latency = timeseries_figure(events_result, "latency")
    for row, ax in enumerate(latency.axes):
        line = strategy_lines(ax)["sticky"]
        np.testing.assert_allclose(ydata(line)[:-1], series.latency_ms[row])


def test_throughput_shows_the_arrivals_and_login_cpu_the_cores(events_result: RunResult) -> None:
    series = events_result.results[0].series
    assert series is not None
    throughput = timeseries_figure(events_result, "throughput").axes[0]
    (arrivals,) = [line for line in throughput.lines if line.get_gid() == "reference"]
    np.testing.assert_allclose(ydata(arrivals)[:-1], series.requests / series.bucket_s)
    login = timeseries_figure(events_result, "login_cpu").axes[0]
    (cores,) = login.child_axes
    assert "cores" in cores.get_ylabel()


def test_unknown_metric_is_refused(result: RunResult) -> None:
    with pytest.raises(ValueError, match="success_rate"):
        timeseries_figure(result, "happiness")


def test_latency_gap_where_nothing_was_served(events_result: RunResult) -> None:
    # During the store outage shared_store serves nothing: its latency buckets are NaN.
    series = events_result["shared_store"].series
    assert series is not None
    assert np.isnan(series.latency_ms[0]).sum() >= 6
    fig = timeseries_figure(events_result, "latency")
    for row, ax in enumerate(fig.axes):
        drawn = ydata(strategy_lines(ax)["shared_store"])[:-1]
        assert np.isnan(drawn).sum() == np.isnan(series.latency_ms[row]).sum()
    legend = [text.get_text() for text in fig.legends[0].get_texts()]
    assert any(text.startswith("shared_store") and "gaps" in text for text in legend)
    assert "sticky" in legend
    render(fig)


def with_sparse_series(result: RunResult) -> RunResult:
    """A copy where every strategy's requests arrived in one bucket only (bucket 3)."""
    results = []
    for item in result.results:
        series = item.series
        assert series is not None
        keep = np.zeros(len(series.t_s), dtype=bool)
        keep[3] = True
        latency = np.where(keep, series.latency_ms, np.nan)
        sparse = dataclasses.replace(
            series,
            requests=np.where(keep, series.requests, 0),
            succeeded=np.where(keep, series.succeeded, 0),
            served=np.where(keep, series.served, 0),
            latency_ms=latency,
        )
        results.append(dataclasses.replace(item, series=sparse))
    return dataclasses.replace(result, results=results)


def test_buckets_with_nothing_to_measure_do_not_crash(result: RunResult) -> None:
    sparse = with_sparse_series(result)
    fig = timeseries_figure(sparse, "success_rate")
    ax = fig.axes[0]
    for line in strategy_lines(ax).values():
        values = ydata(line)
        # The lone bucket between gaps is a step of its own, a bucket wide.
        assert list(np.flatnonzero(np.isfinite(values))) == [3]
        assert line.get_drawstyle() == "steps-post"
    render(fig)
    render(timeseries_figure(sparse, "latency"))


def test_nothing_served_at_all_does_not_crash(result: RunResult) -> None:
    results = []
    for item in result.results:
        assert item.series is not None
        empty = np.full_like(item.series.latency_ms, np.nan)
        results.append(
            dataclasses.replace(item, series=dataclasses.replace(item.series, latency_ms=empty))
        )
    fig = timeseries_figure(dataclasses.replace(result, results=results), "latency")
    render(fig)


def test_result_without_time_series_gets_a_note(result: RunResult) -> None:
    bare = dataclasses.replace(
        result, results=[dataclasses.replace(item, series=None) for item in result.results]
    )
    for fig in (timeseries_figure(bare, "throughput"), server_heatmap_figure(bare)):
        assert "no time series in this result" in texts(fig.axes[0])
        render(fig)


def test_figures_without_events(result: RunResult) -> None:
    assert result.events == []
    for fig in (timeseries_figure(result, "success_rate"), server_heatmap_figure(result)):
        for ax in fig.axes:
            assert not event_markers(ax)
            assert not event_labels(ax)
        render(fig)


CLOSE_EVENTS: list[dict[str, object]] = [
    {"at_s": 5, "kind": "server_crash", "server": 3},  # in the warm-up: not drawn
    {"at_s": 8, "kind": "store_latency_spike", "duration_s": 6, "extra_ms": 20},
    {"at_s": 20, "kind": "server_crash", "server": 1},
    {"at_s": 20.5, "kind": "store_outage", "duration_s": 3},
    {"at_s": 21, "kind": "traffic_spike", "duration_s": 4, "multiplier": 2},
    {"at_s": 21.5, "kind": "server_recover"},
    {"at_s": 22, "kind": "scale_out", "count": 2},
    {"at_s": 39.5, "kind": "server_crash", "server": 2},  # at the right edge
]


def test_close_event_labels_never_overlap_and_stay_inside_the_figure() -> None:
    result = short_run(strategies=["jwt"], duration_s=40, warmup_s=10, events=CLOSE_EVENTS)
    assert len(result.events) == len(CLOSE_EVENTS)
    for fig in (timeseries_figure(result, "success_rate"), server_heatmap_figure(result)):
        top = fig.axes[0]
        fig.draw_without_rendering()
        labels = event_labels(top)
        assert len(labels) == len(CLOSE_EVENTS) - 1
        boxes = [label_box(label) for label in labels]
        for first, second in itertools.combinations(boxes, 2):
            assert not first.overlaps(second)
        for box in boxes:
            assert fig.bbox.x0 <= box.x0
            assert box.x1 <= fig.bbox.x1
            assert box.y0 >= top.get_window_extent().y1  # above the axes: hide no data
        title = top.title.get_window_extent()
        assert title.y0 >= max(box.y1 for box in boxes)  # the title sits above the labels
        # The warm-up crash is not drawn but listed; the latency spike is clipped.
        bottom = (heatmap_panels(fig) or fig.axes)[-1]
        assert "crash server 3 at 5 s" in bottom.get_xlabel()
        spans = [marker for marker in event_markers(top) if isinstance(marker, Rectangle)]
        assert min(span.get_x() for span in spans) == pytest.approx(10.0)


def test_labels_name_the_time(events_result: RunResult) -> None:
    fig = timeseries_figure(events_result, "queue_length")
    captions = [label.get_text() for label in event_labels(fig.axes[0])]
    for caption, mark in zip(captions, events_result.events, strict=True):
        assert caption.startswith(mark.label)
        assert f"{mark.start_s:g}" in caption


# -------------------------------------------------------------------- server heatmap


def test_server_heatmap_has_one_panel_per_strategy_on_one_scale(events_result: RunResult) -> None:
    fig = server_heatmap_figure(events_result)
    panels = heatmap_panels(fig)
    assert len(panels) == len(events_result.strategies)
    assert len(fig.axes) == len(panels) + 1  # and one colour bar
    assert "jobs accepted per second" in fig.axes[-1].get_ylabel()
    assert "baseline" in fig.get_suptitle()
    limits = set()
    for ax, item in zip(panels, events_result.results, strict=True):
        series = item.series
        assert series is not None
        assert ax.get_ylabel().startswith(item.strategy)
        mesh = heatmap_mesh(ax)
        np.testing.assert_allclose(mesh_values(ax), series.server_jobs / series.bucket_s)
        limits.add(mesh.get_clim())
        assert ax.get_xlim() == pytest.approx((10.0, 40.0))
        assert ax.get_ylim() == (-0.5, series.server_jobs.shape[0] - 0.5)
        # Server 2 crashed at 22 s and recovered at 32 s: one hatched run on its row.
        (down,) = down_cells(ax)
        assert down.get_hatch()
        assert down.get_y() == 1.5
        assert down.get_x() == pytest.approx(22.0, abs=series.bucket_s)
        assert down.get_x() + down.get_width() == pytest.approx(32.0, abs=series.bucket_s)
        assert len(event_markers(ax)) == len(events_result.events)
    assert len(limits) == 1  # one shared colour scale
    assert len(event_labels(panels[0])) == len(events_result.events)
    assert all(not event_labels(ax) for ax in panels[1:])
    render(fig)


def test_server_heatmap_with_scale_out() -> None:
    result = short_run(
        strategies=["sticky", "jwt"],
        duration_s=30,
        warmup_s=6,
        events=[{"at_s": 15, "kind": "scale_out", "count": 3}],
    )
    fig = server_heatmap_figure(result)
    for ax, item in zip(heatmap_panels(fig), result.results, strict=True):
        series = item.series
        assert series is not None
        assert series.server_jobs.shape[0] == 8  # 5 at the start, 8 at the end
        assert mesh_values(ax).shape == (8, len(series.t_s))
        assert ax.get_ylim() == (-0.5, 7.5)
        assert list(ax.get_yticks()) == list(range(8))
        # The three new servers are down (not started) until the scale-out.
        down = down_cells(ax)
        assert sorted(cell.get_y() for cell in down) == [4.5, 5.5, 6.5]
        for cell in down:
            assert cell.get_x() == pytest.approx(6.0)
            assert cell.get_x() + cell.get_width() == pytest.approx(15.0)
        assert len(event_markers(ax)) == 1
    render(fig)
    ts = timeseries_figure(result, "throughput")
    assert len(event_markers(ts.axes[0])) == 1
    render(ts)


def test_each_heatmap_panel_marks_its_own_strategys_events(result: RunResult) -> None:
    # A deploy can end a little later for one strategy than for another.
    ends = [9.0, 10.5, 11.0, 9.5]
    results = [
        dataclasses.replace(item, events=[EventMark("rolling_restart", "rolling deploy", 5, end)])
        for item, end in zip(result.results, ends, strict=True)
    ]
    deploy = dataclasses.replace(result, results=results)
    for ax, end in zip(heatmap_panels(server_heatmap_figure(deploy)), ends, strict=True):
        (band,) = event_markers(ax)
        assert isinstance(band, Rectangle)
        assert band.get_x() + band.get_width() == pytest.approx(end)
    (band,) = event_markers(timeseries_figure(deploy, "success_rate").axes[0])
    assert isinstance(band, Rectangle)
    assert band.get_x() + band.get_width() == pytest.approx(ends[0])  # the first strategy's


@pytest.mark.slow  # runs and draws (~2 s)
def test_new_figures_work_for_a_single_strategy() -> None:
    result = short_run(
        strategies=["jwt"], events=[{"at_s": 6, "kind": "server_crash", "server": 1}]
    )
    for metric in TIMESERIES_METRICS:
        fig = timeseries_figure(result, metric)
        for ax in fig.axes:
            assert list(strategy_lines(ax)) == ["jwt"]
            assert len(event_markers(ax)) == 1
        render(fig)
    heatmap = server_heatmap_figure(result)
    (panel,) = heatmap_panels(heatmap)
    assert panel.get_ylabel().startswith("jwt")
    render(heatmap)


# -------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("servers", [1, 40])
def test_figures_work_for_few_and_many_servers(servers: int) -> None:
    result = short_run(cluster__servers=servers, duration_s=8, warmup_s=2)
    comparison = comparison_figure(result)
    assert len(comparison.axes) == 4
    render(comparison)
    load = server_load_figure(result)
    assert len(load.axes) == len(result.strategies)
    render(load)
    for ax in load.axes:
        assert len(bars(ax)) == servers
        low, high = ax.get_xlim()
        visible = [tick for tick in ax.get_xticks() if low <= tick <= high]
        assert 1 <= len(visible) <= 12
    heatmap = server_heatmap_figure(result)
    render(heatmap)
    panels = heatmap_panels(heatmap)
    assert len(panels) == len(result.strategies)
    for ax in panels:
        assert mesh_values(ax).shape[0] == servers
        low, high = ax.get_ylim()
        visible = [tick for tick in ax.get_yticks() if low <= tick <= high]
        assert 1 <= len(visible) <= 12


def test_figures_work_for_a_single_strategy() -> None:
    result = short_run(strategies=["jwt"])
    comparison = comparison_figure(result)
    assert len(comparison.axes) == 4
    assert [label.get_text() for label in comparison.axes[0].get_xticklabels()] == ["jwt"]
    render(comparison)
    load = server_load_figure(result)
    assert len(load.axes) == 1
    assert load.axes[0].get_title() == "jwt"
    render(load)


@pytest.mark.slow  # renders four figures to PNG (~2 s)
def test_figures_render_themselves_for_jupyter(result: RunResult) -> None:
    # With no pyplot, no inline backend registers a display hook: IPython uses _repr_png_.
    figures = [
        comparison_figure(result),
        server_load_figure(result),
        timeseries_figure(result, "latency"),
        server_heatmap_figure(result),
    ]
    for fig in figures:
        png = fig._repr_png_()  # type: ignore[attr-defined]
        assert png.startswith(PNG_SIGNATURE)


# ------------------------------------------------------------------------ saving

ALL_PNGS = [
    "comparison.png",
    "server_load.png",
    "timeseries_success_rate.png",
    "timeseries_throughput.png",
    "timeseries_latency.png",
    "timeseries_forced_relogins.png",
    "timeseries_login_cpu.png",
    "timeseries_queue_length.png",
    "server_heatmap.png",
]


@pytest.mark.slow  # draws and encodes every figure (~4 s)
def test_save_figures_writes_decodable_pngs(result: RunResult, tmp_path: Path) -> None:
    out_dir = tmp_path / "nested" / "out"
    out_dir.mkdir(parents=True)
    (out_dir / "comparison.png").write_bytes(b"stale, from an earlier run")
    paths = save_figures(result, out_dir)
    assert [path.name for path in paths] == ALL_PNGS
    for path in paths:
        assert path.parent == out_dir
        assert path.read_bytes().startswith(PNG_SIGNATURE)
        height, width = imread(path).shape[:2]
        assert height > 0
        assert width > 0
    # no temporary file is left behind
    assert sorted(item.name for item in out_dir.iterdir()) == sorted(ALL_PNGS)


def test_save_figures_creates_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        simulator.present.plots.style, "DPI", 30
    )  # small files: this test is about the folder
    result = short_run(strategies=["jwt"], duration_s=3, warmup_s=1)
    out_dir = tmp_path / "a" / "b"
    paths = save_figures(result, out_dir)
    assert [path.name for path in paths] == ALL_PNGS
    assert all(path.is_file() for path in paths)


def test_interrupted_save_leaves_no_partial_file(
    result: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def write_half_then_fail(self: Figure, fname: io.BufferedWriter, **kwargs: object) -> None:
        fname.write(PNG_SIGNATURE)
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", write_half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        save_figures(result, tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- no global state


@pytest.mark.slow  # a fresh `python -c` subprocess
def test_plots_never_import_pyplot() -> None:
    script = textwrap.dedent(
        """
        import io
        import sys

        import simulator.present.plots
        from simulator import load_scenario, run

        assert "matplotlib.pyplot" not in sys.modules, "import pulled in pyplot"
        scenario = load_scenario("baseline").with_overrides({"duration_s": 3, "warmup_s": 1})
        result = run(scenario)
        plots = simulator.present.plots
        figures = [plots.comparison_figure(result), plots.server_load_figure(result)]
        # latency: three panels; login_cpu: a secondary axis; the others are like success_rate
        for metric in ("success_rate", "latency", "login_cpu"):
            figures.append(plots.timeseries_figure(result, metric))
        figures.append(plots.server_heatmap_figure(result))
        for fig in figures:
            fig.savefig(io.BytesIO(), format="png", dpi=20)
        assert "matplotlib.pyplot" not in sys.modules, "drawing pulled in pyplot"
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=900
    )
    assert completed.returncode == 0, completed.stderr


# ------------------------------------------------------- warm-up (Welch) figure


@pytest.fixture(scope="module")
def welch_result() -> WelchResult:
    """A cold start (everybody logs in first): a transient, then a steady level."""
    scenario = load_scenario(
        "baseline",
        {
            "duration_s": 90,
            "warmup_s": 20,
            "workload.users": 400,
            "workload.logged_in_at_start": False,
        },
    )
    return welch(scenario, 3, strategy="jwt")


def gid_lines(ax: Axes, gid: str) -> list[Line2D]:
    return [line for line in ax.lines if line.get_gid() == gid]


def test_welch_figure_draws_both_curves_the_band_and_both_warmups(
    welch_result: WelchResult,
) -> None:
    suggested = welch_result.suggested_warmup_s
    assert suggested is not None and suggested != welch_result.current_warmup_s
    fig = welch_figure(welch_result)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    full, zoom = fig.axes
    for ax in (full, zoom):
        (averaged,) = gid_lines(ax, "welch:averaged")
        (smoothed,) = gid_lines(ax, "welch:smoothed")
        # steps over bucket edges: every bucket's value, the last one repeated at the end
        np.testing.assert_allclose(ydata(averaged)[:-1], welch_result.averaged)
        np.testing.assert_allclose(ydata(smoothed)[:-1], welch_result.smoothed)
        assert xdata(averaged)[0] == 0.0
        assert xdata(averaged)[-1] == pytest.approx(welch_result.duration_s)
        assert smoothed.get_color() == strategy_colour("jwt")
        (line,) = gid_lines(ax, "welch:suggested")
        assert xdata(line)[0] == suggested
        (current,) = gid_lines(ax, "welch:current")
        assert xdata(current)[0] == welch_result.current_warmup_s
        (band,) = [patch for patch in ax.patches if patch.get_gid() == "welch:band"]
        low, high = welch_result.band
        assert band.get_extents() is not None
        assert low < welch_result.level < high
    assert len(gid_lines(full, "welch:replication")) == welch_result.replications
    assert gid_lines(zoom, "welch:replication") == []
    labels = texts(full)
    assert f"suggested warm-up: {suggested:g} s" in labels
    assert "scenario's warmup_s: 20 s" in labels
    # the zoom shows the band and a little around it
    bottom, top = zoom.get_ylim()
    assert bottom < low < welch_result.level < high < top
    assert top - bottom < (high - low) * 10
    assert "suggested warm-up" in fig.get_suptitle()
    assert "R = 3" in fig.get_suptitle()
    legend = full.get_legend()
    assert legend is not None
    entries = [text.get_text() for text in legend.get_texts()]
    assert entries[0] == "each replication"
    assert any("5%" in entry for entry in entries)
    render(fig)


def test_welch_figure_says_when_nothing_settled(welch_result: WelchResult) -> None:
    unsettled = dataclasses.replace(
        welch_result, suggested_warmup_s=None, notes=("the curve never settled",)
    )
    fig = welch_figure(unsettled)
    full, zoom = fig.axes
    assert gid_lines(full, "welch:suggested") == []
    assert any("did not settle" in text for text in texts(full))
    assert "did not settle" in fig.get_suptitle()
    assert "note: the curve never settled" in zoom.get_xlabel()
    render(fig)


def test_welch_figure_for_a_rate_and_a_zero_level() -> None:
    scenario = load_scenario(
        "baseline", {"duration_s": 30, "warmup_s": 5, "workload.logged_in_at_start": False}
    )
    success = welch(scenario, 2, strategy="local", metric="success_rate")
    fig = welch_figure(success)
    assert "%" in fig.axes[0].yaxis.get_major_formatter()(0.5, 0)
    render(fig)
    # a queue that is empty in the long run: a band of zero width, still drawable
    queue = welch(scenario, 2, strategy="jwt", metric="queue_length", absolute_tolerance=0.1)
    fig = welch_figure(queue)
    bottom, top = fig.axes[1].get_ylim()
    assert bottom < queue.level < top
    render(fig)


# ------------------------------------------------ replications with error bars


@pytest.fixture(scope="module")
def replicated() -> ReplicatedResult:
    scenario = load_scenario("baseline", {"duration_s": 20, "warmup_s": 5})
    return run_replications(scenario, 4)


def error_bar_segments(ax: Axes, gid: str) -> list[npt.NDArray[np.float64]]:
    """The segments of the error bars drawn with ``gid``."""
    return [
        np.asarray(segment, dtype=np.float64)
        for collection in ax.collections
        if collection.get_gid() == gid and isinstance(collection, LineCollection)
        for segment in collection.get_segments()
    ]


def test_comparison_ci_figure_has_five_labelled_panels(replicated: ReplicatedResult) -> None:
    fig = comparison_ci_figure(replicated)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 5
    titles = [ax.get_title() for ax in fig.axes]
    for letter, topic in zip(
        "abcde", ("Success", "Latency", "skew", "Jain", "Paired"), strict=True
    ):
        assert any(title.startswith(f"({letter})") and topic in title for title in titles)
    assert "4 replications" in fig.get_suptitle()
    assert "95%" in fig.get_suptitle()
    for ax in fig.axes[:4]:
        assert [label.get_text() for label in ax.get_xticklabels()] == replicated.strategies
    render(fig)


def test_error_bars_are_the_95_percent_intervals(replicated: ReplicatedResult) -> None:
    success, latency, skew, jain, _ = comparison_ci_figure(replicated).axes
    for name in replicated.strategies:
        for ax, metric, scale in (
            (success, "success_rate", 100.0),
            (skew, "load_skew.max_over_mean", 1.0),
            (jain, "load_skew.jain", 1.0),
        ):
            interval = replicated.interval(name, metric)
            (segment,) = error_bar_segments(ax, f"ci:{name}")
            low, high = sorted(segment[:, 1])
            assert low == pytest.approx(interval.low * scale)
            assert high == pytest.approx(interval.high * scale)
        for metric in ("latency_ms.p50", "latency_ms.p95", "latency_ms.p99"):
            interval = replicated.interval(name, metric)
            (segment,) = error_bar_segments(latency, f"ci:{name}:{metric}")
            assert sorted(segment[:, 1])[1] == pytest.approx(interval.high)
    # bars at the means, in the strategies' colours
    heights = [patch.get_height() for patch in bars(success)]
    expected = [
        replicated.interval(name, "success_rate").mean * 100 for name in replicated.strategies
    ]
    assert heights == pytest.approx(expected)
    colours = [patch.get_facecolor() for patch in bars(success)]
    assert colours == [to_rgba(strategy_colour(name)) for name in replicated.strategies]
    assert "1/N = 20%" in texts(success)


def test_paired_panel_draws_every_pair_around_zero(replicated: ReplicatedResult) -> None:
    paired = comparison_ci_figure(replicated).axes[4]
    pairs = [item for item in replicated.all_paired() if item.metric == "latency_ms.mean"]
    assert len(pairs) == 6  # four strategies: every two of them
    labels = [label.get_text() for label in paired.get_yticklabels()]
    assert labels == [f"{item.a} − {item.b}" for item in pairs]
    (zero,) = [line for line in paired.lines if line.get_gid() == "zero"]
    assert xdata(zero)[0] == 0.0
    for y, item in enumerate(pairs):
        (segment,) = error_bar_segments(paired, f"paired:{item.a}-{item.b}")
        assert sorted(segment[:, 0]) == pytest.approx([item.interval.low, item.interval.high])
        assert segment[0, 1] == y
    left, right = paired.get_xlim()
    assert left < min(item.interval.low for item in pairs)
    assert right > max(item.interval.high for item in pairs)
    # local against any other: a difference the replications support; the verdicts are
    # the labels of a right-hand axis, one per pair, in the same order
    (right,) = paired.child_axes
    verdicts = [label.get_text() for label in right.get_yticklabels()]
    assert len(verdicts) == len(pairs)
    assert verdicts[0].startswith("+") and verdicts[0].endswith(" ms: differs")
    half = pairs[0].interval.half_width
    assert f"± {half:.{max(0, 1 - math.floor(math.log10(half)))}f} ms" in verdicts[0]


def test_comparison_ci_figure_with_one_replication_has_no_intervals() -> None:
    single = run_replications(
        load_scenario("baseline", {"duration_s": 10, "warmup_s": 2}), 1, ["sticky", "jwt"]
    )
    fig = comparison_ci_figure(single)
    assert "one replication" in fig.get_suptitle()
    for ax in fig.axes:
        assert not [item for item in ax.collections if str(item.get_gid()).startswith("ci")]
    (right,) = fig.axes[4].child_axes
    assert [label.get_text() for label in right.get_yticklabels()] == [
        f"{single.paired('sticky', 'jwt', 'latency_ms.mean').interval.mean:+.3g} ms: "
        "one replication: no interval"
    ]
    render(fig)


def test_comparison_ci_figure_with_one_strategy() -> None:
    single = run_replications(
        load_scenario("baseline", {"duration_s": 10, "warmup_s": 2}), 2, ["jwt"]
    )
    fig = comparison_ci_figure(single)
    assert any("nothing to pair" in text for text in texts(fig.axes[4]))
    render(fig)


def test_new_figures_render_themselves_for_jupyter(
    welch_result: WelchResult, replicated: ReplicatedResult
) -> None:
    for fig in (welch_figure(welch_result), comparison_ci_figure(replicated)):
        png = fig._repr_png_()  # type: ignore[attr-defined]
        assert png.startswith(PNG_SIGNATURE)


def test_timeseries_values_are_what_the_figure_draws(result: RunResult) -> None:
    series = result["jwt"].series
    assert series is not None
    np.testing.assert_allclose(
        timeseries_values(series, "success_rate"), series.success_rate * 100.0
    )
    np.testing.assert_allclose(timeseries_values(series, "latency"), series.latency_ms[1])
    np.testing.assert_allclose(
        timeseries_values(series, "queue_length"), series.queue_length.sum(axis=0)
    )
    with pytest.raises(ValueError, match="unknown time-series metric 'latncy'"):
        timeseries_values(series, "latncy")
