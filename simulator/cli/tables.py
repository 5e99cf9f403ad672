"""Tables that fit the terminal: whole when they fit (or with ``--wide``), else as the
fewest stacked tables that do, every number whole; and the tables ``authsim run`` adds
after its summary when they have something to say (exposure after revocation, regions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from simulator.cli.options import safe
from simulator.present.format import MISSING, count, number, percent

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from simulator.results.records import RunResult


def table_width(console: Console, table: Table) -> int:
    """How many columns ``table`` takes with no cell wrapped."""
    return console.measure(table, options=console.options.update_width(10_000)).maximum


def print_whole(console: Console, table: Table) -> None:
    """Print ``table`` with no cell wrapped, wider than the console if it must be (the
    terminal then wraps its lines, ``--wide``)."""
    from rich.segment import Segments  # noqa: PLC0415 (only a command prints tables)

    width = table_width(console, table)
    if width <= console.width:
        console.print(table)
        return
    for line in console.render_lines(table, console.options.update_width(width), new_lines=True):
        console.print(Segments(line), crop=False, end="")


def print_fitted(
    console: Console,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    groups: Sequence[Sequence[int]],
    *,
    wide: bool = False,
    title: str | None = None,
    text_columns: Sequence[int] = (0,),
) -> None:
    """Print a table whose first column names its rows, whole if it fits the console (or
    ``wide``), else as the fewest stacked tables that fit, each repeating the first column.
    Columns are right-aligned but for ``text_columns``.

    ``groups``: the other columns, by index, in runs that stay together if they can; a
    table splits between groups, evenly, and only if one group alone is too wide between
    its columns (a cell is never cut).
    """
    from rich.table import Table  # noqa: PLC0415 (only a command prints tables)

    def make(columns: Sequence[int], caption: str | None) -> Table:
        table = Table(title=caption, show_header=True, header_style="bold")
        for index in (0, *columns):
            table.add_column(headers[index], justify="left" if index in text_columns else "right")
        for row in rows:
            table.add_row(*(row[index] for index in (0, *columns)))
        return table

    whole = make([index for group in groups for index in group], title)
    if wide or table_width(console, whole) <= console.width:
        print_whole(console, whole)
        return
    for parts in (split_groups(groups, console, make), split_columns(groups, console, make)):
        if parts:
            for position, part in enumerate(parts):
                console.print(make(part, title if position == 0 else None))
            return
    console.print(whole)


def split_groups(
    groups: Sequence[Sequence[int]],
    console: Console,
    make: Callable[[Sequence[int], str | None], Table],
) -> list[list[int]]:
    """The fewest runs of whole ``groups`` whose tables fit, the widest as narrow as can
    be; none if even one group alone is too wide."""
    best: list[list[int]] = []
    best_width = 0
    for cuts in range(1 << max(len(groups) - 1, 0)):
        parts: list[list[int]] = [list(groups[0])]
        for position, group in enumerate(groups[1:]):
            if cuts >> position & 1:
                parts.append([])
            parts[-1] += group
        widest = max(table_width(console, make(part, None)) for part in parts)
        if widest > console.width:
            continue
        if not best or (len(parts), widest) < (len(best), best_width):
            best, best_width = parts, widest
    return best


def split_columns(
    groups: Sequence[Sequence[int]],
    console: Console,
    make: Callable[[Sequence[int], str | None], Table],
) -> list[list[int]]:
    """As many columns per table as fit, in order (a narrow terminal); none if one column
    alone does not fit."""
    parts: list[list[int]] = [[]]
    for index in (index for group in groups for index in group):
        if parts[-1] and table_width(console, make([*parts[-1], index], None)) > console.width:
            parts.append([])
        parts[-1].append(index)
    if any(table_width(console, make(part, None)) > console.width for part in parts):
        return []
    return parts


def print_exposure(console: Console, result: RunResult, *, wide: bool = False) -> None:
    """Per strategy, what revocation left open (only when users were revoked): requests
    accepted on old credentials, and the mean and longest window after revocation."""
    rows = [
        (
            item.strategy,
            count(item.exposure.revoked_users),
            count(item.exposure.accepted_after_revocation),
            number(item.exposure.mean_window_s, ".1f"),
            number(item.exposure.max_window_s, ".1f"),
        )
        for item in result.results
        if item.exposure is not None and item.exposure.revoked_users
    ]
    if rows:
        print_fitted(
            console,
            EXPOSURE_COLUMNS,
            rows,
            ((1, 2), (3, 4)),
            wide=wide,
            title="Exposure after revocation",
        )


EXPOSURE_COLUMNS: tuple[str, ...] = (
    "strategy",
    "revoked\nusers",
    "accepted after\nrevocation",
    "mean\nwindow s",
    "max\nwindow s",
)
"""Headers of the exposure table: requests accepted on a revoked user's old credentials,
and how long after the revocation the last one came (mean and max over revoked users)."""


REGION_COLUMNS: tuple[str, ...] = (
    "strategy",
    "region",
    "users",
    "requests",
    "success",
    "mean ms",
)
"""Headers of the regions table: what each region's users saw, per strategy."""


def print_regions(console: Console, result: RunResult, *, wide: bool = False) -> None:
    """What each region's users saw (only for a scenario with ``regions``): the store's
    region is marked with ``(store)``."""
    rows = [
        (
            item.strategy,
            safe(region.name) + (" (store)" if region.store_local else ""),
            count(region.users),
            count(region.requests),
            percent(region.success_rate),
            number(region.mean_latency_ms, ".1f")
            if region.mean_latency_ms is not None
            else MISSING,
        )
        for item in result.results
        for region in item.regions or ()
    ]
    if rows:
        print_fitted(
            console,
            REGION_COLUMNS,
            rows,
            ((1, 2), (3, 4, 5)),
            wide=wide,
            text_columns=(0, 1),
            title="Regions",
        )
