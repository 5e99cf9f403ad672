"""The explorer's plumbing (:mod:`simulator.present.explorer`): the debouncer (no widgets
needed), the progress lines, the short cached runs, and the widgets themselves
(ipywidgets is in the dev extra that ``make test`` installs, so that test does not skip)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from simulator.present.explorer import (
    EVENT_PRESETS,
    Debouncer,
    Explorer,
    Knob,
    ShortRuns,
    as_output,
    numbers,
    preset_events,
    view,
)
from simulator.present.format import MISSING
from simulator.present.progress_lines import ProgressPrinter


class FakeTimers:
    """Timers on a fake clock: ``advance(s)`` fires the ones due, in order."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waiting: list[FakeTimer] = []

    def __call__(self, delay_s: float, call: Callable[[], None]) -> FakeTimer:
        return FakeTimer(self, delay_s, call)

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = [timer for timer in self.waiting if timer.at <= end]
            if not due:
                break
            timer = min(due, key=lambda item: item.at)
            self.waiting.remove(timer)
            self.now = timer.at
            timer.call()
        self.now = end


class FakeTimer:
    def __init__(self, timers: FakeTimers, delay_s: float, call: Callable[[], None]) -> None:
        self.timers, self.delay_s, self.call = timers, delay_s, call
        self.at = float("inf")

    def start(self) -> None:
        self.at = self.timers.now + self.delay_s
        self.timers.waiting.append(self)

    def cancel(self) -> None:
        if self in self.timers.waiting:
            self.timers.waiting.remove(self)


def test_rapid_calls_give_one_run_after_the_pause() -> None:
    timers = FakeTimers()
    ran: list[float] = []
    debounced = Debouncer(lambda: ran.append(timers.now), wait_s=0.4, timer=timers)
    for _ in range(20):  # a slider dragged: a move every 50 ms for a second
        debounced({"new": 1})
        timers.advance(0.05)
    assert ran == [] and debounced.pending
    timers.advance(0.34)
    assert ran == []  # 0.39 s since the last move
    timers.advance(0.02)
    assert ran == pytest.approx([0.95 + 0.4])
    assert (debounced.calls, debounced.runs, debounced.pending) == (20, 1, False)
    timers.advance(5.0)
    assert len(ran) == 1


def test_two_bursts_give_two_runs_and_cancel_and_flush() -> None:
    timers = FakeTimers()
    ran: list[float] = []
    debounced = Debouncer(lambda: ran.append(timers.now), wait_s=0.3, timer=timers)
    debounced()
    debounced()
    timers.advance(1.0)
    debounced()
    timers.advance(1.0)
    assert ran == pytest.approx([0.3, 1.3])
    debounced()
    debounced.cancel()
    timers.advance(1.0)
    assert len(ran) == 2
    debounced()
    debounced.flush()
    assert len(ran) == 3 and not debounced.pending
    debounced.flush()  # nothing waits: nothing runs
    assert len(ran) == 3


def test_the_default_timer_debounces_on_a_thread() -> None:
    done = threading.Event()
    runs: list[int] = []

    def action() -> None:
        runs.append(1)
        done.set()

    debounced = Debouncer(action, wait_s=0.05)
    for _ in range(10):
        debounced()
    assert done.wait(5.0)
    time.sleep(0.1)
    assert runs == [1]


def test_progress_lines_are_throttled_and_the_last_always_shows() -> None:
    now = [0.0]
    stream = io.StringIO()
    printer = ProgressPrinter("sweep", every_s=2.0, clock=lambda: now[0], stream=stream)
    for done in range(11):
        printer.sweep(done, 10, 0)
        now[0] += 0.5
    lines = stream.getvalue().splitlines()
    assert lines[0] == "sweep: 0/10 runs, 0 s elapsed"
    assert lines[1] == "sweep: 4/10 runs, 2 s elapsed"
    assert lines[-1] == "sweep: 10/10 runs, 5 s elapsed"
    assert len(lines) == 4  # 0, 4, 8 and the last
    printer.run("jwt", 0.4)  # less than 2 s after the last line: quiet
    printer.step("faults done")
    assert stream.getvalue().splitlines()[-1] == "sweep: faults done, 6 s elapsed"


