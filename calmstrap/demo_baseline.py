"""The demo's earlier calm half hour: the simulated person's own baseline, made before the demo starts.

A personal baseline needs 30 distinct minutes of ordinary windows (``processing.baseline``); the demo is 20
minutes. Instead of a shorter warm-up that would make the demo's baseline mean something else than the
service's, the demo first simulates the same person (same seed and model) sitting calmly for
``CALM_MINUTES`` before the demo, runs those beats through the same stream processing (not in real time,
nothing archived), and starts the demo with the baseline that produced. The summary says so.
"""

from __future__ import annotations

from processing.baseline import BaselineTracker
from processing.stream import StreamConfig, StreamProcessor
from sensors.beats import Beat
from sensors.simulated import RRGenerator, StrapModel

CALM_MINUTES = 32.0
"""A little more than the 30 minutes a personal baseline needs (the first minute fills the first window)."""


def calm_baseline(
    config: StreamConfig, *, seed: int, end_t: float, model: StrapModel | None = None, user: str = "demo"
) -> BaselineTracker:
    """The baseline learned from ``CALM_MINUTES`` of the simulated person at rest, ending at ``end_t``."""
    gen = RRGenerator(seed=seed + 10_000, model=model or StrapModel())
    proc = StreamProcessor(user=user, device="sim-calm", config=config)
    duration_s = CALM_MINUTES * 60.0
    start = end_t - duration_s
    while gen.t_s < duration_s:
        t_s, rr, _ = gen.next_rr()
        proc.push(Beat(start + t_s, rr, "sim-calm", user))
    return proc.baseline
