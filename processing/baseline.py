"""Personal baseline: median and 1.4826·MAD of the person's valid, motion-free resting 60 s windows.

* Samples: HR and ln RMSSD of valid (≤ 5 % artifacts), motion-free, ungated 60 s windows outside episodes
  with A below the elevated threshold. During warm-up every such fast window is kept; afterwards one every
  ``sample_every_s`` (300 s), which bounds memory (28 days ≤ 8064 samples, 13 bytes each) without changing
  a median materially. Warm-up samples are dropped once ``min_windows`` regular samples exist.
* Window of ``horizon_days`` (28 days); four local time-of-day bins (night 0-6 h, morning 6-12 h,
  afternoon 12-18 h, evening 18-24 h). A bin with at least ``min_bin_windows`` samples uses its own
  statistics; otherwise the all-day statistics; below ``min_windows`` samples the population defaults,
  and ``warming_up`` is True.
* SDs are floored so a very steady person does not make every change look huge.
* Persistence: :meth:`BaselineTracker.snapshot` gives the statistics per bin (stored in the archive's
  ``baseline`` table, column ``bin``); :meth:`BaselineTracker.restore` puts them back, bit for bit, and
  seeds the bin with normal-quantile pseudo-samples that reproduce its median and MAD, so that later
  updates continue from the saved history.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from processing.arousal import POPULATION_BASELINE, BaselineStats

MAD_TO_SD = 1.4826
DAY_S = 86400.0


class TimeBin(StrEnum):
    NIGHT = "night"
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"
    ALL = "all"


TOD_BINS: tuple[TimeBin, ...] = (TimeBin.NIGHT, TimeBin.MORNING, TimeBin.AFTERNOON, TimeBin.EVENING)
BASELINE_BINS: tuple[str, ...] = tuple(str(b) for b in (*TOD_BINS, TimeBin.ALL))


def local_offset_s(t: float) -> float:
    """The local time zone's UTC offset at epoch ``t`` (seconds)."""
    return float(time.localtime(t).tm_gmtoff)


