"""The journals of the grouped commits: beats, windows and arousal rows appended without an index, folded into
their tables (storage.event_rows.JOURNALS)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.beats import Beat
from storage.archive import Archive

T0 = 1_700_000_000.0


def _beats(user: str, device: str, n: int, t0: float = T0) -> list[Beat]:
    return [Beat(t=t0 + i, rr_ms=800.0 + i, device=device, user=user) for i in range(n)]


def _raw(path: Path, sql: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_journal_rows_are_durable_but_not_in_beats_until_the_fold(tmp_path: Path) -> None:
    """A commit makes journal beats durable in ``beats_recent``; another process sees them in ``beats`` only
    after the fold."""
    db = tmp_path / "a.db"
    with Archive(db) as ar:
        ar.journal_rows = True
        ar.queue_beats(_beats("u", "d", 5), [False] * 5)
        ar.commit()
        assert _raw(db, "SELECT COUNT(*) FROM beats_recent") == [(5,)]
        assert _raw(db, "SELECT COUNT(*) FROM beats") == [(0,)]
        ar.fold_journal()
        ar.commit()
        assert _raw(db, "SELECT COUNT(*) FROM beats_recent") == [(0,)]
        assert _raw(db, "SELECT t, rr_ms, artifact FROM beats ORDER BY t") == [
            (b.t, b.rr_ms, 0) for b in _beats("u", "d", 5)
        ]


def test_fold_gives_seq_above_everything_committed_before_it(tmp_path: Path) -> None:
    """Beats get their ``seq`` at the fold: above the ``seq`` of rows committed while they waited, so a
    sync's watermark over ``beats`` never passes a beat still in the journal."""
    db = tmp_path / "a.db"
    with Archive(db) as ar, Archive(db) as other:  # other: a writer straight into beats (`calmstrap import`)
        ar.journal_rows = True
        ar.queue_beats(_beats("u", "d", 3), [False] * 3)
        ar.commit()
        other.add_beats(_beats("v", "d", 2))
        other.commit()
        direct_max = _raw(db, "SELECT MAX(seq) FROM beats")[0][0]
        ar.fold_journal()
        ar.commit()
        seqs = [r[0] for r in _raw(db, "SELECT seq FROM beats WHERE user = 'u' ORDER BY t")]
        assert min(seqs) > direct_max
        assert seqs == list(range(seqs[0], seqs[0] + 3))
        assert _raw(db, "SELECT seq FROM seq_counter") == [(seqs[-1],)]


def test_queued_flags_wait_for_the_fold_and_apply_after_its_inserts(tmp_path: Path) -> None:
    """A flag naming a beat still in the journal marks it at the fold (with a newer ``seq``)."""
    with Archive(tmp_path / "a.db") as ar:
        ar.journal_rows = True
        beats = _beats("u", "d", 4)
        ar.queue_beats(beats, [False] * 4)
        ar.queue_flags("u", "d", [beats[1].t])
        ar.commit()
        ar.fold_journal()
        ar.commit()
        rows = ar.query("SELECT t, artifact, seq FROM beats ORDER BY t")
        assert [r[1] for r in rows] == [0, 1, 0, 0]
        assert rows[1][2] == max(r[2] for r in rows)
        assert ar.query("SELECT COUNT(*) FROM beat_flags_recent") == [(0,)]


def test_a_read_through_the_archive_folds_first(tmp_path: Path) -> None:
    """The archive's own reads see the journal's beats (the progress refresh, a practice session)."""
    with Archive(tmp_path / "a.db") as ar:
        ar.journal_rows = True
        ar.queue_beats(_beats("u", "d", 3), [False, True, False])
        assert ar.query("SELECT COUNT(*), SUM(artifact) FROM beats WHERE user = 'u'") == [(3, 1)]
        assert ar.devices("u") == ["d"]


