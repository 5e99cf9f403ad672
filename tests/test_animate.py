"""``authsim animate``: the data behind the frames, the images, the files and the CLI.

The crash checks run on the built-in ``server-crash`` scenario with its own events
(server 2 crashes at 42 s, the balancer notices at 45 s, it recovers at 77 s and rejoins
at 80 s), measured from 35 s to 85 s to keep the run short.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import simulator.present.animate.video
from simulator import load_scenario, run
from simulator.cli.app import app
from simulator.outcomes import ABSENT, DOWN, RESTARTING, RETIRED, UP
from simulator.present.animate import (
    CAPTION_HOLD_S,
    STATE_COLOURS,
    AnimationError,
    ClusterFrames,
    frame_count,
    frames,
    render,
    render_frame,
    save_animation,
    server_box,
    simulate,
)
from simulator.results.timeseries import SERVER_SERIES_COLUMNS

SMALL = (480, 270)
"""Image size of the tests (small, fast, still above animate.MIN_SIZE)."""

CRASHED = 2
"""The server ``server-crash`` crashes."""

runner = CliRunner()


@pytest.fixture(scope="module")
def crash() -> ClusterFrames:
    return simulate(load_scenario("server-crash", {"warmup_s": 35, "duration_s": 85}))


def event_s(cluster: ClusterFrames, kind: str) -> float:
    (mark,) = [mark for mark in cluster.events if mark.kind == kind]
    return mark.start_s


def gif_frames(path: Path) -> list[Image.Image]:
    with Image.open(path) as gif:
        images = []
        for index in range(gif.n_frames):
            gif.seek(index)
            images.append(gif.convert("RGB"))
        return images


def corner(box: tuple[int, int, int, int]) -> tuple[int, int]:
    """A pixel inside a server box, clear of its border and centred label."""
    left, top, _, _ = box
    return left + 4, top + 4


# ------------------------------------------------------------------------ the data


@pytest.mark.parametrize("frame_s", [1.0, 0.5, 3.0])
def test_one_frame_per_frame_s_of_the_measured_window(frame_s: float) -> None:
    scenario = load_scenario("baseline", {"duration_s": 12, "warmup_s": 2})
    cluster = simulate(scenario, ["jwt"], frame_s=frame_s)
    expected = math.ceil((scenario.duration_s - scenario.warmup_s) / frame_s)
    assert cluster.count == expected == frame_count(scenario, frame_s)
    assert cluster.frame_s == frame_s
    assert cluster.t_s[0] == scenario.warmup_s
    assert np.allclose(np.diff(cluster.t_s), frame_s)
    clocks = [cluster.clock(index) for index in range(cluster.count)]
    assert len(set(clocks)) == cluster.count  # so no two frames can be merged
    assert clocks[0] == ("t = 2 s" if frame_s != 0.5 else "t = 2.0 s")


def test_frames_reuse_the_run_time_series() -> None:
    scenario = load_scenario("baseline", {"duration_s": 12, "warmup_s": 2, "bucket_s": 2})
    result = run(scenario, ["sticky", "jwt"], record_requests=False)
    cluster = frames(result)
    assert cluster.count == 5
    for item in result.results:
        assert item.series is not None
        drawn = cluster.strategy(item.strategy)
        assert np.array_equal(drawn.queue, item.series.queue_length)
        assert np.array_equal(drawn.requests, item.series.requests)
        assert np.array_equal(drawn.sessions, item.series.sessions)
    assert cluster.strategy("sticky").sessions.sum() > 0  # sticky keeps sessions in memory
    assert cluster.strategy("jwt").sessions.sum() == 0
    with pytest.raises(KeyError):
        cluster.strategy("local")


def test_server_timeseries_frame_has_the_new_columns() -> None:
    scenario = load_scenario("baseline", {"duration_s": 12, "warmup_s": 2})
    frame = run(scenario, ["sticky"], record_requests=False).server_timeseries_frame()
    assert list(frame.columns) == list(SERVER_SERIES_COLUMNS)
    assert set(frame["state"]) == {"up"}
    assert frame["in_balancer"].all()
    assert (frame["sessions"] > 0).all()
    assert (frame["busy_workers"] >= 0).all()


def test_the_crashed_server_goes_down_and_its_queue_empties(crash: ClusterFrames) -> None:
    crash_s, recover_s = event_s(crash, "server_crash"), event_s(crash, "server_recover")
    crashed, recovered = crash.frame_at(crash_s), crash.frame_at(recover_s)
    assert 0 < crashed < recovered < crash.count - 1
    noticed = crash.frame_at(math.ceil(crash_s / crash.health_check_s) * crash.health_check_s)
    for item in crash.strategies:
        state = item.state[CRASHED]
        assert (state[:crashed] == UP).all(), item.strategy
        assert (state[crashed:recovered] == DOWN).all(), item.strategy
        assert (state[recovered:] == UP).all(), item.strategy
        assert (item.queue[CRASHED, crashed:recovered] == 0).all(), item.strategy
        assert (item.busy[CRASHED, crashed:recovered] == 0).all(), item.strategy
        assert (item.sessions[CRASHED, crashed:recovered] == 0).all(), item.strategy
        # the balancer routes to the dead server until its next health check
        assert item.in_balancer[CRASHED, :noticed].all(), item.strategy
        assert not item.in_balancer[CRASHED, noticed:recovered].any(), item.strategy
        others = np.delete(item.state, CRASHED, axis=0)
        assert (others == UP).all(), item.strategy
    local = crash.strategy("local")  # the one whose login storm queues jobs
    assert local.queue[CRASHED, :crashed].max() > 0
    sticky = crash.strategy("sticky")
    assert (sticky.sessions[CRASHED, :crashed] > 0).all()  # lost in the crash
    assert crash.captions(crashed) == [f"{crash_s:g} s: crash server {CRASHED}"]
    assert crash.captions(crashed - 1) == []
    gone = crash.frame_at(crash_s + CAPTION_HOLD_S + crash.frame_s)
    assert crash.captions(gone) == []
    assert "still sends requests to server 2" in " ".join(crash.notes(crashed))
    assert crash.notes(noticed) == []


def test_deploys_and_scaling_show_as_states() -> None:
    scenario = load_scenario(
        "baseline",
        {
            "duration_s": 60,
            "warmup_s": 5,
            "events": [
                {"at_s": 10, "kind": "rolling_restart", "restart_s": 3, "interval_s": 0},
                {"at_s": 42, "kind": "scale_out"},
                {"at_s": 52, "kind": "scale_in", "count": 2, "graceful": False},
            ],
        },
    )
    cluster = simulate(scenario, ["jwt"])
    jwt = cluster.strategy("jwt")
    assert cluster.servers == 6
    for server in range(5):
        restarting = jwt.state[server] == RESTARTING
        assert 2 <= restarting.sum() <= 4  # down for restart_s = 3 s
    assert not (jwt.state == DOWN).any()
    added = jwt.state[5]
    joined = cluster.frame_at(42)
    assert (added[:joined] == ABSENT).all()
    assert (added[joined : cluster.frame_at(52)] == UP).all()
    assert not jwt.in_balancer[5, joined]  # until the next health check (45 s)
    assert jwt.in_balancer[5, cluster.frame_at(46)]
    assert (jwt.state[4:, cluster.frame_at(52) :] == RETIRED).all()  # the two highest
    assert (jwt.state[:4, cluster.frame_at(52) :] == UP).all()


# ------------------------------------------------------------------------ the images


def test_the_crashed_server_box_changes_colour(crash: ClusterFrames) -> None:
    crash_s = event_s(crash, "server_crash")
    before, after = crash.frame_at(crash_s) - 1, crash.frame_at(crash_s) + 1
    for name in ("sticky", "jwt"):
        dead = corner(server_box(crash, name, CRASHED, SMALL))
        alive = corner(server_box(crash, name, 0, SMALL))
        first, second = render_frame(crash, before, SMALL), render_frame(crash, after, SMALL)
        assert first.getpixel(dead) == STATE_COLOURS[UP]
        assert second.getpixel(dead) == STATE_COLOURS[DOWN]
        assert first.getpixel(alive) == second.getpixel(alive) == STATE_COLOURS[UP]


def test_gif_has_every_frame_at_the_size_and_the_crash_in_its_pixels(
    crash: ClusterFrames, tmp_path: Path
) -> None:
    path = tmp_path / "cluster.gif"
    written = save_animation(path, render(crash, SMALL), fps=5)
    assert written == crash.count
    images = gif_frames(path)
    assert len(images) == crash.count
    assert {image.size for image in images} == {SMALL}
    with Image.open(path) as gif:
        assert gif.info["duration"] == 200
        assert gif.info["loop"] == 0
    pixels = [np.asarray(image) for image in images]
    for first, second in itertools.pairwise(pixels):
        assert not np.array_equal(first, second)
    crash_s = event_s(crash, "server_crash")
    dead = corner(server_box(crash, "sticky", CRASHED, SMALL))
    assert images[crash.frame_at(crash_s) - 1].getpixel(dead) == STATE_COLOURS[UP]
    assert images[crash.frame_at(crash_s) + 1].getpixel(dead) == STATE_COLOURS[DOWN]
    assert os.listdir(tmp_path) == ["cluster.gif"]  # no temporary file left


def test_every_state_colour_survives_the_gif_palette(tmp_path: Path) -> None:
    images = [Image.new("RGB", (8, 8), colour) for colour in STATE_COLOURS.values()]
    path = tmp_path / "swatches.gif"
    save_animation(path, images, fps=10)
    read = gif_frames(path)
    assert [image.getpixel((4, 4)) for image in read] == list(STATE_COLOURS.values())


def test_identical_frames_in_a_row_are_refused(tmp_path: Path) -> None:
    same = [Image.new("RGB", (8, 8), (255, 255, 255)) for _ in range(2)]
    with pytest.raises(AnimationError, match="identical"):
        save_animation(tmp_path / "same.gif", same)
    assert os.listdir(tmp_path) == []


def test_a_failed_write_leaves_nothing_behind(crash: ClusterFrames, tmp_path: Path) -> None:
    def broken():
        yield render_frame(crash, 0, SMALL)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        save_animation(tmp_path / "broken.gif", broken())
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("path", "fps", "expected"),
    [
        ("cluster.png", 5.0, "write a .gif or an .mp4 file"),
        ("cluster.gif", 0.0, "fps: must be above 0"),
        ("cluster.gif", 120.0, "at most 50"),
    ],
)
def test_bad_paths_and_rates_are_one_line_errors(
    tmp_path: Path, path: str, fps: float, expected: str
) -> None:
    with pytest.raises(AnimationError, match=expected) as caught:
        save_animation(tmp_path / path, [Image.new("RGB", (8, 8))], fps=fps)
    assert "\n" not in str(caught.value)


def test_server_box_knows_the_panels(crash: ClusterFrames) -> None:
    boxes = [server_box(crash, name, 0, SMALL) for name in ("local", "sticky", "jwt")]
    assert len(set(boxes)) == 3
    assert server_box(crash, 1, 0, SMALL) == boxes[1]
    with pytest.raises(KeyError):
        server_box(crash, "nope", 0, SMALL)
    with pytest.raises(IndexError):
        server_box(crash, "jwt", crash.servers, SMALL)
    with pytest.raises(AnimationError, match="too small"):
        render_frame(crash, 0, (100, 100))


# ------------------------------------------------------------------------ MP4


def test_mp4_needs_ffmpeg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without ffmpeg, writing an MP4 is a one-line error and writes nothing (the
    documented behaviour, checked whether or not this machine has ffmpeg)."""
    monkeypatch.setattr(simulator.present.animate.video.shutil, "which", lambda name: None)
    with pytest.raises(AnimationError) as caught:
        save_animation(tmp_path / "cluster.mp4", [Image.new("RGB", (8, 8))])
    message = str(caught.value)
    assert "needs ffmpeg" in message and "\n" not in message
    assert os.listdir(tmp_path) == []


