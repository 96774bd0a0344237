"""The SQLite archive: the system of record (WAL mode, file mode 0600).

Every row carries ``seq``, a number from one archive-wide sequence that grows on every insert and update,
so a downstream writer (InfluxDB) can drain each table from a watermark and never miss an update.
The schema version is ``PRAGMA user_version``; migrations run in order inside one transaction.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts.catalog import Prompt
from processing.arousal import Arousal, BaselineStats
from processing.episodes import Episode
from processing.outcomes import PromptOutcome
from processing.progress import WeekProgress
from processing.stream import WindowResult
from sensors.beats import Beat, Gap
from storage.errors import SchemaTooNew

ARCHIVE_NAME = "archive.db"

WINDOW_FEATURES: tuple[str, ...] = (
    "n_beats",
    "artifact_pct",
    "mean_rr_ms",
    "mean_hr_bpm",
    "sdnn_ms",
    "rmssd_ms",
    "pnn50_pct",
    "lf_ms2",
    "hf_ms2",
    "lf_hf",
    "sd1_ms",
    "sd2_ms",
    "dfa_a1",
    "stress_index",
    "resp_rate_bpm",
)

MIGRATIONS: tuple[str, ...] = (
    # version 1
    f"""
    CREATE TABLE beats (
        id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, device TEXT NOT NULL,
        t REAL NOT NULL, rr_ms REAL NOT NULL, artifact INTEGER NOT NULL DEFAULT 0,
        UNIQUE (user, device, t)
    );
    CREATE INDEX beats_seq ON beats (seq);
    CREATE INDEX beats_user_t ON beats (user, t);
    CREATE TABLE gaps (
        id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, device TEXT NOT NULL,
        start_t REAL NOT NULL, end_t REAL NOT NULL, reason TEXT NOT NULL
    );
    CREATE INDEX gaps_seq ON gaps (seq);
    CREATE TABLE windows (
        id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, device TEXT NOT NULL,
        channel TEXT NOT NULL, t REAL NOT NULL, window_s REAL NOT NULL,
        {", ".join(f"{c} REAL" for c in WINDOW_FEATURES)}, valid INTEGER NOT NULL
    );
    CREATE INDEX windows_seq ON windows (seq);
    CREATE INDEX windows_user_t ON windows (user, channel, t);
    CREATE TABLE arousal (
        id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, t REAL NOT NULL,
        score REAL NOT NULL, a REAL NOT NULL, z_hr REAL, z_ln_rmssd REAL, state TEXT NOT NULL,
        warming_up INTEGER NOT NULL, gated INTEGER NOT NULL, hr_bpm REAL, rmssd_ms REAL
    );
    CREATE INDEX arousal_seq ON arousal (seq);
    CREATE INDEX arousal_user_t ON arousal (user, t);
    CREATE TABLE episodes (
        id TEXT PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, onset_t REAL NOT NULL,
        peak_t REAL NOT NULL, end_t REAL NOT NULL, peak_score REAL NOT NULL, peak_a REAL NOT NULL,
        amplitude REAL NOT NULL, amplitude_a REAL NOT NULL, duration_s REAL NOT NULL,
        recovery_s REAL NOT NULL, t50_s REAL NOT NULL, area_a_s REAL NOT NULL, prompt_ids TEXT NOT NULL
    );
    CREATE INDEX episodes_seq ON episodes (seq);
    CREATE TABLE prompts (
        id TEXT PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, t REAL NOT NULL, kind TEXT NOT NULL,
        template_id TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL, duration_s REAL NOT NULL,
        expires_t REAL NOT NULL, reason_episode_id TEXT, reason_score REAL,
        inhale_s REAL, hold_s REAL, exhale_s REAL, delivered_via TEXT,
        outcome_t REAL, d_ln_rmssd REAL, d_hr_bpm REAL, d_score REAL, helped INTEGER, feedback_helped INTEGER
    );
    CREATE INDEX prompts_seq ON prompts (seq);
    CREATE TABLE baseline (
        id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, t REAL NOT NULL,
        bin TEXT NOT NULL DEFAULT 'all', hr_bpm REAL NOT NULL, hr_sd REAL NOT NULL,
        ln_rmssd REAL NOT NULL, ln_rmssd_sd REAL NOT NULL, n_windows INTEGER NOT NULL, source TEXT NOT NULL
    );
    CREATE INDEX baseline_seq ON baseline (seq);
    CREATE TABLE device_status (
        id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, device TEXT NOT NULL,
        t REAL NOT NULL, battery_pct REAL, connected INTEGER
    );
    CREATE INDEX device_status_seq ON device_status (seq);
    CREATE TABLE motion (
        id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, device TEXT NOT NULL,
        t REAL NOT NULL, intensity REAL NOT NULL
    );
    CREATE INDEX motion_seq ON motion (seq);
    CREATE TABLE weekly_progress (
        user TEXT NOT NULL, week TEXT NOT NULL, seq INTEGER NOT NULL, week_start_t REAL NOT NULL,
        hours_worn REAL, episodes INTEGER, episodes_per_hour REAL, median_amplitude REAL,
        median_t50_s REAL, median_recovery_s REAL, resting_ln_rmssd REAL, resting_ln_rmssd_lo REAL,
        resting_ln_rmssd_hi REAL, resting_hr_bpm REAL, prompts_sent INTEGER, prompts_helped INTEGER,
        helped_share REAL,
        PRIMARY KEY (user, week)
    );
    CREATE INDEX weekly_progress_seq ON weekly_progress (seq);
    CREATE TABLE sync_watermark (
        sink TEXT NOT NULL, tbl TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (sink, tbl)
    );
    """,
    # version 2: the HR oscillation of a paced-breathing prompt's outcome (processing.outcomes.HrOscillation)
    """
    ALTER TABLE prompts ADD COLUMN osc_freq_hz REAL;
    ALTER TABLE prompts ADD COLUMN osc_amplitude_bpm REAL;
    ALTER TABLE prompts ADD COLUMN osc_power_share REAL
    """,
    # version 3: an episode during ambiguous exertion is kept and flagged (processing.episodes.Episode.exertion)
    """
    ALTER TABLE episodes ADD COLUMN exertion INTEGER NOT NULL DEFAULT 0
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
SEQ_TABLES: tuple[str, ...] = (
    "beats",
    "gaps",
    "windows",
    "arousal",
    "episodes",
    "prompts",
    "baseline",
    "device_status",
    "motion",
    "weekly_progress",
)


