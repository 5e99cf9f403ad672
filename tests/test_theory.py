"""The closed forms of simulator.experiments.theory against hand-computed textbook values."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from simulator.experiments import theory
from simulator.results import metrics


def erlang_c_by_factorials(c: int, a: float) -> float:
    """Erlang C straight from the textbook formula (Kleinrock eq. 3.40), for small c."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


# ------------------------------------------------------------------------ M/M/1


def test_mm1_at_half_load() -> None:
    # λ = 5/s, μ = 10/s: ρ = 0.5, L = 1, Lq = 0.5, W = 0.2 s, Wq = 0.1 s
    assert theory.mm1_utilisation(5, 10) == pytest.approx(0.5)
    assert theory.mm1_mean_number(5, 10) == pytest.approx(1.0)
    assert theory.mm1_mean_queue_length(5, 10) == pytest.approx(0.5)
    assert theory.mm1_mean_response(5, 10) == pytest.approx(0.2)
    assert theory.mm1_mean_wait(5, 10) == pytest.approx(0.1)


def test_mm1_units_follow_the_rates() -> None:
    # the same queue in ms: 0.05 jobs/ms against 0.1 jobs/ms -> 20 ms
    assert theory.mm1_mean_response(0.05, 0.1) == pytest.approx(20.0)
    assert theory.mm1_mean_response(50, 100) * 1000 == pytest.approx(20.0)


def test_mm1_at_high_load() -> None:
    # ρ = 0.9: L = 9, W = 1/(μ - λ) = 10 / μ
    assert theory.mm1_mean_number(9, 10) == pytest.approx(9.0)
    assert theory.mm1_mean_response(9, 10) == pytest.approx(1.0)
    assert theory.mm1_mean_queue_length(9, 10) == pytest.approx(8.1)


def test_mm1_empty_queue() -> None:
    assert theory.mm1_mean_wait(0, 10) == 0
    assert theory.mm1_mean_response(0, 10) == pytest.approx(0.1)
    assert theory.mm1_mean_number(0, 10) == 0


@pytest.mark.parametrize(("lam", "mu"), [(1, 4), (5, 10), (7.5, 10), (0.099, 0.1)])
def test_mm1_pieces_fit_together(lam: float, mu: float) -> None:
    wait = theory.mm1_mean_wait(lam, mu)
    response = theory.mm1_mean_response(lam, mu)
    assert response == pytest.approx(wait + 1 / mu)
    # Little's law on the whole system and on the waiting room
    assert theory.mm1_mean_number(lam, mu) == pytest.approx(lam * response)
    assert theory.mm1_mean_queue_length(lam, mu) == pytest.approx(lam * wait)


# ------------------------------------------------------------------ Erlang, M/M/c


@pytest.mark.parametrize(
    ("c", "a", "expected"),
    [
        (1, 1.0, 0.5),  # a / (1 + a)
        (2, 1.0, 0.2),  # (a²/2) / (1 + a + a²/2)
        (3, 2.0, (8 / 6) / (1 + 2 + 2 + 8 / 6)),
        (10, 5.0, 0.018385),  # Erlang B table
    ],
)
def test_erlang_b_known_values(c: int, a: float, expected: float) -> None:
    assert theory.erlang_b(c, a) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    ("c", "a", "expected"),
    [
        (1, 0.5, 0.5),  # M/M/1: an arrival waits when the server is busy, probability ρ
        (2, 1.0, 1 / 3),  # M/M/2 at ρ = 0.5: 2ρ²/(1 + ρ)
        (3, 2.0, 4 / 9),
        (4, 2.6, erlang_c_by_factorials(4, 2.6)),
        (10, 8.0, erlang_c_by_factorials(10, 8.0)),
    ],
)
def test_erlang_c_known_values(c: int, a: float, expected: float) -> None:
    assert theory.erlang_c(c, a) == pytest.approx(expected, rel=1e-12)


def test_erlang_c_textbook_table_value() -> None:
    # 10 agents, 8 Erlangs: about 40.9% of callers wait (call-centre tables)
    assert theory.erlang_c(10, 8.0) == pytest.approx(0.4092, abs=5e-4)


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9, 0.99])
def test_erlang_c_with_one_server_is_mm1(rho: float) -> None:
    assert theory.erlang_c(1, rho) == pytest.approx(rho)
    assert theory.mmc_mean_wait(rho, 1.0, 1) == pytest.approx(theory.mm1_mean_wait(rho, 1.0))
    assert theory.mmc_mean_response(rho, 1.0, 1) == pytest.approx(
        theory.mm1_mean_response(rho, 1.0)
    )
    assert theory.mmc_mean_number(rho, 1.0, 1) == pytest.approx(theory.mm1_mean_number(rho, 1.0))