def test_mp4_with_ffmpeg_or_its_one_line_error(crash: ClusterFrames, tmp_path: Path) -> None:
    path = tmp_path / "cluster.mp4"
    images = render(crash, (482, 271))[:10]  # odd sizes: padded to even ones
    if shutil.which("ffmpeg") is None:
        with pytest.raises(AnimationError, match="writing MP4 needs ffmpeg"):
            save_animation(path, images)
        assert os.listdir(tmp_path) == []
        return
    assert save_animation(path, images, fps=5) == 10
    data = path.read_bytes()
    assert data[4:8] == b"ftyp"
    assert os.listdir(tmp_path) == ["cluster.mp4"]


# ------------------------------------------------------------------------ the CLI


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_writes_the_gif(tmp_path: Path) -> None:
    path = tmp_path / "out" / "cluster.gif"
    code, out, err = invoke(
        "animate",
        "server-crash",
        "--set",
        "warmup_s=38",
        "--set",
        "duration_s=48",
        "--set",
        "events=[{kind: server_crash, at_s: 42, server: 2}]",
        "-s",
        "sticky",
        "-s",
        "jwt",
        "--size",
        "480x270",
        "--fps",
        "4",
        "-o",
        str(path),
    )
    assert code == 0, err
    assert out.strip() == f"Wrote {path} (10 frames, 480x270)"
    images = gif_frames(path)
    assert len(images) == 10
    assert images[0].size == (480, 270)