def _num(x: float | None) -> float | None:
    """NaN becomes NULL (SQLite has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _create_private(path: Path) -> None:
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


@dataclass(frozen=True, slots=True)
class TableCounts:
    beats: int
    gaps: int
    windows: int
    arousal: int
    episodes: int
    prompts: int


class Archive:
    """One SQLite archive file. Use as a context manager; writes are committed by :meth:`commit`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            _create_private(self.path)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        self._seq = self._max_seq()
        self._in_tx = False
        self._closed = False

    @classmethod
    def in_dir(cls, data_dir: str | os.PathLike[str]) -> Archive:
        return cls(Path(data_dir) / ARCHIVE_NAME)

    # -- lifecycle -------------------------------------------------------------------------------------
    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        if self._in_tx:
            self.conn.execute("COMMIT")
            self._in_tx = False
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()
        self._closed = True

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(str(self.path), version, SCHEMA_VERSION)
        for v in range(version, SCHEMA_VERSION):
            self.conn.execute("BEGIN IMMEDIATE")
            for stmt in MIGRATIONS[v].split(";"):
                if stmt.strip():
                    self.conn.execute(stmt)
            self.conn.execute(f"PRAGMA user_version = {v + 1}")
            self.conn.execute("COMMIT")

    def _max_seq(self) -> int:
        return max(
            (self.conn.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {t}").fetchone()[0] for t in SEQ_TABLES),
            default=0,
        )

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _begin(self) -> None:
        if not self._in_tx:
            self.conn.execute("BEGIN")
            self._in_tx = True

    def commit(self) -> None:
        if self._in_tx:
            self.conn.execute("COMMIT")
            self._in_tx = False

    def rollback(self) -> None:
        if self._in_tx:
            self.conn.execute("ROLLBACK")
            self._in_tx = False
            self._seq = self._max_seq()

    @contextmanager
    def transaction(self) -> Iterator[Archive]:
        """All writes inside commit together or not at all."""
        self.commit()
        self._begin()
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    # -- writes ----------------------------------------------------------------------------------------
    def add_beats(self, beats: Iterable[Beat], artifacts: Sequence[bool] | None = None) -> int:
        self._begin()
        rows = [
            (self._next_seq(), b.user, b.device, b.t, b.rr_ms, int(artifacts[i]) if artifacts else 0)
            for i, b in enumerate(beats)
        ]
        cur = self.conn.executemany(
            "INSERT OR IGNORE INTO beats (seq, user, device, t, rr_ms, artifact) VALUES (?,?,?,?,?,?)", rows
        )
        return cur.rowcount

    def add_gap(self, gap: Gap) -> None:
        self._begin()
        self.conn.execute(
            "INSERT INTO gaps (seq, user, device, start_t, end_t, reason) VALUES (?,?,?,?,?,?)",
            (self._next_seq(), gap.user, gap.device, gap.start_t, gap.end_t, str(gap.reason)),
        )

    def add_window(self, w: WindowResult) -> None:
        self._begin()
        win = w.window
        cols = ", ".join(WINDOW_FEATURES)
        marks = ",".join("?" * len(WINDOW_FEATURES))
        self.conn.execute(
            f"INSERT INTO windows (seq, user, device, channel, t, window_s, {cols}, valid) "
            f"VALUES (?,?,?,?,?,?,{marks},?)",
            (
                self._next_seq(),
                w.user,
                w.device,
                str(w.channel),
                win.t,
                win.window_s,
                *(_num(getattr(win, c)) for c in WINDOW_FEATURES),
                int(win.valid),
            ),
        )

    def add_arousal(self, user: str, x: Arousal) -> None:
        self._begin()
        self.conn.execute(
            "INSERT INTO arousal (seq, user, t, score, a, z_hr, z_ln_rmssd, state, warming_up, gated, hr_bpm,"
            " rmssd_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                self._next_seq(),
                user,
                x.t,
                x.score,
                x.a,
                _num(x.z_hr),
                _num(x.z_ln_rmssd),
                str(x.state),
                int(x.warming_up),
                int(x.gated),
                _num(x.hr_bpm),
                _num(x.rmssd_ms),
            ),
        )

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
            " osc_freq_hz = ?, osc_amplitude_bpm = ?, osc_power_share = ?, seq = ? WHERE id = ?",
            (
                o.t,
                _num(o.d_ln_rmssd),
                _num(o.d_hr_bpm),
                _num(o.d_score),
                int(o.helped),
                None if osc is None else _num(osc.freq_hz),
                None if osc is None else _num(osc.amplitude_bpm),
                None if osc is None else _num(osc.power_share),
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
        is stored as NULL. Writes pending before the call are committed first; then all rows commit together
        or none do. Raises :class:`ValueError`, writing nothing, when a row belongs to another user.
        """
        rows = list(weeks)
        others = sorted({w.user for w in rows} - {user})
        if others:
            raise ValueError(f"weekly progress of {others} given for user {user!r}")
        with self.transaction():
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
        changed = 0
        for t in times:
            cur = self.conn.execute(
                "UPDATE beats SET artifact = 1, seq = ? WHERE user = ? AND device = ? AND t = ? AND artifact = 0",
                (self._seq + 1, user, device, float(t)),
            )
            if cur.rowcount > 0:
                self._next_seq()
                changed += cur.rowcount
        return changed

    def delete_user(self, user: str) -> None:
        """Remove every row of one user (the demo replaces its previous run)."""
        self._begin()
        for table in SEQ_TABLES:
            self.conn.execute(f"DELETE FROM {table} WHERE user = ?", (user,))

    # -- reads -----------------------------------------------------------------------------------------
    def load_baseline(self, user: str, bin_name: str = "all") -> BaselineStats | None:
        row = self.conn.execute(
            "SELECT hr_bpm, hr_sd, ln_rmssd, ln_rmssd_sd, n_windows, source FROM baseline"
            " WHERE user = ? AND bin = ? ORDER BY seq DESC LIMIT 1",
            (user, bin_name),
        ).fetchone()
        if row is None:
            return None
        return BaselineStats(row[0], row[1], row[2], row[3], int(row[4]), source=row[5])

    def count(self, table: str, user: str | None = None) -> int:
        if table not in SEQ_TABLES:
            raise ValueError(f"unknown table {table!r}")
        if user is None:
            return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE user = ?", (user,)).fetchone()[0])

    def counts(self) -> TableCounts:
        return TableCounts(
            *(self.count(t) for t in ("beats", "gaps", "windows", "arousal", "episodes", "prompts"))
        )

    def users(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT user FROM beats ORDER BY user")]

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read-only helper for exports and tests."""
        return list(self.conn.execute(sql, params))

    def iter_query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Like :meth:`query` but row by row, for reads too large to hold as a list (exports)."""
        return iter(self.conn.execute(sql, params))

    def integrity_ok(self) -> bool:
        return bool(self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
