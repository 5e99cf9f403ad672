"""The ``authsim`` command line: the root application and the commands it registers.

The commands live in modules of this package, by subject: :mod:`~simulator.cli.run`
(``run``, ``scenarios``, ``show``), :mod:`~simulator.cli.experiments` (``sweep``,
``validate``, ``warmup``, ``plot-sweep``), :mod:`~simulator.cli.documents` (``report``,
``cheatsheet``, ``animate``) and :mod:`~simulator.cli.token` (``calibrate`` and the
``token`` group); what they share is in :mod:`~simulator.cli.options`.

Bad input (a scenario file, a ``--set`` override, an option value) is reported as one
line on stderr, ``error: <source>: <key.path>: <problem>``, with exit code 2 and no
traceback. Results are written only after the whole run succeeded, each file atomically.
Ctrl-C exits with code 130 (see :func:`simulator.cli.main`, the entry point).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO, Annotated, Any, cast

import typer
from typer.core import TyperGroup

from simulator import __version__
from simulator.cli import INTERRUPTED_EXIT_CODE, documents, experiments, run, testbed, token
from simulator.errors import one_line

# Click's UsageError (typer may vendor its own click): the base of typer.BadParameter.
_USAGE_ERROR = cast(type[Exception], typer.BadParameter.__mro__[1])
# Raised to show the help of a group called with no arguments: not an error to rewrite.
_HELP_ERROR = getattr(sys.modules[_USAGE_ERROR.__module__], "NoArgsIsHelpError", None)


class _OneLineUsageError(typer.BadParameter):
    """A usage error shown as the one line every other bad input gets."""

    def format_message(self) -> str:
        return self.message

    def show(self, file: IO[Any] | None = None) -> None:
        typer.echo(f"error: {one_line(self.message)}", file=file, err=True)


class _OneLineErrors(TyperGroup):
    """Click's usage errors (a malformed number, a missing argument, an unknown option or
    command) as ``error: <what is wrong>`` on one line, exit code 2, like every other bad
    input, instead of click's usage block."""

    @staticmethod
    def _one_line(exc: Exception) -> Exception:
        if isinstance(exc, _OneLineUsageError) or (_HELP_ERROR and isinstance(exc, _HELP_ERROR)):
            return exc  # already one line, or the help text itself
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        return _OneLineUsageError(message, ctx=getattr(exc, "ctx", None))

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _USAGE_ERROR as exc:
            raise self._one_line(exc) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _USAGE_ERROR as exc:
            raise self._one_line(exc) from None
        except KeyboardInterrupt:
            # Ctrl-C before a command handles it itself (user_errors): while it imports
            # what it needs (each imports its own libraries) or loads its scenario. The
            # one line of simulator.cli.main, where typer would exit 130 saying nothing.
            typer.echo("interrupted", err=True)
            raise typer.Exit(code=INTERRUPTED_EXIT_CODE) from None


app = typer.Typer(
    cls=_OneLineErrors,
    name="authsim",
    help=(
        "Session-vs-token scaling simulator: local sessions, sticky sessions, a shared "
        "session store and JWTs behind a load balancer, side by side on the same traffic."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help text: docstrings are wrapped to the terminal, not broken where the source
    # breaks its lines.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"authsim {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Session-vs-token scaling simulator."""


COMMANDS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("run", run.run),
    ("sweep", experiments.sweep_command),
    ("scenarios", run.scenarios),
    ("show", run.show),
    ("calibrate", token.calibrate),
    ("validate", experiments.validate_command),
    ("warmup", experiments.warmup_command),
    ("plot-sweep", experiments.plot_sweep),
    ("report", documents.report_command),
    ("cheatsheet", documents.cheatsheet_command),
    ("animate", documents.animate_command),
    ("testbed", testbed.testbed_command),
)
"""Every command, in the order ``authsim --help`` lists them (the ``token`` group last)."""

for _name, _command in COMMANDS:
    app.command(_name)(_command)
app.add_typer(token.token_app, name="token")
