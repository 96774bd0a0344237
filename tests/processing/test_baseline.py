"""Personal baseline: robust statistics, time-of-day bins, warm-up, 28-day horizon and persistence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from processing.arousal import POPULATION_BASELINE, Arousal
from processing.baseline import BaselineTracker, TimeBin, tod_bin
from processing.stream import StreamConfig, StreamProcessor
from sensors.beats import Gap, GapReason
from sensors.simulated import RRGenerator, ScriptedEpisode
from storage.archive import Archive
from tests.processing.conftest import DAY_START, drive

DAY = 86400.0


def _tracker(**kw: float) -> BaselineTracker:
    return BaselineTracker(utc_offset_s=0.0, **kw)  # type: ignore[arg-type]


def test_median_and_scaled_mad() -> None:
    """The baseline is the median and 1.4826·MAD of the kept samples."""
    rng = np.random.default_rng(0)
    hr = rng.normal(62, 6, 100)
    lr = rng.normal(3.8, 0.4, 100)
    b = _tracker(min_windows=10, min_bin_windows=10)
    for i in range(100):
        b.add(float(hr[i]), float(lr[i]), DAY_START + 9 * 3600 + 300.0 * i / 4)  # 09:00.., every 75 s
    kept_hr = np.asarray([x for x in b._samples.hr[: b._samples.n]], dtype=np.float64)
    s = b.stats_for(DAY_START + 9 * 3600)
    assert s.hr_bpm == pytest.approx(float(np.median(kept_hr)), abs=1e-4)
    mad = float(np.median(np.abs(kept_hr - np.median(kept_hr))))
    assert s.hr_sd == pytest.approx(max(1.4826 * mad, 4.0), abs=1e-4)


def test_population_defaults_while_warming_up() -> None:
    """Below the minimum number of windows the population defaults apply and warming_up is set."""
    b = _tracker(min_windows=48)
    for i in range(20):
        b.add(60.0, 4.0, DAY_START + 5.0 * i)
    assert b.warming_up
    assert b.stats_for(DAY_START) == POPULATION_BASELINE


def test_time_of_day_bin_falls_back_to_all_day() -> None:
    """A bin without enough samples uses the all-day baseline; one with enough uses its own."""
    b = _tracker(min_windows=20, min_bin_windows=20, sample_every_s=60.0)
    for i in range(40):  # mornings: HR 60
        b.add(60.0, 4.0, DAY_START + 7 * 3600 + 60.0 * i)
    for i in range(10):  # a few evening windows: HR 80
        b.add(80.0, 3.0, DAY_START + 19 * 3600 + 60.0 * i)
    morning = b.stats_for(DAY_START + 8 * 3600)
    evening = b.stats_for(DAY_START + 20 * 3600)
    assert morning.hr_bpm == pytest.approx(60.0)
    assert evening.n_windows == 50  # the all-day statistics
    assert tod_bin(DAY_START + 20 * 3600, 0.0) is TimeBin.EVENING


def test_samples_older_than_28_days_are_forgotten() -> None:
    """Windows older than 28 days no longer count."""
    b = _tracker(min_windows=10, min_bin_windows=10, sample_every_s=300.0)
    for i in range(50):
        b.add(90.0, 3.0, DAY_START + 9 * 3600 + 300.0 * i)
    later = DAY_START + 30 * DAY + 9 * 3600
    for i in range(50):
        b.add(60.0, 4.0, later + 300.0 * i)
    assert b.stats_for(later).hr_bpm == pytest.approx(60.0)


def test_sample_store_is_bounded() -> None:
    """35 days of windows keep at most one sample per 5 minutes over 28 days."""
    b = _tracker()
    t = DAY_START
    for _ in range(35 * 288):
        b.add(60.0, 4.0, t)
        b.add(60.0, 4.0, t + 60.0)  # too soon: not kept
        t += 300.0
    assert b.n_samples <= 28 * 288
    assert b.nbytes < 120_000


def test_restore_puts_back_each_bin_exactly() -> None:
    """snapshot() then restore() gives the same statistics in every bin."""
    b = _tracker(min_windows=10, min_bin_windows=10, sample_every_s=60.0)
    rng = np.random.default_rng(1)
    for i in range(400):
        b.add(float(rng.normal(64, 5)), float(rng.normal(3.7, 0.3)), DAY_START + 60.0 * i * 3.5)
    snap = dict(b.snapshot())
    r = _tracker(min_windows=10, min_bin_windows=10, sample_every_s=60.0)
    for name, stats in snap.items():
        r.restore(stats, name)
    assert dict(r.snapshot()) == snap
    assert not r.warming_up


def _week_day(proc: StreamProcessor, day: int, seed: int) -> None:
    """Two hours on day ``day`` at 08:00 with one small episode, then a gap."""
    start = DAY_START + day * DAY + 8 * 3600
    gen = RRGenerator(seed=seed, episodes=(ScriptedEpisode(3600.0, intensity=0.7),))
    drive(gen, 2 * 3600.0, proc, start_t=start)
    proc.gap(Gap(proc.last_t, proc.last_t + 3600.0, "sim", "u", GapReason.DISCONNECT))


def test_restart_mid_week_keeps_the_baseline(tmp_path: object) -> None:
    """A restart in the middle of a simulated week keeps the baseline: same score for the same window."""
    cfg = StreamConfig(utc_offset_s=0.0)
    first = StreamProcessor("u", "sim", cfg)
    for day in range(3):  # Monday to Wednesday
        _week_day(first, day, seed=20 + day)
    with Archive(f"{tmp_path}/archive.db") as archive:
        for name, stats in first.baseline.snapshot():
            archive.save_baseline("u", DAY_START + 3 * DAY, stats, name)
        archive.commit()
    restarted = StreamProcessor("u", "sim", cfg)
    with Archive(f"{tmp_path}/archive.db") as archive:
        for name in ("night", "morning", "afternoon", "evening", "all"):
            saved = archive.load_baseline("u", name)
            if saved is not None:
                restarted.baseline.restore(saved, name)
    assert not restarted.baseline.warming_up
    thursday = DAY_START + 3 * DAY + 8 * 3600
    outs = [
        [o for o in drive(RRGenerator(seed=99), 600.0, p, start_t=thursday) if isinstance(o, Arousal)]
        for p in (first, restarted)
    ]
    a, b = outs
    assert len(a) == len(b) > 50
    assert a[0].score == b[0].score and not a[0].warming_up
    assert max(abs(x.score - y.score) for x, y in zip(a, b, strict=True)) < 1.0
    never = StreamProcessor("u", "sim", cfg)
    fresh = [o for o in drive(RRGenerator(seed=99), 600.0, never, start_t=thursday) if isinstance(o, Arousal)]
    assert fresh[0].warming_up and not math.isclose(fresh[-1].score, a[-1].score)
