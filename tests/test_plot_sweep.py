"""Sweep figures (:func:`simulator.present.plots.sweep_figure`) and ``authsim plot-sweep``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from typer.testing import CliRunner

from simulator.cli.app import app
from simulator.experiments.replications import mean_interval
from simulator.present.plots import STRATEGY_COLOURS, sweep_figure

STRATEGIES = ("sticky", "jwt")
SERVERS = (2, 4, 8)
RTTS = (0.5, 5.0)
REPLICATIONS = 3
METRICS = (
    "success_rate",
    "forced_relogins",
    "login_cpu_s",
    "throughput_per_s",
    "latency_ms.mean",
    "latency_ms.p50",
    "latency_ms.p95",
    "latency_ms.p99",
    "load_skew.max_over_mean",
    "load_skew.cv",
    "load_skew.jain",
    "store.utilisation",
    "store.mean_latency_ms",
)

runner = CliRunner()


def latency(strategy: str, servers: int, rtt: float, replication: int) -> float:
    """A made-up latency that differs by strategy, servers, rtt and replication."""
    base = 10.0 if strategy == "sticky" else 20.0
    return base + 100.0 / servers + rtt + [-1.0, 0.5, 2.5][replication]


def sweep_rows(rtts: tuple[float, ...] = (0.5,)) -> pd.DataFrame:
    """A synthetic results.csv frame: strategies × servers × rtts × replications."""
    records: list[dict[str, object]] = []
    point = 0
    for rtt in rtts:
        for servers in SERVERS:
            for replication in range(REPLICATIONS):
                for strategy in STRATEGIES:
                    record: dict[str, object] = {
                        "point": point,
                        "replication": replication,
                        "strategy": strategy,
                        "cluster.servers": servers,
                        "shared_store.rtt_ms": rtt,
                        "seed": 1,
                        "requests": 1000,
                    }
                    record |= dict.fromkeys(METRICS, 0.5)
                    record["latency_ms.mean"] = latency(strategy, servers, rtt, replication)
                    record["success_rate"] = 0.9 + 0.01 * replication
                    record["error"] = ""
                    records.append(record)
            point += 1
    return pd.DataFrame.from_records(records)


def lines(fig: Figure) -> dict[str, list[Line2D]]:
    found: dict[str, list[Line2D]] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            gid = line.get_gid() or ""
            if gid.startswith("sweep:"):
                found.setdefault(gid.removeprefix("sweep:"), []).append(line)
    return found


def bands(fig: Figure) -> dict[str, list[PolyCollection]]:
    found: dict[str, list[PolyCollection]] = {}
    for ax in fig.axes:
        for collection in ax.collections:
            gid = collection.get_gid() or ""
            if gid.startswith("sweep-ci:"):
                assert isinstance(collection, PolyCollection)
                found.setdefault(gid.removeprefix("sweep-ci:"), []).append(collection)
    return found


def test_one_line_per_strategy_at_the_means() -> None:
    fig = sweep_figure(sweep_rows(), "cluster.servers", "latency_ms.mean")
    drawn = lines(fig)
    assert sorted(drawn) == sorted(STRATEGIES)
    for strategy in STRATEGIES:
        (line,) = drawn[strategy]
        assert list(line.get_xdata()) == [2.0, 4.0, 8.0]
        expected = [
            np.mean([latency(strategy, s, 0.5, r) for r in range(REPLICATIONS)]) for s in SERVERS
        ]
        np.testing.assert_allclose(np.asarray(line.get_ydata(), dtype=float), expected)
        assert to_rgba(line.get_color()) == to_rgba(STRATEGY_COLOURS[strategy])
    assert "ms" in fig.axes[0].get_ylabel()
    # equal values must stay visible: the first line is wider, solid, with a bigger marker
    (first,), (second,) = drawn[STRATEGIES[0]], drawn[STRATEGIES[1]]
    assert first.get_linewidth() > second.get_linewidth()
    assert first.get_markersize() > second.get_markersize()
    assert first.get_linestyle() == "-" and second.get_linestyle() != "-"
    assert first.get_marker() != second.get_marker()
    assert first.get_zorder() < second.get_zorder()


def test_a_band_per_strategy_is_the_t_interval() -> None:
    fig = sweep_figure(sweep_rows(), "cluster.servers", "latency_ms.mean")
    found = bands(fig)
    assert sorted(found) == sorted(STRATEGIES)
    for strategy in STRATEGIES:
        (band,) = found[strategy]
        interval = mean_interval([latency(strategy, 2, 0.5, r) for r in range(REPLICATIONS)])
        vertices = band.get_paths()[0].vertices
        at_two = vertices[np.isclose(vertices[:, 0], 2.0), 1]
        assert min(at_two) == pytest.approx(interval.low)
        assert max(at_two) == pytest.approx(interval.high)


def test_success_rate_is_shown_in_percent() -> None:
    fig = sweep_figure(sweep_rows(), "cluster.servers", "success_rate")
    (line,) = lines(fig)["jwt"]
    np.testing.assert_allclose(np.asarray(line.get_ydata(), dtype=float), [91.0] * 3)
    assert "%" in fig.axes[0].get_ylabel()


def test_facets_give_one_axes_per_value() -> None:
    rows = sweep_rows(RTTS)
    fig = sweep_figure(rows, "cluster.servers", "latency_ms.mean", facet="shared_store.rtt_ms")
    assert len(fig.axes) == len(RTTS)
    assert [ax.get_title() for ax in fig.axes] == [f"store round trip = {r:g} ms" for r in RTTS]
    for ax, rtt in zip(fig.axes, RTTS, strict=True):
        (line,) = (item for item in ax.get_lines() if item.get_gid() == "sweep:jwt")
        expected = [np.mean([latency("jwt", s, rtt, r) for r in range(3)]) for s in SERVERS]
        np.testing.assert_allclose(np.asarray(line.get_ydata(), dtype=float), expected)


def test_another_varying_grid_key_is_refused() -> None:
    with pytest.raises(ValueError, match=r"shared_store\.rtt_ms.*takes 2 values"):
        sweep_figure(sweep_rows(RTTS), "cluster.servers", "latency_ms.mean")


def test_an_error_row_is_ignored_and_counted() -> None:
    rows = sweep_rows()
    broken = rows.index[(rows["strategy"] == "jwt") & (rows["cluster.servers"] == 4)][0]
    rows.loc[broken, "latency_ms.mean"] = 1e6
    rows.loc[broken, "error"] = "ScenarioError: boom"
    fig = sweep_figure(rows, "cluster.servers", "latency_ms.mean")
    (line,) = lines(fig)["jwt"]
    kept = [latency("jwt", 4, 0.5, r) for r in range(REPLICATIONS)]
    del kept[int(rows.loc[broken, "replication"])]
    assert np.asarray(line.get_ydata(), dtype=float)[1] == pytest.approx(np.mean(kept))
    assert "1 row with an error ignored" in fig.get_supxlabel()


def test_categorical_x_keeps_the_points_order() -> None:
    rows = sweep_rows()
    names = {2: "round_robin", 4: "least_connections", 8: "ip_hash"}
    rows["load_balancer.policy"] = rows["cluster.servers"].map(names)
    rows = rows.drop(columns="cluster.servers")
    keys = ["load_balancer.policy", "shared_store.rtt_ms"]
    fig = sweep_figure(rows, "load_balancer.policy", "latency_ms.mean", grid_keys=keys)
    ax = fig.axes[0]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == list(names.values())
    (line,) = lines(fig)["sticky"]
    assert list(line.get_xdata()) == [0.0, 1.0, 2.0]


def write_sweep(folder: Path, rows: pd.DataFrame) -> None:
    rows.to_csv(folder / "results.csv", index=False)
    grid = {"cluster.servers": list(SERVERS), "shared_store.rtt_ms": list(RTTS)}
    manifest = {"scenario": {"name": "baseline"}, "grid": grid, "replications": REPLICATIONS}
    (folder / "sweep.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_cli_writes_the_png(tmp_path: Path) -> None:
    write_sweep(tmp_path, sweep_rows(RTTS))
    args = ["plot-sweep", str(tmp_path), "--x", "cluster.servers", "--y", "latency_ms.p95"]
    result = runner.invoke(app, [*args, "--facet", "shared_store.rtt_ms"])
    assert result.exit_code == 0, result.stderr
    written = tmp_path / "sweep_latency_ms.p95_vs_cluster.servers.png"
    assert written.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".tmp")]
    out = tmp_path / "figure.png"
    result = runner.invoke(app, [*args, "--facet", "shared_store.rtt_ms", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert out.is_file()


def test_cli_bad_y_exits_2_with_a_suggestion(tmp_path: Path) -> None:
    write_sweep(tmp_path, sweep_rows())
    args = ["plot-sweep", str(tmp_path), "--x", "cluster.servers", "--y", "latency_ms.p95x"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "did you mean 'latency_ms.p95'?" in result.stderr
    assert result.stdout == ""
    assert not list(tmp_path.glob("*.png"))


def test_cli_bad_x_and_unfixed_key_exit_2(tmp_path: Path) -> None:
    write_sweep(tmp_path, sweep_rows(RTTS))
    result = runner.invoke(
        app, ["plot-sweep", str(tmp_path), "--x", "cluster.server", "--y", "success_rate"]
    )
    assert result.exit_code == 2
    assert "did you mean 'cluster.servers'?" in result.stderr
    result = runner.invoke(
        app, ["plot-sweep", str(tmp_path), "--x", "cluster.servers", "--y", "success_rate"]
    )
    assert result.exit_code == 2
    assert "shared_store.rtt_ms" in result.stderr
    assert result.stderr.count("\n") == 1
