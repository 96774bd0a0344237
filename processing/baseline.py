"""Personal baseline (first form): median and 1.4826·MAD of the person's valid resting fast windows.

During warm-up (fewer than ``min_windows`` windows) the population defaults are used and the arousal
is flagged ``warming_up``. SDs are floored so a very steady warm-up does not make every change look huge.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from processing.arousal import POPULATION_BASELINE, BaselineStats

MAD_TO_SD = 1.4826


@dataclass(slots=True)
class BaselineTracker:
    min_windows: int = 48
    max_windows: int = 2000
    hr_sd_floor: float = 4.0
    ln_rmssd_sd_floor: float = 0.2
    _hr: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    _lr: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    _current: BaselineStats = POPULATION_BASELINE

    @property
    def warming_up(self) -> bool:
        return len(self._hr) < self.min_windows

    @property
    def current(self) -> BaselineStats:
        return self._current

    def add(self, hr_bpm: float, ln_rmssd: float) -> None:
        """Add one valid, resting (not gated, not in an episode) window."""
        self._hr.append(hr_bpm)
        self._lr.append(ln_rmssd)
        if len(self._hr) >= self.min_windows:
            self._current = self._compute()

    def _compute(self) -> BaselineStats:
        hr = np.asarray(self._hr)
        lr = np.asarray(self._lr)
        hr_med = float(np.median(hr))
        lr_med = float(np.median(lr))
        hr_sd = max(MAD_TO_SD * float(np.median(np.abs(hr - hr_med))), self.hr_sd_floor)
        lr_sd = max(MAD_TO_SD * float(np.median(np.abs(lr - lr_med))), self.ln_rmssd_sd_floor)
        return BaselineStats(hr_med, hr_sd, lr_med, lr_sd, int(hr.size), source="personal")

    def restore(self, stats: BaselineStats) -> None:
        """Start from a persisted baseline (a restart keeps it)."""
        self._current = stats
        if stats.source == "personal":
            fill = min(stats.n_windows, self.min_windows)
            self._hr.extend([stats.hr_bpm] * fill)
            self._lr.extend([stats.ln_rmssd] * fill)
