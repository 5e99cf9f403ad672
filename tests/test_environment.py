"""The event loop (simulator.model.environment): arrivals replayed without an event
each, and callbacks scheduled without an event object, in SimPy's own order."""

from __future__ import annotations

import pytest
import simpy
from simpy.core import EmptySchedule

from simulator.model.environment import StreamEnvironment


def test_a_stream_item_runs_at_its_time_between_events() -> None:
    env = StreamEnvironment()
    seen: list[tuple[str, float]] = []
    env.timeout(1.0).callbacks.append(lambda _: seen.append(("event", env.now)))
    env.timeout(3.0).callbacks.append(lambda _: seen.append(("event", env.now)))
    env.next_at(2.0, lambda: seen.append(("arrival", env.now)))
    env.run()
    assert seen == [("event", 1.0), ("arrival", 2.0), ("event", 3.0)]


def test_each_item_sets_the_next_from_its_own_time() -> None:
    env = StreamEnvironment()
    times: list[float] = []
    gaps = iter([0.5, 0.25, 0.125])

    def arrive() -> None:
        times.append(env.now)
        gap = next(gaps, None)
        if gap is not None:
            env.next_at(gap, arrive)

    env.next_at(1.0, arrive)
    env.run()
    assert times == [1.0, 1.5, 1.75, 1.875]  # now + gap, as a timeout's time


def test_an_event_at_the_same_instant_runs_first() -> None:
    env = StreamEnvironment()
    seen: list[str] = []
    env.next_at(1.0, lambda: seen.append("arrival"))
    env.timeout(1.0).callbacks.append(lambda _: seen.append("event"))
    env.run()
    assert seen == ["event", "arrival"]


def test_peek_sees_the_stream_too() -> None:
    env = StreamEnvironment()
    assert env.peek() == float("inf")
    env.timeout(5.0)
    env.next_at(2.0, lambda: None)
    assert env.peek() == 2.0


def test_run_until_stops_before_later_stream_items() -> None:
    env = StreamEnvironment()
    seen: list[float] = []
    env.next_at(3.0, lambda: seen.append(env.now))
    env.run(until=2.0)
    assert (seen, env.now) == ([], 2.0)
    env.run()
    assert seen == [3.0]


def test_an_empty_environment_says_so() -> None:
    env = StreamEnvironment()
    with pytest.raises(EmptySchedule):
        env.step()
    env.run()  # returns at once, as SimPy's does


@pytest.mark.parametrize("delay_s", [-1.0, -1e-12])
def test_negative_delays_are_refused(delay_s: float) -> None:
    env = StreamEnvironment()
    with pytest.raises(ValueError, match="negative delay"):
        env.next_at(delay_s, lambda: None)
    with pytest.raises(ValueError, match="negative delay"):
        env.call_later(delay_s, lambda _: None, None)


def test_call_later_keeps_the_order_timeouts_would_have() -> None:
    # The same schedule of delays, made with timeouts in one environment and with
    # call_later (mixed with timeouts) in the other: the same order and times.
    delays = [0.3, 0.1, 0.3, 0.0, 0.2, 0.1, 0.0, 0.3]

    def order(use_call_later: bool) -> list[tuple[int, float]]:
        env = StreamEnvironment()
        seen: list[tuple[int, float]] = []
        for index, delay in enumerate(delays):

            def note(_: object, index: int = index) -> None:
                seen.append((index, env.now))

            if use_call_later and index % 2:
                env.call_later(delay, note, None)  # note(None)
            else:
                env.timeout(delay).callbacks.append(note)
        env.run()
        return seen

    assert order(True) == order(False)
    assert [index for index, _ in order(True)] == [3, 6, 1, 5, 4, 0, 2, 7]


def test_processes_and_failures_behave_as_in_simpy() -> None:
    env = StreamEnvironment()
    log: list[float] = []

    def process() -> simpy.events.ProcessGenerator:
        yield env.timeout(1.0)
        log.append(env.now)
        raise RuntimeError("boom")

    env.process(process())
    with pytest.raises(RuntimeError, match="boom"):
        env.run()
    assert log == [1.0]


def test_step_outside_run_takes_exactly_one_item() -> None:
    # run() steps in one loop; step() on its own still runs one event or stream item
    env = StreamEnvironment()
    seen: list[str] = []
    env.timeout(1.0).callbacks.append(lambda _: seen.append("event"))
    env.call_later(2.0, lambda _: seen.append("call"), None)
    env.next_at(1.5, lambda: seen.append("arrival"))
    env.step()
    assert (seen, env.now) == (["event"], 1.0)
    env.step()
    assert (seen, env.now) == (["event", "arrival"], 1.5)
    env.step()
    assert (seen, env.now) == (["event", "arrival", "call"], 2.0)
    with pytest.raises(EmptySchedule):
        env.step()


def test_run_stops_on_its_event_and_resumes_where_it_stopped() -> None:
    # run(until=event) ends inside the loop, mid-stream; the next run goes on from there,
    # and a failure that ends a run leaves step() taking one item again
    env = StreamEnvironment()
    seen: list[float] = []
    gaps = iter([1.0] * 5)

    def arrive() -> None:
        seen.append(env.now)
        gap = next(gaps, None)
        if gap is not None:
            env.next_at(gap, arrive)

    env.next_at(1.0, arrive)
    stop = env.timeout(2.5)
    env.run(until=stop)
    assert (seen, env.now) == ([1.0, 2.0], 2.5)
    env.run(until=4.0)
    assert seen == [1.0, 2.0, 3.0]
    env.run()
    assert seen == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]

    def fail() -> simpy.events.ProcessGenerator:
        yield env.timeout(1.0)
        raise RuntimeError("boom")

    env.process(fail())
    with pytest.raises(RuntimeError, match="boom"):
        env.run()
    env.call_later(1.0, lambda _: seen.append(-1.0), None)
    env.call_later(2.0, lambda _: seen.append(-2.0), None)
    env.step()
    assert seen[-1] == -1.0  # one item, not the rest of the schedule


def test_a_step_inside_a_run_takes_one_item() -> None:
    # a callback that steps the environment itself (as SimPy allows) moves it by one item,
    # and the run goes on with the rest
    env = StreamEnvironment()
    seen: list[str] = []

    def nested(_: object) -> None:
        seen.append("nested")
        env.step()  # runs "b" now
        seen.append("back")

    env.call_later(1.0, nested, None)
    env.call_later(2.0, lambda _: seen.append("b"), None)
    env.call_later(3.0, lambda _: seen.append("c"), None)
    env.run()
    assert seen == ["nested", "b", "back", "c"]
