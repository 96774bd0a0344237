"""Grouped commits (calmstrap.commit_group.CommitGroup): the WAL checkpointed on a clock; prompts sent only
once a commit holds them."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sqlite3
from pathlib import Path

from alerts.catalog import Prompt
from alerts.notify import StrapStatus
from calmstrap.commit_group import CommitGroup
from calmstrap.config import Config
from calmstrap.pipeline import new_session
from processing.arousal import Arousal
from processing.episodes import Episode, EpisodeOnset
from sensors.beats import beats_from_rr
from sensors.simulated import RRGenerator, ScriptedEpisode, notifications
from storage.archive import Archive

T0 = 1_700_000_000.0


def _write_beats(ar: Archive, n: int) -> None:
    beats = beats_from_rr([800.0] * n, start_t=T0, device="d1", user="ana")
    ar.queue_beats(beats, [False] * n)


def test_commit_past_the_checkpoint_interval_copies_the_wal_into_the_database(tmp_path: Path) -> None:
    """A grouped commit after wal_checkpoint_every_s moves the committed rows into the database file."""
    with Archive(tmp_path / "a.db") as ar:
        group = CommitGroup(ar, every_s=0.0, wal_checkpoint_every_s=0.0)
        group.flush()
        before = os.path.getsize(tmp_path / "a.db")
        _write_beats(ar, 5000)
        group.flush()
        assert group.wal_checkpoints == 2
        assert os.path.getsize(tmp_path / "a.db") > before + 5000 * 20


def test_commit_within_the_checkpoint_interval_leaves_the_rows_in_the_wal(tmp_path: Path) -> None:
    """Before wal_checkpoint_every_s a grouped commit writes only the WAL; the database file keeps its size."""
    with Archive(tmp_path / "a.db") as ar:
        group = CommitGroup(ar, every_s=0.0, wal_checkpoint_every_s=math.inf)
        before = os.path.getsize(tmp_path / "a.db")
        _write_beats(ar, 5000)
        group.flush()
        assert group.wal_checkpoints == 0
        assert os.path.getsize(tmp_path / "a.db") == before
        assert os.path.getsize(tmp_path / "a.db-wal") > 5000 * 20


class _Receiver:
    """A notifier that looks, from its own connection, whether each prompt it gets is already committed."""

    name = "receiver"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.got: list[tuple[str, bool]] = []

    async def send_prompt(self, prompt: Prompt) -> bool:
        with contextlib.closing(sqlite3.connect(self.path)) as db:
            row = db.execute("SELECT COUNT(*) FROM prompts WHERE id = ?", (prompt.id,)).fetchone()
        self.got.append((prompt.id, row[0] == 1))
        return True

    async def publish_state(self, user: str, arousal: Arousal, strap: StrapStatus | None) -> None:
        return None

    async def publish_episode(self, user: str, event: EpisodeOnset | Episode) -> None:
        return None


def _prompting_notes() -> list[tuple[float, bytes]]:
    gen = RRGenerator(
        seed=11,
        episodes=(
            ScriptedEpisode(start_s=12 * 60.0, plateau_s=240.0),
            ScriptedEpisode(start_s=30 * 60.0, plateau_s=240.0),
            ScriptedEpisode(start_s=48 * 60.0, plateau_s=240.0),
        ),
    )
    return [(T0 + n.t_s, n.data) for n in notifications(gen, duration_s=70 * 60.0)]


NOTES = _prompting_notes()


def _prompts(path: Path, every_s: float | None, *, finish: bool = True) -> tuple[_Receiver, list[str], int]:
    """Feed the recording to one session (grouped commits every ``every_s``, None: ungrouped), then finish it
    (or roll back: a kill); the receiver, the prompt ids archived, and how many were unsent before the end."""
    rx = _Receiver(path)

    async def go(ar: Archive) -> tuple[list[str], int]:
        group = None if every_s is None else CommitGroup(ar, every_s=every_s)
        s = new_session(
            Config(), ar, [rx], user="ana", device="d1", seed=5, ignore_quiet_hours=True, commits=group
        )
        for arrival, data in NOTES:
            await s.handle(arrival, data)
        unsent = 0 if group is None else group.unsent
        if finish:
            await s.finish()
        else:  # killed: the open transaction is gone
            ar.rollback()
        return [r[0] for r in ar.query("SELECT id FROM prompts ORDER BY t")], unsent

    with Archive(path) as ar:
        decided, unsent = asyncio.run(go(ar))
    return rx, decided, unsent


def test_a_grouped_prompt_is_sent_only_once_a_commit_holds_it(tmp_path: Path) -> None:
    """Commits due at every notification: each prompt leaves after the commit with its row, as ungrouped."""
    rx, decided, unsent = _prompts(tmp_path / "g.db", every_s=0.0)
    alone, alone_decided, _ = _prompts(tmp_path / "u.db", every_s=None)
    assert decided, "the recording must prompt"
    assert unsent == 0
    assert rx.got == [(pid, True) for pid in decided]
    assert decided == alone_decided
    assert [pid for pid, _ in alone.got] == alone_decided


def test_prompts_wait_for_the_group_commit_and_finish_sends_them(tmp_path: Path) -> None:
    """With no commit due, nothing is sent; the session's finish commits and sends every prompt, in order."""
    rx, decided, unsent = _prompts(tmp_path / "a.db", every_s=3600.0)
    assert decided and unsent == len(decided)
    assert rx.got == [(pid, True) for pid in decided]
    with Archive(tmp_path / "a.db") as ar:
        assert {r[0] for r in ar.query("SELECT delivered_via FROM prompts")} == {"receiver"}


