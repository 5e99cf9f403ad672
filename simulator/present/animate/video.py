"""Write the frames as a GIF (Pillow) or an MP4 (through an ``ffmpeg`` executable),
atomically: the file appears only once complete.
"""

from __future__ import annotations

import contextlib
import functools
import math
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from PIL import Image

from simulator.atomic import atomic_file, atomic_path
from simulator.present.animate.canvas import INK, RGB, SOLIDS, STATE_COLOURS, WHITE
from simulator.present.animate.frames import AnimationError

FPS = 5.0
"""Default frames per second of the animation."""

MAX_FPS = 50.0
"""Highest frame rate (GIF delays are whole hundredths of a second)."""


def save_animation(path: Path | str, images: Iterable[Image.Image], fps: float = FPS) -> int:
    """Write the frames as a GIF (Pillow) or, for a path ending in ``.mp4``, an H.264 MP4
    (through ``ffmpeg``), atomically: the file appears only once complete.

    Every image becomes one frame, shown ``1 / fps`` seconds (a GIF rounds that to
    hundredths of a second). Pillow merges a GIF frame identical to the one before into
    it; the frames of :func:`~simulator.present.animate.painter.render` always differ (the
    clock changes), and this function refuses images that would be merged, so the file
    has exactly one frame per image.

    Args:
        path: a ``.gif`` or ``.mp4`` file.
        images: the frames, all of one size.
        fps: frames per second, above 0 and at most :data:`MAX_FPS`.

    Returns:
        The number of frames written.

    Raises:
        AnimationError: another suffix, a bad ``fps``, no image, images of different
            sizes or two identical in a row (GIF), no ``ffmpeg`` (MP4) or ffmpeg failing.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise AnimationError(
            f"{target}: write a .gif or an .mp4 file (got {suffix or 'no suffix'!r})"
        )
    problem = fps_problem(fps)
    if problem is not None:
        raise AnimationError(f"fps: {problem}")
    if suffix == ".mp4":
        return _write_mp4(target, images, fps)
    return _write_gif(target, images, fps)


def fps_problem(fps: float) -> str | None:
    """What is wrong with a frame rate, in a few words, or ``None`` (above 0 and at most
    :data:`MAX_FPS`)."""
    if not math.isfinite(fps) or not 0 < fps <= MAX_FPS:
        return f"must be above 0 and at most {MAX_FPS:g} frames per second (got {fps:g})"
    return None


@functools.lru_cache(maxsize=1)
def _palette() -> Image.Image:
    """A fixed palette: every colour drawn, exactly, plus blends of them with ink and
    white and a ramp of greys for anti-aliased text and lines.

    Pillow maps a pixel to the palette entry nearest to its colour rounded down to a
    multiple of 4, so no blend may sit near a drawn colour: each drawn colour then maps
    to itself, and a state's fill reads back exactly from the GIF.
    """
    drawn = list(dict.fromkeys([*STATE_COLOURS.values(), *SOLIDS]))
    blends: list[RGB] = []
    for colour in drawn:
        for weight in (0.75, 0.5, 0.25):
            for other in (INK, WHITE):
                r, g, b = (
                    round(c * weight + o * (1 - weight)) for c, o in zip(colour, other, strict=True)
                )
                blends.append((r, g, b))
    blends += [(level, level, level) for level in range(0, 256, 8)]
    kept = [
        colour
        for colour in dict.fromkeys(blends)
        if all(max(abs(a - b) for a, b in zip(colour, other, strict=True)) > 12 for other in drawn)
    ]
    colours = [*drawn, *kept][:256]
    flat = [channel for colour in colours for channel in colour]
    palette = Image.new("P", (1, 1))
    palette.putpalette(flat + [0] * (768 - len(flat)))
    return palette


def _write_gif(target: Path, images: Iterable[Image.Image], fps: float) -> int:
    """Pillow keeps every frame of a GIF until the end (one byte per pixel each), so
    frames are converted to the fixed palette as Pillow asks for them."""
    palette = _palette()
    iterator = iter(images)
    first = next(iterator, None)
    if first is None:
        raise AnimationError("no frame to write")
    size = first.size
    written = 0
    previous: list[bytes] = []

    def indexed(image: Image.Image) -> Image.Image:
        nonlocal written
        if image.size != size:
            raise AnimationError(f"frame {written}: {image.size} differs from {size}")
        converted = image.convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE)
        data = converted.tobytes()
        if previous and data == previous[0]:
            raise AnimationError(
                f"frame {written} is identical to frame {written - 1}: a GIF would merge them"
            )
        previous[:] = [data]
        written += 1
        return converted

    with atomic_file(target) as handle:
        indexed(first).save(
            handle,
            format="GIF",
            save_all=True,
            append_images=(indexed(image) for image in iterator),
            duration=round(1000 / fps),
            loop=0,
            optimize=True,
        )
    return written


def _write_mp4(target: Path, images: Iterable[Image.Image], fps: float) -> int:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AnimationError(
            f"{target}: writing MP4 needs ffmpeg on the PATH; install it, or write a .gif"
        )
    iterator = iter(images)
    first = next(iterator, None)
    if first is None:
        raise AnimationError("no frame to write")
    width, height = first.size
    written = 0
    with atomic_path(target) as temp, tempfile.TemporaryFile() as log:
        command = [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-video_size",
            f"{width}x{height}",
            "-framerate",
            f"{fps:g}",
            "-i",
            "-",
            "-vf",
            "pad=ceil(iw/2)*2:ceil(ih/2)*2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            str(temp),
        ]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=log)
        stdin = process.stdin
        assert stdin is not None
        try:
            for image in _chain(first, iterator):
                if image.size != (width, height):
                    raise AnimationError(f"frame {written}: {image.size} differs from {first.size}")
                stdin.write(image.convert("RGB").tobytes())
                written += 1
        except BrokenPipeError:
            pass  # ffmpeg stopped reading: its exit code and message say why
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            with contextlib.suppress(OSError):
                stdin.close()
        code = process.wait()
        if code != 0:
            log.seek(0)
            lines = log.read().decode("utf-8", "replace").strip().splitlines()
            raise AnimationError(
                f"{target}: ffmpeg failed: {lines[-1] if lines else f'exit {code}'}"
            )
    return written


def _chain(first: Image.Image, rest: Iterator[Image.Image]) -> Iterator[Image.Image]:
    yield first
    yield from rest
