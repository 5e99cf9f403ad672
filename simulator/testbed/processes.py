"""Starting, watching and stopping the testbed's processes: servers, redis-server, HAProxy.

:class:`Processes` owns every child of one testbed run. Each child runs in its own
process group (``start_new_session=True``), so a Ctrl-C in the terminal reaches only the
orchestrator, which then stops the children itself; stopping a child signals its whole
group (SIGTERM, then SIGKILL after ``stop_timeout_s``), so nothing it forked survives.
Its stdout and stderr go to ``<log_dir>/<name>.stdout.log`` and ``<name>.stderr.log``
(appended to on a restart), which is also where a ``ready`` line is looked for: no pipe
can fill up and block a chatty child. Children get ``PYTHONUNBUFFERED=1`` so a Python
child's ready line reaches its log at once.

Nothing is registered at import time; a :class:`Processes` installs an :mod:`atexit`
safety net when it starts its first child and removes it once everything is stopped.

The helpers :func:`start_redis`, :func:`start_haproxy` and :func:`reload_haproxy` start
the real parts of the cluster (HAProxy's configuration is written by
:mod:`simulator.testbed.haproxy`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from simulator.errors import AuthsimError, one_line
from simulator.testbed.config import HaproxyFiles

POLL_S = 0.02
"""Pause between two readiness checks, seconds."""

STOP_TIMEOUT_S = 5.0
"""Default wait after SIGTERM before SIGKILL, seconds."""

EXTRA_BIN_DIRS = (
    "/usr/sbin",
    "/usr/local/sbin",
    "/sbin",
    "/usr/local/bin",
    "/opt/homebrew/bin",
    "/opt/homebrew/sbin",
)
"""Searched after ``PATH``: Debian installs ``haproxy`` in ``/usr/sbin``, which is often not
on a normal user's ``PATH``; Homebrew uses ``/opt/homebrew`` on Apple silicon."""

Ready = Callable[[], bool] | str
"""When a started process is ready: a line its stdout prints (the line itself, or the
line followed by a space and more, so ``"ready"`` matches ``ready 8001``) or a
callable polled until it returns true."""


class TestbedError(AuthsimError):
    """The real cluster cannot be run: a missing binary, an invalid HAProxy
    configuration, a process that exited or never became ready. One line, exit code 2."""

    __test__ = False  # not a pytest test class, despite its name


