"""The archive's event rows: beats, gaps, windows, arousal, episodes, prompts and the other stream writes.

A mixin of :class:`storage.archive.Archive` (the archive supplies the connection, the open transaction,
``seq`` and the queue of pending rows). The frequent rows (beats, windows, arousal) are queued and written
with one ``executemany`` per statement just before the connection is next used or committed; the others
are executed at once, in the same transaction.
"""

from __future__ import annotations

import json
import math
import operator
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from alerts.catalog import Prompt
from processing.arousal import Arousal, BaselineStats
from processing.episodes import Episode
from processing.outcomes import PromptOutcome
from processing.progress import WeekProgress
from processing.stream import WindowResult
from sensors.beats import Beat, Gap
from storage.journals import (
    AROUSAL_RECENT_SQL,
    BEATS_JOURNAL,
    BEATS_RECENT_SQL,
    FLAGS_RECENT_SQL,
    JOURNALS,
    WINDOWS_RECENT_SQL,
)
from storage.schema import WINDOW_FEATURES

_isfinite = math.isfinite


def _num(x: float | None) -> float | None:
    """NaN becomes NULL (SQLite has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if _isfinite(x) else None


_NULL = math.nan
"""What the queued rows give SQLite for NULL: SQLite stores a bound NaN as NULL (``sqlite3VdbeMemSetDouble``;
``tests/storage/test_event_rows.py`` checks it), and an exact float is bound directly, where a ``None``
parameter goes through the sqlite3 module's adapter lookup (``_need_adapt``: about 3,300 instructions per
value under callgrind, 1.4 per notification in ``benchmarks/cluster_capacity.py``). The rows stored are the
same."""


def _num_bound(x: float | None) -> float:
    """:func:`_num` for a queued row: NULL (None, NaN, an infinity) as :data:`_NULL`."""
    if x is None:
        return _NULL
    x = float(x)
    return x if x - x == 0.0 else _NULL


BEATS_SQL = "INSERT OR IGNORE INTO beats (seq, user, device, t, rr_ms, artifact) VALUES (?,?,?,?,?,?)"
WINDOW_SQL = (
    f"INSERT INTO windows (seq, user, device, channel, t, window_s, {', '.join(WINDOW_FEATURES)}, valid) "
    f"VALUES (?,?,?,?,?,?,{','.join('?' * len(WINDOW_FEATURES))},?)"
)
AROUSAL_SQL = (
    "INSERT INTO arousal (seq, user, t, score, a, z_hr, z_ln_rmssd, state, warming_up, gated, hr_bpm,"
    " rmssd_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
FLAG_SQL = "UPDATE beats SET artifact = 1, seq = ? WHERE user = ? AND device = ? AND t = ? AND artifact = 0"
QUEUED_FLAGS = "flag beats"
"""The queue of :meth:`EventRows.queue_flags` among the archive's pending rows: (user, device, t) each."""
BY_STRAP = {
    BEATS_SQL: operator.itemgetter(1, 2),
    WINDOW_SQL: operator.itemgetter(1, 2),
    AROUSAL_SQL: operator.itemgetter(1),
}
"""The queued inserts written strap by strap (their rows' user and device), each strap's rows in the order
they came: every strap appends to its own place in the indexes keyed by user, so a batch sorted by strap
walks each such leaf page once instead of once per row (BENCHMARKS.md, session 7)."""
_window_features = operator.attrgetter(*WINDOW_FEATURES)


def window_values(win: object) -> tuple[float | None, ...]:
    """A window's features as floats in :data:`WINDOW_FEATURES` order, NaN and infinities as NULL.

    Each value is tested as ``v - v == 0.0``: true for every finite float, false for NaN and infinities
    (whose difference is NaN), as ``math.isfinite``. (Most windows have a NaN feature: 88 % of the
    benchmark's, so no shortcut for all-finite windows.)
    """
    return tuple([v if v - v == 0.0 else None for v in map(float, _window_features(win))])


