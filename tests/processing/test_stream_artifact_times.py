"""The stream processor hands over the times of beats its windows classified as artifacts."""

from __future__ import annotations

import numpy as np

from processing.stream import StreamProcessor
from sensors.beats import Beat

T0 = 1_700_000_000.0


def _beats(rr: np.ndarray) -> list[Beat]:
    t = T0 + np.cumsum(rr) / 1000.0
    return [Beat(t=float(x), rr_ms=float(r), device="d", user="u") for x, r in zip(t, rr, strict=True)]


def _resting(n: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    t = np.arange(n) * 0.9
    return 900.0 + 40.0 * np.sin(2 * np.pi * 0.25 * t) + rng.normal(0.0, 8.0, n)


def test_ectopic_beat_time_is_reported_once_drained() -> None:
    """A premature beat's time is reported by take_artifact_times, and a second call returns nothing new."""
    rr = _resting(300)
    rr[150], rr[151] = 560.0, 1240.0
    beats = _beats(rr)
    proc = StreamProcessor(user="u", device="d")
    for b in beats:
        proc.push(b)
    got = set(proc.take_artifact_times())
    assert beats[150].t in got
    assert got <= {beats[i].t for i in range(148, 154)}
    assert proc.take_artifact_times() == []


def test_clean_series_reports_no_artifact_times() -> None:
    """A smooth resting series reports no artifact times."""
    proc = StreamProcessor(user="u", device="d")
    for b in _beats(_resting(300)):
        proc.push(b)
    assert proc.take_artifact_times() == []
