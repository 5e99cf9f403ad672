"""The explorer's plumbing (notebook 06), so the notebook shows only its knobs.

- :class:`Debouncer`: a burst of calls becomes one call, ``wait_s`` after the last of them.
- :class:`Knob` and :class:`ShortRuns`: the settings the explorer exposes and the short,
  cached simulation they drive (settings in, a :class:`~simulator.results.records.RunResult`
  out).
- :func:`view` and :func:`numbers`: what the explorer shows of a run.
- :class:`Explorer`: the sliders and menus, an output area and a status line; moving a
  control re-runs and redraws once the user pauses (debounced), not once per move.

ipywidgets and IPython are the ``notebooks`` extra (``pip install 'authsim[notebooks]'``):
they are imported inside the functions that need them, so importing this module needs
neither. Figures come from :mod:`simulator.present.plots` (the only package that imports
matplotlib).
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from simulator.model.run import run
from simulator.present.labels import dashed
from simulator.present.plots import comparison_figure, timeseries_figure
from simulator.results.records import RunResult
from simulator.scenario.loading import load_scenario

DEBOUNCE_S = 0.4
"""Seconds the explorer waits after the last move of a control before it re-runs."""

NOTEBOOKS_HINT = "pip install 'authsim[notebooks]' (pip install -e '.[notebooks]' in a checkout)"


# ---------------------------------------------------------------- debouncing


class Timer(Protocol):
    """A scheduled call: :class:`threading.Timer` has this shape."""

    def start(self) -> None: ...

    def cancel(self) -> None: ...


TimerFactory = Callable[[float, Callable[[], None]], Timer]
"""``timer(delay_s, call)``: a :class:`Timer` that calls ``call`` ``delay_s`` after ``start``."""


class _LoopTimer:
    """A call on an asyncio loop after a delay (the Jupyter kernel's loop: the call runs on
    the kernel's main thread, between messages, like the widget callbacks themselves)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, delay_s: float, call: Callable[[], None]
    ) -> None:
        self.loop, self.delay_s, self.call = loop, delay_s, call
        self.handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.handle = self.loop.call_later(self.delay_s, self.call)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()


def default_timer(delay_s: float, call: Callable[[], None]) -> Timer:
    """On the running asyncio loop when there is one (a kernel), else a daemon thread."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        thread = threading.Timer(delay_s, call)
        thread.daemon = True
        return thread
    return _LoopTimer(loop, delay_s, call)


class Debouncer:
    """Turns a burst of calls into one: ``action()`` runs ``wait_s`` seconds after the last
    call of the burst (each call restarts the wait).

    Args:
        action: what to run once the calls stop.
        wait_s: the pause that ends a burst.
        timer: makes the delayed call (default :func:`default_timer`; tests pass a fake).
    """

    def __init__(
        self,
        action: Callable[[], None],
        wait_s: float = DEBOUNCE_S,
        timer: TimerFactory | None = None,
    ) -> None:
        self.action = action
        self.wait_s = wait_s
        self.timer: TimerFactory = timer or default_timer
        self.calls = 0
        self.runs = 0
        self._pending: Timer | None = None
        self._lock = threading.Lock()

    @property
    def pending(self) -> bool:
        """Whether a call waits to run."""
        return self._pending is not None

    def __call__(self, *_: object, **__: object) -> None:
        """Schedule ``action``, replacing the call waiting (arguments are ignored, so it can
        be an ``observe`` callback)."""
        with self._lock:
            self.calls += 1
            if self._pending is not None:
                self._pending.cancel()
            self._pending = self.timer(self.wait_s, self._fire)
            self._pending.start()

    def cancel(self) -> None:
        """Drop the call waiting, if any."""
        with self._lock:
            if self._pending is not None:
                self._pending.cancel()
            self._pending = None

    def flush(self) -> None:
        """Run the waiting call now (nothing if none waits)."""
        with self._lock:
            waiting, self._pending = self._pending, None
        if waiting is not None:
            waiting.cancel()
            self._run()

    def _fire(self) -> None:
        with self._lock:
            self._pending = None
        self._run()

    def _run(self) -> None:
        self.runs += 1
        self.action()


# ---------------------------------------------------------------- the short runs


@dataclass(frozen=True)
class Knob:
    """A setting the explorer exposes.

    Attributes:
        name: the argument of :class:`ShortRuns` (``servers``).
        key: the scenario key it sets (``cluster.servers``), or ``events`` for a preset of
            :data:`EVENT_PRESETS`.
        default: the first value; its type (int, float, str) is the type of every value.
        label: the control's caption (default: ``name``).
        low, high, step: a slider's range (numbers without ``options``).
        options: the values to choose from (a menu, or a slider over numbers).
        text: an integer typed into a box rather than a slider (a seed).
    """

    name: str
    key: str
    default: Any
    label: str = ""
    low: float | None = None
    high: float | None = None
    step: float | None = None
    options: tuple[Any, ...] = ()
    text: bool = False

    def cast(self, value: Any) -> Any:
        """``value`` as the type of :attr:`default`."""
        kind = type(self.default)
        return kind(value) if kind in (int, float, str) else value


EVENT_PRESETS: tuple[str, ...] = (
    "none",
    "server crash",
    "store outage",
    "scale out",
    "traffic spike",
    "key rotation",
)
"""The events a run can have, by name (:func:`preset_events`)."""

HEALTH_CHECK_S = 5.0
"""The balancer's health-check interval in ``baseline``: an event starts midway between two."""


