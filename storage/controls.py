"""The archive's ``controls`` table: moments without a prompt that later prompts are compared with.

A mixin of :class:`storage.archive.Archive` (kept apart from the archive's other tables): held-back moments
(the policy would have prompted and held the prompt back at random) and matched unprompted stretches, each
with the same outcome a prompt gets. Controls are never rows of ``prompts``.
"""

from __future__ import annotations

import math
import sqlite3

from processing.outcomes import ControlBasis, ControlMoment, ControlOutcome, Stage


def _num(x: float | None) -> float | None:
    """NaN becomes NULL (SQLite has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


class ControlsTable:
    """Reads and writes of ``controls``; the archive supplies the connection, transactions and ``seq``."""

    _seq: int

    @property
    def conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _begin(self) -> None:
        raise NotImplementedError

    def _next_seq(self) -> int:
        raise NotImplementedError

    def add_control(self, c: ControlMoment) -> None:
        """Store a control moment (once: a second call for the same id changes nothing)."""
        self._begin()
        self.conn.execute(
            "INSERT OR IGNORE INTO controls (id, seq, user, t, stage, basis, reason_episode_id, reason_score)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (c.id, self._seq + 1, c.user, c.t, str(c.stage), str(c.basis), c.episode_id, _num(c.score)),
        )
        if self.conn.execute("SELECT changes()").fetchone()[0]:
            self._next_seq()

    def set_control_outcome(self, o: ControlOutcome) -> None:
        self._begin()
        ch = o.change
        self.conn.execute(
            "UPDATE controls SET a_at = ?, outcome_t = ?, d_ln_rmssd = ?, d_hr_bpm = ?, d_score = ?, d_a = ?,"
            " n_before = ?, n_after = ?, seq = ? WHERE id = ?",
            (
                _num(o.a_at),
                o.t,
                _num(ch.d_ln_rmssd),
                _num(ch.d_hr_bpm),
                _num(ch.d_score),
                _num(ch.d_a),
                ch.n_before,
                ch.n_after,
                self._next_seq(),
                o.moment.id,
            ),
        )

    def load_control_changes(
        self, user: str, limit: int = 400
    ) -> list[tuple[Stage, ControlBasis, float, float]]:
        """The newest measured controls of ``user``, oldest first: (stage, basis, change of A, A at it)."""
        rows = self.conn.execute(
            "SELECT stage, basis, d_a, a_at FROM controls WHERE user = ? AND d_a IS NOT NULL"
            " ORDER BY t DESC LIMIT ?",
            (user, limit),
        ).fetchall()
        out: list[tuple[Stage, ControlBasis, float, float]] = []
        for stage, basis, d_a, a_at in reversed(rows):
            try:
                out.append(
                    (Stage(stage), ControlBasis(basis), float(d_a), math.nan if a_at is None else a_at)
                )
            except ValueError:
                continue  # a stage or basis this version does not know
        return out