def test_erlang_is_stable_for_many_servers() -> None:
    # a factorial formula overflows beyond c = 170; the recursion does not
    for c, a in [(200, 180.0), (1000, 950.0), (5000, 4999.0)]:
        assert 0 < theory.erlang_b(c, a) < 1
        assert 0 < theory.erlang_c(c, a) < 1
    assert theory.erlang_c(5000, 100.0) == pytest.approx(0.0, abs=1e-300)
    assert theory.erlang_b(3, 0.0) == 0.0


def test_erlang_c_exceeds_erlang_b() -> None:
    for c, a in [(2, 1.0), (4, 3.5), (20, 15.0)]:
        assert theory.erlang_c(c, a) > theory.erlang_b(c, a)


def test_mm2_at_half_load() -> None:
    # λ = 1, μ = 1, c = 2: C = 1/3, Wq = C/(cμ - λ) = 1/3, W = 4/3, L = 2ρ/(1 - ρ²) = 4/3
    assert theory.mmc_utilisation(1, 1, 2) == pytest.approx(0.5)
    assert theory.mmc_mean_wait(1, 1, 2) == pytest.approx(1 / 3)
    assert theory.mmc_mean_response(1, 1, 2) == pytest.approx(4 / 3)
    assert theory.mmc_mean_number(1, 1, 2) == pytest.approx(4 / 3)


def test_mmc_of_the_validation_case() -> None:
    # 260/s on 4 workers of 100/s: a = 2.6, W = 10 ms + C/(400 - 260) s
    c = theory.erlang_c(4, 2.6)
    assert theory.mmc_mean_response(260, 100, 4) == pytest.approx(0.01 + c / 140)
    assert theory.mmc_mean_response(260, 100, 4) * 1000 == pytest.approx(12.532, abs=1e-3)


def test_more_servers_wait_less_at_the_same_utilisation() -> None:
    waits = [theory.mmc_mean_wait(0.8 * c, 1.0, c) for c in (1, 2, 4, 8, 16)]
    assert waits == sorted(waits, reverse=True)


# ------------------------------------------------------------------ Little's law


def test_littles_law_identities() -> None:
    assert theory.littles_number(2.0, 3.0) == pytest.approx(6.0)
    assert theory.littles_time(6.0, 2.0) == pytest.approx(3.0)
    assert theory.littles_arrival_rate(6.0, 3.0) == pytest.approx(2.0)
    for lam, w in [(0.5, 4.0), (100.0, 0.02), (3.0, 0.0)]:
        number = theory.littles_number(lam, w)
        assert theory.littles_time(number, lam) == pytest.approx(w)
        if w > 0:
            assert theory.littles_arrival_rate(number, w) == pytest.approx(lam)


# ---------------------------------------------------------------------- hashing


def brute_force_modulo(before: int, after: int) -> float:
    period = math.lcm(before, after)
    return sum(h % before != h % after for h in range(period)) / period


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [(9, 10, 0.9), (10, 9, 0.9), (5, 10, 0.5), (1, 2, 0.5), (2, 3, 2 / 3), (4, 4, 0.0)],
)
def test_modulo_remap_fraction(before: int, after: int, expected: float) -> None:
    assert theory.modulo_remap_fraction(before, after) == pytest.approx(expected)
    assert theory.modulo_remap_fraction(before, after) == pytest.approx(
        brute_force_modulo(before, after)
    )


def test_modulo_remap_matches_brute_force_everywhere() -> None:
    for before in range(1, 13):
        for after in range(1, 13):
            assert theory.modulo_remap_fraction(before, after) == pytest.approx(
                brute_force_modulo(before, after)
            )


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [(9, 10, 0.1), (10, 9, 0.1), (5, 10, 0.5), (10, 5, 0.5), (4, 4, 0.0), (1, 2, 0.5)],
)
def test_consistent_hash_remap_fraction(before: int, after: int, expected: float) -> None:
    assert theory.consistent_hash_remap_fraction(before, after) == pytest.approx(expected)