def test_opening_folds_what_a_kill_left_in_the_journal(tmp_path: Path) -> None:
    """Beats committed to the journal by a process killed before its fold are in ``beats`` once the archive
    is opened again, none twice."""
    db = tmp_path / "a.db"
    code = (
        "import os, sys\n"
        "from sensors.beats import Beat\n"
        "from storage.archive import Archive\n"
        f"ar = Archive({str(db)!r})\n"
        "ar.journal_rows = True\n"
        f"ar.queue_beats([Beat(t={T0} + i, rr_ms=900.0, device='d', user='u') for i in range(7)], [False] * 7)\n"
        f"ar.queue_flags('u', 'd', [{T0} + 2])\n"
        "from processing.arousal import Arousal, ArousalState\n"
        f"ar.add_arousal('u', Arousal({T0}, 40.0, 0.0, 0.1, 0.2, ArousalState.CALM, False, False, 60.0, 50.0))\n"
        "ar.commit()\n"
        f"ar.queue_beats([Beat(t={T0} + 100, rr_ms=900.0, device='d', user='u')], [False])\n"
        "os._exit(9)  # no fold, no close; the last beat was never committed\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False, cwd=Path(__file__).parents[2])
    assert _raw(db, "SELECT COUNT(*) FROM beats_recent") == [(7,)]
    assert _raw(db, "SELECT COUNT(*) FROM arousal_recent") == [(1,)]
    with Archive(db) as ar:
        assert ar.query("SELECT COUNT(*), SUM(artifact) FROM beats") == [(7, 1)]
        assert ar.query("SELECT t, score, hr_bpm FROM arousal") == [(T0, 40.0, 60.0)]
    assert _raw(db, "SELECT COUNT(*) FROM beats_recent") == [(0,)]
    assert _raw(db, "SELECT COUNT(*) FROM arousal_recent") == [(0,)]


def test_delete_user_empties_their_journal_rows(tmp_path: Path) -> None:
    """Removing a user removes their beats not folded yet too."""
    with Archive(tmp_path / "a.db") as ar:
        ar.journal_rows = True
        ar.queue_beats(_beats("u", "d", 3) + _beats("v", "d", 2), [False] * 5)
        ar.commit()
        ar.delete_user("u")
        ar.commit()
        assert ar.query("SELECT user, COUNT(*) FROM beats GROUP BY user") == [("v", 2)]


def test_the_progress_refresh_leaves_the_journal_and_takes_it_in_after_the_fold(tmp_path: Path) -> None:
    """The weekly progress refresh (as each episode ends) does not fold the running service's journals; the
    beats it did not see get their ``seq`` at the fold, and its next refresh counts them."""
    from storage.progress import ProgressUpdater

    with Archive(tmp_path / "a.db") as ar:
        ar.journal_rows = True
        updater = ProgressUpdater.of(ar)
        ar.queue_beats(_beats("u", "d", 1800), [False] * 1800)  # half an hour of 1 s beats
        ar.fold_journal()
        ar.commit()
        first = updater.update("u").weeks[-1].hours_worn
        ar.queue_beats(_beats("u", "d", 1800, T0 + 7200), [False] * 1800)  # two hours later
        ar.commit()
        assert updater.update("u").weeks == ()
        assert _raw(tmp_path / "a.db", "SELECT COUNT(*) FROM beats_recent") == [(1800,)]
        ar.fold_journal()
        ar.commit()
        later = updater.update("u").weeks[-1].hours_worn
        assert later > first


_batch = st.lists(
    st.tuples(st.sampled_from(["u", "v"]), st.sampled_from(["d1", "d2"]), st.integers(0, 30), st.booleans()),
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(st.tuples(_batch, st.lists(st.integers(0, 30), max_size=5)), min_size=1, max_size=4))
def test_journal_and_fold_store_what_direct_writes_store(
    tmp_path_factory: pytest.TempPathFactory,
    batches: list[tuple[list[tuple[str, str, int, bool]], list[int]]],
) -> None:
    """Whatever the beats (duplicates included) and flags (of beats queued before them, as the service's
    are), folding the journal stores the same beats, with the same marks, as writing straight to ``beats``."""
    stored = []
    d = tmp_path_factory.mktemp("journal")
    for journal in (False, True):
        with Archive(d / f"{journal}.db") as ar:
            ar.journal_rows = journal
            seen: set[int] = set()
            for i, (rows, flags) in enumerate(batches):
                beats = [Beat(t=T0 + k, rr_ms=700.0 + k + i, device=dev, user=u) for u, dev, k, _ in rows]
                ar.queue_beats(beats, [bad for *_, bad in rows])
                seen |= {k for u, dev, k, _ in rows if (u, dev) == ("u", "d1")}
                ar.queue_flags("u", "d1", [T0 + k for k in flags if k in seen])
                ar.commit()
            stored.append(
                ar.query("SELECT user, device, t, rr_ms, artifact FROM beats ORDER BY user, device, t")
            )
    assert stored[0] == stored[1]
