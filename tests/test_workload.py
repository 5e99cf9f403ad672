"""Users, IPs and the request stream (simulator.model.workload)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from simulator.model.rng import Streams, hash64, splitmix64
from simulator.model.workload import (
    CHUNK_REQUESTS,
    CONSECUTIVE_FIRST,
    ArrivalRate,
    Population,
    RequestStream,
    draw_service_s,
    format_address,
    ip_address,
)
from simulator.scenario.models import ServiceTime, Workload


def constant_rate(workload: Workload) -> ArrivalRate:
    return ArrivalRate(workload.arrival_rate_per_s, workload.rate_profile)


def make_stream(
    workload: Workload,
    service: ServiceTime | None = None,
    duration_s: float = 10.0,
    seed: int = 1,
    chunk: int = CHUNK_REQUESTS,
) -> RequestStream:
    streams = Streams(seed)
    population = Population.from_config(workload, streams)
    return RequestStream(
        constant_rate(workload),
        service or ServiceTime(),
        population,
        streams,
        duration_s,
        chunk=chunk,
    )


def concatenated(stream: RequestStream) -> tuple[list[float], list[int], list[float]]:
    gaps: list[float] = []
    users: list[int] = []
    service: list[float] = []
    for chunk in stream:
        gaps += chunk.gaps_s
        users += chunk.users
        service += chunk.service_s
    return gaps, users, service


# ----------------------------------------------------------------------- hashing


def test_hash64_of_zero_is_the_reference_splitmix64_output():
    # The first output of the reference SplitMix64 generator seeded with 0.
    assert hash64(0) == 0xE220A8397B1DCDAF


def test_hash64_pinned_values_are_stable():
    assert hash64(1) == 10451216379200822465
    assert hash64(2) == 10905525725756348110


def test_hash64_agrees_with_splitmix64_elementwise():
    values = np.arange(100, dtype=np.uint64)
    hashed = splitmix64(values)
    assert hashed.dtype == np.uint64
    assert hashed.tolist() == [hash64(int(v)) for v in values]


def test_hash64_spreads_consecutive_inputs():
    hashes = [hash64(i) for i in range(1000)]
    assert len(set(hashes)) == 1000
    assert all(0 <= h < 2**64 for h in hashes)
    # consecutive inputs differ in about half of their 64 bits
    flips = [bin(a ^ b).count("1") for a, b in itertools.pairwise(hashes)]
    assert 28 <= np.mean(flips) <= 36
    # and land evenly modulo a small number of servers
    counts = np.bincount([h % 10 for h in hashes], minlength=10)
    assert counts.min() > 60


def test_hash64_masks_negative_inputs_to_64_bits():
    assert hash64(-1) == hash64(2**64 - 1)


def test_ip_address_is_readable():
    assert ip_address(0) == "10.0.0.0"
    assert ip_address(258) == "10.0.1.2"
    assert ip_address(65536 + 3) == "10.1.0.3"


def test_ip_address_is_the_consecutive_layouts_address():
    workload = Workload(users=70_000, client_addresses="consecutive")
    population = Population.from_config(workload, Streams(1))
    for ip in (0, 1, 255, 256, 258, 65536 + 3, 69_999):
        assert population.address(ip) == ip_address(ip) == format_address(CONSECUTIVE_FIRST + ip)
    assert format_address(0xC0A8010A) == "192.168.1.10"


# -------------------------------------------------------------------- population


@pytest.mark.parametrize("weights", ["uniform", "zipf"])
def test_population_weights_sum_to_one(weights):
    population = Population.from_config(
        Workload(users=500, user_weights=weights, zipf_exponent=1.2), Streams(1)
    )
    assert population.users == 500
    assert len(population.weights) == 500
    assert population.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert (population.weights > 0).all()


def test_zipf_weights_decrease_with_rank_as_a_power_law():
    weights = Population.from_config(
        Workload(users=100, user_weights="zipf", zipf_exponent=1.0), Streams(1)
    ).weights
    assert (np.diff(weights) < 0).all()
    assert weights[0] / weights[1] == pytest.approx(2.0)
    assert weights[0] / weights[9] == pytest.approx(10.0)


def test_larger_zipf_exponent_concentrates_more_on_the_top_user():
    def top(exponent: float) -> float:
        workload = Workload(users=100, user_weights="zipf", zipf_exponent=exponent)
        return float(Population.from_config(workload, Streams(1)).weights[0])

    assert top(0.5) < top(1.0) < top(2.0)


def test_uniform_weights_are_flat():
    weights = Population.from_config(Workload(users=37), Streams(1)).weights
    np.testing.assert_allclose(weights, np.full(37, 1 / 37))


@pytest.mark.parametrize(("users", "per_ip"), [(100, 1), (100, 10), (101, 10), (2000, 200), (7, 9)])
def test_users_per_ip_groups_users(users, per_ip):
    population = Population.from_config(Workload(users=users, users_per_ip=per_ip), Streams(4))
    expected_ips = math.ceil(users / per_ip)
    assert population.ips == expected_ips
    assert len(population.user_ip) == users
    assert population.user_ip.min() == 0
    assert population.user_ip.max() == expected_ips - 1
    per_address = np.bincount(population.user_ip, minlength=expected_ips)
    assert per_address.max() <= per_ip
    assert (per_address > 0).all()
    assert per_address.sum() == users


def test_users_are_shuffled_over_ips():
    population = Population.from_config(Workload(users=1000, users_per_ip=10), Streams(4))
    # not simply users 0..9 on IP 0, 10..19 on IP 1...
    assert population.user_ip.tolist() != [user // 10 for user in range(1000)]


def test_ip_hash_is_splitmix_of_the_ip_index():
    population = Population.from_config(Workload(users=50, users_per_ip=5), Streams(1))
    assert population.ip_hash.tolist() == [hash64(ip) for ip in range(10)]


def test_population_is_deterministic_and_depends_on_the_seed():
    workload = Workload(users=300, users_per_ip=3, user_weights="zipf")
    first = Population.from_config(workload, Streams(8))
    again = Population.from_config(workload, Streams(8))
    other = Population.from_config(workload, Streams(9))
    np.testing.assert_array_equal(first.user_ip, again.user_ip)
    np.testing.assert_array_equal(first.weights, again.weights)
    np.testing.assert_array_equal(first.ip_hash, again.ip_hash)
    assert not np.array_equal(first.user_ip, other.user_ip)


# ---------------------------------------------------------------- request stream


def test_iterating_twice_gives_identical_chunks():
    stream = make_stream(Workload(users=200, arrival_rate_per_s=2000), duration_s=10)
    first = list(stream)
    second = list(stream)
    assert len(first) == len(second) > 1
    assert first == second


def test_chunks_have_the_configured_size_except_the_last():
    stream = make_stream(Workload(arrival_rate_per_s=1000), duration_s=10, chunk=1000)
    sizes = [len(chunk.gaps_s) for chunk in stream]
    assert all(size == 1000 for size in sizes[:-1])
    assert sizes[-1] < 1000
    for chunk in stream:
        assert len(chunk.gaps_s) == len(chunk.users) == len(chunk.service_s)


def test_all_arrivals_are_before_the_duration():
    duration_s = 7.5
    gaps, _, _ = concatenated(
        make_stream(Workload(arrival_rate_per_s=800), duration_s=duration_s, chunk=500)
    )
    times = np.cumsum(gaps)
    assert times[-1] < duration_s
    assert times[-1] > duration_s - 0.05  # the stream runs to (nearly) the end
    assert (np.asarray(gaps) > 0).all()


@pytest.mark.parametrize(("rate", "duration_s", "seed"), [(100, 20, 1), (1000, 10, 2), (50, 5, 3)])
def test_request_count_is_poisson_around_rate_times_duration(rate, duration_s, seed):
    gaps, _, _ = concatenated(
        make_stream(Workload(arrival_rate_per_s=rate), duration_s=duration_s, seed=seed)
    )
    expected = rate * duration_s
    assert abs(len(gaps) - expected) < 4 * math.sqrt(expected)


def test_mean_gap_is_the_inverse_rate():
    gaps, _, _ = concatenated(make_stream(Workload(arrival_rate_per_s=500), duration_s=20))
    assert np.mean(gaps) == pytest.approx(1 / 500, rel=0.05)


def test_user_frequencies_follow_zipf_weights():
    workload = Workload(users=20, arrival_rate_per_s=4000, user_weights="zipf", zipf_exponent=1.0)
    stream = make_stream(workload, duration_s=10)
    _, users, _ = concatenated(stream)
    total = len(users)
    counts = np.bincount(users, minlength=20)
    expected = stream.population.weights * total
    sigma = np.sqrt(total * stream.population.weights * (1 - stream.population.weights))
    assert (np.abs(counts - expected) < 5 * sigma).all()
    assert counts[0] > counts[1] > counts[4] > counts[19]


def test_user_frequencies_are_flat_for_uniform_weights():
    stream = make_stream(Workload(users=10, arrival_rate_per_s=3000), duration_s=10)
    _, users, _ = concatenated(stream)
    counts = np.bincount(users, minlength=10)
    assert min(users) >= 0
    assert max(users) <= 9
    expected = len(users) / 10
    assert (np.abs(counts - expected) < 5 * math.sqrt(expected)).all()


@pytest.mark.parametrize(
    "service",
    [
        ServiceTime(distribution="exponential", mean=10),
        ServiceTime(distribution="lognormal", mean=10, sigma=1.0),
        ServiceTime(distribution="lognormal", mean=4, sigma=0.5),
        ServiceTime(distribution="constant", mean=25),
    ],
)
def test_service_time_distributions_have_the_configured_mean(service):
    values = draw_service_s(Streams(1).generator("service"), service, 200_000)
    assert len(values) == 200_000
    assert (values > 0).all()
    assert values.mean() == pytest.approx(service.mean / 1000.0, rel=0.02)


def test_constant_service_time_is_exactly_the_mean():
    values = draw_service_s(
        Streams(1).generator("service"), ServiceTime(distribution="constant", mean=25), 50
    )
    assert values.tolist() == [0.025] * 50


def test_exponential_service_time_has_its_spread():
    values = draw_service_s(
        Streams(1).generator("service"), ServiceTime(distribution="exponential", mean=10), 200_000
    )
    # exponential: standard deviation equals the mean
    assert values.std() == pytest.approx(0.010, rel=0.03)


def test_lognormal_service_time_has_the_configured_shape():
    values = draw_service_s(
        Streams(1).generator("service"),
        ServiceTime(distribution="lognormal", mean=10, sigma=0.8),
        200_000,
    )
    assert np.log(values).std() == pytest.approx(0.8, rel=0.02)


def test_request_stream_service_times_are_in_seconds():
    stream = make_stream(
        Workload(arrival_rate_per_s=2000),
        ServiceTime(distribution="exponential", mean=20),
        duration_s=10,
    )
    _, _, service = concatenated(stream)
    assert np.mean(service) == pytest.approx(0.020, rel=0.05)


@pytest.mark.parametrize("distribution", ["exponential", "lognormal", "constant"])
def test_chunk_size_does_not_change_the_requests(distribution):
    workload = Workload(users=300, arrival_rate_per_s=1500, user_weights="zipf")
    service = ServiceTime(distribution=distribution, mean=5)
    small = concatenated(make_stream(workload, service, duration_s=10, chunk=100))
    large = concatenated(make_stream(workload, service, duration_s=10, chunk=8192))
    assert len(small[0]) > 8192  # several large chunks too
    assert small == large


def test_common_random_numbers_other_streams_do_not_shift_the_requests():
    workload = Workload(users=100, arrival_rate_per_s=300)
    streams = Streams(11)
    population = Population.from_config(workload, streams)
    stream = RequestStream(constant_rate(workload), ServiceTime(), population, streams, 5.0)
    before = concatenated(stream)
    streams.generator("balancer").random(10_000)
    streams.generator("arrivals").random(10_000)
    assert concatenated(stream) == before


def test_different_seeds_give_different_requests():
    workload = Workload(arrival_rate_per_s=200)
    assert concatenated(make_stream(workload, seed=1)) != concatenated(
        make_stream(workload, seed=2)
    )
