"""Weekly progress in the archive: read the archive, compute (processing.progress), write ``weekly_progress``.

Two ways to the same stored rows:

* :func:`refresh_weekly_progress` recomputes every week of a user from the whole history (``calmstrap sync``
  via :func:`refresh_all`; it costs the whole history, so it is not for the running service);
* :class:`ProgressUpdater` is the running service's refresh (every hour of stream time, after each
  episode, in the archiver): it recomputes only the weeks that rows written since its last update can
  change, reading only the rows those weeks depend on, and keeps the current week's hours of wear and the
  days' resting values between updates so an hourly update reads about an hour of new rows and the day's
  arousal rows (:func:`update_weekly_progress`: one update with nothing kept, reading the changed weeks).

Which rows are new: every insert and update in the archive takes a number from one archive-wide ``seq``
(``storage.archive``), whoever writes it: this session, the archiver applying a collector outbox replayed
hours late, a ``calmstrap import`` of older recordings running alongside, a prompt's outcome or the user's
feedback landing after the week has turned. The refresh keeps, per user, the ``seq`` it has taken into
account (in ``stream_applied``, key ``weekly_progress/<user>``, committed with the rows it writes) and finds
the oldest ``t`` among the user's beats, arousal, episodes and prompts with a larger ``seq``: the week of
that ``t`` and every later week are recomputed.

What a week depends on (``processing.progress.weekly_progress``): its own episodes, prompts and wear hours,
where a clock hour of beats is dated by its first beat (so an hour that straddles local midnight, in a time
zone with a half-hour offset, belongs to the week its first beat is in); and the resting baseline, the mean
of the daily values over the 7 days ending on its last worn day, which looks up to 6 days back into the
previous week (days are computed from their own windows only). Nothing else reaches across weeks, so a new
row at ``t`` changes the week of ``t`` (or of its clock hour's first beat) and the next week's baseline;
everything from that week on is recomputed. Rows removed leave no ``seq``: an updater that sees one of
the user's imports gone from the journal (a discarded import) recomputes the whole history once; other
removals (:meth:`Archive.delete_user`) are put right by the next :func:`refresh_weekly_progress`
(``calmstrap sync`` runs :func:`refresh_all`, after it removes any interrupted import).

The running service journals its beats, windows and arousal rows and folds them into their tables every few
seconds (``storage.event_rows.EventRows.fold_journal``); the reads here do not fold first (a fold per
refresh, with a refresh as each episode ends, would undo the journal at clinic scale). They need not: a row
still in a journal gets its ``seq`` at the fold, above the ``seq`` this refresh marks, so the next refresh
takes it in, as it takes in a row another process writes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from processing.progress import (
    EpisodeRecord,
    PromptRecord,
    ScoredWindow,
    WearRecord,
    WeekProgress,
    daily_resting,
    local_date,
    local_midnight_t,
    weekly_from_daily,
    weekly_progress,
)
from storage.archive import Archive


def _helped(feedback: int | None, measured: int | None) -> bool | None:
    """The user's own answer wins over the measured outcome."""
    if feedback is not None:
        return bool(feedback)
    return None if measured is None else bool(measured)


def load_progress_inputs(
    archive: Archive,
    user: str,
    start_t: float | None = None,
    end_t: float | None = None,
    *,
    windows: bool = True,
    wear: bool = True,
) -> tuple[list[EpisodeRecord], list[ScoredWindow], list[PromptRecord], list[WearRecord]]:
    """The rows weekly progress needs, as processing's input records (only ``[start_t, end_t)`` if given;
    ``windows``/``wear`` False: those lists are left empty, not read)."""
    lo = -math.inf if start_t is None else start_t
    hi = math.inf if end_t is None else end_t
    episodes = [
        # amplitude in personal-baseline SDs (amplitude_a): the score 100·Φ(A) saturates near 100, so score
        # points would hide a spike getting smaller; SDs keep "less amplitude" visible week by week
        EpisodeRecord(onset_t=r[0], amplitude=r[1], t50_s=r[2], recovery_s=r[3])
        for r in _read(
            archive,
            "SELECT onset_t, amplitude_a, t50_s, recovery_s FROM episodes WHERE user = ?"
            " AND onset_t >= ? AND onset_t < ? ORDER BY onset_t",
            (user, lo, hi),
        )
    ]
    scored = load_scored_windows(archive, user, lo, hi) if windows else []
    prompts = [
        PromptRecord(t=r[0], helped=_helped(r[1], r[2]))
        for r in _read(
            archive,
            "SELECT t, feedback_helped, helped FROM prompts WHERE user = ? AND kind != 'recovery'"
            " AND t >= ? AND t < ? ORDER BY t",
            (user, lo, hi),
        )
    ]
    return episodes, scored, prompts, load_wear(archive, user, lo, hi) if wear else []


