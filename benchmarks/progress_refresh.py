"""Benchmark: the running service's weekly-progress refresh, whole history vs incremental (h-weekly).

Run by hand (not in CI):

    PYTHONPATH=. OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks.progress_refresh [--days 1 7 28]

One user, synthetic rows as the colleague's measurement had them: beats at 1.25 /s (RR 800 ms), one arousal
row per 5 s (score cycling 0..49, HR and RMSSD from it), an episode every 6 hours; the history
ends on a Sunday at 21:00 UTC (the worst hours of the week for the incremental refresh: its week's beats
and 7 days of windows are read) and, separately, on a Thursday at 12:00. Each round adds one hour of rows (not
timed), then times the session's and the archiver's refresh as it is now (``ProgressUpdater.update``, with
the hours and days it keeps) and as it was (the whole history read and recomputed; ``full_as_before``,
which leaves the mark alone), alternating; then a few rounds of ``update_weekly_progress`` (nothing kept:
the changed weeks read whole, what an updater does after a restart or a late row before what it keeps). Besides the
wall time, the load-independent figures: rows the refresh got back from the archive and thousands of
SQLite VM steps (``set_progress_handler``).

Instruction counts (load-independent): ``--build DB --days N`` once, then, on a copy of DB each time,
``valgrind --tool=callgrind python -m benchmarks.progress_refresh --step {setup,before,updater} --db COPY``;
a step's instructions are its run's total less the ``setup`` run's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from processing.arousal import Arousal, ArousalState
from processing.episodes import Episode
from processing.progress import weekly_progress
from sensors.beats import beats_from_rr
from storage.archive import Archive
from storage.progress import (
    STORED,
    ProgressUpdater,
    _stored_form,
    load_progress_inputs,
    update_weekly_progress,
)
from tests.support.archive_reads import count_reads

SUNDAY_21 = 1_764_536_400.0  # Sunday 2025-11-30 21:00 UTC
THURSDAY_12 = 1_764_244_800.0  # Thursday 2025-11-27 12:00 UTC
DAY = 86400.0


def _rows(archive: Archive, start_t: float, end_t: float) -> None:
    t = start_t
    while t < end_t:
        span = min(3600.0, end_t - t)
        archive.add_beats(beats_from_rr([800.0] * int(span * 1.25), start_t=t, device="d", user="u"))
        for i in range(int(span / 5)):
            w = t + 5 * i
            score = float(int(w / 5) % 50)
            archive.add_arousal(
                "u",
                Arousal(
                    w,
                    score,
                    0.0,
                    0.0,
                    0.0,
                    ArousalState.CALM,
                    False,
                    False,
                    60.0 + score / 2,
                    40.0 - score / 4,
                ),
            )
        if int(t) % (6 * 3600) == 0:
            archive.add_episode(
                Episode(f"e{t}", "u", t, t + 30, t + 200, 90.0, 2.0, 40.0, 2.0, 200.0, 150.0, 50.0, 9.0)
            )
        t += span
    archive.commit()


def _measure(archive: Archive, fn: Callable[[], object]) -> tuple[float, int, int]:
    """(seconds, rows read, thousands of SQLite VM steps) of ``fn`` and its commit."""

    def and_commit() -> None:
        fn()
        archive.commit()

    r = count_reads(archive, and_commit)
    return r.seconds, r.rows, r.kilo_steps


def full_as_before(archive: Archive, user: str) -> None:
    """What the session and the archiver called before: read the whole history, recompute, store changes."""
    episodes, windows, prompts, wear = load_progress_inputs(archive, user)
    weeks = weekly_progress(user, episodes=episodes, windows=windows, prompts=prompts, wear=wear, tz=dt.UTC)
    stored = {
        r[0]: tuple(r[1:])
        for r in archive.query(
            f"SELECT week, {', '.join(STORED)} FROM weekly_progress WHERE user = ?", (user,)
        )
    }
    changed = [w for w in weeks if stored.get(w.week) != _stored_form(w)]
    if changed:
        archive.replace_weekly_progress(user, changed)


def _ms(xs: list[tuple[float, int, int]]) -> str:
    return f"{statistics.median(x[0] for x in xs) * 1000:.0f} ms [{min(x[0] for x in xs) * 1000:.0f}-{max(x[0] for x in xs) * 1000:.0f}]"


def run(days: float, end_t: float, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as d, Archive(Path(d) / "archive.db") as archive:
        t_build = time.perf_counter()
        _rows(archive, end_t - days * DAY, end_t)
        build_s = time.perf_counter() - t_build
        t = end_t
        updater = ProgressUpdater(archive, tz=dt.UTC)
        updater.update("u")  # the first one is full and sets the mark
        _rows(archive, t, t + 3600)
        t += 3600
        updater.update("u")  # the next reads the changed week whole and keeps its hours and days
        archive.commit()
        before: list[tuple[float, int, int]] = []
        kept: list[tuple[float, int, int]] = []
        fresh: list[tuple[float, int, int]] = []
        for _ in range(rounds):  # alternating: the hourly update as now, the refresh as before
            _rows(archive, t, t + 3600)  # the hour of stream time between two refreshes (not timed)
            t += 3600
            kept.append(_measure(archive, lambda: updater.update("u")))
            before.append(_measure(archive, lambda: full_as_before(archive, "u")))
        for _ in range(rounds):  # update_weekly_progress: nothing kept, the changed weeks read whole
            _rows(archive, t, t + 3600)
            t += 3600
            fresh.append(_measure(archive, lambda: update_weekly_progress(archive, "u", tz=dt.UTC)))
        end = dt.datetime.fromtimestamp(end_t, dt.UTC)
        print(
            f"{days:>4g} d, hours after {end:%a %H:%M}: before {_ms(before)} ({before[0][1]:,} rows,"
            f" {before[0][2]:,} k VM steps); ProgressUpdater {_ms(kept)} ({kept[0][1]:,} rows, {kept[0][2]:,} k);"
            f" update_weekly_progress {_ms(fresh)} ({fresh[0][1]:,} rows, {fresh[0][2]:,} k);"
            f" build {build_s:.0f} s; load {os.getloadavg()[0]:.2f}",
            flush=True,
        )


def build(path: Path, days: float) -> None:
    """An archive of ``days`` of rows to Sunday 22:00 whose mark is set (for :func:`step` under callgrind)."""
    with Archive(path) as archive:
        _rows(archive, SUNDAY_21 - days * DAY, SUNDAY_21)
        update_weekly_progress(archive, "u", tz=dt.UTC)  # full: sets the mark
        _rows(archive, SUNDAY_21, SUNDAY_21 + 3600)
        archive.commit()


def step(path: Path, what: str) -> None:
    """One process's work on a built archive: an updater reads the changed week and keeps it, an hour of
    rows is added, then ``what``: nothing (``setup``, to subtract), ``before`` or ``updater``."""
    with Archive(path) as archive:
        updater = ProgressUpdater(archive, tz=dt.UTC)
        updater.update("u")
        _rows(archive, SUNDAY_21 + 3600, SUNDAY_21 + 7200)
        if what == "before":
            full_as_before(archive, "u")
        elif what == "updater":
            updater.update("u")
        archive.commit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, nargs="+", default=[1.0, 7.0, 28.0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--build", type=Path, help="only build an archive of --days[0] days here")
    ap.add_argument("--step", choices=("setup", "before", "updater"), help="only run one step on --db")
    ap.add_argument("--db", type=Path)
    args = ap.parse_args()
    if args.build is not None:
        build(args.build, args.days[0])
        return
    if args.step is not None:
        step(args.db, args.step)
        return
    print(
        f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores;"
        f" {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    for days in args.days:
        for end_t in (SUNDAY_21, THURSDAY_12):
            run(days, end_t, args.rounds)
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
