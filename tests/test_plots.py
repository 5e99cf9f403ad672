"""Figures: panels, labels, edge cases (1 and 40 servers, nothing served) and PNG files."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from matplotlib.axes import Axes
from matplotlib.colors import is_color_like, to_rgba
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from simulator import RunResult, StrategyName, load_scenario, run
from simulator.plots import (
    FALLBACK_COLOUR,
    STRATEGY_COLOURS,
    comparison_figure,
    save_figures,
    server_load_figure,
    strategy_colour,
)

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


def test_figures_render_themselves_for_jupyter(result: RunResult) -> None:
    # With no pyplot, no inline backend registers a display hook: IPython uses _repr_png_.
    for make in (comparison_figure, server_load_figure):
        png = make(result)._repr_png_()
        assert png.startswith(PNG_SIGNATURE)


# ------------------------------------------------------------------------ saving


def test_save_figures_writes_decodable_pngs(result: RunResult, tmp_path: Path) -> None:
    out_dir = tmp_path / "nested" / "out"
    out_dir.mkdir(parents=True)
    (out_dir / "comparison.png").write_bytes(b"stale, from an earlier run")
    paths = save_figures(result, out_dir)
    assert [path.name for path in paths] == ["comparison.png", "server_load.png"]
    for path in paths:
        assert path.parent == out_dir
        assert path.read_bytes().startswith(PNG_SIGNATURE)
        height, width = imread(path).shape[:2]
        assert height > 0
        assert width > 0
    # no temporary file is left behind
    assert sorted(item.name for item in out_dir.iterdir()) == [
        "comparison.png",
        "server_load.png",
    ]


def test_save_figures_creates_the_folder(tmp_path: Path) -> None:
    result = short_run(strategies=["jwt"], duration_s=3, warmup_s=1)
    out_dir = tmp_path / "a" / "b"
    paths = save_figures(result, out_dir)
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


def test_plots_never_import_pyplot() -> None:
    script = textwrap.dedent(
        """
        import io
        import sys

        import simulator.plots
        from simulator import load_scenario, run

        assert "matplotlib.pyplot" not in sys.modules, "import pulled in pyplot"
        scenario = load_scenario("baseline").with_overrides({"duration_s": 3, "warmup_s": 1})
        result = run(scenario)
        for make in (simulator.plots.comparison_figure, simulator.plots.server_load_figure):
            make(result).savefig(io.BytesIO(), format="png", dpi=20)
        assert "matplotlib.pyplot" not in sys.modules, "drawing pulled in pyplot"
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
