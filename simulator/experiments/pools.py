"""Worker processes that never outlive the command that started them.

A sweep (:mod:`simulator.experiments.sweep`) runs its tasks on a process pool; this module
makes sure every one of its processes is gone when the sweep ends, however it ends: on
a normal end the pool joins its workers; on an exception, Ctrl-C or SIGTERM
(:func:`sigterm_raises` turns it into :class:`SweepTerminated`, a ``KeyboardInterrupt``)
the workers are terminated at once; and a worker whose sweep was killed outright
(``kill -9``) ends by itself (:func:`exit_with_parent`). The forkserver the workers fork
from and multiprocessing's resource tracker end by themselves when this process ends.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from types import FrameType


class SweepTerminated(KeyboardInterrupt):
    """SIGTERM arrived during a sweep. A :class:`KeyboardInterrupt`, so that whatever
    cleans up after Ctrl-C (the worker processes, the command line's message and exit
    code 130) cleans up after ``kill`` too."""


PARENT_CHECK_S = 1.0
"""How often a pool worker checks that the process that started the sweep still lives."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`SweepTerminated` in the main thread
    (once: a second SIGTERM during the clean-up is ignored) instead of ending the
    process at once and orphaning its workers. Only where SIGTERM still has its default
    action and only in the main thread: a handler someone else installed is left alone."""
    raised = False

    def handler(_signum: int, _frame: FrameType | None) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise SweepTerminated("terminated (SIGTERM)")

    installed = False
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # ValueError: not the main thread, whose signals are not ours to handle
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGTERM, handler)
            installed = True
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def exit_with_parent(parent: int) -> None:
    """A pool worker's initializer: a daemon thread ends the worker once the process that
    started the sweep is gone (killed with SIGKILL, so it could not stop its pool).

    A worker's parent is the forkserver, not the sweep, hence the explicit process id.
    """

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_S)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # alive, under another user (never here)
                pass

    threading.Thread(target=watch, name="authsim-sweep-parent", daemon=True).start()


def stop_workers(pool: ProcessPoolExecutor, grace_s: float = 5.0) -> None:
    """End a pool's worker processes now, without waiting for their running tasks: on
    Ctrl-C, SIGTERM or an error in the sweep itself, their results would be dropped."""
    workers = list((getattr(pool, "_processes", None) or {}).values())
    for process in workers:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            process.terminate()
    deadline = time.monotonic() + grace_s
    for process in workers:
        with contextlib.suppress(OSError, ValueError, AttributeError, AssertionError):
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(1.0)


@contextlib.contextmanager
def process_pool(workers: int, preload: Sequence[str] = ()) -> Iterator[Executor]:
    """A process pool of ``workers`` processes forked from a forkserver that has imported
    ``preload`` (spawned where there is no forkserver), whose every worker is gone when
    the block ends: joined on a normal end, terminated at once on any exception
    (Ctrl-C and SIGTERM included, see :func:`sigterm_raises`), and ended by itself
    within :data:`PARENT_CHECK_S` if this process is killed outright."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else None
    context = multiprocessing.get_context(method or "spawn")
    if method == "forkserver":
        # Workers fork from a server that has already imported the simulator, so each
        # new worker starts in milliseconds instead of re-importing pandas and SimPy.
        context.set_forkserver_preload(list(preload))
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    )
    try:
        yield pool
    except BaseException:
        stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
