"""``authsim report``, ``cheatsheet`` and ``animate``: documents made from fresh runs.

The HTML report (:mod:`simulator.present.report`), the interview cheat sheet
(:mod:`simulator.present.cheatsheet`) and the animation of the cluster
(:mod:`simulator.present.animate`). Each of those modules is imported only by its command:
they draw with matplotlib or Pillow, which are slow to import.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from simulator.atomic import write_text
from simulator.cli.options import (
    AllowLargeOption,
    ScenarioArgument,
    SeedOption,
    SetOption,
    StrategyOption,
    fail,
    fail_to_write,
    file_name,
    load,
    strategy_names,
    user_errors,
    writable_file,
)
from simulator.cli.progress import steps
from simulator.errors import one_line
from simulator.results import io

if TYPE_CHECKING:
    from simulator.results.records import RunResult

MAX_SIZE = (3840, 2160)
"""The largest animation, in pixels."""


def run_scenario(*args: Any, **kwargs: Any) -> RunResult:
    """:func:`simulator.model.run.run`, imported when first called (not by ``--help``)."""
    from simulator.model.run import run  # noqa: PLC0415 (the model: slow to import)

    return run(*args, **kwargs)


def _not_a_folder(out: Path, example: str) -> None:
    """One line and exit 2 when ``--out`` names a folder instead of a file, or a path the
    system refuses to look at (a name too long)."""
    try:
        is_dir = out.is_dir()
    except OSError as exc:
        fail(f"--out: {out}: {exc.strerror or exc}")
    if is_dir:
        fail(f"--out: {out} is a folder; give a file name such as {out / example}")


def report_command(
    scenario: ScenarioArgument = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE.html",
            callback=writable_file("the report"),
            help="The HTML file to write (default: "
            f"{io.REPORT_HTML.format(scenario='<scenario name>')}).",
        ),
    ] = None,
    overrides: SetOption = None,
    allow_large: AllowLargeOption = False,
    seed: SeedOption = None,
    strategy: StrategyOption = None,
    testbed: Annotated[
        Path | None,
        typer.Option(
            "--testbed",
            metavar="DIR",
            help="Add a section with a real cluster beside the model: the folder "
            "`authsim testbed --out DIR` wrote (results.json, comparison.png).",
        ),
    ] = None,
) -> None:
    """Write a self-contained HTML report of a run: tables, every figure, an explanation.

    One file that needs nothing else to be read (images embedded, CSS inline): the
    scenario and its parameters, the comparison table, every plot with its events marked,
    a plain-language account of what happened computed from the numbers, and the
    command, seed and versions that reproduce it. With --testbed, also a real cluster's
    run beside the model (verdict per metric, the comparison figure).
    """
    if out is not None:
        _not_a_folder(out, "report.html")
    loaded = load(scenario, overrides, seed)
    names = strategy_names(strategy, loaded)
    section = None
    if testbed is not None:  # read and checked before anything runs
        from simulator.present.report_testbed import load_testbed  # noqa: PLC0415 (only here)

        with user_errors():
            try:
                section = load_testbed(testbed, report_scenario=loaded.name)
            except OSError as exc:  # a path the system refuses to look at (a name too long)
                fail(f"--testbed: {testbed}: {exc.strerror or exc}")
    from simulator.present import report  # noqa: PLC0415 (it draws with matplotlib: slow to import)

    target = out if out is not None else Path(io.REPORT_HTML.format(scenario=file_name(loaded)))
    command = report.reproduce_command(loaded, names, source=scenario, out=out, testbed=testbed)
    with (
        user_errors(),
        steps("report", "Building the report", "Building the report: {}") as progress,
    ):
        progress("running the strategies")
        result = run_scenario(loaded, names, record_requests=False)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            report.write_report(result, target, command=command, progress=progress, testbed=section)
        except OSError as exc:
            fail_to_write(target, "the report", exc)
    typer.echo(f"Wrote {one_line(str(target))}")


def cheatsheet_command(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE.md",
            callback=writable_file("the cheat sheet"),
            help="Write the page to this Markdown file (default: print it).",
        ),
    ] = None,
    overrides: SetOption = None,
    allow_large: AllowLargeOption = False,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="Shorten every run around its events (seconds instead of a minute)."
        ),
    ] = False,
) -> None:
    """A one-page interview cheat sheet in Markdown, with numbers from fresh runs.

    Every strategy, when each wins, how each fails, how to answer a design question and
    the numbers to quote (capacity per core and per store shard, the store's
    high-availability options), computed by running baseline and the scenarios that
    teach a failure: the NAT hotspot, a crash, the store's outage, failover, sharding,
    replica lag and saturation, revocation and the two scale-outs. --set applies to every
    run.
    """
    if out is not None:
        _not_a_folder(out, "cheatsheet.md")
    from simulator.present.cheatsheet import build_cheatsheet  # noqa: PLC0415 (only this command)

    with user_errors():
        with steps("cheatsheet", "Running the scenarios", "Running {}") as spinner:

            def progress(name: str, done: int, total: int) -> None:
                spinner(f"{name} ({done + 1}/{total})")

            sheet = build_cheatsheet(overrides or [], quick=quick, progress=progress)
        page = sheet.markdown()
        if out is None:
            typer.echo(page, nl=False)
            return
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            write_text(out, page)
        except OSError as exc:
            fail_to_write(out, "the cheat sheet", exc)
    typer.echo(f"Wrote {one_line(str(out))}", err=True)


def animate_command(
    scenario: ScenarioArgument = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE.gif|FILE.mp4",
            callback=writable_file("the animation"),
            help="Where to write the animation (default: "
            f"{io.ANIMATION_GIF.format(scenario='<scenario>')}); .mp4 needs ffmpeg.",
        ),
    ] = None,
    overrides: SetOption = None,
    allow_large: AllowLargeOption = False,
    seed: SeedOption = None,
    strategy: StrategyOption = None,
    fps: Annotated[float, typer.Option("--fps", help="Frames per second of the animation.")] = 5.0,
    frame_s: Annotated[float, typer.Option("--frame-s", help="Simulated seconds per frame.")] = 1.0,
    size: Annotated[
        str, typer.Option("--size", metavar="WxH", help="Image size in pixels.")
    ] = "1280x720",
) -> None:
    """Animate a scenario: the balancer and its servers, one panel per strategy.

    Each frame shows frame-s seconds of the same traffic for every strategy: each server's
    state (up, draining, restarting, down), busy workers, queue and sessions held, the
    success rate and latency, and the events as captions.
    """
    from simulator.present import animate as animation  # noqa: PLC0415 (only this command draws)

    loaded = load(scenario, overrides, seed)
    names = strategy_names(strategy, loaded)
    problem = animation.fps_problem(fps)
    if problem is not None:
        fail(f"--fps: {problem}")
    problem = animation.frame_s_problem(loaded, frame_s)
    if problem is not None:
        fail(f"--frame-s: {problem}")
    dimensions = image_size(size, animation.MIN_SIZE)
    if out is None:
        out = Path(io.ANIMATION_GIF.format(scenario=file_name(loaded)))
    if out.suffix.lower() not in (".gif", ".mp4"):
        fail(f"--out: {out}: write a .gif or an .mp4 file")
    _not_a_folder(out, "cluster.gif")
    if out.suffix.lower() == ".mp4" and shutil.which("ffmpeg") is None:
        fail(f"--out: {out}: writing MP4 needs ffmpeg on the PATH; install it, or write a .gif")
    with user_errors(), steps("animate", "Animating", "{}") as progress:
        cluster = animation.simulate(loaded, names, frame_s=frame_s)
        progress(f"Drawing {cluster.count} frames")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            count = animation.save_animation(
                out, animation.iter_render(cluster, dimensions), fps=fps
            )
        except OSError as exc:
            fail_to_write(out, "the animation", exc)
    typer.echo(f"Wrote {one_line(str(out))} ({count} frames, {dimensions[0]}x{dimensions[1]})")


def image_size(text: str, smallest: tuple[int, int]) -> tuple[int, int]:
    """Parse ``--size WIDTHxHEIGHT`` (one line and exit 2 when it is not usable)."""
    width_text, _, height_text = text.lower().partition("x")
    # ASCII digits only: str.isdigit() also accepts '²' or '٣', which int() refuses
    if not all(part.isascii() and part.isdigit() for part in (width_text, height_text)):
        fail(f"--size: give WIDTHxHEIGHT in pixels, such as 1280x720 (got {text!r})")
    width, height = int(width_text), int(height_text)
    if not (smallest[0] <= width <= MAX_SIZE[0] and smallest[1] <= height <= MAX_SIZE[1]):
        fail(
            f"--size: {width}x{height} is outside {smallest[0]}x{smallest[1]} to "
            f"{MAX_SIZE[0]}x{MAX_SIZE[1]} pixels"
        )
    return width, height
