"""alerts.clock.PipelineClock: the pipeline's time as the notifiers extrapolate it."""

from __future__ import annotations

import math
import time

from alerts.clock import PipelineClock


def test_wall_clock_before_any_pipeline_time() -> None:
    """With no pipeline time yet, now() is the wall clock."""
    before = time.time()
    now = PipelineClock(60.0).now()
    assert before <= now <= time.time()


def test_extrapolates_at_time_scale() -> None:
    """After a pipeline time t, now() runs from t at time_scale pipeline seconds per wall second."""
    clock = PipelineClock(100.0)
    clock.advance(1_000.0)
    time.sleep(0.05)
    assert 1_004.0 <= clock.now() < 1_000.0 + 100.0 * 1.0


def test_never_goes_back() -> None:
    """An older or non-finite pipeline time is ignored."""
    clock = PipelineClock(1.0)
    clock.advance(2_000.0)
    clock.advance(1_000.0)
    clock.advance(math.nan)
    assert clock.now() >= 2_000.0