def test_presets_are_timed_between_health_checks() -> None:
    assert preset_events("none", 24.0) == []
    (crash, recover) = preset_events("server crash", 24.0)
    assert crash["at_s"] == 7.5 and recover["at_s"] == 19.2
    for name in EVENT_PRESETS:
        preset_events(name, 15.0)
    with pytest.raises(ValueError, match="unknown preset"):
        preset_events("meteor", 15.0)


KNOBS = [
    Knob("servers", "cluster.servers", 3, low=1, high=8),
    Knob("rate", "workload.arrival_rate_per_s", 60, low=20, high=200, step=20),
    Knob("store_rtt_ms", "shared_store.rtt_ms", 0.5, low=0.0, high=5.0),
    Knob("algorithm", "jwt.algorithm", "HS256", options=("HS256", "EdDSA")),
    Knob("users_per_ip", "workload.users_per_ip", 1, options=(1, 10, 100)),
    Knob("events", "events", "none", options=EVENT_PRESETS),
    Knob("seed", "seed", 1, low=0, high=10**6, text=True),
]


def test_short_runs_set_the_knobs_and_cache() -> None:
    runs = ShortRuns(KNOBS, duration_s=4.0, warmup_s=1.0)
    first = runs(servers=2.0, rate=80)
    scenario = first.scenario
    assert (scenario.cluster.servers, scenario.workload.arrival_rate_per_s) == (2, 80.0)
    assert scenario.duration_s == 4.0 and scenario.name == "explorer"
    assert runs(servers=2, rate=80.0) is first  # cast to the knob's type: the same settings
    assert runs.settings()["servers"] == 3
    with pytest.raises(TypeError, match="unknown setting 'sever'"):
        runs(sever=2)
    table = numbers(first)
    assert "NaN" not in table.to_string() and "nan" not in table.to_string()
    assert table.loc["local", "store op ms"] == MISSING
    result, items = view(runs, {"servers": 2, "rate": 80, "events": "store outage"})
    assert result.scenario.events and len(items) == 4
    assert isinstance(items[0], str) and "2 servers" in items[0]


def test_the_explorer_builds_draws_and_redraws_once_per_burst() -> None:
    import ipywidgets as widgets  # noqa: PLC0415  (dev extra: installed by make test)

    timers = FakeTimers()
    drawn: list[dict[str, Any]] = []

    def draw(settings: Mapping[str, Any]) -> tuple[Any, Sequence[object]]:
        drawn.append(dict(settings))
        if settings["servers"] == 7:
            raise RuntimeError("seven is unlucky")
        return f"run {len(drawn)}", [f"{settings['servers']} servers", {"a": 1}]

    explorer = Explorer(KNOBS, draw, wait_s=0.4, timer=timers)
    assert isinstance(explorer.widget, widgets.VBox)
    kinds = {name: type(control).__name__ for name, control in explorer.controls.items()}
    assert kinds == {
        "servers": "IntSlider",
        "rate": "IntSlider",
        "store_rtt_ms": "FloatSlider",
        "algorithm": "Dropdown",
        "users_per_ip": "SelectionSlider",
        "events": "Dropdown",
        "seed": "BoundedIntText",
    }
    assert explorer.draws == 1 and explorer.last_result == "run 1"
    assert explorer.output.outputs[0]["text"] == "3 servers\n"
    assert explorer.output.outputs[1]["output_type"] == "display_data"
    for servers in (4, 5, 6, 5, 4, 8):  # quick moves
        explorer.controls["servers"].value = servers
        timers.advance(0.1)
    assert explorer.draws == 1 and explorer.status.value.startswith("waiting")
    timers.advance(0.5)
    assert explorer.draws == 2 and len(drawn) == 2
    assert explorer.last_settings is not None and explorer.last_settings["servers"] == 8
    explorer.controls["servers"].value = 7  # a failed redraw shows its traceback
    timers.advance(1.0)
    assert explorer.status.value == "failed"
    assert "seven is unlucky" in explorer.output.outputs[0]["text"]
    assert explorer.last_settings["servers"] == 8
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_as_output_writes_text_and_rich_objects() -> None:
    assert as_output("hello") == {"output_type": "stream", "name": "stdout", "text": "hello\n"}
    import pandas as pd  # noqa: PLC0415

    shown = as_output(pd.DataFrame({"a": [1]}))
    assert shown["output_type"] == "display_data" and "text/html" in shown["data"]
