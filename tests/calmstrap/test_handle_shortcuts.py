"""StrapSession.handle's shortcut (the periodic saves' next-due time) against the plain definition: the
same rows, the same checkpoints, baseline saves and progress refreshes, at the same beats, on a real
recording (tests/fixtures) and on random schedules."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.catalog import Prompt, PromptKind
from calmstrap import pipeline
from calmstrap.config import Config
from calmstrap.pipeline import MAX_RR_MS, MIN_RR_MS, StrapSession, new_session
from sensors.heart_rate import MalformedMeasurement, encode_measurement, ms_to_ticks, parse_measurement
from storage.archive import Archive
from tests.processing.conftest import load_rr

START = 1_700_000_000.0
TABLES = ("beats", "gaps", "windows", "arousal", "episodes", "prompts", "baseline", "controls", "checkpoint")


async def _plain_handle(self: StrapSession, arrival_t: float, data: bytes) -> None:
    """``StrapSession.handle`` as it was before the shortcuts (the plain definition)."""
    self.stats.notifications += 1
    try:
        m = parse_measurement(data)
    except MalformedMeasurement:
        self.stats.malformed += 1
        return
    beats, gap = self.clock.push(m, arrival_t)
    if gap is not None:
        self.on_gap(gap)
    if not beats:
        return
    self.archive.queue_beats(beats, [not (MIN_RR_MS <= b.rr_ms <= MAX_RR_MS) for b in beats])
    self.stats.beats += len(beats)
    for b in beats:
        for out in self.processor.push(b):
            await self._dispatch(out)
    flagged = self.processor.take_artifact_times()
    if flagged:
        self.archive.flag_beats(self.user, self.device, flagged)
    t = beats[-1].t
    if self._next_baseline_save_t is None:
        self._next_baseline_save_t = t + self.baseline_save_every_s
    elif t >= self._next_baseline_save_t:
        self._next_baseline_save_t = t + self.baseline_save_every_s
        self.save_baseline(t, only_changed=True)
    if self._next_progress_t is None:
        self._next_progress_t = t + self.progress_every_s
    elif t >= self._next_progress_t:
        self._next_progress_t = t + self.progress_every_s
        self.refresh_progress()
    if self._next_checkpoint_t is None:
        self._next_checkpoint_t = t + self.checkpoint_every_s
    elif t >= self._next_checkpoint_t:
        self.checkpoint(t)
    if self.commits is None:
        self.archive.commit()
    else:
        self.commits.tick()


def _notes(rr_ms: list[float]) -> list[tuple[float, bytes]]:
    """One notification per RR (out-of-range values included, as a strap would send them)."""
    out, t = [], START
    for x in rr_ms:
        t += x / 1000.0
        out.append((t, encode_measurement(60, (ms_to_ticks(x),))))
    return out


def _prompt(t: float, n: int) -> Prompt:
    return Prompt(
        id=f"p{n}",
        user="ana",
        t=t,
        kind=PromptKind.BREATHING,
        template_id="x",
        title="t",
        body="b",
        duration_s=60,
        expires_t=t + 300.0,
    )


def _run(
    path: Path,
    notes: list[tuple[float, bytes]],
    *,
    plain: bool,
    every: tuple[float, float, float],
    deliveries: dict[int, float],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[dict[str, list[Any]], list[tuple[str, float]]]:
    """Rows of every table, and the periodic saves in order (what, stream time)."""
    calls: list[tuple[str, float]] = []
    with monkeypatch.context() as m:
        if plain:
            m.setattr(StrapSession, "handle", _plain_handle)
        with Archive(path) as ar:
            s = new_session(Config(), ar, [], user="ana", device="d1", seed=1, ignore_quiet_hours=True)
            s.baseline_save_every_s, s.progress_every_s, s.checkpoint_every_s = every
            save_checkpoint, refresh = ar.save_checkpoint, s.refresh_progress
            m.setattr(
                ar,
                "save_checkpoint",
                lambda u, d, t, b: (calls.append(("checkpoint", t)), save_checkpoint(u, d, t, b)),
            )
            m.setattr(
                s, "refresh_progress", lambda: (calls.append(("progress", s.processor.last_t)), refresh())
            )

            async def go() -> None:
                for i, (arrival, data) in enumerate(notes):
                    await s.handle(arrival, data)
                    if i in deliveries:  # a prompt decided elsewhere, dated up to 20 min back
                        await s.deliver(_prompt(arrival - deliveries[i], i))

            asyncio.run(go())
            ar.commit()
            rows = {t: ar.query(f"SELECT * FROM {t} ORDER BY 1, 2") for t in TABLES if t != "checkpoint"}
            rows["checkpoint"] = ar.query("SELECT user, device, t FROM checkpoint")
            rows["baseline_saves"] = ar.query("SELECT t, bin FROM baseline ORDER BY seq")
    return rows, calls


def _compare(
    tmp_path: Path,
    notes: list[tuple[float, bytes]],
    every: tuple[float, float, float],
    deliveries: dict[int, float],
    monkeypatch: pytest.MonkeyPatch,
) -> list[tuple[str, float]]:
    (tmp_path / "plain.db").unlink(missing_ok=True)
    (tmp_path / "fast.db").unlink(missing_ok=True)
    plain = _run(
        tmp_path / "plain.db", notes, plain=True, every=every, deliveries=deliveries, monkeypatch=monkeypatch
    )
    fast = _run(
        tmp_path / "fast.db", notes, plain=False, every=every, deliveries=deliveries, monkeypatch=monkeypatch
    )
    assert fast == plain
    return fast[1]


@pytest.mark.parametrize("name", ["Short", "Long"])
def test_real_recording_same_rows_and_saves(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rr = load_rr(name).tolist()
    rr[5:7] = [250.0, 2500.0]  # out of the range gate
    notes = _notes(rr)
    saves = _compare(tmp_path, notes, (120.0, 300.0, 90.0), {len(notes) // 2: 900.0, 40: 0.0}, monkeypatch)
    assert len([c for c in saves if c[0] == "checkpoint"]) >= 2


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    every=st.tuples(*[st.floats(min_value=5.0, max_value=400.0)] * 3),
    deliveries=st.dictionaries(st.integers(0, 599), st.floats(min_value=0.0, max_value=1200.0), max_size=4),
    seed=st.integers(0, 2**16),
)
def test_random_schedules_same_rows_and_saves(
    every: tuple[float, float, float],
    deliveries: dict[int, float],
    seed: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(seed)
    rr = (900.0 + 60.0 * rng.standard_normal(600)).tolist()
    for i in rng.integers(0, 600, 5):
        rr[i] = float(rng.choice([200.0, 2600.0]))
    _compare(tmp_path, _notes(rr), every, deliveries, monkeypatch)


def test_handle_is_the_pipeline_s() -> None:
    assert pipeline.StrapSession.handle is not _plain_handle