def load_wear(archive: Archive, user: str, lo: float, hi: float = math.inf) -> list[WearRecord]:
    """Seconds of beats per clock hour in ``[lo, hi)``, each dated by its first beat (so an hour the range
    starts in stays inside the range); in hour order, so a week's hours are summed in the same order
    whatever range is read."""
    hours: dict[int, tuple[float, float]] = {}  # hour -> (first beat, ms of beats), device by device
    for device in archive.devices(user, fold=False):
        for hour, first_t, ms in _read(
            archive,
            "SELECT CAST(t / 3600 AS INTEGER), MIN(t), SUM(rr_ms) FROM beats"
            " WHERE user = ? AND device = ? AND t >= ? AND t < ? GROUP BY 1",
            (user, device, lo, hi),
        ):
            seen = hours.get(hour)
            hours[hour] = (first_t, ms) if seen is None else (min(seen[0], first_t), seen[1] + ms)
    return [WearRecord(t=first_t, seconds=ms / 1000.0) for _, (first_t, ms) in sorted(hours.items())]


def load_scored_windows(archive: Archive, user: str, lo: float, hi: float) -> list[ScoredWindow]:
    """The user's ungated, scored arousal rows in ``[lo, hi)`` with an HR and RMSSD, in time order (ties in
    score among a day's calmest windows are then broken the same way whatever range is read)."""
    return [
        ScoredWindow(t=r[0], score=r[1], hr_bpm=r[2], ln_rmssd=math.log(r[3]))
        for r in _read(
            archive,
            "SELECT t, score, hr_bpm, rmssd_ms FROM arousal WHERE user = ? AND gated = 0 AND warming_up = 0"
            " AND hr_bpm IS NOT NULL AND rmssd_ms > 0 AND t >= ? AND t < ? ORDER BY t, id",
            (user, lo, hi),
        )
    ]


def range_progress(
    archive: Archive, user: str, start_t: float, end_t: float, *, tz: tzinfo | None = None
) -> list[WeekProgress]:
    """The weekly numbers of ``[start_t, end_t)`` only (a week the range cuts is ``partial``); stores nothing."""
    episodes, windows, prompts, wear = load_progress_inputs(archive, user, start_t, end_t)
    return weekly_progress(
        user,
        episodes=episodes,
        windows=windows,
        prompts=prompts,
        wear=wear,
        tz=tz,
        start_t=start_t,
        end_t=end_t,
    )


def refresh_weekly_progress(archive: Archive, user: str, *, tz: tzinfo | None = None) -> list[WeekProgress]:
    """Recompute every week of ``user`` from the archive and store them (:meth:`Archive.replace_weekly_progress`).

    ``tz``: the person's time zone (weeks are ISO weeks of their local days); None: the system's.
    """
    mark = _seq_now(archive)
    episodes, windows, prompts, wear = load_progress_inputs(archive, user)
    weeks = weekly_progress(
        user, episodes=episodes, windows=windows, prompts=prompts, wear=wear, tz=tz, rolling_days=ROLLING_DAYS
    )
    _store_changed(archive, user, weeks, since_week_start_t=None)
    # unconditionally (not "never down"): a full refresh racing the service's may have stored weeks from an
    # older snapshot than the service's mark; from ``mark`` on, the next update recomputes them
    archive.set_applied_seq(progress_mark_key(user), mark)
    return weeks