def preset_events(name: str, duration_s: float) -> list[dict[str, Any]]:
    """The events of a preset, timed for a run of ``duration_s`` seconds: an event starts
    midway between two of the balancer's health checks (so the balancer takes 2.5 s to
    notice a crash); lasting events cover a fifth to a quarter of the run."""
    at = HEALTH_CHECK_S * int(0.4 * duration_s / HEALTH_CHECK_S) + HEALTH_CHECK_S / 2
    presets: dict[str, list[dict[str, Any]]] = {
        "none": [],
        "server crash": [
            {"kind": "server_crash", "at_s": at, "server": 0},
            {"kind": "server_recover", "at_s": round(0.8 * duration_s, 1), "server": 0},
        ],
        "store outage": [
            {"kind": "store_outage", "at_s": at, "duration_s": round(0.2 * duration_s, 1)}
        ],
        "scale out": [{"kind": "scale_out", "at_s": at, "count": 1}],
        "traffic spike": [
            {
                "kind": "traffic_spike",
                "at_s": at,
                "duration_s": round(0.25 * duration_s, 1),
                "multiplier": 3,
            }
        ],
        "key rotation": [{"kind": "rotate_key", "at_s": at, "overlap_s": 0}],
    }
    if name not in presets:
        raise ValueError(f"events: unknown preset {name!r}; presets: {', '.join(presets)}")
    return presets[name]


@dataclass
class ShortRuns:
    """Short runs of every strategy of a scenario, one per combination of knob values,
    cached (going back to a setting is instant).

    ``runs(servers=8, rate=200)`` sets each knob's scenario key (the knobs not given keep
    their defaults) and returns the :class:`~simulator.results.records.RunResult`.

    Attributes:
        knobs: the settings, by name.
        duration_s, warmup_s: the simulated length of each run and its warm-up.
        scenario: the built-in scenario the runs start from.
        overrides: further scenario values for every run.
        cache_size: runs kept.
    """

    knobs: Sequence[Knob]
    duration_s: float
    warmup_s: float
    scenario: str = "baseline"
    overrides: Mapping[str, Any] = field(default_factory=lambda: {"name": "explorer"})
    cache_size: int = 64
    _cache: OrderedDict[tuple[Any, ...], RunResult] = field(
        default_factory=OrderedDict, init=False, repr=False
    )

    @property
    def defaults(self) -> dict[str, Any]:
        """Every knob's default, by name."""
        return {knob.name: knob.default for knob in self.knobs}

    def settings(self, **given: Any) -> dict[str, Any]:
        """Every knob's value: the ``given`` ones cast to the knob's type, defaults else."""
        names = {knob.name: knob for knob in self.knobs}
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise TypeError(f"unknown setting {unknown[0]!r}; settings: {', '.join(names)}")
        return {name: knob.cast(given.get(name, knob.default)) for name, knob in names.items()}

    def __call__(self, **given: Any) -> RunResult:
        settings = self.settings(**given)
        key = tuple(settings.values())
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        values: dict[str, Any] = {
            **self.overrides,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
        }
        for knob in self.knobs:
            value = settings[knob.name]
            values[knob.key] = (
                preset_events(value, self.duration_s) if knob.key == "events" else value
            )
        result = run(load_scenario(self.scenario, values), record_requests=False)
        self._cache[key] = result
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return result


