"""The pipeline's clock as a notifier sees it: the newest pipeline time, extrapolated at ``time_scale``.

A demo runs the pipeline ``time_scale`` times faster than the wall clock; expiries are pipeline times. The
clock keeps the newest pipeline time it was told and the monotonic wall time it learned it, and
extrapolates ``now = t_last + (wall - wall_last) * time_scale``. Before any pipeline time it is the wall
clock. Times never go back (an older or non-finite time is ignored).
"""

from __future__ import annotations

import math
import time


class PipelineClock:
    __slots__ = ("_anchor", "time_scale")

    def __init__(self, time_scale: float = 1.0) -> None:
        self.time_scale = float(time_scale)
        self._anchor: tuple[float, float] | None = None

    def now(self) -> float:
        """The pipeline clock, extrapolated from its newest time at ``time_scale``."""
        if self._anchor is None:
            return time.time()
        t, mono = self._anchor
        return t + (time.monotonic() - mono) * self.time_scale

    def advance(self, t: float) -> None:
        """Learn a newer pipeline time."""
        if math.isfinite(t) and (self._anchor is None or t >= self._anchor[0]):
            self._anchor = (t, time.monotonic())