def test_consistent_hashing_moves_fewer_keys_than_modulo() -> None:
    for before in range(2, 20):
        assert theory.consistent_hash_remap_fraction(
            before, before + 1
        ) < theory.modulo_remap_fraction(before, before + 1)


# ------------------------------------------------------------- local, fairness


@pytest.mark.parametrize(
    ("servers", "success", "served"), [(1, 1.0, 1.0), (2, 0.5, 0.75), (5, 0.2, 0.36)]
)
def test_local_sessions(servers: int, success: float, served: float) -> None:
    assert theory.local_success_rate(servers) == pytest.approx(success)
    assert theory.local_served_fraction(servers) == pytest.approx(served)
    # served = 1 - unauthorized, unauthorized = (1 - 1/N)²
    assert 1 - theory.local_served_fraction(servers) == pytest.approx((1 - 1 / servers) ** 2)


@pytest.mark.parametrize(
    ("loads", "expected"),
    [
        ([1, 1, 1, 1], 1.0),
        ([1, 0, 0, 0], 0.25),
        ([1, 1, 0, 0], 0.5),
        ([1, 2, 3], 36 / 42),
        ([7.5], 1.0),
    ],
)
def test_jain_index(loads: list[float], expected: float) -> None:
    assert theory.jain_index(loads) == pytest.approx(expected)
    assert theory.jain_index(loads) == pytest.approx(metrics.jain_index(loads))


def test_jain_index_is_scale_free() -> None:
    assert theory.jain_index([3, 5, 8]) == pytest.approx(theory.jain_index([30, 50, 80]))


# -------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    "function",
    [
        theory.mm1_utilisation,
        theory.mm1_mean_number,
        theory.mm1_mean_queue_length,
        theory.mm1_mean_wait,
        theory.mm1_mean_response,
    ],
)
@pytest.mark.parametrize(
    ("lam", "mu"),
    [(10, 10), (11, 10), (-1, 10), (1, 0), (1, -2), (math.nan, 10), (1, math.inf)],
)
def test_mm1_rejects_bad_input(
    function: Callable[[float, float], float], lam: float, mu: float
) -> None:
    with pytest.raises(ValueError):
        function(lam, mu)


def test_unstable_message_names_rho() -> None:
    with pytest.raises(ValueError, match="rho"):
        theory.mm1_mean_response(12, 10)


@pytest.mark.parametrize(
    "call",
    [
        lambda: theory.erlang_c(2, 2.0),  # a = c: unstable
        lambda: theory.erlang_c(2, 3.0),
        lambda: theory.erlang_c(0, 0.5),
        lambda: theory.erlang_b(0, 1.0),
        lambda: theory.erlang_b(2, -1.0),
        lambda: theory.erlang_b(2.5, 1.0),
        lambda: theory.erlang_b(True, 1.0),
        lambda: theory.mmc_mean_response(8, 2, 4),  # ρ = 1
        lambda: theory.mmc_mean_wait(1, 1, 0),
        lambda: theory.mmc_utilisation(9, 2, 4),
        lambda: theory.littles_number(-1, 2),
        lambda: theory.littles_time(1, 0),
        lambda: theory.littles_arrival_rate(1, 0),
        lambda: theory.modulo_remap_fraction(0, 3),
        lambda: theory.consistent_hash_remap_fraction(3, 0),
        lambda: theory.local_success_rate(0),
        lambda: theory.local_served_fraction(-1),
        lambda: theory.jain_index([]),
        lambda: theory.jain_index([0, 0]),
        lambda: theory.jain_index([1, -1]),
        lambda: theory.jain_index([1, math.nan]),
    ],
)
def test_rejects_invalid_input(call: Callable[[], float]) -> None:
    with pytest.raises(ValueError):
        call()


def test_integer_arguments_accept_numpy_integers() -> None:
    servers = np.arange(1, 4)
    assert [theory.local_success_rate(n) for n in servers] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert theory.modulo_remap_fraction(np.int64(9), np.int32(10)) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        theory.local_success_rate(np.float64(2.0))  # type: ignore[arg-type]


# ------------------------------------------------------------------------ M/G/1


