"""How numbers and words are written, the same in every output.

The command line's tables, the HTML report, the cheat sheet, the plain-language
explanations, the figures and the animation all write their numbers through these
functions, so a value reads the same everywhere and a missing one is always
:data:`MISSING`. Pure string functions: no I/O, nothing heavy imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

MISSING: Final = "–"
"""What a value that cannot be computed (no served request, an empty window) reads as:
an en dash."""


def is_missing(value: float | None) -> bool:
    """``True`` for ``None``, NaN and the infinities: values that are written :data:`MISSING`."""
    return value is None or not math.isfinite(value)


def number(value: float | None, spec: str) -> str:
    """``format(value, spec)``, or :data:`MISSING` for a missing value.

    >>> number(1234.5, ",.0f"), number(None, ".1f")
    ('1,234', '–')
    """
    return MISSING if is_missing(value) else format(value, spec)


def percent(rate: float | None, digits: int = 1) -> str:
    """A fraction as a percentage (``0.196`` -> ``19.6%``); :data:`MISSING` when missing."""
    return MISSING if rate is None or is_missing(rate) else f"{100 * rate:.{digits}f}%"


def ms(value_ms: float | None) -> str:
    """Milliseconds with a precision that suits the size: ``1,240 ms``, ``12.5 ms``,
    ``0.61 ms``."""
    if value_ms is None or is_missing(value_ms):
        return MISSING
    if abs(value_ms) >= 100:
        return f"{value_ms:,.0f} ms"
    if abs(value_ms) >= 10:
        return f"{value_ms:.1f} ms"
    return f"{value_ms:.2f} ms"


def us(value_ms: float | None) -> str:
    """A time given in milliseconds, written in microseconds (``0.031`` -> ``31 µs``)."""
    return MISSING if value_ms is None or is_missing(value_ms) else f"{value_ms * 1000:,.0f} µs"


def times(ratio: float | None, digits: int = 2) -> str:
    """A ratio as a multiple: ``1.88x``."""
    return MISSING if ratio is None or is_missing(ratio) else f"{ratio:.{digits}f}x"


def count(value: float | None) -> str:
    """A count with thousands separators: ``10,006``."""
    return MISSING if value is None or is_missing(value) else f"{value:,.0f}"


def seconds(value_s: float) -> str:
    """A moment or a duration in seconds, as short as it can be: ``42 s``, ``7.5 s``."""
    return f"{value_s:g} s"


def span(start_s: float, end_s: float) -> str:
    """A stretch of simulated time: ``40–70 s``."""
    return f"{start_s:g}–{end_s:.4g} s"


def plural(amount: int, word: str, plural_form: str | None = None) -> str:
    """``word`` for one, its plural otherwise (``server``/``servers``)."""
    return word if amount == 1 else (plural_form or f"{word}s")


def count_noun(amount: int, word: str, plural_form: str | None = None) -> str:
    """``1 server``, ``5 servers``, ``2,000 users``."""
    return f"{amount:,} {plural(amount, word, plural_form)}"


def join_words(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def capital(text: str) -> str:
    """The text with its first letter in upper case."""
    return text[:1].upper() + text[1:]


def words(name: str) -> str:
    """An identifier as words: ``session_lost`` -> ``session lost``."""
    return name.replace("_", " ")


def counted_causes(by_cause: Mapping[str, int]) -> str:
    """``1,755 wrong server, 167 session lost`` (only the causes with a count)."""
    return ", ".join(f"{amount:,} {words(cause)}" for cause, amount in by_cause.items() if amount)


def value_text(value: float | None, unit: str) -> str:
    """A real value as ``authsim testbed`` and the report print it: ``31.3%``, ``4.2 ms``,
    ``349``."""
    if value is None or math.isnan(value):
        return MISSING
    if unit == "%":
        return f"{value * 100:.1f}%"
    if unit == "ms":
        return f"{value:.1f} ms"
    return f"{value:.3g}"


def model_text(mean: float | None, half_width: float | None, unit: str) -> str:
    """The model's mean ± 95% half-width as ``authsim testbed`` and the report print it:
    ``34 ± 2.8%``, ``5.1 ± 0.31 ms``."""
    if mean is None or math.isnan(mean):
        return MISSING
    if half_width is None or math.isnan(half_width):
        return value_text(mean, unit)
    scale = 100.0 if unit == "%" else 1.0
    suffix = "%" if unit == "%" else (" ms" if unit == "ms" else "")
    return f"{mean * scale:.3g} ± {half_width * scale:.2g}{suffix}"
