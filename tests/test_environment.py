"""The event loop (simulator.model.environment): arrivals replayed without an event
each, and callbacks scheduled without an event object, in SimPy's own order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import simpy
from simpy.core import EmptySchedule

from simulator.model.environment import StreamEnvironment


def test_a_stream_item_runs_at_its_time_between_events() -> None:
    env = StreamEnvironment()
    seen: list[tuple[str, float]] = []
    env.timeout(1.0).callbacks.append(lambda _: seen.append(("event", env.now)))
    env.timeout(3.0).callbacks.append(lambda _: seen.append(("event", env.now)))
    env.replay(iter([(2.0,)]), lambda _: seen.append(("arrival", env.now)))
    env.run()
    assert seen == [("event", 1.0), ("arrival", 2.0), ("event", 3.0)]


def test_each_item_is_due_its_gap_after_the_one_before() -> None:
    env = StreamEnvironment()
    seen: list[tuple[float, str]] = []
    items = iter([(1.0, "a"), (0.5, "b"), (0.25, "c"), (0.125, "d")])
    env.replay(items, lambda item: seen.append((env.now, item[1])))
    env.run()
    assert seen == [(1.0, "a"), (1.5, "b"), (1.75, "c"), (1.875, "d")]  # time + gap


def test_the_end_of_the_stream_is_told_once_right_after_its_last_item() -> None:
    env = StreamEnvironment()
    seen: list[tuple[str, float]] = []
    env.timeout(5.0).callbacks.append(lambda _: seen.append(("event", env.now)))
    env.replay(
        iter([(1.0,), (2.0,)]),
        lambda _: seen.append(("item", env.now)),
        lambda: seen.append(("end", env.now)),
    )
    env.run()
    assert seen == [("item", 1.0), ("item", 3.0), ("end", 3.0), ("event", 5.0)]


def test_an_empty_stream_ends_at_once_and_a_new_one_replaces_the_old() -> None:
    env = StreamEnvironment()
    ends: list[float] = []
    env.replay(iter(()), lambda _: None, lambda: ends.append(env.now))
    assert ends == [0.0]
    seen: list[str] = []
    env.replay(iter([(1.0, "old"), (1.0, "old")]), lambda item: seen.append(item[1]))
    env.step()
    env.replay(iter([(0.5, "new")]), lambda item: seen.append(item[1]))
    env.run()
    assert (seen, env.now) == (["old", "new"], 1.5)


def test_the_next_item_is_taken_only_after_the_callback() -> None:
    # the callback sees nothing of the stream pending (peek: the events only), and a
    # lazy stream is read one item ahead at most
    env = StreamEnvironment()
    read: list[int] = []
    peeks: list[float] = []

    def items() -> Iterator[tuple[float, int]]:
        for index in range(3):
            read.append(index)
            yield 1.0, index

    env.timeout(10.0)
    env.replay(items(), lambda item: peeks.append(env.peek()) or read.append(-item[1] - 1))
    assert read == [0]
    env.run()
    assert read == [0, -1, 1, -2, 2, -3]
    assert peeks == [10.0, 10.0, 10.0]


def test_an_event_at_the_same_instant_runs_first() -> None:
    env = StreamEnvironment()
    seen: list[str] = []
    env.replay(iter([(1.0,)]), lambda _: seen.append("arrival"))
    env.timeout(1.0).callbacks.append(lambda _: seen.append("event"))
    env.run()
    assert seen == ["event", "arrival"]


def test_peek_sees_the_stream_too() -> None:
    env = StreamEnvironment()
    assert env.peek() == float("inf")
    env.timeout(5.0)
    env.replay(iter([(2.0,)]), lambda _: None)
    assert env.peek() == 2.0


def test_run_until_stops_before_later_stream_items() -> None:
    env = StreamEnvironment()
    seen: list[float] = []
    env.replay(iter([(3.0,)]), lambda _: seen.append(env.now))
    env.run(until=2.0)
    assert (seen, env.now) == ([], 2.0)
    env.run()
    assert seen == [3.0]


def test_an_empty_environment_says_so() -> None:
    env = StreamEnvironment()
    with pytest.raises(EmptySchedule):
        env.step()
    env.run()  # returns at once, as SimPy's does


@pytest.mark.parametrize("gap_s", [-1.0, -1e-12, float("nan")])
def test_negative_gaps_are_refused(gap_s: float) -> None:
    env = StreamEnvironment()
    with pytest.raises(ValueError, match="gap"):
        env.replay(iter([(gap_s,)]), lambda _: None)
    env.replay(iter([(1.0,), (gap_s,)]), lambda _: None)
    with pytest.raises(ValueError, match="gap"):
        env.step()  # the bad gap is read once the item before it has run


@pytest.mark.parametrize("delay_s", [-1.0, -1e-12])
def test_negative_delays_are_refused(delay_s: float) -> None:
    env = StreamEnvironment()
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
    env.replay(iter([(1.5,)]), lambda _: seen.append("arrival"))
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
    env.replay(iter([(1.0,)] * 6), lambda _: seen.append(env.now))
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
