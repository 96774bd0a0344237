"""A strap session resumes from its checkpoint exactly; archive commits are grouped across straps."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from calmstrap.commit_group import CommitGroup
from calmstrap.config import Config
from calmstrap.pipeline import StrapSession, new_session
from calmstrap.session_state import SessionStateError, dump_session, restore_session
from sensors.simulated import RRGenerator, ScriptedEpisode, notifications
from storage.archive import Archive

START = 1_700_000_000.0
COMPARED = {
    "windows": "SELECT channel, t, n_beats, rmssd_ms, sdnn_ms, lf_ms2, valid FROM windows ORDER BY channel, t",
    "arousal": "SELECT t, score, a, state, warming_up, gated FROM arousal ORDER BY t",
    "episodes": "SELECT id, onset_t, peak_t, end_t, amplitude, prompt_ids FROM episodes ORDER BY id",
    "prompts": "SELECT id, t, template_id, reason_episode_id, outcome_t, d_score, helped FROM prompts ORDER BY id",
    "beats": "SELECT device, t, rr_ms, artifact FROM beats ORDER BY t",
}


def _notes(seed: int, minutes: float) -> list[tuple[float, bytes]]:
    gen = RRGenerator(
        seed=seed,
        episodes=(
            ScriptedEpisode(start_s=12 * 60.0, plateau_s=240.0),
            ScriptedEpisode(start_s=30 * 60.0, plateau_s=240.0),
            ScriptedEpisode(start_s=48 * 60.0, plateau_s=240.0),
        ),
    )
    return [(START + n.t_s, n.data) for n in notifications(gen, duration_s=minutes * 60.0)]


def _session(archive: Archive, *, resume: bool = False) -> StrapSession:
    cfg = Config()
    return new_session(
        cfg, archive, [], user="ana", device="d1", seed=5, ignore_quiet_hours=True, resume=resume
    )


def _feed(session: StrapSession, notes: list[tuple[float, bytes]]) -> None:
    async def go() -> None:
        for arrival, data in notes:
            await session.handle(arrival, data)

    asyncio.run(go())


def _rows(archive: Archive) -> dict[str, list[tuple[object, ...]]]:
    out = {name: archive.query(sql) for name, sql in COMPARED.items()}
    cols = [r[1] for r in archive.query("PRAGMA table_info(controls)") if r[1] not in ("id", "seq")]
    if cols:  # micro-randomised controls (prompts held back at random) are session output too
        out["controls"] = archive.query(f"SELECT {', '.join(cols)} FROM controls ORDER BY t")
    return out


def test_resumed_session_archives_what_an_uninterrupted_one_does(tmp_path: Path) -> None:
    """Checkpoint at 35 of 70 minutes, drop the session, resume a new one: the archive rows are the same."""
    notes = _notes(seed=11, minutes=70.0)
    half = len(notes) // 2
    with Archive(tmp_path / "whole.db") as whole:
        s = _session(whole)
        _feed(s, notes)
        asyncio.run(s.finish())
        expected = _rows(whole)
    with Archive(tmp_path / "split.db") as split:
        first = _session(split)
        _feed(first, notes[:half])
        first.checkpoint()
        split.commit()
        del first  # the process is gone; only the archive remains
        second = _session(split, resume=True)
        assert second.resumed_t == pytest.approx(notes[half - 1][0], abs=2.0)
        _feed(second, notes[half:])
        asyncio.run(second.finish())
        got = _rows(split)
    assert expected["prompts"] and expected["episodes"], "the recording must prompt to be a useful comparison"
    assert any(r[1] > notes[half][0] for r in expected["episodes"]), "an episode after the checkpoint"
    for name in expected:
        assert got[name] == expected[name], name


def test_a_prompt_is_checkpointed_when_it_is_sent(tmp_path: Path) -> None:
    """The checkpoint saved with a prompt already counts it: a resumed policy keeps the cooldown."""
    notes = _notes(seed=11, minutes=70.0)
    with Archive(tmp_path / "a.db") as ar:
        s = _session(ar)
        _feed(s, notes)
        assert s.prompts, "one of the episodes must prompt"
        sent_t = s.prompts[0].t
        t, _state = ar.load_checkpoint("ana", "d1") or (0.0, b"")
        resumed = _session(ar, resume=True)
    assert t >= sent_t
    assert sent_t in resumed.policy._sent


def test_state_of_another_strap_is_refused(tmp_path: Path) -> None:
    """A snapshot of ana/d1 does not restore into ben/d1."""
    with Archive(tmp_path / "a.db") as ar:
        s = _session(ar)
        other = new_session(Config(), ar, [], user="ben", device="d1")
        with pytest.raises(SessionStateError):
            restore_session(other, dump_session(s, START))


DURABLE_BEATS = "SELECT (SELECT COUNT(*) FROM beats) + (SELECT COUNT(*) FROM beats_recent)"
"""The beats a commit made durable: those in ``beats`` and those still in the grouped commits' journal."""


def test_grouped_commits_wait_for_the_interval(tmp_path: Path) -> None:
    """With grouped commits a reader sees nothing until the group commits, then everything."""
    notes = _notes(seed=2, minutes=2.0)
    with Archive(tmp_path / "a.db") as ar:
        group = CommitGroup(ar, every_s=3600.0)
        s = new_session(Config(), ar, [], user="ana", device="d1", commits=group)
        _feed(s, notes)
        reader = sqlite3.connect(tmp_path / "a.db")
        assert reader.execute(DURABLE_BEATS).fetchone()[0] == 0
        group.flush()
        assert reader.execute(DURABLE_BEATS).fetchone()[0] == s.stats.beats > 100
        reader.close()


def test_background_committer_commits_pending_rows_when_notifications_pause(tmp_path: Path) -> None:
    """The committer task makes a pause's pending rows durable within about one interval."""
    notes = _notes(seed=2, minutes=1.0)

    async def go(ar: Archive) -> int:
        group = CommitGroup(ar, every_s=0.05)
        s = new_session(Config(), ar, [], user="ana", device="d1", commits=group)
        task = asyncio.create_task(group.run(), name="archive-commits")
        group.flush()
        for arrival, data in notes:
            await s.handle(arrival, data)  # all within one interval: nothing committed by tick()
        await asyncio.sleep(0.2)
        reader = sqlite3.connect(tmp_path / "a.db")
        n = int(reader.execute(DURABLE_BEATS).fetchone()[0])
        reader.close()
        task.cancel()
        return n

    with Archive(tmp_path / "a.db") as ar:
        assert asyncio.run(go(ar)) > 50
