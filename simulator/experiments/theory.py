"""Closed-form results the simulator can be checked against.

Everything here is a pure function of a few numbers: no simulation, no randomness. The
queueing formulas take rates and times in any one consistent unit (rates per second and
times in seconds, or per millisecond and milliseconds); each docstring names the
quantities. :mod:`simulator.experiments.validation` runs the model where these formulas apply and
compares.

References:
    - L. Kleinrock, *Queueing Systems, Volume 1: Theory*, Wiley, 1975 (M/M/1: section
      3.2; M/M/c and the Erlang B and C formulas: sections 3.5 and 3.6).
    - M. Harchol-Balter, *Performance Modeling and Design of Computer Systems: Queueing
      Theory in Action*, Cambridge University Press, 2013 (Little's law: chapter 6;
      M/M/1: chapter 13; M/M/k and Erlang C: chapter 14).
    - L. Kleinrock, *Queueing Systems, Volume 2: Computer Applications*, Wiley, 1976
      (processor sharing: chapter 4); Harchol-Balter (2013), chapter 22 (processor
      sharing) and chapter 23 (M/G/1, the Pollaczek-Khinchine formula).
    - J. D. C. Little, "A proof for the queuing formula: L = λW", *Operations Research*
      9(3):383-387, 1961.
    - D. Karger, E. Lehman, T. Leighton, R. Panigrahy, M. Levine and D. Lewin,
      "Consistent hashing and random trees", *STOC 1997* (consistent hashing).
    - R. Jain, D.-M. Chiu and W. Hawe, "A quantitative measure of fairness and
      discrimination for resource allocation in shared computer systems", DEC
      technical report TR-301, 1984 (the fairness index).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

__all__ = [
    "consistent_hash_remap_fraction",
    "erlang_b",
    "erlang_c",
    "jain_index",
    "littles_arrival_rate",
    "littles_number",
    "littles_time",
    "local_served_fraction",
    "local_success_rate",
    "mg1_fcfs_mean_response",
    "mg1_ps_mean_response",
    "mm1_mean_number",
    "mm1_mean_queue_length",
    "mm1_mean_response",
    "mm1_mean_wait",
    "mm1_utilisation",
    "mmc_mean_number",
    "mmc_mean_response",
    "mmc_mean_wait",
    "mmc_utilisation",
    "modulo_remap_fraction",
]


# ------------------------------------------------------------------ input checks


def _positive(name: str, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0 (got {value!r})")
    return float(value)


def _non_negative(name: str, value: float) -> float:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0 (got {value!r})")
    return float(value)


def _whole(name: str, value: int, minimum: int = 1) -> int:
    # operator.index accepts every integer type (numpy's included) and refuses floats.
    try:
        whole = operator.index(value)
    except TypeError:
        whole = None
    if isinstance(value, bool) or whole is None or whole < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} (got {value!r})")
    return whole


def _stable_rho(arrival_rate: float, service_rate: float, servers: int = 1) -> float:
    """``λ / (c μ)`` after checking the inputs; raises when the queue is unstable."""
    lam = _non_negative("arrival_rate", arrival_rate)
    mu = _positive("service_rate", service_rate)
    rho = lam / (servers * mu)
    if rho >= 1:
        raise ValueError(
            f"unstable queue: utilisation rho = arrival_rate / (servers * service_rate) = "
            f"{rho:.4g} must be < 1 (the queue grows without bound)"
        )
    return rho


# ------------------------------------------------------------------------ M/M/1


def mm1_utilisation(arrival_rate: float, service_rate: float) -> float:
    """Utilisation ``ρ = λ/μ`` of an M/M/1 queue: the fraction of time its server is busy.

    Args:
        arrival_rate: Poisson arrival rate λ (jobs per unit time).
        service_rate: service rate μ (jobs per unit time; 1 / mean service time).

    Returns:
        ρ, dimensionless, in [0, 1).

    Raises:
        ValueError: a rate is negative, zero (μ) or not finite, or ρ >= 1.

    References:
        Kleinrock (1975), eq. 3.6; Harchol-Balter (2013), section 13.1.
    """
    return _stable_rho(arrival_rate, service_rate)


def mm1_mean_number(arrival_rate: float, service_rate: float) -> float:
    """Mean number of jobs in an M/M/1 system (waiting and in service), ``ρ / (1 - ρ)``.

    Args:
        arrival_rate: λ, jobs per unit time.
        service_rate: μ, jobs per unit time.

    Returns:
        L, jobs (dimensionless).

    Raises:
        ValueError: invalid rates or ρ >= 1.

    References:
        Kleinrock (1975), eq. 3.24; Harchol-Balter (2013), section 13.2.
    """
    rho = _stable_rho(arrival_rate, service_rate)
    return rho / (1.0 - rho)


def mm1_mean_queue_length(arrival_rate: float, service_rate: float) -> float:
    """Mean number of jobs *waiting* in an M/M/1 queue, ``ρ² / (1 - ρ)``.

    Args:
        arrival_rate: λ, jobs per unit time.
        service_rate: μ, jobs per unit time.

    Returns:
        Lq, jobs.

    Raises:
        ValueError: invalid rates or ρ >= 1.

    References:
        Kleinrock (1975), section 3.2; Harchol-Balter (2013), section 13.2.
    """
    rho = _stable_rho(arrival_rate, service_rate)
    return rho * rho / (1.0 - rho)


def mm1_mean_wait(arrival_rate: float, service_rate: float) -> float:
    """Mean time a job waits in an M/M/1 queue before service, ``ρ / (μ - λ)``.

    Args:
        arrival_rate: λ, jobs per unit time.
        service_rate: μ, jobs per unit time.

    Returns:
        Wq, in the time unit of the rates (seconds for rates per second).

    Raises:
        ValueError: invalid rates or ρ >= 1.

    References:
        Kleinrock (1975), eq. 3.26; Harchol-Balter (2013), section 13.2.
    """
    rho = _stable_rho(arrival_rate, service_rate)
    return rho / (service_rate - arrival_rate)


def mm1_mean_response(arrival_rate: float, service_rate: float) -> float:
    """Mean response (sojourn) time of an M/M/1 queue, ``1 / (μ - λ)``: wait plus service.

    Args:
        arrival_rate: λ, jobs per unit time.
        service_rate: μ, jobs per unit time.

    Returns:
        W, in the time unit of the rates.

    Raises:
        ValueError: invalid rates or ρ >= 1.

    References:
        Kleinrock (1975), eq. 3.25; Harchol-Balter (2013), section 13.2.
    """
    _stable_rho(arrival_rate, service_rate)
    return 1.0 / (service_rate - arrival_rate)


# ------------------------------------------------------------------------ M/G/1


def mg1_ps_mean_response(arrival_rate: float, mean_service: float) -> float:
    """Mean response time of an M/G/1 processor-sharing queue, ``S / (1 - ρ)``, ρ = λS.

    Insensitive: the same for every service distribution of mean ``S`` (with n jobs
    present each is served at rate 1/n). In the unit of ``mean_service``.

    Raises:
        ValueError: invalid inputs or ρ >= 1.

    References:
        Kleinrock (1976), chapter 4; Harchol-Balter (2013), chapter 22.
    """
    _stable_rho(arrival_rate, 1.0 / _positive("mean_service", mean_service))
    return mean_service / (1.0 - arrival_rate * mean_service)


def mg1_fcfs_mean_response(arrival_rate: float, mean_service: float, scv: float) -> float:
    """Mean response time of an M/G/1 first-come-first-served queue (Pollaczek-Khinchine):
    ``S + λ E[S²] / (2 (1 - ρ))`` with ``E[S²] = S² (1 + scv)``.

    Args:
        scv: squared coefficient of variation of the service time (0: constant, 1:
            exponential, ``exp(σ²) - 1``: lognormal of log-space deviation σ).

    References:
        Kleinrock (1975), chapter 5; Harchol-Balter (2013), chapter 23.
    """
    rho = _stable_rho(arrival_rate, 1.0 / _positive("mean_service", mean_service))
    second_moment = mean_service**2 * (1.0 + _non_negative("scv", scv))
    return mean_service + arrival_rate * second_moment / (2.0 * (1.0 - rho))


# ------------------------------------------------------------------------ M/M/c


def erlang_b(servers: int, offered_load: float) -> float:
    """Erlang B: the probability that all ``c`` servers are busy in an M/M/c/c loss system.

    Computed with the recursion ``B(0) = 1``, ``B(k) = a B(k-1) / (k + a B(k-1))``, which
    is numerically stable for any ``c`` (no factorials, no powers).

    Args:
        servers: c, the number of servers (>= 1).
        offered_load: a = λ/μ, in Erlangs (>= 0; any value, the loss system is always
            stable).

    Returns:
        B(c, a), in [0, 1).

    Raises:
        ValueError: c < 1 or a negative or not finite.

    References:
        Kleinrock (1975), eq. 3.46; Harchol-Balter (2013), section 14.4.
    """
    c = _whole("servers", servers)
    a = _non_negative("offered_load", offered_load)
    blocking = 1.0
    for k in range(1, c + 1):
        blocking = a * blocking / (k + a * blocking)
    return blocking


def erlang_c(servers: int, offered_load: float) -> float:
    """Erlang C: the probability that an arrival to an M/M/c queue has to wait.

    Derived from Erlang B as ``C = c B / (c - a (1 - B))``, which keeps the stability of
    the Erlang B recursion. With ``c = 1`` it equals ρ (an M/M/1 arrival waits when the
    server is busy).

    Args:
        servers: c, the number of servers (>= 1).
        offered_load: a = λ/μ in Erlangs, with 0 <= a < c (per-server utilisation
            ρ = a/c < 1).

    Returns:
        C(c, a), in [0, 1).

    Raises:
        ValueError: c < 1, a negative, or a >= c (unstable).

    References:
        Kleinrock (1975), eq. 3.40; Harchol-Balter (2013), section 14.3.
    """
    c = _whole("servers", servers)
    a = _non_negative("offered_load", offered_load)
    if a >= c:
        raise ValueError(
            f"unstable queue: offered load a = {a:.4g} Erlangs must be < servers c = {c} "
            f"(utilisation rho = a/c = {a / c:.4g} must be < 1)"
        )
    blocking = erlang_b(c, a)
    return c * blocking / (c - a * (1.0 - blocking))


def mmc_utilisation(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Per-server utilisation ``ρ = λ / (c μ)`` of an M/M/c queue.

    Args:
        arrival_rate: λ, jobs per unit time.
        service_rate: μ of one server, jobs per unit time.
        servers: c.

    Returns:
        ρ, in [0, 1).

    Raises:
        ValueError: invalid inputs or ρ >= 1.

    References:
        Kleinrock (1975), section 3.5; Harchol-Balter (2013), section 14.3.
    """
    return _stable_rho(arrival_rate, service_rate, _whole("servers", servers))