def find_binary(name: str, package: str, *, brew: str | None = None) -> str:
    """The path of the executable ``name``, looked up on ``PATH`` and then in
    :data:`EXTRA_BIN_DIRS`.

    Raises:
        TestbedError: it is not installed; the message says how to install ``package``
            (``brew``, if given, is the Homebrew formula when its name differs).
    """
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *EXTRA_BIN_DIRS])
    found = shutil.which(name, path=search)
    if found is None:
        raise TestbedError(
            f"{name} not found: install it with 'sudo apt-get install {package}' "
            f"(Debian/Ubuntu) or 'brew install {brew or package}' (macOS)"
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_accepts(port: int, host: str = "127.0.0.1", timeout_s: float = 0.25) -> bool:
    """Does ``host:port`` accept a TCP connection?"""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def redis_answers_ping(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    """Does a Redis server answer a PING (``*1\\r\\n$4\\r\\nPING\\r\\n``) with ``+PONG``?"""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as connection:
            connection.sendall(b"*1\r\n$4\r\nPING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass(frozen=True)
class _Spec:
    """How a named process was started, to start it again."""

    argv: tuple[str, ...]
    ready: Ready
    timeout_s: float
    cwd: Path | None
    env: Mapping[str, str] | None


def _exited(process: subprocess.Popen[bytes]) -> int | None:
    """The exit status of ``process`` if it has exited, else ``None``, without reaping it
    (so its process group id stays reserved until :func:`_reap`)."""
    if process.returncode is not None:
        return process.returncode
    try:
        status = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # already reaped elsewhere
        return process.poll() if process.returncode is None else process.returncode
    if status is None or status.si_pid == 0:
        return None
    return status.si_status if status.si_code == os.CLD_EXITED else -status.si_status


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Send ``signum`` to the process group of ``process`` (it leads its own group), if
    it has not been reaped: a zombie leader keeps the group id ours."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _reap(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Stop ``process`` and its group: SIGTERM, wait up to ``timeout_s``, SIGKILL; then
    SIGKILL whatever is left of the group and reap the leader."""
    if process.returncode is not None:
        return
    if _exited(process) is None:
        _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _exited(process) is None and time.monotonic() < deadline:
            time.sleep(POLL_S)
    _signal_group(process, signal.SIGKILL)  # the leader's children, or a stuck leader
    process.wait()


def last_line(*logs: Path) -> str:
    """The last non-empty line of the first of ``logs`` that has one, as one line."""
    for log in logs:
        try:
            with log.open("rb") as file:
                file.seek(max(0, log.stat().st_size - 8192))
                lines = file.read().decode(errors="replace").splitlines()
        except OSError:
            continue
        for line in reversed(lines):
            if line.strip():
                return one_line(line.strip())
    return "(nothing logged)"


class Processes:
    """Every child process of one testbed run, by name; a context manager.

    ``with Processes(log_dir) as processes:`` stops every child on the way out, whatever
    ends the block (an error, a KeyboardInterrupt).

    Args:
        log_dir: where each child's ``<name>.stdout.log`` and ``<name>.stderr.log`` go.
        stop_timeout_s: wait after SIGTERM before SIGKILL.
    """

    def __init__(self, log_dir: Path, *, stop_timeout_s: float = STOP_TIMEOUT_S) -> None:
        self.log_dir = log_dir
        self.stop_timeout_s = stop_timeout_s
        self._specs: dict[str, _Spec] = {}
        self._running: dict[str, subprocess.Popen[bytes]] = {}
        self._retired: list[subprocess.Popen[bytes]] = []
        self._atexit_installed = False

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()

    def logs(self, name: str) -> tuple[Path, Path]:
        """The ``(stdout, stderr)`` log files of ``name``."""
        return self.log_dir / f"{name}.stdout.log", self.log_dir / f"{name}.stderr.log"

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready: Ready,
        timeout_s: float,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        replacing: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` as ``name`` and wait (at most ``timeout_s``) until it is ready.

        Args:
            ready: a line expected on its stdout, or a callable polled (see :data:`Ready`).
            env: variables added to this process's environment.
            replacing: a process already running as ``name`` is kept running but no
                longer tracked by that name (it is still stopped by :meth:`stop_all`); if
                the new one fails, the old one is tracked again. Without it, a running
                ``name`` is an error.

        Raises:
            TestbedError: it exited before it was ready, or was not ready in time (it is
                then stopped); the message names it and quotes the last line it logged.
        """
        old = self._running.get(name)
        if old is not None and _exited(old) is None and not replacing:
            raise TestbedError(f"{name} is already running (pid {old.pid})")
        if old is not None:
            del self._running[name]
            self._retired.append(old)
        spec = _Spec(tuple(argv), ready, timeout_s, cwd, dict(env) if env else None)
        self._specs[name] = spec
        try:
            return self._launch(name, spec)
        except BaseException:
            if old is not None and _exited(old) is None:
                self._retired.remove(old)
                self._running[name] = old
            raise

    def _launch(self, name: str, spec: _Spec) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stdout_log, stderr_log = self.logs(name)
        offset = stdout_log.stat().st_size if stdout_log.exists() else 0
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(spec.env or {})}
        if not self._atexit_installed:
            atexit.register(self.stop_all)
            self._atexit_installed = True
        with stdout_log.open("ab") as out, stderr_log.open("ab") as err:
            try:
                process = subprocess.Popen(
                    spec.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    cwd=spec.cwd,
                    env=environment,
                    start_new_session=True,
                )
            except OSError as exc:
                raise TestbedError(f"{name} could not start ({spec.argv[0]}): {exc}") from exc
        self._running[name] = process
        try:
            self._wait_ready(name, process, spec, stdout_log, offset)
        except BaseException:
            del self._running[name]
            _reap(process, self.stop_timeout_s)
            raise
        return process

    def _wait_ready(
        self,
        name: str,
        process: subprocess.Popen[bytes],
        spec: _Spec,
        stdout_log: Path,
        offset: int,
    ) -> None:
        deadline = time.monotonic() + spec.timeout_s
        while True:
            status = _exited(process)
            if status is not None:
                raise TestbedError(
                    f"{name} exited with status {status} before it was ready: "
                    f"{last_line(*reversed(self.logs(name)))}"
                )
            if self._is_ready(spec.ready, stdout_log, offset):
                return
            if time.monotonic() >= deadline:
                raise TestbedError(
                    f"{name} was not ready within {spec.timeout_s:g} s: "
                    f"{last_line(*reversed(self.logs(name)))}"
                )
            time.sleep(POLL_S)

    @staticmethod
    def _is_ready(ready: Ready, stdout_log: Path, offset: int) -> bool:
        if callable(ready):
            return ready()
        try:
            with stdout_log.open("rb") as file:
                file.seek(offset)
                text = file.read().decode(errors="replace")
        except OSError:
            return False
        complete = text.splitlines()[:-1] if not text.endswith("\n") else text.splitlines()
        return any(line == ready or line.startswith(f"{ready} ") for line in complete)

    def popen(self, name: str) -> subprocess.Popen[bytes] | None:
        """The process tracked as ``name`` (running or not), or ``None``."""
        return self._running.get(name)

    def alive(self, name: str) -> bool:
        """Is ``name`` running (started, not stopped, killed or exited)?"""
        process = self._running.get(name)
        return process is not None and _exited(process) is None

    def pids(self) -> dict[str, int]:
        """The pid of every running process, by name."""
        return {
            name: process.pid for name, process in self._running.items() if _exited(process) is None
        }

    def stop(self, name: str) -> None:
        """Stop ``name`` and its process group (SIGTERM, then SIGKILL); no error if it is
        not running. It can be started again with :meth:`restart`."""
        process = self._running.pop(name, None)
        if process is not None:
            _reap(process, self.stop_timeout_s)

    def kill(self, name: str) -> None:
        """SIGKILL ``name``'s process group at once (a crash), and reap it."""
        process = self._running.pop(name, None)
        if process is not None:
            _signal_group(process, signal.SIGKILL)
            process.wait()

    def restart(self, name: str) -> subprocess.Popen[bytes]:
        """Stop ``name`` if it runs, then start it again with the same arguments and
        readiness check.

        Raises:
            TestbedError: ``name`` was never started, or it failed to start again.
        """
        spec = self._specs.get(name)
        if spec is None:
            raise TestbedError(f"{name} was never started, so it cannot be restarted")
        self.stop(name)
        return self._launch(name, spec)

    def stop_all(self) -> None:
        """Stop every process (the running ones and the replaced ones). A second
        KeyboardInterrupt while waiting SIGKILLs whatever is left."""
        try:
            for name in list(self._running):
                self.stop(name)
            while self._retired:
                _reap(self._retired.pop(), self.stop_timeout_s)
        except KeyboardInterrupt:
            for process in [*self._running.values(), *self._retired]:
                _signal_group(process, signal.SIGKILL)
                process.wait()
            self._running.clear()
            self._retired.clear()
            raise
        finally:
            if self._atexit_installed and not self._running and not self._retired:
                atexit.unregister(self.stop_all)
                self._atexit_installed = False


REDIS_START_TIMEOUT_S = 30.0
"""Longest wait for redis-server to answer PING."""


def redis_argv(binary: str, port: int, workdir: Path) -> list[str]:
    """A private redis-server's command line: in the foreground on ``127.0.0.1:port``,
    no persistence (``--save "" --appendonly no``), ``workdir`` as its directory."""
    return [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--dir", str(workdir),
    ]  # fmt: skip


def start_redis(
    processes: Processes,
    port: int,
    workdir: Path,
    *,
    binary: str | None = None,
    name: str = "redis",
    timeout_s: float = REDIS_START_TIMEOUT_S,
) -> str:
    """Start a private redis-server in the foreground on ``127.0.0.1:port``, with no
    persistence (``--save "" --appendonly no``) and ``workdir`` as its directory; wait
    until it answers PING over a raw socket.

    Returns:
        its URL, ``redis://127.0.0.1:<port>/0``.
    """
    binary = binary or find_binary("redis-server", "redis-server", brew="redis")
    workdir.mkdir(parents=True, exist_ok=True)
    argv = redis_argv(binary, port, workdir)
    processes.start(
        name, argv, ready=lambda: redis_answers_ping(port), timeout_s=timeout_s, cwd=workdir
    )
    return f"redis://127.0.0.1:{port}/0"


HAPROXY_START_TIMEOUT_S = 15.0
"""Longest wait for HAProxy to accept connections (or, on a reload, for the old one to
finish)."""

_FRONTEND_BIND = re.compile(r"^frontend\b.*?^\s*bind\s+[\d.]+:(\d+)", re.MULTILINE | re.DOTALL)


def frontend_port(config_path: Path) -> int:
    """The port of the first ``bind`` of the first ``frontend`` section of a config.

    Raises:
        TestbedError: the configuration has none.
    """
    match = _FRONTEND_BIND.search(config_path.read_text(encoding="utf-8"))
    if match is None:
        raise TestbedError(f"{config_path}: no 'bind <address>:<port>' in a frontend section")
    return int(match.group(1))


def start_haproxy(
    processes: Processes,
    binary: str,
    config_path: Path,
    *,
    name: str = "haproxy",
    timeout_s: float = HAPROXY_START_TIMEOUT_S,
) -> subprocess.Popen[bytes]:
    """Start HAProxy in the foreground (``haproxy -db -f config_path``: ``-db`` keeps it
    in the foreground, HAProxy 2.6 management guide, section 3) and wait until its
    frontend port accepts a TCP connection."""
    port = frontend_port(config_path)
    argv = [binary, "-db", "-f", str(config_path)]
    return processes.start(name, argv, ready=lambda: port_accepts(port), timeout_s=timeout_s)


def save_server_state(files: HaproxyFiles, timeout_s: float = 5.0) -> None:
    """Write HAProxy's ``show servers state`` (runtime API, management guide 9.3) to
    ``files.state_file``, for the next process to load (``load-server-state-from-file``).

    Raises:
        TestbedError: the admin socket did not answer.
    """
    chunks: list[bytes] = []
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as admin:
            admin.settimeout(timeout_s)
            admin.connect(str(files.admin_socket))
            admin.sendall(b"show servers state\n")
            while chunk := admin.recv(65536):
                chunks.append(chunk)
    except OSError as exc:
        raise TestbedError(f"HAProxy's admin socket {files.admin_socket}: {exc}") from exc
    temporary = files.state_file.with_suffix(".tmp")
    temporary.write_bytes(b"".join(chunks))
    temporary.replace(files.state_file)


def reload_haproxy(
    processes: Processes,
    binary: str,
    config: Path | HaproxyFiles,
    *,
    name: str = "haproxy",
    timeout_s: float = HAPROXY_START_TIMEOUT_S,
) -> subprocess.Popen[bytes]:
    """Switch HAProxy to a new configuration (a scale-out's new servers) without dropping
    connections: a soft reload, not a restart.

    A new ``haproxy -db -f CONFIG -sf <old pid>`` is started and becomes the process
    tracked as ``name``. Once booted, it sends the old one the "finish" signal (SIGUSR1,
    ``-sf``, HAProxy 2.6 management guide, section 3), and the old one stops listening,
    finishes the requests it holds and exits (bounded by ``hard-stop-after`` in the
    generated configuration). It is ready when the old process has exited and the port
    accepts connections. If the new process fails (say, an invalid configuration), the
    old one, never signalled, keeps serving and is tracked again. With no HAProxy running
    yet, this is :func:`start_haproxy`.

    Given :class:`HaproxyFiles` (a configuration written with them, see
    :func:`~simulator.testbed.haproxy.haproxy_config`), it is the seamless reload
    operators run: the servers' state is saved first (:func:`save_server_state`) so the
    new process starts knowing which are down, and the new process takes the listening
    sockets over from the old one through the admin socket (``-x``, management guide
    section 3), so no connection is refused in between. Given a path only, the new
    process binds the frontend port beside the old one (``SO_REUSEPORT`` on Linux).
    """
    files = config if isinstance(config, HaproxyFiles) else None
    config_path = config.config if isinstance(config, HaproxyFiles) else config
    old = processes.popen(name)
    if old is None or _exited(old) is not None:
        return start_haproxy(processes, binary, config_path, name=name, timeout_s=timeout_s)
    port = frontend_port(config_path)
    argv = [binary, "-db", "-f", str(config_path)]
    if files is not None:
        save_server_state(files)
        argv += ["-x", str(files.admin_socket)]
    argv += ["-sf", str(old.pid)]

    def ready() -> bool:
        return old.poll() is not None and port_accepts(port)

    return processes.start(name, argv, ready=ready, timeout_s=timeout_s, replacing=True)
