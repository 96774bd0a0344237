"""storage.progress.ProgressUpdater and update_weekly_progress: the service's refresh equals a full recompute."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.catalog import Prompt, PromptKind
from processing.arousal import Arousal, ArousalState
from processing.episodes import Episode
from sensors.beats import beats_from_rr
from storage.archive import Archive
from storage.imports import begin_import, discard_import, record_chunk
from storage.progress import ProgressUpdater, refresh_weekly_progress, update_weekly_progress
from tests.support.archive_reads import count_reads

T0 = 1_772_323_200.0  # Sunday 2026-03-01 00:00 UTC: the weeks span the March/April DST changes
DAY = 86400.0
SPAN_S = 40 * DAY
ZONES = (
    "UTC",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Santiago",
    "Europe/Berlin",
)
TABLE = (
    "SELECT user, week, seq, week_start_t, hours_worn, episodes, episodes_per_hour, median_amplitude,"
    " median_t50_s, median_recovery_s, resting_ln_rmssd, resting_ln_rmssd_lo, resting_ln_rmssd_hi,"
    " resting_hr_bpm, prompts_sent, prompts_helped, helped_share FROM weekly_progress ORDER BY user, week"
)

Event = tuple[str, float, int, float]
"""(kind, t, n, x): beats (n beats of 600 + 10x ms), arousal (n windows 5 s apart, score from x), episode, prompt,
feedback (on the n-th prompt written so far)."""

events = st.tuples(
    st.sampled_from(("beats", "beats", "arousal", "arousal", "arousal", "episode", "prompt", "feedback")),
    st.floats(0.0, SPAN_S, allow_nan=False),
    st.integers(1, 12),
    st.floats(0.0, 50.0, allow_nan=False),
)


def _write(archive: Archive, ev: Event, k: int) -> None:
    kind, t0, n, x = ev
    t = T0 + round(t0)
    user = "v" if k % 3 == 0 else "u"  # a second user: one scan of new rows serves both
    if kind == "beats":
        archive.add_beats(beats_from_rr([600.0 + 10 * x] * n, start_t=t, device="d", user=user))
    elif kind == "arousal":
        for i in range(n):
            score = (x + 7.0 * i) % 60.0
            archive.add_arousal(
                user,
                Arousal(
                    t + 5 * i, score, 0.0, 0.0, 0.0, ArousalState.CALM, False, i == 3, 60.0 + score, 20.0 + i
                ),
            )
    elif kind == "episode":
        archive.add_episode(
            Episode(f"e{k}", user, t, t + 30, t + 200, 90.0, 2.0, 40.0, x / 10, 200.0, 150.0, n * 10.0, 99.0)
        )
    elif kind == "prompt":
        archive.add_prompt(
            Prompt(f"p{k}", user, t, PromptKind.BREATHING, "t", "b", 60, "slow-breathing-6", t + 600), "none"
        )
    else:
        ids = [r[0] for r in archive.query("SELECT id FROM prompts ORDER BY seq")]
        if ids:
            archive.set_prompt_feedback(ids[n % len(ids)], x > 25.0)


def _run(path: Path, batches: list[list[Event]], tz: dt.tzinfo, how: str) -> list[tuple[object, ...]]:
    with Archive(path) as archive:
        updater = ProgressUpdater(archive, tz=tz)
        k = 0
        for batch in batches:
            for ev in batch:
                k += 1
                _write(archive, ev, k)
            for user in ("u", "v"):
                if how == "full":
                    refresh_weekly_progress(archive, user, tz=tz)
                elif how == "update":
                    update_weekly_progress(archive, user, tz=tz)
                else:
                    updater.update(user)
                archive.commit()
        return archive.query(TABLE)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    zone=st.sampled_from(ZONES),
    batches=st.lists(st.lists(events, min_size=1, max_size=8), min_size=1, max_size=6),
)
def test_update_leaves_the_table_a_full_recompute_leaves(
    tmp_path: Path, zone: str, batches: list[list[Event]]
) -> None:
    """Over random histories and late rows, refreshing incrementally after each batch (reading the changed
    weeks whole, or with a ProgressUpdater's kept hours and days) stores exactly the rows (weeks, values and
    seq, so the same rewrites) that a full recompute after each batch stores."""
    tz = ZoneInfo(zone)
    with tempfile.TemporaryDirectory(dir=tmp_path) as d:
        full = _run(Path(d) / "full.db", batches, tz, "full")
        incremental = _run(Path(d) / "inc.db", batches, tz, "update")
        kept = _run(Path(d) / "kept.db", batches, tz, "updater")
    assert incremental == full
    assert kept == full


WEEK = 7 * DAY
MON = 1_700_438_400.0  # Monday 2023-11-20 00:00 UTC


def _history(archive: Archive, start_t: float, end_t: float, rmssd_ms: float = 30.0) -> None:
    """A beat a minute and an arousal row every 5 minutes, with an episode each day."""
    t = start_t
    while t < end_t:
        archive.add_beats(beats_from_rr([1000.0], start_t=t, device="d", user="u"))
        if int(t - start_t) % 300 == 0:
            score = float(int(t / 300) % 50)
            archive.add_arousal(
                "u", Arousal(t, score, 0.0, 0.0, 0.0, ArousalState.CALM, False, False, 60.0 + score, rmssd_ms)
            )
        if int(t - start_t) % int(DAY) == 0:
            archive.add_episode(
                Episode(f"e{t}", "u", t, t + 30, t + 200, 90.0, 2.0, 40.0, 2.0, 200.0, 150.0, 50.0, 99.0)
            )
        t += 60.0
    archive.commit()


def _reads(archive: Archive, refresh: Callable[[], object]) -> tuple[int, int]:
    """(rows the refresh got back from the archive, thousands of SQLite VM steps it took)."""
    r = count_reads(archive, refresh)
    return r.rows, r.kilo_steps


def _hourly_reads(tmp_path: Path, weeks: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(reads of the hourly update, reads of a full refresh) after ``weeks`` weeks ending on a Thursday."""
    end_t = MON + weeks * WEEK + 3 * DAY + 13 * 3600
    with Archive(tmp_path / f"{weeks}.db") as archive:
        _history(archive, end_t - weeks * WEEK, end_t - 3600)
        update_weekly_progress(archive, "u", tz=dt.UTC)  # the first one is full and sets the mark
        archive.commit()
        _history(archive, end_t - 3600, end_t)
        updater = ProgressUpdater(archive, tz=dt.UTC)
        updater.update("u")
        archive.commit()
        _history(archive, end_t, end_t + 3600)
        hourly = _reads(archive, lambda: updater.update("u"))
        full = _reads(archive, lambda: refresh_weekly_progress(archive, "u", tz=dt.UTC))
    return hourly, full


