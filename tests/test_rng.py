"""Named random streams and block-buffered draws (simulator.model.rng)."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.model.rng import DrawBuffer, Streams, exponential_buffer, uniform_buffer


def draws(seed: int, name: str, replication: int = 0, size: int = 16) -> np.ndarray:
    return Streams(seed, replication).generator(name).random(size)


def test_same_seed_and_name_give_identical_draws():
    np.testing.assert_array_equal(draws(7, "arrivals"), draws(7, "arrivals"))


def test_asking_twice_for_a_stream_restarts_it():
    streams = Streams(7)
    first = streams.generator("users").random(8)
    second = streams.generator("users").random(8)
    np.testing.assert_array_equal(first, second)


def test_different_names_give_different_draws():
    names = ["arrivals", "users", "service", "balancer", "store", "ips"]
    sequences = [tuple(draws(1, name)) for name in names]
    assert len(set(sequences)) == len(names)


def test_different_seeds_give_different_draws():
    assert not np.array_equal(draws(1, "arrivals"), draws(2, "arrivals"))


def test_different_replications_give_different_draws():
    assert not np.array_equal(draws(1, "arrivals", 0), draws(1, "arrivals", 1))
    np.testing.assert_array_equal(draws(1, "arrivals", 3), draws(1, "arrivals", 3))


def test_stream_does_not_depend_on_creation_order_or_other_streams():
    forward = Streams(5)
    a_first = forward.generator("a").random(10)
    forward.generator("b").random(1000)

    backward = Streams(5)
    backward.generator("c").random(123)
    backward.generator("b").random(10)
    a_last = backward.generator("a").random(10)

    np.testing.assert_array_equal(a_first, a_last)


def test_negative_seed_or_replication_is_rejected():
    with pytest.raises(ValueError, match="non-negative"):
        Streams(-1)
    with pytest.raises(ValueError, match="non-negative"):
        Streams(1, replication=-1)


@pytest.mark.parametrize("block", [1, 3, 7, 64, 4096])
def test_draw_buffer_matches_drawing_the_whole_array_at_once(block):
    count = 200
    buffer = DrawBuffer(Streams(3).generator("x").random, block=block)
    one_by_one = [buffer.next() for _ in range(count)]
    whole = Streams(3).generator("x").random(count)
    assert one_by_one == whole.tolist()


def test_draw_buffer_calls_draw_once_per_block():
    sizes: list[int] = []
    counter = iter(range(10_000))

    def draw(n: int) -> np.ndarray:
        sizes.append(n)
        return np.array([float(next(counter)) for _ in range(n)])

    buffer = DrawBuffer(draw, block=5)
    values = [buffer.next() for _ in range(12)]
    assert values == [float(i) for i in range(12)]
    assert sizes == [5, 5, 5]


def test_draw_buffer_is_lazy():
    calls: list[int] = []
    DrawBuffer(lambda n: calls.append(n) or np.zeros(n), block=4)  # type: ignore[func-returns-value]
    assert calls == []


def test_exponential_buffer_matches_the_generator_across_blocks():
    buffer = exponential_buffer(Streams(9).generator("store"), mean=0.002)
    values = [buffer.next() for _ in range(5000)]  # crosses the 4096 block boundary
    expected = Streams(9).generator("store").exponential(0.002, 5000)
    np.testing.assert_array_equal(values, expected)
    assert np.mean(values) == pytest.approx(0.002, rel=0.05)


def test_uniform_buffer_values_are_in_the_unit_interval():
    buffer = uniform_buffer(Streams(2).generator("balancer"))
    values = np.array([buffer.next() for _ in range(5000)])
    assert values.min() >= 0.0
    assert values.max() < 1.0
    assert values.mean() == pytest.approx(0.5, abs=0.02)
    np.testing.assert_array_equal(values, Streams(2).generator("balancer").random(5000))
