"""Multi-row INSERTs of the queued rows (storage.row_batches) store what executemany of one-row inserts
stores: the same rows and ids, duplicates ignored alike, the same error after the same rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processing.arousal import Arousal
from processing.stream import StreamProcessor, WindowResult
from sensors.beats import Beat
from storage.archive import Archive
from storage.event_rows import AROUSAL_SQL, BEATS_SQL, WINDOW_SQL
from storage.row_batches import CHUNKS, multi_row_sql, write_rows
from tests.processing.conftest import load_rr


def _rows(con: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        t: [tuple(map(repr, r)) for r in con.execute(f"SELECT * FROM {t} ORDER BY id")]
        for t in ("beats", "windows", "arousal")
    }


def _queued(path: Path, fill: Any) -> dict[str, list[tuple[Any, ...]]]:
    """The rows ``fill(archive)`` queues, as the archive holds them before they are written."""
    with Archive(path) as ar:
        fill(ar)
        pending = {sql: list(rows) for sql, rows in ar._pending.items()}
        ar.rollback()
    return pending


def _write_both(
    tmp_path: Path, pending: dict[str, list[tuple[Any, ...]]], before: list[tuple[Any, ...]] = ()
) -> Any:
    """Write ``pending`` one row at a time (plain) and in multi-row statements; both archives' rows and errors."""
    out = []
    for name, fast in (("plain.db", False), ("fast.db", True)):
        (tmp_path / name).unlink(missing_ok=True)
        with Archive(tmp_path / name) as ar:
            db = ar._db
            db.execute("BEGIN")
            if before:
                db.executemany(BEATS_SQL, before)
            error = None
            for sql, rows in pending.items():
                try:
                    (write_rows if fast else sqlite3.Connection.executemany)(db, sql, rows)
                except sqlite3.Error as exc:
                    error = (type(exc), str(exc))
                    break
            out.append((_rows(db), error))
            db.execute("COMMIT")
    return out


def test_real_recording_rows_are_the_plain_rows(tmp_path: Path) -> None:
    """A real RR recording (tests/fixtures, the long pyhrv series): its beats (a stretch of them twice, and
    some already stored), windows and arousal rows, in one batch of each."""
    rr = load_rr("Long").tolist()

    def fill(ar: Archive) -> None:
        proc = StreamProcessor(user="ana", device="d1")
        t, beats = 1_700_000_000.0, []
        for x in rr:
            t += x / 1000.0
            beats.append(Beat(t, x, "d1", "ana"))
            for out in proc.push(beats[-1]):
                if isinstance(out, WindowResult):
                    ar.add_window(out)
                elif isinstance(out, Arousal):
                    ar.add_arousal("ana", out)
        ar.queue_beats(beats + beats[100:300], [x > 1500 for x in rr] + [False] * 200)

    pending = _queued(tmp_path / "q.db", fill)
    assert len(pending[WINDOW_SQL]) > 100 and len(pending[AROUSAL_SQL]) > 10
    before = [r for r in pending[BEATS_SQL][1000:1003]]  # already archived: ignored
    plain, fast = _write_both(tmp_path, pending, before)
    assert fast == plain
    assert plain[1] is None and len(plain[0]["beats"]) == len(rr)


_beat_rows = st.lists(
    st.tuples(
        st.integers(1, 10**6),
        st.sampled_from(["ana", "bo"]),
        st.sampled_from(["d1", "d2"]),
        st.one_of(st.sampled_from([1.0, 2.0, 3.0]), st.floats(0, 1e3), st.none()),  # duplicates; NULL
        st.one_of(st.floats(300, 2000), st.none()),
        st.integers(0, 1),
    ),
    max_size=3 * max(CHUNKS) + 7,
)


@settings(max_examples=80, deadline=None)
@given(beats=_beat_rows, windows=st.integers(0, 40), bad_window=st.one_of(st.none(), st.integers(0, 39)))
def test_random_rows_duplicates_and_errors(
    beats: list[tuple[Any, ...]],
    windows: int,
    bad_window: int | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Random beats (duplicates, NULLs ignored), then windows of which one may break NOT NULL: the same rows
    stored before the error, the same error."""
    n_values = WINDOW_SQL.count("?")
    win_rows = [
        (i, "ana", "d1", "fast", None if i == bad_window else 1e9 + i, 60.0, *[float(i)] * (n_values - 7), 1)
        for i in range(windows)
    ]
    pending = {BEATS_SQL: beats, WINDOW_SQL: win_rows}
    plain, fast = _write_both(tmp_path_factory.mktemp("rows"), {k: v for k, v in pending.items() if v})
    assert fast == plain
    if bad_window is not None and bad_window < windows:
        assert plain[1] is not None and "NOT NULL" in plain[1][1]


def test_other_statements_are_written_one_by_one() -> None:
    for sql in (
        "UPDATE beats SET artifact = 1 WHERE t = ?",
        "INSERT INTO x (a) SELECT ?",
        "INSERT INTO x (a) VALUES (?) ON CONFLICT DO NOTHING",
        "INSERT OR ROLLBACK INTO x (a) VALUES (?)",
    ):
        assert multi_row_sql(sql, 4) is None
    assert (
        multi_row_sql("INSERT INTO x (a, b) VALUES (?,?)", 2)
        == "INSERT OR FAIL INTO x (a, b) VALUES (?,?),(?,?)"
    )
