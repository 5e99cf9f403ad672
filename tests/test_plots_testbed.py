"""The real-against-model figure (simulator.present.plots.testbed), from a hand-made
document in the form of ``TestbedResult.to_dict()``."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from simulator.present.plots.style import figure_png
from simulator.present.plots.testbed import PANELS, real_vs_model_figure


def comparison(real: float | None, mean: float, verdict: str) -> list[dict[str, Any]]:
    return [
        {
            "metric": key,
            "real": real,
            "model": {"mean": mean, "half_width": 0.1 * mean, "n": 5},
            "verdict": verdict,
        }
        for key, _, _ in PANELS
    ]


DOCUMENT: dict[str, Any] = {
    "scenario": "baseline",
    "machine": {"cores": 2, "load_average": 0.6, "behind_schedule_ms": 1.0},
    "strategies": [
        {"strategy": "local", "comparison": comparison(0.31, 0.33, "inside CI")},
        {"strategy": "jwt", "comparison": comparison(None, 1.0, "off")},
    ],
}


def test_one_panel_per_metric_with_bars_and_the_real_runs() -> None:
    fig = real_vs_model_figure(DOCUMENT)
    axes = fig.axes
    assert len(axes) == len(PANELS)
    for ax, (_, label, _) in zip(axes, PANELS, strict=True):
        assert ax.get_title() == label
        assert len(ax.patches) == 2  # a model bar per strategy
        assert [tick.get_text() for tick in ax.get_xticklabels()] == ["local", "jwt"]
    # the real value is drawn where there is one (local), not for a missing one (jwt)
    diamonds = [line for line in axes[0].get_lines() if line.get_marker() == "D"]
    assert len(diamonds) == 1 and diamonds[0].get_ydata()[0] == 31.0  # type: ignore[index]
    assert "✓" in [text.get_text() for text in axes[0].texts]


def test_the_figure_is_a_decodable_png() -> None:
    image = Image.open(io.BytesIO(figure_png(real_vs_model_figure(DOCUMENT))))
    assert image.size[0] > 800 and image.size[1] > 400