def test_cli_default_output_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke(
        "animate", "--set", "duration_s=6", "--set", "warmup_s=2", "-s", "jwt", "--frame-s", "2"
    )
    assert code == 0, err
    path = Path("results") / "animate-baseline.gif"
    assert out.strip() == f"Wrote {path} (2 frames, 1280x720)"
    assert len(gif_frames(tmp_path / path)) == 2


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "cluster.server=3"], "did you mean 'servers'?"),
        (["--fps", "0"], "--fps: must be above 0"),
        (["--frame-s", "0"], "--frame-s: must be > 0"),
        (["--frame-s", "0.001"], "--frame-s: 90,000 frames of 0.001 s is too many (at most 600)"),
        (["--size", "big"], "--size: give WIDTHxHEIGHT"),
        (["--size", "²x²"], "--size: give WIDTHxHEIGHT"),  # digits to isdigit(), not to int()
        (["--size", "٤٨٠x٢٧٠"], "--size: give WIDTHxHEIGHT"),
        (["-o", "cluster.png"], "write a .gif or an .mp4 file"),
        (["-s", "jwtt"], "did you mean 'jwt'?"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args: list[str], expected: str) -> None:
    code, out, err = invoke("animate", "server-crash", *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert expected in err
    assert "Traceback" not in err


def test_cli_mp4_without_ffmpeg_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    code, _, err = invoke("animate", "-o", str(tmp_path / "cluster.mp4"))
    assert code == 2
    assert err.count("\n") == 1 and "needs ffmpeg" in err
    assert os.listdir(tmp_path) == []
