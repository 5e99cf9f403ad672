"""The `authsim` command line: the only package that imports typer.

``authsim`` runs :func:`main`; the Typer application is ``simulator.cli.app.app``.

Ctrl-C at any moment ends a command with one line on stderr and exit code 130, never a
traceback. :func:`main` installs a quiet handler before anything slow is imported
(``import simulator`` and this module import nothing heavy): while the imports run, Ctrl-C
ends the process at once; during a command, ``KeyboardInterrupt`` unwinds it, so a run
leaves no half-written file (``interrupted: no results were written``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import warnings
from types import FrameType

__all__ = ["INTERRUPTED_EXIT_CODE", "main", "quiet_interrupts", "quiet_teardown"]

INTERRUPTED_EXIT_CODE = 130
"""Exit code of a command ended by Ctrl-C (128 + SIGINT, as a shell reports it)."""


def _exit_interrupted(_signum: int, _frame: FrameType | None) -> None:
    os.write(2, b"interrupted\n")
    os._exit(INTERRUPTED_EXIT_CODE)


def quiet_interrupts() -> None:
    """From now on Ctrl-C ends the process at once: ``interrupted`` on stderr, exit 130.

    For the command line while nothing has been written (its imports) and while it shuts
    down; no traceback, no cleanup to do. Does nothing outside the main thread.
    """
    # ValueError: not the main thread, whose signals are not ours to handle
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGINT, _exit_interrupted)


def quiet_teardown() -> None:
    """The process is ending after Ctrl-C: what the interrupt left half-made stays quiet
    as it is collected.

    An interrupt can land anywhere, such as inside an event loop's ``__init__`` (whose
    ``__del__`` then fails on a missing attribute) or between making a coroutine and
    awaiting it. Their finalisers would print ``Exception ignored in ...`` with a
    traceback, or a ``RuntimeWarning``, after the command's one line. Only for a process
    that is ending: it silences every later unraisable exception and warning.
    """
    sys.unraisablehook = _ignore_unraisable
    warnings.simplefilter("ignore")


def _ignore_unraisable(_unraisable: object) -> None:
    """An exception raised where it cannot propagate (a finaliser), in a process ending
    after Ctrl-C: not shown (see :func:`quiet_teardown`)."""


def main() -> None:
    """Entry point of the ``authsim`` console script and of ``python -m simulator``."""
    quiet_interrupts()  # until the application can catch KeyboardInterrupt
    try:
        from simulator.cli.app import app  # noqa: PLC0415 (imported with Ctrl-C handled)

        signal.signal(signal.SIGINT, signal.default_int_handler)
        app()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        quiet_teardown()
        sys.exit(INTERRUPTED_EXIT_CODE)
    except SystemExit as exc:  # typer ends every command with one (130: Ctrl-C, handled)
        if exc.code == INTERRUPTED_EXIT_CODE:
            quiet_teardown()
        raise
    except ImportError as exc:
        # a compiled module older than its source (make native), raised by the import of
        # simulator.model; looked up by name so that nothing is imported before the quiet
        # Ctrl-C handler is in place
        if type(exc).__name__ != "StaleNativeBuildError":
            raise
        print(f"authsim: {exc}", file=sys.stderr)
        sys.exit(2)
    finally:
        quiet_interrupts()  # and while the interpreter shuts down