def tod_bin(t: float, utc_offset_s: float | None = None) -> TimeBin:
    """The time-of-day bin of epoch ``t`` (local time unless ``utc_offset_s`` is given)."""
    off = local_offset_s(t) if utc_offset_s is None else utc_offset_s
    hour = ((t + off) % DAY_S) / 3600.0
    return TOD_BINS[min(int(hour // 6), 3)]


@dataclass(slots=True)
class _Samples:
    """Growable columnar store: epoch second (uint32), time bin (int8), HR and ln RMSSD (float32)."""

    cap: int
    n: int = 0
    t: npt.NDArray[np.uint32] = field(default_factory=lambda: np.empty(0, np.uint32))
    b: npt.NDArray[np.int8] = field(default_factory=lambda: np.empty(0, np.int8))
    hr: npt.NDArray[np.float32] = field(default_factory=lambda: np.empty(0, np.float32))
    lr: npt.NDArray[np.float32] = field(default_factory=lambda: np.empty(0, np.float32))

    def add(self, t: float, b: int, hr: float, lr: float, oldest_t: float) -> None:
        if self.n == self.t.size:
            self._drop_before(oldest_t)
        if self.n == self.t.size:
            if self.n >= self.cap:
                self._drop_first(max(1, self.n // 8))
            else:
                size = min(self.cap, max(64, 2 * self.t.size))
                self.t = np.resize(self.t, size)
                self.b = np.resize(self.b, size)
                self.hr = np.resize(self.hr, size)
                self.lr = np.resize(self.lr, size)
        i = self.n
        self.t[i], self.b[i], self.hr[i], self.lr[i] = int(t), b, hr, lr
        self.n += 1

    def _drop_first(self, k: int) -> None:
        for a in (self.t, self.b, self.hr, self.lr):
            a[: self.n - k] = a[k : self.n]
        self.n -= k

    def _drop_before(self, oldest_t: float) -> None:
        k = int(np.searchsorted(self.t[: self.n], oldest_t))
        if k:
            self._drop_first(k)

    @property
    def nbytes(self) -> int:
        return int(self.t.nbytes + self.b.nbytes + self.hr.nbytes + self.lr.nbytes)


@dataclass(slots=True)
class BaselineTracker:
    min_windows: int = 48
    min_bin_windows: int = 24
    sample_every_s: float = 300.0
    horizon_days: float = 28.0
    hr_sd_floor: float = 4.0
    ln_rmssd_sd_floor: float = 0.2
    utc_offset_s: float | None = None
    """None: the machine's local time zone decides the time-of-day bin."""
    population: BaselineStats = POPULATION_BASELINE
    _samples: _Samples = field(default_factory=lambda: _Samples(cap=8064))
    _warm: deque[tuple[float, int, float, float]] = field(default_factory=deque)
    _last_sample_t: float = -math.inf
    _stats: dict[TimeBin, BaselineStats] = field(default_factory=dict)
    _current: BaselineStats = POPULATION_BASELINE
    _unstamped: list[tuple[int, float, float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._samples = _Samples(cap=max(64, math.ceil(self.horizon_days * DAY_S / self.sample_every_s)))

    # -- queries ---------------------------------------------------------------------------------------
    @property
    def warming_up(self) -> bool:
        return self._stats.get(TimeBin.ALL) is None

    @property
    def current(self) -> BaselineStats:
        """The statistics last used (for the time of the last :meth:`stats_for` call)."""
        return self._current

    def stats_for(self, t: float) -> BaselineStats:
        """The baseline in force at epoch ``t``: its time bin, else all-day, else population."""
        s = self._stats.get(tod_bin(t, self.utc_offset_s)) or self._stats.get(TimeBin.ALL) or self.population
        self._current = s
        return s

    @property
    def n_samples(self) -> int:
        return self._samples.n + len(self._warm)

    @property
    def nbytes(self) -> int:
        """Approximate memory held by the sample store (bytes)."""
        return self._samples.nbytes + 100 * len(self._warm)

    # -- updates ---------------------------------------------------------------------------------------
    def add(self, hr_bpm: float, ln_rmssd: float, t: float | None = None) -> bool:
        """Offer one valid, motion-free resting 60 s window; returns True when it was kept."""
        if not (math.isfinite(hr_bpm) and math.isfinite(ln_rmssd)):
            return False
        if t is None:
            t = self._last_sample_t + self.sample_every_s if math.isfinite(self._last_sample_t) else 0.0
        b = TOD_BINS.index(tod_bin(t, self.utc_offset_s))
        if self._unstamped:
            self._stamp(t)
        regular = self._samples.n
        if regular < self.min_windows:
            if t - self._last_sample_t < self.sample_every_s:
                if len(self._warm) < self.min_windows:
                    self._warm.append((t, b, hr_bpm, ln_rmssd))
                    self._recompute(t, b)
                    return True
                return False
        elif t - self._last_sample_t < self.sample_every_s:
            return False
        self._samples.add(t, b, hr_bpm, ln_rmssd, t - self.horizon_days * DAY_S)
        self._last_sample_t = t
        if self._samples.n >= self.min_windows:
            self._warm.clear()
        self._recompute(t, b)
        return True

    def _stamp(self, t: float) -> None:
        for b, hr, lr, k in self._unstamped:
            for _ in range(k):
                self._samples.add(t, b, hr, lr, t - self.horizon_days * DAY_S)
        self._unstamped.clear()

    def _robust(
        self, hr: npt.NDArray[np.floating], lr: npt.NDArray[np.floating], source: str
    ) -> BaselineStats:
        hr_med = float(np.median(hr))
        lr_med = float(np.median(lr))
        hr_sd = max(MAD_TO_SD * float(np.median(np.abs(hr - hr_med))), self.hr_sd_floor)
        lr_sd = max(MAD_TO_SD * float(np.median(np.abs(lr - lr_med))), self.ln_rmssd_sd_floor)
        return BaselineStats(hr_med, hr_sd, lr_med, lr_sd, int(hr.size), source=source)

    def _recompute(self, t: float, b: int) -> None:
        s = self._samples
        keep = s.t[: s.n] >= t - self.horizon_days * DAY_S
        hr = s.hr[: s.n][keep].astype(np.float64)
        lr = s.lr[: s.n][keep].astype(np.float64)
        bins = s.b[: s.n][keep]
        if self._warm and s.n < self.min_windows:
            w = np.asarray([(x[1], x[2], x[3]) for x in self._warm], dtype=np.float64)
            hr = np.concatenate([hr, w[:, 1]])
            lr = np.concatenate([lr, w[:, 2]])
            bins = np.concatenate([bins, w[:, 0].astype(np.int8)])
        if hr.size < self.min_windows:
            return
        self._stats[TimeBin.ALL] = self._robust(hr, lr, "personal")
        sel = bins == b
        if int(np.count_nonzero(sel)) >= self.min_bin_windows:
            self._stats[TOD_BINS[b]] = self._robust(hr[sel], lr[sel], "personal")

    # -- persistence -----------------------------------------------------------------------------------
    def snapshot(self) -> list[tuple[str, BaselineStats]]:
        """(bin name, statistics) for every bin that has personal statistics (``all`` included)."""
        return [(str(b), s) for b, s in self._stats.items()]

    def restore(self, stats: BaselineStats, bin_name: str = "all") -> None:
        """Put back the saved statistics of one bin (a restart keeps the baseline)."""
        if stats.source != "personal":
            return
        b = TimeBin(bin_name)
        self._stats[b] = stats
        self._current = stats
        if b is TimeBin.ALL:
            return
        # pseudo-samples at normal quantiles reproduce the median (odd count) and the MAD of the bin
        k = min(stats.n_windows, self.min_windows * 2 + 1)
        k += 1 - k % 2
        nd = NormalDist()
        idx = TOD_BINS.index(b)
        for i in range(k):
            z = nd.inv_cdf((i + 0.5) / k)
            self._unstamped.append(
                (idx, stats.hr_bpm + z * stats.hr_sd, stats.ln_rmssd + z * stats.ln_rmssd_sd, 1)
            )
        self._last_sample_t = -math.inf