class EventRows:
    """Writes of the stream's rows; the archive supplies the connection, transactions and ``seq``."""

    _seq: int
    _in_tx: bool
    journal_rows: bool
    """Queued beats (and their flags), windows and arousal rows go to their journals (:data:`JOURNALS`),
    folded by :meth:`fold_journal` (set by the grouped commits of ``calmstrap run``; otherwise they go
    straight into their tables)."""
    _recent: bool
    """The journal may hold rows this connection wrote (a read folds them first)."""
    _pending: dict[str, list[tuple[Any, ...]]]

    @property
    def conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _begin(self) -> None:
        raise NotImplementedError

    def _next_seq(self) -> int:
        raise NotImplementedError

    def _queue(self, sql: str, row: tuple[Any, ...]) -> None:
        raise NotImplementedError

    def transaction(self) -> Any:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def atomic(self, name: str = "atomic") -> Any:
        raise NotImplementedError

    def add_beats(self, beats: Iterable[Beat], artifacts: Sequence[bool] | None = None) -> int:
        """Insert beats (a beat already stored is ignored); returns how many were new."""
        self._begin()
        rows = [
            (self._next_seq(), b.user, b.device, b.t, b.rr_ms, int(artifacts[i]) if artifacts else 0)
            for i, b in enumerate(beats)
        ]
        cur = self.conn.executemany(BEATS_SQL, rows)
        return cur.rowcount

    def queue_beats(self, beats: Sequence[Beat], artifacts: Sequence[bool]) -> None:
        """:meth:`add_beats` without the count: the rows are written with the next use of the connection
        or commit (one ``executemany`` for many notifications), in the same transaction; with
        :attr:`journal_rows`, into the beats journal (see :meth:`fold_journal`)."""
        if not self._in_tx:
            self._begin()
        if self.journal_rows:
            rows = self._pending.get(BEATS_RECENT_SQL)
            if rows is None:
                rows = self._pending[BEATS_RECENT_SQL] = []
            rows.extend(
                [(b.user, b.device, b.t, b.rr_ms, int(bad)) for b, bad in zip(beats, artifacts, strict=True)]
            )
            self._recent = True
            return
        rows = self._pending.get(BEATS_SQL)
        if rows is None:
            rows = self._pending[BEATS_SQL] = []
        seq = self._seq
        for b, bad in zip(beats, artifacts, strict=True):
            seq += 1
            rows.append((seq, b.user, b.device, b.t, b.rr_ms, int(bad)))
        self._seq = seq

    def add_gap(self, gap: Gap) -> None:
        self._begin()
        self.conn.execute(
            "INSERT INTO gaps (seq, user, device, start_t, end_t, reason) VALUES (?,?,?,?,?,?)",
            (self._next_seq(), gap.user, gap.device, gap.start_t, gap.end_t, str(gap.reason)),
        )

    def add_window(self, w: WindowResult) -> None:
        if not self._in_tx:
            self._begin()
        win = w.window
        row = (
            w.user,
            w.device,
            str(w.channel),
            win.t,
            win.window_s,
            *[v if v - v == 0.0 else _NULL for v in map(float, _window_features(win))],  # window_values
            int(win.valid),
        )
        if self.journal_rows:
            self._queue(WINDOWS_RECENT_SQL, row)
            self._recent = True
            return
        self._seq = seq = self._seq + 1  # _next_seq, in line
        self._queue(WINDOW_SQL, (seq, *row))

    def add_arousal(self, user: str, x: Arousal) -> None:
        if not self._in_tx:
            self._begin()
        row = (
            user,
            x.t,
            x.score,
            x.a,
            _num_bound(x.z_hr),
            _num_bound(x.z_ln_rmssd),
            str(x.state),
            int(x.warming_up),
            int(x.gated),
            _num_bound(x.hr_bpm),
            _num_bound(x.rmssd_ms),
        )
        if self.journal_rows:
            self._queue(AROUSAL_RECENT_SQL, row)
            self._recent = True
            return
        self._seq = seq = self._seq + 1  # _next_seq, in line
        self._queue(AROUSAL_SQL, (seq, *row))

    def add_episode(self, e: Episode) -> None:
        self._begin()
        self.conn.execute(
            "INSERT OR REPLACE INTO episodes (id, seq, user, onset_t, peak_t, end_t, peak_score, peak_a,"
            " amplitude, amplitude_a, duration_s, recovery_s, t50_s, area_a_s, prompt_ids, exertion)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                e.id,
                self._next_seq(),
                e.user,
                e.onset_t,
                e.peak_t,
                e.end_t,
                e.peak_score,
                e.peak_a,
                e.amplitude,
                e.amplitude_a,
                e.duration_s,
                e.recovery_s,
                e.t50_s,
                e.area_a_s,
                json.dumps(list(e.prompt_ids)),
                int(e.exertion),
            ),
        )

    def add_prompt(self, p: Prompt, delivered_via: str) -> None:
        self._begin()
        self.conn.execute(
            "INSERT OR REPLACE INTO prompts (id, seq, user, t, kind, template_id, title, body, duration_s,"
            " expires_t, reason_episode_id, reason_score, inhale_s, hold_s, exhale_s, delivered_via)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                p.id,
                self._next_seq(),
                p.user,
                p.t,
                str(p.kind),
                p.template_id,
                p.title,
                p.body,
                p.duration_s,
                p.expires_t,
                p.reason_episode_id,
                _num(p.reason_score),
                p.inhale_s,
                p.hold_s,
                p.exhale_s,
                delivered_via,
            ),
        )

    def set_prompt_delivery(self, prompt_id: str, delivered_via: str) -> None:
        self._begin()
        self.conn.execute(
            "UPDATE prompts SET delivered_via = ?, seq = ? WHERE id = ?",
            (delivered_via, self._next_seq(), prompt_id),
        )

    def set_prompt_outcome(self, o: PromptOutcome) -> None:
        self._begin()
        osc = o.oscillation
        self.conn.execute(
            "UPDATE prompts SET outcome_t = ?, d_ln_rmssd = ?, d_hr_bpm = ?, d_score = ?, helped = ?,"
            " osc_freq_hz = ?, osc_amplitude_bpm = ?, osc_power_share = ?, stage = ?, d_a = ?, came_down = ?,"
            " helped_basis = ?, n_reference = ?, seq = ? WHERE id = ?",
            (
                o.t,
                _num(o.d_ln_rmssd),
                _num(o.d_hr_bpm),
                _num(o.d_score),
                None if o.helped is None else int(o.helped),
                None if osc is None else _num(osc.freq_hz),
                None if osc is None else _num(osc.amplitude_bpm),
                None if osc is None else _num(osc.power_share),
                str(o.stage),
                _num(o.d_a),
                None if o.came_down is None else int(o.came_down),
                str(o.helped_basis),
                o.n_reference,
                self._next_seq(),
                o.prompt_id,
            ),
        )

    def set_prompt_feedback(self, prompt_id: str, helped: bool) -> bool:
        self._begin()
        cur = self.conn.execute(
            "UPDATE prompts SET feedback_helped = ?, seq = ? WHERE id = ?",
            (int(helped), self._next_seq(), prompt_id),
        )
        return cur.rowcount > 0

    def save_baseline(self, user: str, t: float, b: BaselineStats, bin_name: str = "all") -> None:
        self._begin()
        self.conn.execute(
            "INSERT INTO baseline (seq, user, t, bin, hr_bpm, hr_sd, ln_rmssd, ln_rmssd_sd, n_windows, source)"
            " VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                self._next_seq(),
                user,
                t,
                bin_name,
                b.hr_bpm,
                b.hr_sd,
                b.ln_rmssd,
                b.ln_rmssd_sd,
                b.n_windows,
                b.source,
            ),
        )

    def add_device_status(
        self, user: str, device: str, t: float, battery_pct: float | None, connected: bool | None
    ) -> None:
        self._begin()
        self.conn.execute(
            "INSERT INTO device_status (seq, user, device, t, battery_pct, connected) VALUES (?,?,?,?,?,?)",
            (
                self._next_seq(),
                user,
                device,
                t,
                _num(battery_pct),
                None if connected is None else int(connected),
            ),
        )

    def replace_weekly_progress(self, user: str, weeks: Iterable[WeekProgress]) -> int:
        """Store ``user``'s weekly progress (``processing.progress.weekly_progress``); returns rows written.

        Each week's row replaces the stored row of the same ISO week and gets a new ``seq`` (so the InfluxDB
        writer sends it again); weeks not given are left as stored. NaN (a number a week has no data for)
        is stored as NULL. The rows are written together or not at all, into the open transaction when
        there is one (:meth:`Archive.atomic`: no commit of their own). Raises :class:`ValueError`, writing
        nothing, when a row belongs to another user.
        """
        rows = list(weeks)
        others = sorted({w.user for w in rows} - {user})
        if others:
            raise ValueError(f"weekly progress of {others} given for user {user!r}")
        with self.atomic("weekly_progress"):
            self.conn.executemany(
                "INSERT OR REPLACE INTO weekly_progress (user, week, seq, week_start_t, hours_worn, episodes,"
                " episodes_per_hour, median_amplitude, median_t50_s, median_recovery_s, resting_ln_rmssd,"
                " resting_ln_rmssd_lo, resting_ln_rmssd_hi, resting_hr_bpm, prompts_sent, prompts_helped,"
                " helped_share) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        user,
                        w.week,
                        self._next_seq(),
                        w.week_start_t,
                        _num(w.hours_worn),
                        w.episodes,
                        _num(w.episodes_per_hour),
                        _num(w.median_amplitude),
                        _num(w.median_t50_s),
                        _num(w.median_recovery_s),
                        _num(w.resting_ln_rmssd),
                        _num(w.resting_ln_rmssd_lo),
                        _num(w.resting_ln_rmssd_hi),
                        _num(w.resting_hr_bpm),
                        w.prompts_sent,
                        w.prompts_helped,
                        _num(w.helped_share),
                    )
                    for w in rows
                ],
            )
        return len(rows)

    def add_motion(self, user: str, device: str, t: float, intensity: float) -> None:
        """One second of motion intensity from the strap (as the source reports it, e.g. mg)."""
        self._begin()
        self.conn.execute(
            "INSERT INTO motion (seq, user, device, t, intensity) VALUES (?,?,?,?,?)",
            (self._next_seq(), user, device, t, float(intensity)),
        )

    def flag_beats(self, user: str, device: str, times: Iterable[float]) -> int:
        """Mark already archived beats (by their exact ``t``) as artifacts; returns how many changed.

        A beat already flagged keeps its ``seq``; a newly flagged one gets a new ``seq`` (downstream re-sync).
        """
        self._begin()
        self._fold_for_read()
        return self._flag(self.conn, [(user, device, float(t)) for t in times])

    def queue_flags(self, user: str, device: str, times: Iterable[float]) -> None:
        """:meth:`flag_beats` without the count, done with the queued rows (after their inserts), in the same
        transaction: the running service's flags, which need not write every strap's queued rows first."""
        if not self._in_tx:
            self._begin()
        key = FLAGS_RECENT_SQL if self.journal_rows else QUEUED_FLAGS
        rows = self._pending.get(key)
        if rows is None:
            rows = self._pending[key] = []
        rows.extend((user, device, float(t)) for t in times)
        if self.journal_rows:
            self._recent = True

    def fold_journal(self) -> None:
        """Move the journals (:data:`JOURNALS`, and the beat flags waiting with them) into their tables, in
        the open transaction.

        With :attr:`journal_rows` (the running service's grouped commits) each commit appends its beats,
        windows and arousal rows to tables with no index: their pages are written once, in order, where a
        row written into ``beats``, ``windows`` or ``arousal`` itself dirties its strap's leaf page of the
        table's user-keyed index, one page per row at clinic scale. A fold every few seconds then writes
        many rows of each strap into that page at once. The rows get their ``seq`` here, when they become
        visible in their table (so a sync's watermark never passes a row still in a journal); the flags are
        applied after the beats' inserts, as queued flags are. Reads through this archive fold first
        (except the weekly progress's, which need not: see ``storage.progress``); opening an archive folds
        what a crash left.
        """
        self._begin()
        db = self.conn  # the queued rows first
        for j in JOURNALS:
            lo, hi = db.execute(f"SELECT MIN(rowid), MAX(rowid) FROM {j.recent}").fetchone()
            if lo is not None:
                db.execute(j.fold_sql, (self._seq - lo + 1,))
                self._seq += hi - lo + 1
                db.execute(f"DELETE FROM {j.recent}")
            if j is BEATS_JOURNAL:
                flags = db.execute("SELECT user, device, t FROM beat_flags_recent ORDER BY rowid").fetchall()
                if flags:
                    self._flag(db, flags)
                    db.execute("DELETE FROM beat_flags_recent")
        self._recent = False

    def _fold_for_read(self) -> None:
        """Fold the journal before a read of ``beats`` (committed at once when no transaction was open)."""
        if self._recent:
            joined = self._in_tx
            self.fold_journal()
            if not joined:
                self.commit()

    def _flag(self, db: sqlite3.Connection, beats: Iterable[tuple[str, str, float]]) -> int:
        changed = 0
        for user, device, t in beats:
            cur = db.execute(FLAG_SQL, (self._seq + 1, user, device, t))
            if cur.rowcount > 0:
                self._next_seq()
                changed += cur.rowcount
        return changed

    def save_checkpoint(self, user: str, device: str, t: float, state: bytes) -> None:
        """Keep one strap session's state snapshot (replacing the previous one) in the current transaction."""
        self._begin()
        self.conn.execute(
            "INSERT OR REPLACE INTO checkpoint (user, device, t, state) VALUES (?,?,?,?)",
            (user, device, t, state),
        )
