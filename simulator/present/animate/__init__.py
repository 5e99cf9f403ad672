"""The cluster as an animation: one panel per strategy, frame by frame, on the same traffic.

Each frame shows ``frame_s`` seconds of simulated time (one time-series bucket of the
run, so the animation reuses the run's own series: run with ``bucket_s = frame_s``). A
panel draws the load balancer, a line to each server (solid while the balancer routes to
it, dashed when it does not), each server as a box coloured by its state, its busy
workers, its queue (one bar scale for the whole run, labelled) and the sessions held in
its memory, with the strategy's success rate and latency over the frame. Above the
panels: the clock, the events as captions (visible for :data:`CAPTION_HOLD_S` seconds
after they happen) and what the balancer has not noticed yet; below: the legend and a
timeline with the events and the playhead.

This package draws with Pillow (only :mod:`simulator.present.plots` imports matplotlib)
and writes GIFs with Pillow or MP4s through an ``ffmpeg`` executable, each file
atomically. One job per module:

- :mod:`~simulator.present.animate.frames`: simulate a run and turn it into per-frame
  data (:class:`ClusterFrames`).
- :mod:`~simulator.present.animate.layout`: where the header, panels and servers go.
- :mod:`~simulator.present.animate.canvas`: colours, font and Pillow primitives.
- :mod:`~simulator.present.animate.painter`: draw the frames.
- :mod:`~simulator.present.animate.video`: write a GIF or an MP4.

Typical use::

    from simulator import load_scenario
    from simulator.present.animate import iter_render, save_animation, simulate

    cluster = simulate(load_scenario("server-crash"), frame_s=1.0)
    save_animation("cluster.gif", iter_render(cluster), fps=5)
"""

from __future__ import annotations

from simulator.present.animate.canvas import STATE_COLOURS
from simulator.present.animate.frames import (
    CAPTION_HOLD_S,
    FRAME_S,
    MAX_FRAMES,
    AnimationError,
    ClusterFrames,
    StrategyFrames,
    check_frame_s,
    frame_count,
    frame_s_problem,
    frames,
    simulate,
)
from simulator.present.animate.layout import MIN_SIZE, SIZE, server_box
from simulator.present.animate.painter import iter_render, render, render_frame
from simulator.present.animate.video import FPS, MAX_FPS, fps_problem, save_animation

__all__ = [
    "CAPTION_HOLD_S",
    "FPS",
    "FRAME_S",
    "MAX_FPS",
    "MAX_FRAMES",
    "MIN_SIZE",
    "SIZE",
    "STATE_COLOURS",
    "AnimationError",
    "ClusterFrames",
    "StrategyFrames",
    "check_frame_s",
    "fps_problem",
    "frame_count",
    "frame_s_problem",
    "frames",
    "iter_render",
    "render",
    "render_frame",
    "save_animation",
    "server_box",
    "simulate",
]
