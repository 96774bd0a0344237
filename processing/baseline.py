"""Personal baseline: time-weighted median and 1.4826·MAD of the person's ordinary 60 s windows.

* Samples (unbiased): HR and ln RMSSD of every valid (≤ 5 % artifacts) fast window that is not gated as
  physical (``active``), not settling after a posture change and not inside an episode -- calm or not. Only
  distinct windows count: a sample is kept when its window does not overlap the previous sample's
  (``window_s``, 60 s, apart). While warming up every distinct window is kept, then (dense) one every
  1-1.25 windows until ``dense_minutes`` (a day) are collected, after that one every ``sample_every_s``
  (300 s) on average, which bounds memory (28 days: about 8064 samples, 10 bytes each). A young baseline
  needs the dense samples: with one per 5 minutes, four hours give about 45, and the median score of a
  5-minute resting recording looped for 4 hours landed anywhere from 36.7 to 52.6 depending on the draw of
  the spacing (four draws); with them 49.9-50.2 (three draws; tests/calmstrap/test_replay_scenarios.py).
  The spacing is drawn on a continuous scale (a fixed pseudo-random sequence), never a whole number of
  windows: the windows are offered on a fixed 5 s step, so a stride of whole windows would alias with
  anything periodic in the data. Each sample carries the minutes it stands for (1 while dense, the
  spacing after), so the medians weigh time, not sample count.
* "Personal" after ``min_minutes`` (30) minutes of such windows; before that ``warming_up`` is True and
  :attr:`BaselineTracker.progress` says how far along (minutes collected / needed). From ``provisional_minutes``
  (5) on, the person's own provisional statistics are used (``source = "provisional"``), before that the
  population defaults; the exercise rules never compare with the population.
* Time of day without steps: the statistics in force at a time are weighted with a circular kernel over
  the hour of day: weight 1 within ``kernel_flat_h`` (2 h), beyond that a von Mises (circular normal) tail
  (``kernel_kappa`` 4: 0.31 at 5 h, 0.02 at 8 h), computed on an hourly grid and interpolated linearly
  between hours (so an hour of data always weighs the same, whatever minute the clock shows). Where fewer than
  ``local_min_minutes`` (120) kernel-weighted minutes lie near that hour, the result is blended towards the
  all-day statistics in proportion.
* Window of ``horizon_days`` (28 days). SDs are floored so a very steady person does not make every change
  look huge.
* Persistence: :meth:`BaselineTracker.snapshot` gives the all-day statistics (bin ``all``, ``n_windows`` =
  all minutes collected) and the statistics in force at the centre of each quarter of the day (``night`` =
  03:00, ``morning`` 09:00, ``afternoon`` 15:00, ``evening`` 21:00; ``n_windows`` = the minutes collected in
  that quarter) for the archive's ``baseline`` table; :meth:`BaselineTracker.restore` puts each quarter back
  as pseudo-samples at normal quantiles at its centre hour, which reproduce its median and MAD and its
  minutes, so later updates continue from the saved history.
* Local time: ``utc_offset_s`` is a fixed offset (seconds), a function ``t -> offset``, a ``tzinfo`` (the
  pipeline passes ``[general] timezone``'s IANA zone, daylight saving included), or None for the machine's
  local time zone.
"""

from __future__ import annotations

import functools
import math
import random
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from processing.arousal import POPULATION_BASELINE, BaselineStats
from processing.reduce import total


def _load_robust() -> types.ModuleType | None:
    try:  # the compiled median and MAD (setup.py, processing/_robust.c): the same numbers in one call
        from processing import _robust
    except ImportError:  # built without a C compiler: numpy alone
        return None
    return _robust


_ROBUST_KERNEL: types.ModuleType | None = _load_robust()
"""processing/_robust.c, or None (numpy alone; tests set it to compare the two)."""

MAD_TO_SD = 1.4826
DAY_S = 86400.0
HOUR_STEPS = 10
"""Hour of day is stored in tenths of an hour (0..239)."""

UtcOffset = float | Callable[[float], float] | tzinfo | None


class TimeBin(StrEnum):
    NIGHT = "night"
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"
    ALL = "all"


