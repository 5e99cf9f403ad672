"""Errors that the CLI reports as one line and exit code 2, without a traceback."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence


class AuthsimError(Exception):
    """Base of the errors caused by bad input rather than by a bug."""


class StaleNativeBuildError(AuthsimError, ImportError):
    """A compiled module of ``make native`` no longer matches its source, or the build is
    incomplete (see :mod:`simulator.model.native`); the message says what to run."""


PROBLEM_SEPARATOR = " · "
"""Between the problems of one :class:`ScenarioError` (each ``<source>: <key>: <problem>``)."""


class ScenarioError(AuthsimError):
    """A scenario (file, built-in name or override) that cannot be used.

    Its string form is one line (bad input is always one line): every problem as
    ``<source>: <key.path>: <problem>``, the first (its attributes), then each of ``more``,
    separated by :data:`PROBLEM_SEPARATOR`.

    Attributes:
        source: where the problem is: a file path, ``--set key`` or ``override``.
        key_path: dotted key inside the scenario (``cluster.servers``), or ``None``.
        problem: what is wrong, in a few words.
        more: the other problems found at the same time, each a one-problem error.
    """

    def __init__(
        self,
        source: str,
        key_path: str | None,
        problem: str,
        more: Sequence[ScenarioError] = (),
    ) -> None:
        self.source = source
        self.key_path = key_path
        self.problem = problem
        self.more = tuple(more)
        super().__init__(str(self))

    @property
    def line(self) -> str:
        """The first problem, as one line."""
        parts = [self.source]
        if self.key_path:
            parts.append(shown_key(self.key_path))
        parts.append(self.problem)
        return one_line(": ".join(parts))

    def __str__(self) -> str:
        return PROBLEM_SEPARATOR.join([self.line, *(other.line for other in self.more)])


_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
NOT_A_NAME = "(a key that is not a name)"
"""How a key that is not a name is shown: never its text, which may be a file's content."""


def shown_key(key_path: str) -> str:
    """``key_path`` as an error shows it: each dotted part that is a name (letters,
    digits, ``_``, ``-``; at most 64) as it is, any other as :data:`NOT_A_NAME`.

    A file that is not a scenario (``authsim run /etc/shadow``, ``calibration:
    /etc/shadow``) parses as keys that are its lines; naming them would print them.
    """
    return ".".join(part if _NAME.fullmatch(part) else NOT_A_NAME for part in key_path.split("."))


def one_line(text: str) -> str:
    """``text`` with control characters escaped (``\\n``), so it prints as one line."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def closest_hint(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""
