"""What a strap session writes besides beats: artifact flags, motion, periodic baseline, strap status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alerts.console import ConsoleNotifier
from calmstrap.config import Config, ProcessingConfig, load_config
from calmstrap.pipeline import StrapSession, new_session
from calmstrap.sources import ble_plan, consume_source
from sensors.ble import BleCollector
from sensors.replay import ReplaySource, RRFormat, RRRecording
from sensors.source import MotionIntensity, SourceItem
from storage.archive import Archive

T0 = 1_700_000_000.0


def _rr(n: int, seed: int = 0) -> list[float]:
    """A resting tachogram: 900 ms with a 0.25 Hz breathing oscillation and a little noise, in whole 1/1024 s
    ticks (what the strap sends, so values read back exactly)."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(np.full(n, 0.9))
    rr = 900.0 + 40.0 * np.sin(2 * np.pi * 0.25 * t) + rng.normal(0, 8, n)
    return [_ms(round(x * 1.024)) for x in rr]


def _ms(ticks: int) -> float:
    return ticks / 1.024


def _replay(rr: Sequence[float]) -> ReplaySource:
    return ReplaySource(RRRecording(tuple(rr), None, RRFormat.KUBIOS, "test.txt"), speed=1e6, start_t=T0)


def _session(archive: Archive, cfg: Config | None = None) -> StrapSession:
    return new_session(
        cfg or Config(), archive, [ConsoleNotifier()], user="u", device="dev", restore_baseline=False
    )


def _run(archive: Archive, source: object, cfg: Config | None = None) -> StrapSession:
    session = _session(archive, cfg)
    asyncio.run(consume_source(session, source))  # type: ignore[arg-type]
    archive.commit()
    return session


def test_impossible_rr_is_archived_flagged_and_unchanged(tmp_path: Path) -> None:
    """RR below 300 ms or above 2000 ms is stored as received with its artifact flag set."""
    rr = _rr(400)
    rr[100], rr[250] = _ms(256), _ms(2100)  # 250 ms and 2050.8 ms
    with Archive.in_dir(tmp_path) as ar:
        _run(ar, _replay(rr))
        rows = ar.query("SELECT rr_ms, artifact FROM beats ORDER BY t")
    assert len(rows) == 400
    assert (_ms(256), 1) in rows and (_ms(2100), 1) in rows
    assert [r[0] for r in rows] == rr


def test_clean_series_has_no_flagged_beats(tmp_path: Path) -> None:
    """A smooth resting series leaves every beat unflagged (so the flags below mean something)."""
    with Archive.in_dir(tmp_path) as ar:
        _run(ar, _replay(_rr(400)))
        assert ar.query("SELECT COUNT(*), SUM(artifact) FROM beats") == [(400, 0)]


def test_ectopic_beat_in_range_is_flagged_by_the_window_classification(tmp_path: Path) -> None:
    """A premature beat (short then compensating long, both in range) is flagged after its window runs."""
    rr = _rr(400)
    rr[200], rr[201] = _ms(574), _ms(1270)  # 560.5 ms, 1240.2 ms
    with Archive.in_dir(tmp_path) as ar:
        _run(ar, _replay(rr))
        flagged = ar.query("SELECT rr_ms FROM beats WHERE artifact = 1")
    assert (_ms(574),) in flagged
    assert len(flagged) <= 4


@dataclass
class _MotionSource:
    """Replayed notifications with one motion sample per second of a fixed intensity."""

    rr: Sequence[float]
    intensity_mg: float

    async def stream(self) -> AsyncIterator[SourceItem]:
        next_motion = T0
        async for item in _replay(self.rr).stream():
            assert isinstance(item, tuple)
            while next_motion <= item[0]:
                yield MotionIntensity(next_motion, self.intensity_mg)
                next_motion += 1.0
            yield item


def test_motion_is_archived_and_gates_exercise(tmp_path: Path) -> None:
    """Motion samples land in the motion table, and vigorous motion marks every scored window as exercise."""
    with Archive.in_dir(tmp_path) as ar:
        _run(ar, _MotionSource(_rr(300), 600.0))
        n_motion = ar.count("motion", "u")
        assert ar.query("SELECT MIN(intensity), MAX(intensity) FROM motion") == [(600.0, 600.0)]
        gated = ar.query("SELECT COUNT(*), SUM(gated) FROM arousal")[0]
    assert n_motion >= 260
    assert gated[0] > 0 and gated[1] == gated[0]


def test_still_motion_does_not_gate(tmp_path: Path) -> None:
    """Motion near zero at resting heart rate leaves the windows ungated."""
    with Archive.in_dir(tmp_path) as ar:
        _run(ar, _MotionSource(_rr(300), 5.0))
        gated = ar.query("SELECT COUNT(*), SUM(gated) FROM arousal")[0]
    assert gated[0] > 0 and gated[1] == 0


def test_straps_motion_key_turns_on_the_motion_stream(tmp_path: Path) -> None:
    """A [[straps]] entry's collector gets the motion stream by default; `motion = false` turns it off."""
    (tmp_path / "c.toml").write_text(
        '[[straps]]\nuser = "ana"\naddress = "AA:BB"\n\n[[straps]]\nuser = "ben"\nname = "TICKR"\nmotion = false\n'
    )
    plan, _ = ble_plan(load_config(tmp_path / "c.toml", env={}), None)
    assert [p.source.motion for p in plan if isinstance(p.source, BleCollector)] == [True, False]


def test_unfinished_session_has_saved_its_baseline(tmp_path: Path) -> None:
    """A session that never finishes (a crash) has still saved its personal baseline after enough stream time."""
    cfg = Config(processing=ProcessingConfig(baseline_min_minutes=3))
    with Archive.in_dir(tmp_path) as ar:
        session = _run(ar, _replay(_rr(1600)), cfg)  # 24 minutes; finish() is never called
        rows = ar.query("SELECT bin, source, n_windows FROM baseline WHERE user = 'u'")
    assert session.processor.baseline.snapshot()
    assert rows and all(src == "personal" for _, src, _ in rows)
    assert any(b == "all" and n >= 3 for b, _, n in rows)  # n_windows: distinct minutes collected


def test_replay_records_connected_and_disconnected(tmp_path: Path) -> None:
    """A source without link events gets a connected row at its first beat and a disconnected row at its last."""
    with Archive.in_dir(tmp_path) as ar:
        _run(ar, _replay(_rr(100)))
        rows = ar.query(
            "SELECT t, connected FROM device_status WHERE user = 'u' AND device = 'dev' ORDER BY seq"
        )
        t_lo, t_hi = ar.query("SELECT MIN(t), MAX(t) FROM beats")[0]
    assert [c for _, c in rows] == [1, 0]
    assert rows[0][0] <= t_lo + 2.0 and rows[1][0] >= t_hi - 2.0