TOD_BINS: tuple[TimeBin, ...] = (TimeBin.NIGHT, TimeBin.MORNING, TimeBin.AFTERNOON, TimeBin.EVENING)
BIN_CENTRE_H: dict[TimeBin, float] = {
    TimeBin.NIGHT: 3.0,
    TimeBin.MORNING: 9.0,
    TimeBin.AFTERNOON: 15.0,
    TimeBin.EVENING: 21.0,
}
BASELINE_BINS: tuple[str, ...] = tuple(str(b) for b in (*TOD_BINS, TimeBin.ALL))


def local_offset_s(t: float) -> float:
    """The local time zone's UTC offset at epoch ``t`` (seconds)."""
    return float(time.localtime(t).tm_gmtoff)


def _offset(t: float, utc_offset_s: UtcOffset) -> float:
    if utc_offset_s is None:
        return local_offset_s(t)
    if isinstance(utc_offset_s, tzinfo):
        off = datetime.fromtimestamp(t, utc_offset_s).utcoffset()
        return off.total_seconds() if off is not None else 0.0
    if callable(utc_offset_s):
        return float(utc_offset_s(t))
    return float(utc_offset_s)


def hour_of_day(t: float, utc_offset_s: UtcOffset = None) -> float:
    """Local hour of day of epoch ``t`` in [0, 24)."""
    return ((t + _offset(t, utc_offset_s)) % DAY_S) / 3600.0