def test_hourly_update_reads_the_same_rows_after_2_or_6_weeks(tmp_path: Path) -> None:
    """The hourly update reads as many rows after 6 weeks of history as after 2 (a full refresh: 3x)."""
    (rows2, steps2), (full_rows2, _) = _hourly_reads(tmp_path, 2)
    (rows6, steps6), (full_rows6, _) = _hourly_reads(tmp_path, 6)
    assert full_rows6 > 2.5 * full_rows2  # the counter sees what a whole-history read costs
    assert rows6 == rows2
    assert steps6 <= 1.1 * steps2 + 5


def test_a_removed_import_makes_the_updater_recompute_everything(tmp_path: Path) -> None:
    """Rows of an import removed after the updater saw them (they leave no seq) do not stay in any week."""
    with Archive(tmp_path / "a.db") as archive:
        _history(archive, MON, MON + 2 * DAY)
        updater = ProgressUpdater(archive, tz=dt.UTC)
        updater.update("u")
        archive.commit()
        import_id = begin_import(archive, "u", "d", "old.csv")
        archive.commit()
        before = archive.last_seq
        _history(
            archive, MON - DAY, MON - 3600, rmssd_ms=80.0
        )  # the Sunday before, from a file: in the baseline of W47
        record_chunk(archive, import_id, before)
        archive.commit()
        assert updater.update("u").weeks[0].week == "2023-W46"
        archive.commit()
        discard_import(archive, import_id)
        archive.commit()
        assert updater.update("u").full
        archive.commit()
        kept = archive.query(TABLE.replace(" seq,", ""))
        refresh_weekly_progress(archive, "u", tz=dt.UTC)
        assert archive.query(TABLE.replace(" seq,", "")) == kept


def test_rows_another_connection_writes_into_an_older_week_are_taken_in(tmp_path: Path) -> None:
    """Rows an import (another process) commits into an older week are in the service's next update."""
    with Archive(tmp_path / "a.db") as service, Archive(tmp_path / "a.db") as other:
        _history(service, MON + WEEK, MON + WEEK + DAY)
        ProgressUpdater.of(service, dt.UTC).update("u")
        service.commit()
        _history(other, MON, MON + DAY, rmssd_ms=70.0)  # commits, as an import's chunk does
        _history(service, MON + WEEK + DAY, MON + WEEK + DAY + 3600)
        update = ProgressUpdater.of(service, dt.UTC).update("u")
        service.commit()
        assert [w.week for w in update.weeks] == ["2023-W47", "2023-W48"]
        kept = service.query(TABLE.replace(" seq,", ""))
        refresh_weekly_progress(service, "u", tz=dt.UTC)
        assert service.query(TABLE.replace(" seq,", "")) == kept