def _read(archive: Archive, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """A read of the tables as they are, the running service's journals not folded first
    (:meth:`Archive.query` with ``fold`` False; see the module's docstring)."""
    return archive.query(sql, params, fold=False)


def _store_changed(
    archive: Archive, user: str, weeks: list[WeekProgress], *, since_week_start_t: float | None
) -> None:
    sql = f"SELECT week, {', '.join(STORED)} FROM weekly_progress WHERE user = ?"
    params: tuple[object, ...] = (user,)
    if since_week_start_t is not None:
        sql += " AND week_start_t >= ?"
        params = (user, since_week_start_t)
    stored = {r[0]: tuple(r[1:]) for r in _read(archive, sql, params)}
    # only weeks whose numbers changed get a new row (and so a new seq): InfluxDB is not sent the same again
    changed = [w for w in weeks if stored.get(w.week) != _stored_form(w)]
    if changed:
        archive.replace_weekly_progress(user, changed)


def progress_mark_key(user: str) -> str:
    """The ``stream_applied`` key under which the archive ``seq`` the user's weekly progress reflects is kept."""
    return f"weekly_progress/{user}"


def _seq_now(archive: Archive) -> int:
    """The archive's ``seq`` now: every row with a larger one is written after this call (queued rows first)."""
    (committed,) = _read(archive, "SELECT seq FROM seq_counter WHERE id = 0")[0]
    # inside this connection's open transaction its own rows are visible and numbered up to last_seq
    return max(int(committed), archive.last_seq)


ROLLING_DAYS = 7
"""The resting baseline's span in days (``weekly_progress(rolling_days=)``), as both refreshes compute it."""

MARGIN_S = 3 * 3600.0
"""Read this much before a computed local midnight: a DST change at midnight (fall back to 23:00) dates the
repeated hour's rows to the previous day after that midnight; rows read too early only make weeks that are
dropped, so a margin costs a few rows and never changes a kept week."""

_T_COLUMNS: tuple[tuple[str, str], ...] = (
    ("beats", "t"),
    ("arousal", "t"),
    ("episodes", "onset_t"),
    ("prompts", "t"),
)
# the oldest t among the rows written after a seq (INDEXED BY: by seq, not a user's whole history)
_NEW_ROWS_SQL = " UNION ALL ".join(
    f"SELECT MIN({t_col}) FROM {table} INDEXED BY {table}_seq WHERE seq > ? AND user = ?"
    for table, t_col in _T_COLUMNS
)
_NEW_ROWS_ALL_USERS_SQL = " UNION ALL ".join(
    f"SELECT user, MIN({t_col}) FROM {table} INDEXED BY {table}_seq WHERE seq > ? AND seq <= ? GROUP BY user"
    for table, t_col in _T_COLUMNS
)


@dataclass(frozen=True, slots=True)
class ProgressUpdate:
    """What an update did: the weeks recomputed (oldest first; empty if nothing new) and what it read."""

    weeks: tuple[WeekProgress, ...]
    full: bool
    """True when the whole history was recomputed (no mark kept yet for this user, or a removed import)."""
    cached: bool = False
    """True when the hours and days before the oldest new row came from the updater's memory."""


@dataclass(frozen=True, slots=True)
class _Held:
    """What a :class:`ProgressUpdater` keeps of one user between updates, valid up to archive seq ``mark``:
    the clock hours of wear from hour index ``hours_lo`` on, the days' resting values from ``day_lo`` on."""

    mark: int
    hours_lo: int
    hours: dict[int, WearRecord]
    day_lo: dt.date
    days: dict[dt.date, tuple[float, float]]
    imports: frozenset[int]


def _floor_hour(t: float) -> float:
    return math.floor(t / 3600.0) * 3600.0


def _hour(t: float) -> int:
    return math.floor(t / 3600.0)


class ProgressUpdater:
    """The running service's weekly-progress refresh for the users of one archive (:meth:`of`: one per
    archive and time zone in a process, shared by its sessions and the archiver): :meth:`update` recomputes
    and stores only the weeks that rows written since the last update can change (the week of the oldest
    new row, and every later week). One scan of the rows new since the last update serves all users.

    Between updates it keeps, per user, the current week's clock hours of wear and the days' resting
    values, so an hourly update reads only the new hours' beats (aggregated in SQLite), the arousal rows of
    the days the new rows fall on, and the week's episodes and prompts. What it keeps is valid only while
    the archive's mark is the one it wrote: if another process refreshed the user (``calmstrap sync``), a
    late row lands before the kept range, or an import of the user was removed since, it reads again.
    The rows stored are exactly those :func:`refresh_weekly_progress` leaves.
    """

    def __init__(self, archive: Archive, *, tz: tzinfo | None = None) -> None:
        # weak: the updater is the value of a weak-keyed cache of its archive (:meth:`of`), and a strong
        # reference from the value would keep every archive ever used alive
        self._archive = weakref.ref(archive)
        self.tz = tz
        self._held: dict[str, _Held] = {}
        # one scan of the rows new since the last update, whoever's, serves every user of the archive: each
        # update reads only rows no update of this process has looked at (with many straps in one process,
        # a scan per user of everything since its own last update would read every strap's rows each time)
        self._scanned = 0
        self._since: dict[str, int] = {}
        """Per user: the mark (archive seq) from which ``_dirty`` holds its new rows, up to ``_scanned``."""
        self._dirty: dict[str, float] = {}
        """Per user: the oldest t among its rows with seq in ``(_since[user], _scanned]``."""

    @property
    def archive(self) -> Archive:
        archive = self._archive()
        if archive is None:
            raise ReferenceError("the archive of this ProgressUpdater is gone")
        return archive

    @classmethod
    def of(cls, archive: Archive, tz: tzinfo | None = None) -> ProgressUpdater:
        """The one updater of ``archive`` and ``tz`` in this process (made on first use), so the sessions
        of one archive share what is kept (two updaters of one user would each find the other's mark and
        read the week again)."""
        per_tz = _UPDATERS.setdefault(archive, {})
        updater = per_tz.get(tz)
        if updater is None:
            updater = per_tz[tz] = cls(archive, tz=tz)
        return updater

    def update(self, user: str) -> ProgressUpdate:
        """Bring ``user``'s ``weekly_progress`` rows up to date with every row written so far."""
        archive, tz = self.archive, self.tz
        key = progress_mark_key(user)
        mark = _seq_now(archive)
        last = archive.applied_seq(key)
        imports = frozenset(
            int(r[0]) for r in _read(archive, "SELECT id FROM imports WHERE user = ?", (user,))
        )
        held = self._held.pop(user, None)
        if held is not None and held.mark != last:
            held = None
        if last <= 0 or (held is not None and held.imports - imports):
            # no mark yet, or an import's rows were removed (they leave no seq): the whole history once
            return ProgressUpdate(tuple(refresh_weekly_progress(archive, user, tz=tz)), True)
        oldest = self._oldest_new_t(user, last, mark)
        self._since[user] = mark  # rows after mark: in _dirty from the next scans on
        if oldest is None:
            if mark != last:
                archive.set_applied_seq(key, mark)
            if held is not None:
                self._held[user] = dataclasses.replace(held, mark=mark, imports=imports)
            return ProgressUpdate((), False)
        oldest_t = oldest
        # the week of the oldest new row's clock hour (its first beat dates the hour), margin for DST at midnight
        first = local_date(_floor_hour(oldest_t) - MARGIN_S, tz)
        monday = first - dt.timedelta(days=first.weekday())
        week_start_t = local_midnight_t(monday, tz)
        lo = _floor_hour(week_start_t - MARGIN_S)  # whole clock hours of beats, so each is dated as in full
        if held is not None and held.hours_lo <= _hour(lo):
            hours_from_t = _floor_hour(oldest_t)  # earlier hours and days have no new row: kept
            day0 = local_date(oldest_t - MARGIN_S, tz)
            hours = {h: w for h, w in held.hours.items() if _hour(lo) <= h < _hour(hours_from_t)}
            days = {d: v for d, v in held.days.items() if d < day0}
            day_lo = held.day_lo
        else:
            held = None
            hours_from_t, day0, hours, days, day_lo = lo, monday, {}, {}, monday
        episodes, _, prompts, _ = load_progress_inputs(archive, user, lo, windows=False, wear=False)
        for w in load_wear(archive, user, hours_from_t):
            hours[_hour(w.t)] = w
        windows = load_scored_windows(archive, user, local_midnight_t(day0, tz) - MARGIN_S, math.inf)
        days.update({d: v for d, v in daily_resting(windows, tz=tz).items() if d >= day0})
        # the first week's resting baseline: the 7 days ending on its last worn day reach into the week before
        worn = [d for d in days if monday <= d < monday + dt.timedelta(days=7)]
        if worn and max(worn) - dt.timedelta(days=ROLLING_DAYS - 1) < day_lo:
            need = max(worn) - dt.timedelta(days=ROLLING_DAYS - 1)
            back = load_scored_windows(
                archive, user, local_midnight_t(need, tz) - MARGIN_S, local_midnight_t(day_lo, tz) + MARGIN_S
            )
            days.update({d: v for d, v in daily_resting(back, tz=tz).items() if need <= d < day_lo})
            day_lo = need
        weeks = [
            w
            for w in weekly_from_daily(
                user,
                episodes=episodes,
                daily=days,
                prompts=prompts,
                wear=[hours[h] for h in sorted(hours)],
                tz=tz,
                rolling_days=ROLLING_DAYS,
            )
            if w.week_start_t >= week_start_t
        ]
        _store_changed(archive, user, weeks, since_week_start_t=week_start_t)
        archive.set_applied_seq(key, mark)
        keep_from = max(day_lo, monday - dt.timedelta(days=ROLLING_DAYS - 1))
        self._held[user] = _Held(
            mark,
            _hour(lo),
            hours,
            keep_from,
            {d: v for d, v in days.items() if d >= keep_from},
            imports,
        )
        return ProgressUpdate(tuple(weeks), False, held is not None)

    def _oldest_new_t(self, user: str, last: int, mark: int) -> float | None:
        """The oldest t among ``user``'s rows with seq in ``(last, mark]`` (None: no such row); scans every
        user's rows in ``(_scanned, mark]`` once, for all of them."""
        ts: list[float] = []
        if self._since.get(user) != last or self._scanned == 0:
            # not followed since ``last`` (the first update in this process, or another process moved the
            # mark, e.g. calmstrap sync): this user's rows since ``last``, once
            self._dirty.pop(user, None)
            ts += [r[0] for r in _read(self.archive, _NEW_ROWS_SQL, (last, user) * len(_T_COLUMNS))]
            if self._scanned == 0:
                self._scanned = mark
        if mark > self._scanned:
            for r in _read(self.archive, _NEW_ROWS_ALL_USERS_SQL, (self._scanned, mark) * len(_T_COLUMNS)):
                u, t = r[0], r[1]
                if u in self._since and t is not None and math.isfinite(t):
                    self._dirty[u] = min(t, self._dirty.get(u, math.inf))
            self._scanned = mark
        d = self._dirty.pop(user, None)
        if d is not None:
            ts.append(d)
        finite = [t for t in ts if t is not None and math.isfinite(t)]
        return min(finite) if finite else None


_UPDATERS: weakref.WeakKeyDictionary[Archive, dict[tzinfo | None, ProgressUpdater]] = (
    weakref.WeakKeyDictionary()
)


def update_weekly_progress(archive: Archive, user: str, *, tz: tzinfo | None = None) -> ProgressUpdate:
    """One :meth:`ProgressUpdater.update` with nothing kept from before (reads the changed weeks whole)."""
    return ProgressUpdater(archive, tz=tz).update(user)


STORED: tuple[str, ...] = (
    "week_start_t",
    "hours_worn",
    "episodes",
    "episodes_per_hour",
    "median_amplitude",
    "median_t50_s",
    "median_recovery_s",
    "resting_ln_rmssd",
    "resting_ln_rmssd_lo",
    "resting_ln_rmssd_hi",
    "resting_hr_bpm",
    "prompts_sent",
    "prompts_helped",
    "helped_share",
)
"""The ``weekly_progress`` columns a week's numbers are stored in (NaN as NULL)."""


def _stored_form(w: WeekProgress) -> tuple[object, ...]:
    out: list[object] = []
    for name in STORED:
        v = getattr(w, name)
        out.append(None if isinstance(v, float) and not math.isfinite(v) else v)
    return tuple(out)


def refresh_all(archive: Archive, *, tz: tzinfo | None = None) -> int:
    """Refresh the weekly progress of every user in the archive (``calmstrap sync`` before it pushes)."""
    users = list(archive.users())
    for user in users:
        refresh_weekly_progress(archive, user, tz=tz)
    return len(users)