def mmc_mean_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean time a job waits for a server in an M/M/c queue, ``C(c, a) / (c μ - λ)``.

    Args:
        arrival_rate: λ, jobs per unit time.
        service_rate: μ of one server, jobs per unit time.
        servers: c.

    Returns:
        Wq, in the time unit of the rates.

    Raises:
        ValueError: invalid inputs or ρ >= 1.

    References:
        Kleinrock (1975), eq. 3.43; Harchol-Balter (2013), section 14.3.
    """
    c = _whole("servers", servers)
    _stable_rho(arrival_rate, service_rate, c)
    return erlang_c(c, arrival_rate / service_rate) / (c * service_rate - arrival_rate)


def mmc_mean_response(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean response time of an M/M/c queue, ``Wq + 1/μ``.

    Args:
        arrival_rate: λ, jobs per unit time.
        service_rate: μ of one server, jobs per unit time.
        servers: c.

    Returns:
        W, in the time unit of the rates.

    Raises:
        ValueError: invalid inputs or ρ >= 1.

    References:
        Kleinrock (1975), section 3.5; Harchol-Balter (2013), section 14.3.
    """
    return mmc_mean_wait(arrival_rate, service_rate, servers) + 1.0 / service_rate


def mmc_mean_number(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean number of jobs in an M/M/c system, ``λ W`` (Little's law).

    Args:
        arrival_rate: λ, jobs per unit time.
        service_rate: μ of one server, jobs per unit time.
        servers: c.

    Returns:
        L, jobs.

    Raises:
        ValueError: invalid inputs or ρ >= 1.

    References:
        Kleinrock (1975), eq. 3.44; Harchol-Balter (2013), section 14.3.
    """
    return arrival_rate * mmc_mean_response(arrival_rate, service_rate, servers)


# ------------------------------------------------------------------ Little's law


def littles_number(arrival_rate: float, mean_time: float) -> float:
    """Little's law solved for L: mean number in a system, ``L = λ W``.

    Holds for any stable system (any arrival process, service discipline or
    distribution), as long-run averages.

    Args:
        arrival_rate: λ, the long-run rate of jobs through the system (per unit time).
        mean_time: W, the mean time a job spends in the system (same time unit).

    Returns:
        L, jobs (time-average number in the system).

    Raises:
        ValueError: a negative or non-finite input.

    References:
        Little (1961); Harchol-Balter (2013), theorem 6.1.
    """
    return _non_negative("arrival_rate", arrival_rate) * _non_negative("mean_time", mean_time)


def littles_time(mean_number: float, arrival_rate: float) -> float:
    """Little's law solved for W: mean time in a system, ``W = L / λ``.

    Args:
        mean_number: L, the time-average number of jobs in the system.
        arrival_rate: λ, jobs per unit time (> 0).

    Returns:
        W, in the reciprocal unit of λ.

    Raises:
        ValueError: L negative, λ not positive, or a non-finite input.

    References:
        Little (1961); Harchol-Balter (2013), theorem 6.1.
    """
    return _non_negative("mean_number", mean_number) / _positive("arrival_rate", arrival_rate)


def littles_arrival_rate(mean_number: float, mean_time: float) -> float:
    """Little's law solved for λ: throughput of a system, ``λ = L / W``.

    Args:
        mean_number: L, the time-average number of jobs in the system.
        mean_time: W, the mean time in the system (> 0).

    Returns:
        λ, jobs per unit time of W.

    Raises:
        ValueError: L negative, W not positive, or a non-finite input.

    References:
        Little (1961); Harchol-Balter (2013), theorem 6.1.
    """
    return _non_negative("mean_number", mean_number) / _positive("mean_time", mean_time)


# ---------------------------------------------------------------------- hashing


def modulo_remap_fraction(before: int, after: int) -> float:
    """Expected fraction of keys that change server when ``hash mod N`` becomes ``mod M``.

    For a hash uniform over the integers, ``h mod N`` and ``h mod M`` repeat with period
    ``lcm(N, M)``. A residue r of that period keeps its server when
    ``r mod N == r mod M == j``; for each ``j < min(N, M)`` exactly one such r exists (by
    the Chinese remainder theorem, ``r ≡ j`` modulo both N and M means ``r ≡ j``
    modulo ``lcm(N, M)``), and none for larger j. So ``min(N, M)`` residues out of
    ``lcm(N, M)`` stay and the rest move::

        remapped = 1 - min(N, M) / lcm(N, M)

    9 → 10 servers: lcm 90, 9 stay, 0.9 move; 5 → 10: 0.5 move; N → 2N: 1/2; N → N: 0.

    Args:
        before: N, servers before the change (>= 1).
        after: M, servers after the change (>= 1).

    Returns:
        The fraction of keys remapped, in [0, 1).

    Raises:
        ValueError: N or M not an integer >= 1.

    References:
        Karger et al. (1997), section 1 (the motivation: modulo hashing moves almost
        every key when the number of caches changes).
    """
    n = _whole("before", before)
    m = _whole("after", after)
    return 1.0 - min(n, m) / math.lcm(n, m)


def consistent_hash_remap_fraction(before: int, after: int) -> float:
    """Expected fraction of keys that move on a consistent-hash ring from N to M servers.

    Growing from N to M > N servers, the keys that move are exactly those the new
    servers now own; with many virtual nodes per server (ring points hashed uniformly)
    every server owns an expected ``1/M`` of the ring, so ``(M - N)/M`` moves. Shrinking,
    only the removed servers' keys move: ``(N - M)/N``. Both are::

        remapped = |M - N| / max(N, M)

    (9 → 10 servers: 0.1.) By symmetry this is the exact expectation over random ring
    placements; one particular ring deviates from it by about ``1/sqrt(V)`` relative
    with V virtual nodes per server.

    Args:
        before: N, servers before the change (>= 1).
        after: M, servers after the change (>= 1).

    Returns:
        The expected fraction of keys remapped, in [0, 1).

    Raises:
        ValueError: N or M not an integer >= 1.

    References:
        Karger et al. (1997), section 4 (the monotonicity and balance properties).
    """
    n = _whole("before", before)
    m = _whole("after", after)
    return abs(m - n) / max(n, m)


# ------------------------------------------------------------- local sessions


def local_success_rate(servers: int) -> float:
    """Expected success rate of ``local`` sessions under uniform random routing: ``1/N``.

    Every user's session lives on exactly one server (the one that handled its latest
    login). A request routed uniformly at random, independently of where that is, finds
    it with probability ``1/N``; a miss forces a re-login, so only that first check
    counts as a success.

    Args:
        servers: N, live servers (>= 1).

    Returns:
        The probability that a request is served with no forced re-login.

    Raises:
        ValueError: N not an integer >= 1.
    """
    return 1.0 / _whole("servers", servers)


def local_served_fraction(servers: int) -> float:
    """Expected fraction of ``local`` requests served at all, ``(2N - 1)/N²``.

    A miss (probability ``1 - 1/N``) forces a login, which stores the session on the
    server that takes it, and one retry, routed independently: it finds the new session
    with probability ``1/N`` (served after a re-login) and is refused otherwise
    (``unauthorized``). Served = ``1/N + (1 - 1/N)/N``; unauthorized = ``(1 - 1/N)²``.

    Args:
        servers: N, live servers (>= 1).

    Returns:
        The probability that a request is served (``ok`` or ``relogin``).

    Raises:
        ValueError: N not an integer >= 1.
    """
    n = _whole("servers", servers)
    return (2 * n - 1) / (n * n)


# --------------------------------------------------------------------- fairness


def jain_index(loads: Sequence[float]) -> float:
    """Jain's fairness index ``(Σx)² / (n Σx²)`` of a load vector.

    1 when every share is equal, ``k/n`` when k of n shares are equal and the rest zero
    (``1/n``: everything on one server).

    Args:
        loads: per-server loads (any unit), each >= 0, at least one positive.

    Returns:
        The index, in [1/n, 1].

    Raises:
        ValueError: an empty vector, a negative or non-finite load, or all zeros.

    References:
        Jain, Chiu and Hawe (1984), section 3.
    """
    values = [_non_negative("load", float(load)) for load in loads]
    if not values:
        raise ValueError("loads must not be empty")
    squares = math.fsum(value * value for value in values)
    if squares == 0:
        raise ValueError("loads must not all be zero (the index is undefined)")
    return math.fsum(values) ** 2 / (len(values) * squares)