def tod_bin(t: float, utc_offset_s: UtcOffset = None) -> TimeBin:
    """The quarter of the day of epoch ``t`` (local time unless ``utc_offset_s`` is given)."""
    return TOD_BINS[min(int(hour_of_day(t, utc_offset_s) // 6), 3)]


def weighted_median(x: npt.NDArray[np.float64], w: npt.NDArray[np.float64]) -> float:
    """The smallest x at which the cumulative weight reaches half the total (lower weighted median)."""
    order = stable_argsort(x)
    return _sorted_weighted_median(x[order], order, w)


_GRID = float(2**24)
"""Every float16 value (the samples' storage), and every difference of two, is a whole multiple of 2^-24."""


def stable_argsort(x: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """``np.argsort(x, kind="stable")``, faster for values on the float16 grid (the baseline's samples).

    Values stored as float16 repeat a lot (HR in steps of 1/16 bpm), and numpy's stable sort of such floats
    is several times slower than its default sort. On that grid each value is a whole number of 2^-24
    steps below 2^40, so (value in steps) · 2^b + index, b the bits of the largest index, is a unique int64
    key in the same order as (value, index): any sort of it gives the stable order. Values off the grid
    take numpy's stable sort.
    """
    n = x.size
    bits = max(1, (n - 1).bit_length())
    steps = x * _GRID
    ints = steps.astype(np.int64)
    if bits > 22 or not np.array_equal(ints, steps) or np.abs(ints).max() >= 1 << (62 - bits):
        # off the grid, or too many or too large values to pack
        return np.argsort(x, kind="stable")
    key = (ints << bits) | np.arange(n, dtype=np.int64)
    return np.argsort(key)


def _sorted_weighted_median(
    x_sorted: npt.NDArray[np.float64], order: npt.NDArray[np.intp], w: npt.NDArray[np.float64]
) -> float:
    """:func:`weighted_median` of x given ``order`` = its stable argsort and ``x_sorted`` = x[order] (one
    sort serves every weighting of the same values: the same arithmetic, the same result)."""
    cw = w[order].cumsum()
    i = int(cw.searchsorted(0.5 * cw[-1]))
    return float(x_sorted[min(i, x_sorted.size - 1)])


def _float16_keys(x16: npt.NDArray[np.float16]) -> npt.NDArray[np.uint16] | None:
    """Order-preserving uint16 keys of float16 values: a < b exactly when key(a) < key(b), and equal
    values (+0 and -0 too) share a key; None when a value is not finite."""
    c = x16.view(np.uint16)
    if bool(((c & 0x7C00) == 0x7C00).any()):
        return None
    neg = c >= 0x8000
    return np.asarray(np.where(neg, 0x8000 - (c & 0x7FFF), c | 0x8000), dtype=np.uint16)


def _key_values(keys: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """The float16 values (as float64) of keys made by :func:`_float16_keys`."""
    c = np.where(keys >= 0x8000, keys - 0x8000, 0x8000 | (0x8000 - keys)).astype(np.uint16)
    return np.asarray(c.view(np.float16).astype(np.float64), dtype=np.float64)


_KEYED_FROM = 2048
"""From this many samples on the keyed radix sorts cost less than numpy's stable sorts (callgrind,
instructions per recompute: at 1,440 samples 3.68 M keyed vs 3.62 M plain, at 8,064 11.1 M vs 22.5 M)."""


@dataclass(frozen=True, slots=True)
class _Column:
    """One column of samples (HR or ln RMSSD) as float64, with its stable sort order and what the orders
    of its deviations from a median need.

    The values are stored as float16, so they repeat a lot and take at most 65,536 distinct values: their
    stable order is a radix sort of 16-bit keys (numpy's stable sort of 16-bit integers), and the stable
    order of ``|x - med|`` a radix sort of each value's rank among the distinct deviations. Both are the
    orders ``np.argsort(..., kind="stable")`` gives on the float64 values (ties by index), at a fraction of
    its cost: at 8,064 samples (28 days) numpy's stable sort of the float64 values took 502 us, that of the
    16-bit keys 55 us (best of 5, loaded machine).
    """

    values: npt.NDArray[np.float64]
    order: npt.NDArray[np.intp]
    sorted: npt.NDArray[np.float64]
    dense: npt.NDArray[np.intp] | None
    """Per sample, the index of its value in ``distinct`` (None: no keys, plain sorts)."""
    distinct: npt.NDArray[np.float64]
    by_median: dict[float, tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]] = field(default_factory=dict)
    """The deviation orders already made, by median (the hours and the all-day statistics often share one)."""

    @classmethod
    def of(cls, x16: npt.NDArray[np.float16], *, keyed: bool | None = None) -> _Column:
        """The column of ``x16``; ``keyed``: through the radix sorts (None: from ``_KEYED_FROM`` samples)."""
        values = x16.astype(np.float64)
        use_keys = x16.size >= _KEYED_FROM if keyed is None else keyed
        keys = _float16_keys(x16) if use_keys else None
        if keys is None:
            order = np.argsort(values, kind="stable")
            return cls(values, order, values[order], None, np.empty(0))
        order = np.argsort(keys, kind="stable")
        ranked = keys[order]
        new = np.empty(ranked.size, dtype=np.bool_)
        new[:1] = True
        np.not_equal(ranked[1:], ranked[:-1], out=new[1:])
        dense = np.empty(ranked.size, dtype=np.intp)
        dense[order] = np.cumsum(new) - 1  # each sample's place among the distinct values, in order
        return cls(values, order, values[order], dense, _key_values(ranked[new].astype(np.intp)))

    def deviation_order(self, med: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
        """``|x - med|`` and its stable sort order."""
        got = self.by_median.get(med)
        if got is not None:
            return got
        dev = np.abs(self.values - med)
        if self.dense is None:
            got = (dev, np.argsort(dev, kind="stable"))
        else:
            _, rank = np.unique(np.abs(self.distinct - med), return_inverse=True)
            got = (dev, np.argsort(rank.astype(np.uint16)[self.dense], kind="stable"))
        self.by_median[med] = got
        return got


def median_mad(col: _Column, w: npt.NDArray[np.float64], *, compiled: bool = True) -> tuple[float, float]:
    """The lower weighted median of a column under weights ``w`` and the same of its absolute deviations
    from it (the MAD, unscaled). ``compiled``: through processing/_robust.c when it is built (one call
    instead of about a dozen numpy calls; the same numbers bit for bit,
    ``tests/processing/test_baseline_kernel.py``)."""
    if compiled and _ROBUST_KERNEL is not None:
        got: tuple[float, float] | None = _ROBUST_KERNEL.weighted_median_mad(col.sorted, col.order, w)
        if got is not None:
            return got
    med = _sorted_weighted_median(col.sorted, col.order, w)
    dev, order = col.deviation_order(med)
    return med, _sorted_weighted_median(dev[order], order, w)


@dataclass(frozen=True, slots=True)
class _Columns:
    """The samples of one baseline version: HR and ln RMSSD columns, minutes, hour-of-day codes. The all-day
    statistics and both hours a :meth:`BaselineTracker.stats_for` call recomputes after a new sample share
    them (one sort of each instead of three)."""

    hr: _Column
    lr: _Column
    m: npt.NDArray[np.float64]
    h: npt.NDArray[np.uint8]
    """Hour of day in tenths (the stored codes)."""


@functools.lru_cache(maxsize=96)
def _kernel(hour: int, kappa: float, flat_h: float) -> npt.NDArray[np.float64]:
    """Per hour-of-day code (tenths of an hour), the time-of-day weight at ``hour``: weight 1 within
    ``flat_h``, a von Mises tail beyond (module docstring). Computed on the 240 codes, not on every sample,
    and kept for the process, read-only (24 tables of 1.9 KB for one kernel, shared by every strap)."""
    h = np.arange(24 * HOUR_STEPS, dtype=np.uint8).astype(np.float64) / HOUR_STEPS
    d = np.abs((h - hour + 12.0) % 24.0 - 12.0)  # circular distance in hours, 0..12
    d = np.maximum(d - flat_h, 0.0)
    table = np.asarray(np.exp(kappa * (np.cos(2.0 * math.pi * d / 24.0) - 1.0)), dtype=np.float64)
    table.setflags(write=False)
    return table


@dataclass(slots=True)
class _Samples:
    """Growable columnar store: epoch second (uint32), hour of day (tenths, uint8), minutes it stands for
    (uint8), HR and ln RMSSD (float16: steps of 1/16 bpm at 64-128 bpm and of 0.002-0.004 in ln RMSSD,
    far below what a baseline can tell; 10 bytes a sample)."""

    cap: int
    n: int = 0
    minutes: int = 0
    """Sum of ``m`` over the stored samples (kept up to date: it is asked for every window)."""
    t: npt.NDArray[np.uint32] = field(default_factory=lambda: np.empty(0, np.uint32))
    h: npt.NDArray[np.uint8] = field(default_factory=lambda: np.empty(0, np.uint8))
    m: npt.NDArray[np.uint8] = field(default_factory=lambda: np.empty(0, np.uint8))
    hr: npt.NDArray[np.float16] = field(default_factory=lambda: np.empty(0, np.float16))
    lr: npt.NDArray[np.float16] = field(default_factory=lambda: np.empty(0, np.float16))

    def add(self, t: float, h: int, minutes: int, hr: float, lr: float, oldest_t: float) -> None:
        if self.n == self.t.size:
            self.drop_before(oldest_t)
        if self.n == self.t.size:
            if self.n >= self.cap:
                self._drop_first(max(1, self.n // 8))
            else:
                size = min(self.cap, max(64, 2 * self.t.size))
                self.t = np.resize(self.t, size)
                self.h = np.resize(self.h, size)
                self.m = np.resize(self.m, size)
                self.hr = np.resize(self.hr, size)
                self.lr = np.resize(self.lr, size)
        i = self.n
        self.t[i], self.h[i], self.m[i], self.hr[i], self.lr[i] = int(t), h, minutes, hr, lr
        self.n += 1
        self.minutes += int(minutes)

    def _drop_first(self, k: int) -> None:
        self.minutes -= int(self.m[:k].sum(dtype=np.int64))
        for a in (self.t, self.h, self.m, self.hr, self.lr):
            a[: self.n - k] = a[k : self.n]
        self.n -= k

    def drop_before(self, oldest_t: float) -> None:
        k = int(np.searchsorted(self.t[: self.n], max(oldest_t, 0.0)))
        if k:
            self._drop_first(k)

    @property
    def nbytes(self) -> int:
        return int(self.t.nbytes + self.h.nbytes + self.m.nbytes + self.hr.nbytes + self.lr.nbytes)


@dataclass(frozen=True, slots=True)
class BaselineProgress:
    """How far the warm-up is: distinct minutes of windows collected, of ``needed_min``."""

    collected_min: float
    needed_min: float

    @property
    def fraction(self) -> float:
        return 1.0 if self.needed_min <= 0 else min(1.0, self.collected_min / self.needed_min)


@dataclass(slots=True)
class BaselineTracker:
    min_minutes: float = 30.0
    provisional_minutes: float = 5.0
    window_s: float = 60.0
    """Samples at least this far apart: their windows do not overlap."""
    sample_every_s: float = 300.0
    dense_minutes: float = 1440.0
    """Every distinct window is kept until this many minutes are collected (a day), then one every
    ``sample_every_s`` on average: a young baseline needs many samples to be precise (see :meth:`add`)."""
    dense_jitter: float = 0.25
    """While dense, samples are 1 to 1 + this many windows apart (drawn; see :meth:`_draw_gap`)."""
    horizon_days: float = 28.0
    hr_sd_floor: float = 4.0
    ln_rmssd_sd_floor: float = 0.2
    kernel_kappa: float = 4.0
    kernel_flat_h: float = 2.0
    local_min_minutes: float = 120.0
    utc_offset_s: UtcOffset = None
    """None: the machine's local time zone decides the hour of day; a number or a function of t otherwise."""
    population: BaselineStats = POPULATION_BASELINE
    _samples: _Samples = field(default_factory=lambda: _Samples(cap=8064))
    _last_sample_t: float = -math.inf
    _next_gap_s: float = 300.0
    _draws: int = 0
    _version: int = 0
    _grid: dict[int, tuple[int, BaselineStats]] = field(default_factory=dict)
    _all: tuple[int, BaselineStats | None] = (-1, None)
    _current: BaselineStats = POPULATION_BASELINE
    _pending: list[tuple[int, int, float, float]] = field(default_factory=list)
    _restored_tod: bool = False
    _restored: list[tuple[str, BaselineStats]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._samples = _Samples(cap=max(64, math.ceil(self.horizon_days * DAY_S / self.sample_every_s)))

    # -- queries ---------------------------------------------------------------------------------------
    @property
    def collected_minutes(self) -> float:
        if not self._pending:  # the usual case: asked for every fast window
            return float(self._samples.minutes)
        return float(self._samples.minutes + sum(p[1] for p in self._pending))

    @property
    def _dense(self) -> bool:
        return self.collected_minutes < max(self.dense_minutes, self.min_minutes)

    @property
    def warming_up(self) -> bool:
        return self.collected_minutes < self.min_minutes

    @property
    def progress(self) -> BaselineProgress:
        return BaselineProgress(min(self.collected_minutes, self.min_minutes), self.min_minutes)

    @property
    def current(self) -> BaselineStats:
        """The statistics last used (for the time of the last :meth:`stats_for` call)."""
        return self._current

    @property
    def n_samples(self) -> int:
        return self._samples.n + len(self._pending)

    @property
    def nbytes(self) -> int:
        """Approximate memory held by the sample store (bytes)."""
        return self._samples.nbytes + 64 * len(self._grid)

    def stats_for(self, t: float) -> BaselineStats:
        """The baseline in force at epoch ``t`` (personal, provisional or population)."""
        self._stamp(t)
        collected = self._samples.minutes
        if collected < min(self.provisional_minutes, self.min_minutes):
            s = self.population
        elif collected < self.min_minutes:
            s = self._overall("provisional")
        else:
            h = hour_of_day(t, self.utc_offset_s)
            h0 = int(h) % 24
            h1 = (h0 + 1) % 24
            f = h - int(h)
            a, b = self._cached(h0), self._cached(h1)  # the usual call: both made for this version
            if a is None or b is None:
                cols = self._columns_if_stale(h0, h1)
                a = self._at_hour(h0, cols)
                b = self._at_hour(h1, cols)
            s = _blend(a, b, f, "personal")
        self._current = s
        return s

    def all_day(self) -> BaselineStats | None:
        """The all-day statistics (no time-of-day weighting), None while warming up."""
        if self.warming_up:
            return None
        return self._overall("personal")

    # -- updates ---------------------------------------------------------------------------------------
    def add(self, hr_bpm: float, ln_rmssd: float, t: float) -> bool:
        """Offer one valid, ordinary (not active, settling or episode) 60 s window ending at ``t``; True
        when it was kept (it does not overlap the last kept one, and after warm-up one per 5 minutes)."""
        if not (math.isfinite(hr_bpm) and math.isfinite(ln_rmssd)):
            return False
        self._stamp(t)
        if t - self._last_sample_t < max(self._next_gap_s, self.window_s):
            return False
        if self._dense:
            minutes = 1
        else:
            # stands for the time since the last sample, at most the longest spacing drawn
            longest = 2.0 * self.sample_every_s - self.window_s
            minutes = max(1, min(255, round(min(t - self._last_sample_t, longest) / 60.0)))
        h = int(hour_of_day(t, self.utc_offset_s) * HOUR_STEPS) % (24 * HOUR_STEPS)
        self._samples.add(t, h, minutes, hr_bpm, ln_rmssd, t - self.horizon_days * DAY_S)
        self._last_sample_t = t
        self._version += 1
        self._next_gap_s = self._draw_gap()
        return True

    def _draw_gap(self) -> float:
        """The spacing to the next sample, drawn from a fixed pseudo-random sequence (the same data give the
        same samples) on a continuous scale: while warming up one window (every distinct window counts), then
        until ``dense_minutes`` are collected 1 to 1 + ``dense_jitter`` windows, after that 1 window to
        2·sample_every - 1 window (mean ``sample_every_s``).

        Never a whole number of windows after warm-up: the windows are offered on a fixed step, so
        spacings that are multiples of the window length sample the same few phases of anything periodic in
        the data at a multiple of a minute (a 5-minute recording looped for hours was baselined on the same
        4 of its 5 minutes, the one before each seam never).
        """
        self._draws += 1
        u = random.Random(self._draws).random()
        if self.warming_up:  # every distinct window: warm-up needs min_minutes of them
            return self.window_s
        if self._dense:
            return self.window_s * (1.0 + self.dense_jitter * u)
        return self.window_s + u * 2.0 * (self.sample_every_s - self.window_s)

    def _stamp(self, t: float) -> None:
        """Restored pseudo-samples get the time of the first use after the restore."""
        if not self._pending:
            return
        for h, minutes, hr, lr in self._pending:
            self._samples.add(t, h, minutes, hr, lr, t - self.horizon_days * DAY_S)
        self._pending.clear()
        self._restored.clear()
        self._version += 1

    def _columns(self) -> _Columns:
        s = self._samples
        n = s.n
        return _Columns(_Column.of(s.hr[:n]), _Column.of(s.lr[:n]), s.m[:n].astype(np.float64), s.h[:n])

    def _columns_if_stale(self, *hours: int) -> _Columns | None:
        """The sorted columns, made once, when any of ``hours`` (or the all-day statistics they blend
        with) must be recomputed for the current version; None when all are cached."""
        fresh = all(self._cached(h) is not None for h in hours)
        return None if fresh else self._columns()

    def _cached(self, hour: int) -> BaselineStats | None:
        """The statistics at ``hour`` made for the current version, None when they must be recomputed."""
        got = self._grid.get(hour)
        return got[1] if got is not None and got[0] == self._version else None

    def _robust(self, cols: _Columns, w: npt.NDArray[np.float64], source: str) -> BaselineStats:
        hr_med, hr_mad = median_mad(cols.hr, w)
        lr_med, lr_mad = median_mad(cols.lr, w)
        hr_sd = max(MAD_TO_SD * hr_mad, self.hr_sd_floor)
        lr_sd = max(MAD_TO_SD * lr_mad, self.ln_rmssd_sd_floor)
        return BaselineStats(hr_med, hr_sd, lr_med, lr_sd, round(float(total(w))), source=source)

    def _overall(self, source: str, cols: _Columns | None = None) -> BaselineStats:
        version, cached = self._all
        if cached is None or version != self._version or cached.source != source:
            cols = cols or self._columns()
            cached = self._robust(cols, cols.m, source)
            self._all = (self._version, cached)
        return cached

    def _at_hour(self, hour: int, cols: _Columns | None = None) -> BaselineStats:
        got = self._cached(hour)
        if got is not None:
            return got
        cols = cols or self._columns()
        w = cols.m * _kernel(hour, self.kernel_kappa, self.kernel_flat_h)[cols.h]
        local = self._robust(cols, w, "personal")
        share = min(1.0, float(total(w)) / self.local_min_minutes)
        out = _blend(self._overall("personal", cols), local, share, "personal")
        out = BaselineStats(
            out.hr_bpm, out.hr_sd, out.ln_rmssd, out.ln_rmssd_sd, self._samples.minutes, source="personal"
        )
        self._grid[hour] = (self._version, out)
        return out

    # -- persistence -----------------------------------------------------------------------------------
    def snapshot(self) -> list[tuple[str, BaselineStats]]:
        """(bin name, statistics): ``all`` and each quarter's centre hour; ``source`` is ``provisional`` while
        warming up (so a warm-up spread over several short sessions keeps its minutes); empty without data."""
        if self._pending:  # restored and not used since: what was restored
            return list(self._restored)
        if self._samples.n == 0:
            return []
        source = "provisional" if self.warming_up else "personal"
        quarter = self._samples.h[: self._samples.n] // (6 * HOUR_STEPS)
        minutes = self._samples.m[: self._samples.n].astype(np.int64)
        out = []
        cols = self._columns_if_stale(*(int(BIN_CENTRE_H[b]) for b in TOD_BINS))
        for i, b in enumerate(TOD_BINS):
            s = self._at_hour(int(BIN_CENTRE_H[b]), cols)
            own = int(minutes[quarter == i].sum())
            out.append((str(b), BaselineStats(s.hr_bpm, s.hr_sd, s.ln_rmssd, s.ln_rmssd_sd, own, source)))
        out.append((str(TimeBin.ALL), self._overall(source)))
        return out

    def restore(self, stats: BaselineStats, bin_name: str = "all") -> None:
        """Put back the saved statistics of one bin (a restart keeps the baseline).

        Quarter bins come back as pseudo-samples at their centre hour; ``all`` only when no quarter bin was
        restored (an archive that saved only the all-day row), spread over the four centres.
        """
        if stats.source not in ("personal", "provisional"):
            return
        b = TimeBin(bin_name)
        self._restored = [r for r in self._restored if r[0] != str(b)] + [(str(b), stats)]
        if b is TimeBin.ALL:
            if self._restored_tod:
                return
            per = max(1, stats.n_windows // 4)
            for c in TOD_BINS:
                self._seed(stats, BIN_CENTRE_H[c], per)
            return
        if not self._restored_tod:
            self._pending.clear()
        self._restored_tod = True
        if stats.n_windows > 0:  # the minutes collected in that quarter of the day
            self._seed(stats, BIN_CENTRE_H[b], stats.n_windows)
        self._current = stats

    def _seed(self, stats: BaselineStats, hour: float, minutes: int) -> None:
        # pseudo-samples at normal quantiles reproduce the median (odd count) and the MAD of the bin
        k = min(max(minutes, 1), 61)
        k += 1 - k % 2
        per = max(1, min(255, round(minutes / k)))
        nd = NormalDist()
        h = int(hour * HOUR_STEPS) % (24 * HOUR_STEPS)
        for i in range(k):
            z = nd.inv_cdf((i + 0.5) / k)
            self._pending.append(
                (h, per, stats.hr_bpm + z * stats.hr_sd, stats.ln_rmssd + z * stats.ln_rmssd_sd)
            )
        self._last_sample_t = -math.inf


def _blend(a: BaselineStats, b: BaselineStats, f: float, source: str) -> BaselineStats:
    """(1 - f)·a + f·b, field by field."""
    g = 1.0 - f
    return BaselineStats(
        hr_bpm=g * a.hr_bpm + f * b.hr_bpm,
        hr_sd=g * a.hr_sd + f * b.hr_sd,
        ln_rmssd=g * a.ln_rmssd + f * b.ln_rmssd,
        ln_rmssd_sd=g * a.ln_rmssd_sd + f * b.ln_rmssd_sd,
        n_windows=max(a.n_windows, b.n_windows),
        source=source,
    )
