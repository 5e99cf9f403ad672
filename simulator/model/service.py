"""What a worker does for one job: a chain of event callbacks, no process.

A job (a request's current step: the request itself, a login, a refresh or a retry) is
served in this order, each step run when the simulated time of the one before has
passed (see :class:`Service`):

1. the per-job ``cluster.overhead_ms`` and, for a login, the password hash first (a
   session is stored only for a good password);
2. the strategy's store round trips (:meth:`simulator.model.store.SessionStore.round_trip`);
3. its check (or login, or refresh), then the business work.

With fewer ``cluster.cpu_cores`` than workers, the CPU work among these runs on the
server's shared cores (:mod:`simulator.model.cpu`); otherwise each worker has a core.
A crash takes the job from its worker (:attr:`simulator.model.cluster.Server.held`):
every step checks that first, and stops there.

**A check known when its read is sent.** In a run without events, a strategy whose
check reads only what a login of the user writes (``check_known_at_send``) and a store
whose answers come in the order they were sent (:meth:`SessionStore.answers_in_order`)
need no event for the read's answer: the store's queue gives its time when it is sent
(Lindley's recursion), and a login's write on the same key, sent later, is queued behind
it. The check then runs when the read is sent, as of the answer's time, and the job's
work is scheduled from that time: one event fewer per request, the same numbers. A check
is not settled early while a login of the same user has a write on its way (that write
lands first). The one difference: the job's end counts as scheduled when the read was
sent, so an event scheduled meanwhile for that very floating-point instant would run
after it, not before (arrival times are continuous draws, so no such pair occurs in
practice; the tests compare every request and time series with and without).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial  # (a lambda would keep its variables in cells, made on every call)

from simulator import outcomes
from simulator.model.cluster import Server
from simulator.model.cpu import SharedCpus
from simulator.model.environment import StreamEnvironment
from simulator.model.recorder import Recorder
from simulator.model.request import (
    ACCEPTED,
    LOGGED_IN,
    LOGIN,
    REFRESH,
    REJECTED,
    RENEWED,
    REQUEST,
    RETRY,
    Request,
)
from simulator.model.rng import DrawBuffer
from simulator.model.store import SessionStore
from simulator.model.strategies import Strategy

VALID = outcomes.VALID
_CHECKS = frozenset({REQUEST, RETRY})  # phases that present a credential


class Service:
    """The work of a strategy run's workers (the servers' :data:`~simulator.model.cluster.Handler`).

    Args:
        env: the run's SimPy environment.
        recorder: where exposures (a revoked credential accepted) are noted.
        login_s: password hashing of a login, seconds.
        overheads_s: draws of the per-job overhead, seconds (``None``: none).
        cpus: the servers' shared cores (``None``: a core per worker).
        warmup_s: start of the measured window, seconds.
        end_s: end of the measured window, seconds.
        network_mbps: bandwidth that carries each request's credential (``None``: free).
    """

    def __init__(
        self,
        env: StreamEnvironment,
        recorder: Recorder,
        login_s: float,
        overheads_s: DrawBuffer | None,
        cpus: SharedCpus | None,
        warmup_s: float,
        end_s: float,
        network_mbps: float | None,
    ) -> None:
        self.env = env
        self.recorder = recorder
        self._login_s = login_s
        self._overheads_s = overheads_s
        self._cpus = cpus
        self._warmup_s = warmup_s
        self._end_s = end_s
        self._network_mbps = network_mbps
        self._transfer_s = 0.0
        self._check_trips = self._login_trips = self._refresh_trips = 0
        self._known_at_send = False  # see attach
        self._writing: dict[int, int] = {}  # user -> logins' store writes on their way
        self._call_later = env.call_later
        self._call_at = env.call_at
        self._worked_call = self._worked  # one bound method for every job
        self._replied_call = self._replied
        self._revoked_at = recorder.revoked_at

    def attach(
        self,
        strategy: Strategy,
        store: SessionStore,
        servers: list[Server],
        without_events: bool = False,
    ) -> None:
        """The strategy whose jobs are served, the store it talks to and the servers
        (the fleet's list, which grows with scale-outs), built by the fleet after the
        servers were given this service. ``without_events``: the run has no events
        (checks may then be known when their read is sent; see the module)."""
        self.strategy = strategy
        self._strategy_check = strategy.check
        self.store = store
        self._round_trip = store.round_trip
        self._answer_at = store.answer_at
        workers = max((server.workers for server in servers), default=1)
        self._known_at_send = (
            without_events
            and strategy.check_known_at_send
            and strategy.check_round_trips == 1
            and self._overheads_s is None
            and self._cpus is None
            and store.answers_in_order(workers)
        )
        self._servers = servers
        bandwidth = self._network_mbps
        self._transfer_s = strategy.credential_bytes * 8 / (bandwidth * 1e6) if bandwidth else 0.0
        # store round trips per kind of job (fixed when the strategy is built)
        self._check_trips = strategy.check_round_trips
        self._login_trips = strategy.login_round_trips
        self._refresh_trips = strategy.refresh_round_trips

    def serve(self, server: Server, request: Request, slot: int) -> int | None:
        """A worker (``slot``) of ``server`` starts the request's current job.

        The job is a chain of steps, each run when the simulated time of the one before
        has passed: the per-job overhead (and, for a login, the password hash), the
        strategy's store round trips, its check (or login, or refresh), then the work.
        Returns a :class:`Handled` or an error outcome when the job took no time,
        else ``None`` (the last step reports it to the server).
        """
        request.slot = slot
        request.started_s = self.env.now
        phase = request.phase
        if phase == LOGIN:
            trips = self._login_trips
            first_s = self._login_s  # the password, before storing a session
        else:
            trips = self._refresh_trips if phase == REFRESH else self._check_trips
            first_s = 0.0
        if self._overheads_s is not None:
            first_s += self._overheads_s.next()
        if first_s:
            request.trips = trips
            cpus = self._cpus
            if cpus is None:
                self._call_later(first_s, self._resume, request)
            else:
                cpus.run(server, first_s).callbacks.append(partial(self._resume_after, request))
            return None
        if trips:
            user = request.user
            if self._known_at_send and phase in _CHECKS and user not in self._writing:
                answer_s = self._answer_at(user)
                if answer_s is not None:  # the check, as of the read's answer
                    request.trips = 0
                    request.answer_s = answer_s
                    return self._check(server, request, slot, None, answer_s)
            # the first round trip (_ask_store's, without its call: the common case)
            request.trips = trips - 1
            write = phase == LOGIN  # a login stores its session
            if write:
                self._note_write(user)
            self._round_trip(server.index, user, write, self._replied_call, request)
            return None
        request.trips = 0
        return self._check(server, request, slot, None, self.env.now)

    @property
    def checks_known_at_send(self) -> bool:
        """Whether checks are settled when their read is sent (see the module)."""
        return self._known_at_send

    def _note_write(self, user: int) -> None:
        """A login of ``user`` sends a store round trip (its write comes after the last)."""
        if self._known_at_send:
            self._writing[user] = self._writing.get(user, 0) + 1

    def _note_written(self, user: int) -> None:
        """A login's store round trip came back (or failed)."""
        if not self._known_at_send:
            return
        writing = self._writing
        if writing[user] == 1:
            del writing[user]
        else:
            writing[user] -= 1

    def stopped(self, requests: Iterable[Request]) -> None:
        """The run stopped with ``requests`` in flight: a read settled when it was sent
        whose answer was not back yet was not answered."""
        now = self.env.now
        for request in requests:
            if request.answer_s > now:
                self.store.forget_answer(request.started_s, request.answer_s)

    def _resume_after(self, request: Request, _: object) -> None:
        """:meth:`_resume`, as the callback of the event of the job's overhead."""
        self._resume(request)

    def _resume(self, request: Request) -> None:
        """The job's overhead is done: go on with its store round trips and check."""
        server = self._servers[request.server]
        slot = request.slot
        if server.held[slot] is request:
            result = self._ask_store(server, request, slot)
            if result is not None:
                server.finish(slot, request, result)

    def _ask_store(self, server: Server, request: Request, slot: int) -> int | None:
        """The next store round trip of the job, or, when none is left, its check."""
        if not request.trips:
            return self._check(server, request, slot, None, self.env.now)
        request.trips -= 1
        write = request.phase == LOGIN
        if write:
            self._note_write(request.user)
        self._round_trip(server.index, request.user, write, self._replied_call, request)
        return None

    def _replied(self, request: Request, answered: bool) -> None:
        """The store answered the job's round trip (or failed to)."""
        if request.phase == LOGIN:
            self._note_written(request.user)  # (its write, if any, is made now, in _check)
        server = self._servers[request.server]
        slot = request.slot
        if server.held[slot] is not request:
            return
        result: int | None
        if answered:  # the next trip, or (most often, and without a call) the check
            if request.trips:
                result = self._ask_store(server, request, slot)
            else:
                result = self._check(server, request, slot, None, self.env.now)
        elif request.phase == REFRESH:  # no refresh without the store: a password login
            request.cause = outcomes.REFRESH_FAILED
            self._charge(server, request.started_s)
            result = REJECTED
        else:
            without = self.strategy.without_store(
                server, request.user, self.env.now, request.phase == LOGIN
            )
            if without is None:
                self._charge(server, request.started_s)
                result = outcomes.STORE_UNAVAILABLE
            else:
                result = self._check(server, request, slot, without, self.env.now)
        if result is not None:
            server.finish(slot, request, result)

    def _check(
        self,
        server: Server,
        request: Request,
        slot: int,
        without: tuple[int, float] | None,
        now: float,
    ) -> int | None:
        """The strategy checks the credential (or logs in, or refreshes), then the work.

        ``without``: what serving it without the store gave (the store is down).
        ``now``: when the check happens, seconds: now, or later for a check settled
        when its read was sent (its work is then scheduled from that time).
        """
        phase = request.phase
        transfer_s = business_s = 0.0
        rejected_for = VALID
        if phase in _CHECKS:
            verdict, cpu_s = without or self._strategy_check(server, request.user, now)
            transfer_s = self._transfer_s
            if verdict == VALID:
                business_s = request.service_s
                result = ACCEPTED
                if self._revoked_at:
                    self._note_exposure(request.user, now)
            else:
                if phase == REQUEST:
                    rejected_for = verdict
                result = REJECTED
        elif phase == LOGIN:
            cpu_s = without[1] if without else self.strategy.issue(server, request.user, now)
            result = LOGGED_IN
        else:  # a refresh
            verdict, cpu_s = without or self.strategy.renew(server, request.user, now)
            if verdict == VALID:
                result = RENEWED
            else:
                rejected_for = verdict  # the refresh failed: a login is forced
                result = REJECTED
        request.result = result
        request.rejected_for = rejected_for
        cpus = self._cpus
        if cpus is None:
            work_s = cpu_s + transfer_s + business_s  # summed in this order, as ever
            if work_s > 0 or now > self.env.now:
                self._call_at(now + work_s, self._worked_call, request)
                return None
        elif cpus.work(server, cpu_s, transfer_s, business_s, partial(self._worked, request)):
            return None
        return self._answer(server, request)

    def _note_exposure(self, user: int, now_s: float) -> None:
        """A credential was accepted: note an exposure if it was revoked before it was
        issued (a revoked credential still works)."""
        revoked_s = self._revoked_at.get(user)
        if revoked_s is not None and self.strategy.issued_at(user) < revoked_s:
            self.recorder.exposed(user, now_s)

    def _worked(self, request: Request) -> None:
        """The job's work is done: the worker answers (unless a crash took the job)."""
        server = self._servers[request.server]
        slot = request.slot
        if server.held[slot] is request:
            server.finish(slot, request, self._answer(server, request))

    def _answer(self, server: Server, request: Request) -> int:
        """The job's answer, once its work is done; counts the worker's time.

        The client learns of a rejection only from the answer: a server that dies while
        it works on one (a crash, a hard restart) logs nobody out.
        """
        if request.rejected_for != VALID:
            request.cause = request.rejected_for
        now = self.env.now
        started_s = request.started_s
        if started_s >= self._warmup_s and now <= self._end_s:
            server.busy_s += now - started_s
        else:
            self._charge(server, started_s)
        return request.result

    def _charge(self, server: Server, started_s: float) -> None:
        """Count a worker's time on one job (store waits included) in the server's load,
        clipped to the measured window."""
        now = self.env.now
        if started_s >= self._warmup_s and now <= self._end_s:
            server.busy_s += now - started_s
        else:  # the job straddles an edge of the measured window
            busy_s = min(now, self._end_s) - max(started_s, self._warmup_s)
            if busy_s > 0:
                server.busy_s += busy_s