def test_a_kill_before_the_group_commit_sends_nothing(tmp_path: Path) -> None:
    """The process dies before the group commits (no finish): no prompt was sent, and any prompt row that an
    earlier commit kept says so (delivered via none)."""
    rx, _decided, unsent = _prompts(tmp_path / "a.db", every_s=3600.0, finish=False)
    assert unsent > 0
    assert rx.got == []
    with contextlib.closing(sqlite3.connect(tmp_path / "a.db")) as db:
        assert {r[0] for r in db.execute("SELECT delivered_via FROM prompts")} <= {"none"}


def test_the_background_committer_sends_what_its_commit_made_durable(tmp_path: Path) -> None:
    """Notifications stop with prompts waiting: the committer task's next commit sends them."""
    rx = _Receiver(tmp_path / "a.db")

    async def go(ar: Archive) -> tuple[int, list[str]]:
        group = CommitGroup(ar, every_s=3600.0)
        s = new_session(
            Config(), ar, [rx], user="ana", device="d1", seed=5, ignore_quiet_hours=True, commits=group
        )
        for arrival, data in NOTES:
            await s.handle(arrival, data)
        waiting = group.unsent
        group.every_s = 0.01
        task = asyncio.create_task(group.run(), name="archive-commits")
        await asyncio.sleep(0.3)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return waiting, [pid for pid, seen in rx.got if seen]

    with Archive(tmp_path / "a.db") as ar:
        waiting, sent = asyncio.run(go(ar))
        decided = [r[0] for r in ar.query("SELECT id FROM prompts ORDER BY t")]
    assert waiting == len(decided) > 0
    assert sent == decided


def _in_beats(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute("SELECT COUNT(*) FROM beats").fetchone()[0])
    finally:
        con.close()


def test_grouped_commits_journal_the_beats_and_fold_them_when_the_fold_is_due(tmp_path: Path) -> None:
    """Within fold_every_s a grouped commit keeps the beats in the journal; the first commit past it folds
    them into ``beats``."""
    with Archive(tmp_path / "a.db") as ar:
        group = CommitGroup(ar, every_s=0.0, fold_every_s=3600.0)
        _write_beats(ar, 50)
        group.flush()
        assert (_in_beats(tmp_path / "a.db"), group.folds) == (0, 0)
        group.fold_every_s = 0.0
        group.flush()
        assert (_in_beats(tmp_path / "a.db"), group.folds) == (50, 1)


def test_the_committer_folds_the_journal_while_notifications_pause(tmp_path: Path) -> None:
    """With no notifications coming, the background committer still folds the journal on its clock."""

    async def go(ar: Archive) -> int:
        group = CommitGroup(ar, every_s=0.02, fold_every_s=0.1)
        task = asyncio.create_task(group.run(), name="archive-commits")
        _write_beats(ar, 30)
        await asyncio.sleep(0.4)
        n = _in_beats(tmp_path / "a.db")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return n

    with Archive(tmp_path / "a.db") as ar:
        assert asyncio.run(go(ar)) == 30
