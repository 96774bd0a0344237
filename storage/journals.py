"""The journals of the running service's grouped commits: the beats, windows and arousal rows appended to
tables with no index and folded into their own tables every few seconds
(:meth:`storage.event_rows.EventRows.fold_journal`; BENCHMARKS.md, sessions 11 and 12)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.schema import WINDOW_FEATURES

FLAGS_RECENT_SQL = "INSERT INTO beat_flags_recent (user, device, t) VALUES (?,?,?)"
_WINDOW_COLUMNS = ("user", "device", "channel", "t", "window_s", *WINDOW_FEATURES, "valid")
_AROUSAL_COLUMNS = (
    "user",
    "t",
    "score",
    "a",
    "z_hr",
    "z_ln_rmssd",
    "state",
    "warming_up",
    "gated",
    "hr_bpm",
    "rmssd_ms",
)


@dataclass(frozen=True, slots=True)
class Journal:
    """One table's journal: the grouped commits append its rows to ``recent`` (same columns but ``seq``, no
    index); :meth:`EventRows.fold_journal` moves them into ``table`` in ``order`` (the order of the table's
    user-keyed index, each strap's rows in the order they came)."""

    table: str
    recent: str
    columns: tuple[str, ...]
    order: str
    verb: str = "INSERT"

    @property
    def insert_sql(self) -> str:
        return f"INSERT INTO {self.recent} ({', '.join(self.columns)}) VALUES ({','.join('?' * len(self.columns))})"

    @property
    def fold_sql(self) -> str:
        """``?1`` + rowid is each row's ``seq``: the journal's rowids are consecutive, so a fold hands out
        one consecutive run of ``seq`` per table."""
        cols = ", ".join(self.columns)
        return (
            f"{self.verb} INTO {self.table} (seq, {cols}) SELECT ?1 + rowid, {cols} FROM {self.recent}"
            f" ORDER BY {self.order}, rowid"
        )


BEATS_JOURNAL = Journal(
    "beats", "beats_recent", ("user", "device", "t", "rr_ms", "artifact"), "user, device", "INSERT OR IGNORE"
)
"""The beats: the first of two beats with one key is the one kept, as with one-row inserts."""
WINDOWS_JOURNAL = Journal("windows", "windows_recent", _WINDOW_COLUMNS, "user, channel")
AROUSAL_JOURNAL = Journal("arousal", "arousal_recent", _AROUSAL_COLUMNS, "user")
JOURNALS: tuple[Journal, ...] = (BEATS_JOURNAL, WINDOWS_JOURNAL, AROUSAL_JOURNAL)
"""The rows the running service journals (BENCHMARKS.md, sessions 11-12): at clinic scale each of their
rows written into its table dirties its own leaf page of the table's user-keyed index, one page per row."""
JOURNAL_TABLES: tuple[str, ...] = (*(j.recent for j in JOURNALS), "beat_flags_recent")
BEATS_RECENT_SQL = BEATS_JOURNAL.insert_sql
WINDOWS_RECENT_SQL = WINDOWS_JOURNAL.insert_sql
AROUSAL_RECENT_SQL = AROUSAL_JOURNAL.insert_sql