def test_mg1_ps_by_hand() -> None:
    # λ = 20/s, S = 10 ms: ρ = 0.2, W = S / (1 - ρ) = 0.01 / 0.8 = 12.5 ms
    assert theory.mg1_ps_mean_response(20, 0.01) == pytest.approx(0.0125)
    # ρ = 0.5, S = 1: W = 2; ρ = 0.9: W = 10 S
    assert theory.mg1_ps_mean_response(0.5, 1.0) == pytest.approx(2.0)
    assert theory.mg1_ps_mean_response(9, 0.1) == pytest.approx(1.0)
    # the unit is the service time's: the same queue in ms
    assert theory.mg1_ps_mean_response(0.02, 10.0) == pytest.approx(12.5)
    # no arrivals: a job is alone, W = S
    assert theory.mg1_ps_mean_response(0, 0.01) == pytest.approx(0.01)


def test_mg1_fcfs_by_hand() -> None:
    # λ = 20/s, S = 10 ms, ρ = 0.2: W = S + λ S² (1 + scv) / (2 (1 - ρ))
    # constant (M/D/1): 0.01 + 20 x 0.0001 / 1.6 = 11.25 ms
    assert theory.mg1_fcfs_mean_response(20, 0.01, 0.0) == pytest.approx(0.01125)
    # exponential: 0.01 + 20 x 0.0002 / 1.6 = 12.5 ms, the M/M/1 response 1 / (100 - 20)
    assert theory.mg1_fcfs_mean_response(20, 0.01, 1.0) == pytest.approx(0.0125)
    assert theory.mg1_fcfs_mean_response(20, 0.01, 1.0) == pytest.approx(
        theory.mm1_mean_response(20, 100)
    )
    # ρ = 0.5, S = 1: 1 + 0.5 (1 + scv) / 1
    assert theory.mg1_fcfs_mean_response(0.5, 1.0, 0.0) == pytest.approx(1.5)
    assert theory.mg1_fcfs_mean_response(0.5, 1.0, 3.0) == pytest.approx(3.0)
    assert theory.mg1_fcfs_mean_response(0, 0.01, 5.0) == pytest.approx(0.01)


@pytest.mark.parametrize(("lam", "mu"), [(1, 4), (20, 100), (7.5, 10), (0.099, 0.1)])
def test_mg1_exponential_service_is_the_mm1_both_ways(lam: float, mu: float) -> None:
    # PS with exponential service has the M/M/1 mean (PS is insensitive, so any service
    # of that mean does), and so has FCFS with scv = 1
    mm1 = theory.mm1_mean_response(lam, mu)
    assert theory.mg1_ps_mean_response(lam, 1 / mu) == pytest.approx(mm1)
    assert theory.mg1_fcfs_mean_response(lam, 1 / mu, 1.0) == pytest.approx(mm1)


def test_mg1_fcfs_against_ps_by_variability() -> None:
    # FCFS beats PS for service less variable than exponential, loses for more variable
    ps = theory.mg1_ps_mean_response(60, 0.01)
    assert theory.mg1_fcfs_mean_response(60, 0.01, 0.0) < ps
    assert theory.mg1_fcfs_mean_response(60, 0.01, 0.5) < ps
    assert theory.mg1_fcfs_mean_response(60, 0.01, math.expm1(1.0)) > ps  # lognormal σ = 1
    # and FCFS grows linearly in scv
    values = [theory.mg1_fcfs_mean_response(60, 0.01, scv) for scv in (0.0, 1.0, 2.0)]
    assert values[2] - values[1] == pytest.approx(values[1] - values[0])


@pytest.mark.parametrize(
    "call",
    [
        lambda: theory.mg1_ps_mean_response(100, 0.01),  # ρ = 1
        lambda: theory.mg1_ps_mean_response(150, 0.01),
        lambda: theory.mg1_ps_mean_response(20, 0.0),
        lambda: theory.mg1_ps_mean_response(20, -0.01),
        lambda: theory.mg1_ps_mean_response(-1, 0.01),
        lambda: theory.mg1_ps_mean_response(20, math.nan),
        lambda: theory.mg1_fcfs_mean_response(100, 0.01, 0.0),  # ρ = 1
        lambda: theory.mg1_fcfs_mean_response(120, 0.01, 1.0),
        lambda: theory.mg1_fcfs_mean_response(20, 0.0, 1.0),
        lambda: theory.mg1_fcfs_mean_response(20, 0.01, -0.5),
        lambda: theory.mg1_fcfs_mean_response(20, 0.01, math.inf),
        lambda: theory.mg1_fcfs_mean_response(math.inf, 0.01, 1.0),
    ],
)
def test_mg1_rejects_invalid_input(call: Callable[[], float]) -> None:
    with pytest.raises(ValueError):
        call()