# ---------------------------------------------------------------- what is shown


def numbers(result: RunResult) -> pd.DataFrame:
    """A few numbers per strategy, written for reading (a dash where there is no value:
    a strategy with no store has no store numbers)."""
    rows: dict[str, dict[str, float]] = {}
    nan = float("nan")
    for item in result.results:
        store = item.store
        rows[item.strategy] = {
            "success %": 100 * item.success_rate if item.success_rate is not None else nan,
            "forced re-logins": float(item.forced_relogins),
            "errors": float(sum(item.errors.values())),
            "mean ms": _or_nan(item.latency_ms["mean"]),
            "p95 ms": _or_nan(item.latency_ms["p95"]),
            "max/mean": _or_nan(item.load_skew["max_over_mean"]),
            "store busy %": 100 * store.utilisation if store else nan,
            "store op ms": _or_nan(store.mean_latency_ms) if store else nan,
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    counts = {"forced re-logins": ",.0f", "errors": ",.0f"}
    return dashed(frame, {column: counts.get(column, ".2f") for column in frame.columns})


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def view(runs: ShortRuns, settings: Mapping[str, Any]) -> tuple[RunResult, list[object]]:
    """What the explorer shows for ``settings``: a line of text, :func:`numbers`, the
    comparison figure and, with events, the success rate over time."""
    result = runs(**settings)
    scenario = result.scenario
    n = scenario.cluster.servers
    requests = sum(item.requests for item in result.results)
    text = (
        f"{n} servers (1/N = {1 / n:.1%}), {scenario.workload.arrival_rate_per_s:g} req/s, "
        f"{scenario.measured_s:g} s measured, {requests:,} requests"
    )
    items: list[object] = [text, numbers(result), comparison_figure(result)]
    if scenario.events:
        items.append(timeseries_figure(result, "success_rate"))
    return result, items


def as_output(item: object) -> dict[str, Any]:
    """One item as an output of an ``Output`` widget, in the form a notebook stores.

    Setting ``Output.outputs`` directly (rather than ``with output:``) also behaves
    headless: nbclient mimics a captured ``Output`` by sending messages back to the
    kernel while it waits for the cell, and now and then stalls until the cell's timeout.
    """
    if isinstance(item, str):
        return {"output_type": "stream", "name": "stdout", "text": item + "\n"}
    formatters = _optional("IPython.core.formatters")
    data, metadata = formatters.format_display_data(item)
    data = {
        mime: base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
        for mime, value in data.items()
    }
    return {"output_type": "display_data", "data": data, "metadata": metadata}


def _optional(module: str) -> Any:
    """A module of the ``notebooks`` extra, or an ImportError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.partition(".")[0]
        raise ImportError(f"the explorer needs {package}: {NOTEBOOKS_HINT}") from exc


# ---------------------------------------------------------------- the widgets


Draw = Callable[[Mapping[str, Any]], tuple[Any, Sequence[object]]]
"""``draw(settings) -> (result, items)``: a run and what to show of it (:func:`view`)."""


class Explorer:
    """Controls for ``knobs``, a status line and an output area, wired to ``draw``.

    Built and drawn once when made (an error in that first draw is raised). Moving a
    control schedules a redraw through a :class:`Debouncer`: a burst of moves gives one run,
    ``wait_s`` after the last move. A failed redraw shows its traceback in the output area
    (a widget callback's errors are printed nowhere). Shown as the last expression of a
    cell, an explorer displays its widgets.

    Attributes:
        controls: the widgets, by knob name.
        status, output: the status line and the output area.
        widget: everything, in one box.
        debouncer: the redraw's debouncer.
        last_settings, last_result: the latest run drawn.
        draws: redraws done, the first included.
    """

    def __init__(
        self,
        knobs: Sequence[Knob],
        draw: Draw,
        *,
        wait_s: float = DEBOUNCE_S,
        timer: TimerFactory | None = None,
        columns: int = 2,
    ) -> None:
        widgets = _optional("ipywidgets")
        self.knobs = list(knobs)
        self.draw = draw
        self.controls: dict[str, Any] = {knob.name: _control(widgets, knob) for knob in knobs}
        self.status: Any = widgets.Label()
        self.output: Any = widgets.Output()
        self.debouncer = Debouncer(self._redraw_quietly, wait_s, timer)
        self.last_settings: dict[str, Any] | None = None
        self.last_result: Any = None
        self.draws = 0
        for control in self.controls.values():
            control.observe(self._moved, names="value")
        boxes = [list(self.controls.values())[i::columns] for i in range(columns)]
        boxes[-1] = [*boxes[-1], self.status]
        panel = widgets.HBox([widgets.VBox(box) for box in boxes])
        self.widget: Any = widgets.VBox([panel, self.output])
        self.redraw()

    def settings(self) -> dict[str, Any]:
        """The controls' values, by knob name."""
        return {name: control.value for name, control in self.controls.items()}

    def _moved(self, change: object = None) -> None:
        del change
        self.status.value = "waiting for you to stop moving..."
        self.debouncer()

    def _redraw_quietly(self) -> None:
        self.redraw(raise_errors=False)

    def redraw(self, *, raise_errors: bool = True) -> None:
        """Run and draw the current settings now."""
        settings = self.settings()
        self.status.value = "running..."
        started = time.perf_counter()
        try:
            result, items = self.draw(settings)
            outputs = tuple(as_output(item) for item in items)
        except Exception:
            self.status.value = "failed"
            error = {"output_type": "stream", "name": "stderr", "text": traceback.format_exc()}
            self.output.outputs = (error,)
            if raise_errors:
                raise
            return
        self.output.outputs = outputs
        self.draws += 1
        self.status.value = f"ran and drew in {time.perf_counter() - started:.1f} s"
        self.last_settings, self.last_result = settings, result

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _control(widgets: Any, knob: Knob) -> Any:
    """The widget of one knob: a menu, a slider over options or a range, or a number box."""
    common: dict[str, Any] = {
        "value": knob.default,
        "description": knob.label or knob.name,
        "style": {"description_width": "150px"},
        "layout": widgets.Layout(width="430px"),
    }
    numeric = all(isinstance(option, int | float) for option in knob.options)
    if knob.options and not numeric:
        return widgets.Dropdown(options=list(knob.options), **common)
    if knob.options:
        return widgets.SelectionSlider(
            options=list(knob.options), continuous_update=False, **common
        )
    low = knob.low if knob.low is not None else 0
    high = knob.high if knob.high is not None else 100
    if knob.text:
        return widgets.BoundedIntText(min=int(low), max=int(high), **common)
    if isinstance(knob.default, int):
        step = int(knob.step or 1)
        return widgets.IntSlider(
            min=int(low), max=int(high), step=step, continuous_update=False, **common
        )
    return widgets.FloatSlider(
        min=low, max=high, step=knob.step or 0.1, continuous_update=False, **common
    )


__all__ = [
    "DEBOUNCE_S",
    "EVENT_PRESETS",
    "Debouncer",
    "Explorer",
    "Knob",
    "ShortRuns",
    "as_output",
    "default_timer",
    "numbers",
    "preset_events",
    "view",
]
