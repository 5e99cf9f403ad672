"""Servers driven directly in a SimPy environment (simulator.model.cluster)."""

from __future__ import annotations

import pytest
import simpy

from simulator import outcomes
from simulator.model.cluster import Server


def timed(env: simpy.Environment, work_s, result):
    """A handler (the callback protocol of :data:`simulator.model.cluster.Handler`) that
    works ``work_s(job)`` seconds and then answers ``result(job)``."""

    def handler(server: Server, job, slot: int):
        def done(_):
            if server.holds(slot, job):
                server.finish(slot, job, result(job))

        env.timeout(work_s(job)).callbacks.append(done)

    return handler


class Recorder:
    """A handler that works ``job[1]`` seconds and returns ``job[2]``, and an on_done."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.started: list[tuple[str, float]] = []
        self.done: list[tuple[int, object, int, float]] = []

    def handler(self, server: Server, job, slot: int):
        self.started.append((job[0], self.env.now))
        return timed(self.env, lambda job: job[1], lambda job: job[2])(server, job, slot)

    def on_done(self, server: Server, job, result: int) -> None:
        self.done.append((server.index, job, result, self.env.now))


def make_server(workers: int = 2, queue_limit: int = 1, index: int = 0):
    env = simpy.Environment()
    recorder = Recorder(env)
    server = Server(env, index, workers, queue_limit, recorder.handler, recorder.on_done)
    return env, server, recorder


def submit_at(env, server, at, jobs, refusals, measuring=True):
    """A process submitting ``jobs`` at time ``at``; records each ``submit`` answer."""

    def process():
        yield env.timeout(at)
        for job in jobs:
            refusals.append(server.submit(job, 0 if measuring else -1))

    env.process(process())


def test_jobs_up_to_workers_start_at_once():
    env, server, recorder = make_server(workers=2, queue_limit=5)
    refusals: list[int | None] = []
    submit_at(env, server, 0.0, [("a", 1.0, 1), ("b", 2.0, 2)], refusals)
    env.run()
    assert refusals == [None, None]
    assert sorted(recorder.started) == [("a", 0.0), ("b", 0.0)]
    assert [(job[0], at) for _, job, _, at in recorder.done] == [("a", 1.0), ("b", 2.0)]


def test_jobs_beyond_workers_wait_in_the_queue_fifo():
    env, server, recorder = make_server(workers=1, queue_limit=5)
    refusals: list[int | None] = []
    submit_at(env, server, 0.0, [("a", 1.0, 1), ("b", 2.0, 2), ("c", 0.5, 3)], refusals)
    env.run(until=0.1)
    assert refusals == [None, None, None]
    assert len(server.queue) == 2
    assert server.in_system == 3
    env.run()
    assert recorder.started == [("a", 0.0), ("b", 1.0), ("c", 3.0)]
    assert [at for *_, at in recorder.done] == [1.0, 3.0, 3.5]


def test_jobs_beyond_the_queue_limit_are_refused_with_overload():
    env, server, recorder = make_server(workers=2, queue_limit=1)
    refusals: list[int | None] = []
    jobs = [("a", 1.0, 1), ("b", 1.0, 2), ("c", 1.0, 3), ("d", 1.0, 4), ("e", 1.0, 5)]
    submit_at(env, server, 0.0, jobs, refusals)
    env.run(until=0.5)
    assert refusals == [None, None, None, outcomes.OVERLOAD, outcomes.OVERLOAD]
    assert server.in_system == 3
    assert server.jobs == 3
    env.run()
    assert sorted(job[0] for _, job, _, _ in recorder.done) == ["a", "b", "c"]
    assert server.in_system == 0


def test_queue_limit_zero_accepts_only_idle_workers():
    env, server, _ = make_server(workers=1, queue_limit=0)
    refusals: list[int | None] = []
    submit_at(env, server, 0.0, [("a", 1.0, 1), ("b", 1.0, 2)], refusals)
    submit_at(env, server, 1.5, [("c", 1.0, 3)], refusals)
    env.run()
    assert refusals == [None, outcomes.OVERLOAD, None]


def test_queue_frees_up_as_jobs_finish():
    env, server, _ = make_server(workers=1, queue_limit=1)
    refusals: list[int | None] = []
    submit_at(env, server, 0.0, [("a", 1.0, 1), ("b", 1.0, 2), ("c", 1.0, 3)], refusals)
    submit_at(env, server, 1.5, [("d", 1.0, 4), ("e", 1.0, 5)], refusals)
    env.run()
    assert refusals == [None, None, outcomes.OVERLOAD, None, outcomes.OVERLOAD]


def test_server_that_is_down_refuses_with_server_down():
    env, server, recorder = make_server()
    server.up = False
    refusals: list[int | None] = []
    submit_at(env, server, 0.0, [("a", 1.0, 1)], refusals)
    env.run()
    assert refusals == [outcomes.SERVER_DOWN]
    assert server.in_system == 0
    assert server.jobs == 0
    assert recorder.started == []
    assert recorder.done == []


def test_server_back_up_accepts_again():
    env, server, recorder = make_server()
    refusals: list[int | None] = []
    server.up = False
    submit_at(env, server, 0.0, [("a", 1.0, 1)], refusals)
    env.run(until=0.5)
    server.up = True
    submit_at(env, server, 1.0, [("b", 1.0, 2)], refusals)
    env.run()
    assert refusals == [outcomes.SERVER_DOWN, None]
    assert [job[0] for _, job, _, _ in recorder.done] == ["b"]


def test_in_system_counts_waiting_and_running_jobs():
    env, server, _ = make_server(workers=2, queue_limit=10)
    refusals: list[int | None] = []
    submit_at(env, server, 0.0, [(f"j{i}", 1.0, i) for i in range(5)], refusals)
    samples: list[tuple[float, int]] = []

    def sample():
        for at in (0.5, 1.5, 2.5, 3.5):
            yield env.timeout(at - env.now)
            samples.append((env.now, server.in_system))

    env.process(sample())
    env.run()
    # two workers: 5 jobs of 1 s finish 2 at t=1, 2 at t=2, 1 at t=3
    assert samples == [(0.5, 5), (1.5, 3), (2.5, 1), (3.5, 0)]


def test_jobs_counts_only_measured_submissions():
    env, server, _ = make_server(workers=1, queue_limit=10)
    refusals: list[int | None] = []
    submit_at(env, server, 0.0, [("a", 0.1, 1), ("b", 0.1, 2)], refusals, measuring=False)
    submit_at(env, server, 0.0, [("c", 0.1, 3)], refusals, measuring=True)
    env.run()
    assert refusals == [None, None, None]
    assert server.jobs == 1
    assert server.in_system == 0


def test_refused_jobs_are_not_counted():
    env, server, _ = make_server(workers=1, queue_limit=0)
    refusals: list[int | None] = []
    submit_at(env, server, 0.0, [("a", 1.0, 1), ("b", 1.0, 2), ("c", 1.0, 3)], refusals)
    env.run()
    assert refusals.count(outcomes.OVERLOAD) == 2
    assert server.jobs == 1


def test_on_done_receives_the_server_job_and_handler_result():
    env, server, recorder = make_server(workers=3, queue_limit=0, index=4)
    refusals: list[int | None] = []
    jobs = [("a", 0.3, 17), ("b", 0.1, outcomes.TIMEOUT), ("c", 0.2, 0)]
    submit_at(env, server, 0.0, jobs, refusals)
    env.run()
    assert recorder.done == [
        (4, ("b", 0.1, outcomes.TIMEOUT), outcomes.TIMEOUT, pytest.approx(0.1)),
        (4, ("c", 0.2, 0), 0, pytest.approx(0.2)),
        (4, ("a", 0.3, 17), 17, pytest.approx(0.3)),
    ]


def test_on_done_sees_the_job_already_out_of_the_system():
    env = simpy.Environment()
    seen: list[int] = []

    handler = timed(env, lambda job: 1.0, lambda job: 0)

    def on_done(server, job, result):
        seen.append(server.in_system)

    server = Server(env, 0, 1, 5, handler, on_done)
    refusals: list[int | None] = []
    submit_at(env, server, 0.0, ["a", "b"], refusals)
    env.run()
    assert seen == [1, 0]


def test_on_done_may_resubmit_to_the_same_server():
    # The model sends a login's follow-up request (and a forced re-login's retry) from
    # on_done. The worker that has just finished is free, nothing waits, in_system is 0:
    # the follow-up must be accepted, not refused with overload.
    env = simpy.Environment()
    finished: list[tuple[str, float]] = []

    handler = timed(env, lambda job: 1.0, lambda job: 1 if job == "login" else 2)

    def on_done(server, job, result):
        finished.append((job, env.now))
        if result == 1:
            assert server.submit("retry", 0) is None

    server = Server(env, 0, 1, 0, handler, on_done)
    refusals: list[int | None] = []
    submit_at(env, server, 0.0, ["login"], refusals)
    env.run()
    assert finished == [("login", 1.0), ("retry", 2.0)]
    assert server.jobs == 2


def test_new_server_state():
    _, server, _ = make_server(workers=3, queue_limit=7, index=2)
    assert server.index == 2
    assert server.workers == 3
    assert server.queue_limit == 7
    assert server.up is True
    assert server.sessions == {}
    assert server.in_system == 0
    assert server.jobs == 0
    assert server.busy_s == 0.0


# ------------------------------------------------------------- when a job starts


def started_server(env: simpy.Environment, started: list[str]) -> Server:
    def handler(server: Server, job, slot: int):
        started.append(job)
        return 0  # done at once

    return Server(env, 0, 1, 5, handler, lambda server, job, result: None)


def test_a_job_for_an_idle_worker_starts_after_what_is_due_now() -> None:
    # as a waiting worker process would: the caller's own next steps come first
    env = simpy.Environment()
    started: list[str] = []
    server = started_server(env, started)
    assert server.submit("a", 0) is None
    assert started == []
    env.run()
    assert started == ["a"]


def test_a_job_starts_at_once_when_nothing_else_happens_at_this_instant() -> None:
    env = simpy.Environment()
    started: list[str] = []
    server = started_server(env, started)
    assert server.submit("a", 0, last=True) is None
    assert started == ["a"]


def test_a_job_waits_for_an_event_due_at_the_same_instant() -> None:
    env = simpy.Environment()
    started: list[str] = []
    server = started_server(env, started)
    env.timeout(0).callbacks.append(lambda _: started.append("event"))
    assert server.submit("a", 0, last=True) is None
    env.run()
    assert started == ["event", "a"]


def test_a_crash_before_the_start_fails_the_job_and_it_never_starts() -> None:
    env = simpy.Environment()
    started: list[str] = []
    server = started_server(env, started)
    assert server.submit("a", 0) is None
    assert server.crash() == ["a"]
    env.run()
    assert started == []
    assert server.in_system == 0


def test_jobs_are_the_measured_jobs_summed_over_their_buckets():
    # a job outside the measured window (bucket -1) is served but not counted; jobs is
    # read off the per-bucket counts, so the two can never disagree
    env, server, _ = make_server(workers=1, queue_limit=10)
    for bucket in (-1, 0, 2, 2, -1, 5):
        assert server.submit(("job", 0.1, 0), bucket) is None
    env.run()
    assert server.bucket_jobs[:6] == [1, 0, 2, 0, 0, 1]
    assert server.jobs == 4
