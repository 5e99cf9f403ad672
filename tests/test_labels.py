"""Readable labels (:mod:`simulator.present.labels`): every metric has words and a unit, a
sweep's figures and ``authsim sweep``'s table never show a dotted key, and a missing value
in a shown table is the dash, never ``NaN``."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from simulator.cli.experiments import print_sweep
from simulator.experiments.replications import METRICS
from simulator.experiments.sweep import SweepResult, summarize
from simulator.present.format import MISSING
from simulator.present.labels import (
    METRIC_LABELS,
    PARAMETERS,
    dashed,
    metric_label,
    parameter_label,
    parameter_name,
    parameter_value,
    readable_name,
)
from simulator.present.plots import sweep_figure

DOTTED = re.compile(r"\b[a-z_]+\.[a-z_][a-z_0-9]*\b")
"""A raw key such as ``latency_ms.p95`` or ``workload.arrival_rate_per_s``."""
RAW = re.compile(r"\b[a-z]+_[a-z_]+\b")
"""A raw identifier with an underscore (``success_rate``), also not meant for people."""


def test_every_metric_has_a_label_with_words() -> None:
    assert set(METRIC_LABELS) == set(METRICS)
    for key in METRICS:
        label = metric_label(key)
        assert label == METRIC_LABELS[key]
        assert not DOTTED.search(label) and not RAW.search(label), label
        assert "_" not in label, label


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("latency_ms.p95", "p95 latency (ms)"),
        ("latency_ms.mean", "mean latency (ms)"),
        ("success_rate", "success rate (%)"),
        ("store.ops_per_request", "store operations per request"),
    ],
)
def test_metric_labels_read_as_words_with_units(key: str, label: str) -> None:
    assert metric_label(key) == label


def test_parameters_read_as_words() -> None:
    assert parameter_name("cluster.servers") == "servers"
    assert parameter_label("workload.arrival_rate_per_s") == "arrival rate (requests/s)"
    assert parameter_label("shared_store.rtt_ms") == "store round trip (ms)"
    assert parameter_value("workload.arrival_rate_per_s", 200.0) == "arrival rate = 200 requests/s"
    assert parameter_value("cluster.servers", 4) == "servers = 4"
    for key in PARAMETERS:
        assert "." not in parameter_label(key) and "_" not in parameter_label(key), key


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("cluster.service_time_ms.sigma", "cluster service time sigma (ms)"),
        ("workload.relogin_delay_s.mean_s", "workload relogin delay mean (s)"),
        ("queue_ms.p90", "queue p90 (ms)"),
    ],
)
def test_an_unlisted_key_still_reads_as_words(key: str, label: str) -> None:
    assert metric_label(key) == label
    assert parameter_label(key) == label


def test_dashed_writes_missing_values_as_the_dash() -> None:
    frame = pd.DataFrame(
        {"latency_ms.p95": [12.345, math.nan], "requests": [1200, 3], "strategy": ["jwt", None]},
        index=pd.Index([2, 4], name="cluster.servers"),
    )
    shown = dashed(frame, ".1f", labels=True)
    assert list(shown.columns) == ["p95 latency (ms)", "requests", "strategy"]
    assert shown.index.name == "servers"
    assert shown.iloc[:, 0].tolist() == ["12.3", MISSING]
    assert shown["requests"].tolist() == ["1,200", "3"]
    assert shown["strategy"].tolist() == ["jwt", MISSING]
    assert "NaN" not in shown.to_string() and "nan" not in shown.to_string()
    per_column = dashed(frame, {"latency_ms.p95": ".0f", "requests": ""})
    assert per_column["latency_ms.p95"].tolist() == ["12", MISSING]
    assert per_column["requests"].tolist() == [1200, 3]
    assert readable_name("jwt") == "jwt" and readable_name(3) == 3
    wide = pd.DataFrame({("users", "jwt"): [3.0, math.nan], ("success (%)", "jwt"): [99.5, 1.0]})
    shown = dashed(wide, {"users": ",.0f", "success (%)": ".1f"})
    assert shown[("users", "jwt")].tolist() == ["3", MISSING]
    assert shown[("success (%)", "jwt")].tolist() == ["99.5", "1.0"]


def sweep_rows(metric_nan: bool = False) -> pd.DataFrame:
    """A results.csv frame: 2 strategies × servers × arrival rates × 2 replications."""
    records: list[dict[str, object]] = []
    point = 0
    for servers in (2, 4):
        for rate in (200.0, 600.0):
            for replication in range(2):
                for strategy in ("sticky", "jwt"):
                    record: dict[str, object] = {
                        "point": point,
                        "replication": replication,
                        "strategy": strategy,
                        "cluster.servers": servers,
                        "workload.arrival_rate_per_s": rate,
                        "seed": 1,
                        "requests": 1000,
                    }
                    record |= dict.fromkeys(METRICS, 1.0 + replication + servers / rate)
                    if metric_nan and strategy == "sticky":
                        record["latency_ms.p95"] = math.nan
                    record["error"] = ""
                    records.append(record)
            point += 1
    return pd.DataFrame.from_records(records)


def figure_texts(fig: object) -> list[str]:
    texts: list[str] = [fig.get_suptitle(), fig.get_supxlabel()]  # type: ignore[attr-defined]
    for ax in fig.axes:  # type: ignore[attr-defined]
        texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        texts += [tick.get_text() for tick in ax.get_xticklabels()]
    texts += [text.get_text() for text in fig.texts]  # type: ignore[attr-defined]
    return [text for text in texts if text]


@pytest.mark.parametrize("metric", ["latency_ms.p95", "success_rate", "load_skew.max_over_mean"])
def test_a_sweep_figure_names_no_raw_key(metric: str) -> None:
    fig = sweep_figure(
        sweep_rows(), x="cluster.servers", y=metric, facet="workload.arrival_rate_per_s"
    )
    texts = figure_texts(fig)
    for text in texts:
        assert not DOTTED.search(text), text
        assert "_" not in text, text
    assert texts[0].startswith(f"{metric_label(metric)} vs servers")
    assert "one panel per arrival rate" in texts[0]
    assert fig.axes[0].get_title() == "arrival rate = 200 requests/s"
    assert fig.axes[0].get_xlabel() == "servers"
    assert fig.axes[0].get_ylabel().startswith(metric_label(metric))


def test_a_fixed_grid_key_is_named_in_words() -> None:
    rows = sweep_rows()
    rows = rows[rows["workload.arrival_rate_per_s"] == 600.0]
    fig = sweep_figure(rows, x="cluster.servers", y="latency_ms.p95")
    words = " ".join(" ".join(figure_texts(fig)).split())  # the title may wrap
    assert "arrival rate = 600 requests/s" in words


def test_the_sweep_table_has_readable_headers_and_dashes(tmp_path: Path) -> None:
    rows = sweep_rows(metric_nan=True)
    keys = ["cluster.servers", "workload.arrival_rate_per_s"]
    result = SweepResult(tmp_path, rows, summarize(rows, keys), failures=0)
    console = Console(width=250, record=True, color_system=None)
    print_sweep(console, result, keys)
    text = console.export_text()
    for header in ("servers", "arrival rate (requests/s)", "success rate (%)", "p95 latency (ms)"):
        assert header in text
    assert not DOTTED.search(text.split("Wrote")[0]), text
    assert "nan" not in text.lower()
    assert MISSING in text  # sticky's p95 was never measured
    assert np.isnan(result.summary.loc[0, "latency_ms.p95"])
