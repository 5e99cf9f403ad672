"""Ctrl-C at any moment: one line on stderr, exit code 130, never a traceback.

Each test starts ``authsim`` (or ``python -m simulator``) as a subprocess and sends
SIGINT at a known moment, recognised from its stderr rather than timed: Python's
``-X importtime`` output (``PYTHONPROFILEIMPORTTIME``) says how far the imports got, and
the large-run warning says the command has started. Nothing depends on machine speed;
each process is given a minute to end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator.cli import INTERRUPTED_EXIT_CODE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

AUTHSIM = Path(sys.executable).with_name("authsim")
WAIT_S = 60.0
LONG_RUN = ["run", "--set", "duration_s=100000", "--set", "warmup_s=0", "-s", "jwt"]
"""About ten million requests: announced by a warning line, then minutes of work."""


def start(command: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("AUTHSIM_ALLOW_LARGE", None)
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def interrupt_after(process: subprocess.Popen[str], marker: str) -> tuple[int, str]:
    """Send SIGINT once a stderr line contains ``marker``; the exit code and the stderr."""
    assert process.stderr is not None
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        if marker in line:
            break
    else:
        pytest.fail(f"{marker!r} never appeared on stderr:\n{''.join(seen)}")
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=WAIT_S)
    return process.returncode, "".join(seen) + rest


def messages(stderr: str) -> list[str]:
    """stderr without Python's import-time lines."""
    return [line for line in stderr.splitlines() if not line.startswith("import time:")]


@pytest.mark.parametrize(
    "marker",
    [
        "simulator.errors",  # the first module of the package: its imports have just begun
        "simulator.model.run",  # in the middle of the slow imports
        "simulator.cli.app",  # the application imported, the command about to start
    ],
)
def test_ctrl_c_while_authsim_starts(marker: str) -> None:
    code, stderr = interrupt_after(start([str(AUTHSIM), *LONG_RUN]), marker)
    assert "Traceback" not in stderr
    assert code == INTERRUPTED_EXIT_CODE, stderr
    assert any(line.startswith("interrupted") for line in messages(stderr)), stderr


def test_ctrl_c_while_python_m_simulator_starts() -> None:
    process = start([sys.executable, "-m", "simulator", *LONG_RUN])
    code, stderr = interrupt_after(process, "simulator.errors")
    assert "Traceback" not in stderr
    assert code == INTERRUPTED_EXIT_CODE, stderr


@pytest.mark.parametrize("prefix", [[str(AUTHSIM)], [sys.executable, "-m", "simulator"]])
def test_ctrl_c_during_a_run_writes_nothing(tmp_path: Path, prefix: list[str]) -> None:
    out = tmp_path / "out"
    process = start([*prefix, *LONG_RUN, "--out", str(out)])
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("warning: a large run"):
            break
    time.sleep(1.0)  # well into the run (it lasts minutes)
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=WAIT_S)
    assert "Traceback" not in rest
    assert process.returncode == INTERRUPTED_EXIT_CODE, rest
    assert "interrupted" in rest
    assert not out.exists() or not any(out.iterdir())


LEFT_HALF_MADE = """
import sys
import simulator.cli
import simulator.cli.app


class HalfMade:
    def __del__(self):  # as an event loop whose __init__ the interrupt cut short
        raise AttributeError("'HalfMade' object has no attribute '_signal_handlers'")


async def never_awaited():
    pass


def command():
    left = [HalfMade(), never_awaited()]  # alive in the interrupt's frames until the end
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        if sys.argv[1] == "exit":  # as a command's own handler: its line, then exit 130
            print("interrupted: no results were written", file=sys.stderr)
            raise SystemExit(130) from None
        raise


simulator.cli.app.app = command
simulator.cli.main()
"""


@pytest.mark.parametrize("how", ["raise", "exit"])
def test_what_an_interrupt_left_half_made_stays_quiet(how: str) -> None:
    # Ctrl-C can land inside an event loop's __init__ (the testbed's load generator): the
    # half-made loop's __del__ fails, and a coroutine made for it is never awaited; both
    # would print after the command's one line as the process ends
    done = subprocess.run(
        [sys.executable, "-c", LEFT_HALF_MADE, how],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert done.returncode == INTERRUPTED_EXIT_CODE, done.stderr
    expected = "interrupted" if how == "raise" else "interrupted: no results were written"
    assert done.stderr.splitlines() == [expected], done.stderr
