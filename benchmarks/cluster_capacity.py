"""One-process capacity (issue 14, point 5): straps one core carries end to end, per-notification commits vs
commits grouped every 100 ms, side by side in one run.

End to end = what ``calmstrap run`` does per notification: decode, beat clock, stream processing (both
channels, baseline, arousal, episodes), policy, archive rows (beats, windows, arousal, ...) and the commit.
Each strap sends one notification a second, so straps carried = notifications handled per second. The
notifications are simulated (``sensors.simulated``, each strap its own seed and two episodes), made before
the clock starts, and fed in arrival order across all straps, as a busy server sees them. Every strap starts
with a personal baseline in the archive (the demo's calm half hour, ``calmstrap.demo_baseline``, made once
and saved for every user before the clock starts), so its arousal, episodes, prompts and their outcomes
run from the first minutes as in a service that has been running for a while; without it a run shorter
than the 30-minute warm-up never reaches the policy.

On one core, in real time: the process is pinned to one CPU (``os.sched_setaffinity``; SQLite and NumPy
threads, if any, share it) and the figure that counts is wall time (``time.perf_counter``), which includes
what CPU time leaves out: the archive's writes and fsyncs at WAL checkpoints. CPU time
(``time.process_time``) is printed beside it. The grouped commits run on the wall clock, as in ``run``, and
the garbage collector is settled as ``run`` settles it once its sessions are set up (:func:`as_the_service`).

Run by hand: ``PYTHONPATH=. python benchmarks/cluster_capacity.py [--straps 200 --minutes 20]``;
``--paths`` picks the paths (``none``: only make the notifications, the baseline to subtract from a
callgrind count of a path). ``--clock-us N`` runs the grouped commits on a simulated clock that moves N µs
per notification instead of the wall clock (for callgrind: the same commits whatever valgrind's slowdown;
50 gives one commit per 2,000 notifications, as at 20,000 straps). ``CALMSTRAP_BENCH_CODE=OTHER_CHECKOUT`` times that checkout's code with this script (the
side-by-side runs); ``--keep DIR`` keeps the grouped path's archive as ``DIR/archive.db``, for
``benchmarks/archive_diff.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import heapq
import importlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

# the code timed: this repository, or another checkout named by CALMSTRAP_BENCH_CODE (the side-by-side runs)
sys.path.insert(0, os.environ.get("CALMSTRAP_BENCH_CODE") or str(Path(__file__).resolve().parents[1]))

import numpy as np

import calmstrap.pipeline as pipeline
import storage.archive
from calmstrap.config import Config
from calmstrap.demo_baseline import calm_baseline
from calmstrap.pipeline import COMMIT_EVERY_S, CommitGroup, StrapSession, new_session, stream_config
from processing.arousal import BaselineStats
from processing.baseline import HOUR_STEPS, BaselineTracker
from processing.stream import StreamProcessor
from sensors.beats import BeatClock
from sensors.heart_rate import parse_measurement
from sensors.simulated import RRGenerator, ScriptedEpisode, notifications
from storage.archive import Archive, TableCounts

# the module whose clock times the grouped commits (a checkout from before calmstrap.commit_group: the pipeline)
CLOCKED = sys.modules.get("calmstrap.commit_group", pipeline)
# the running service's page cache (128 MiB; a checkout from before it had one setting: its default)
SERVICE_CACHE_MIB = getattr(storage.archive, "SERVICE_CACHE_MIB", None)

START = 1_700_000_000.0


@contextlib.contextmanager
def as_the_service() -> Iterator[None]:
    """The timed loop under the collector settings ``calmstrap run`` makes once its sessions are set up
    (calmstrap.heap; a checkout from before it had none: Python's defaults); afterwards they are put back,
    so the next path starts as this one did."""
    threshold = gc.get_threshold()
    try:
        settle = importlib.import_module("calmstrap.heap").settle_heap
    except ImportError:
        settle = None
    if settle is not None:
        settle()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def _open_archive(path: Path) -> Archive:
    if SERVICE_CACHE_MIB is None:
        return Archive(path)
    return Archive(path, cache_mib=SERVICE_CACHE_MIB)


def make_notes(straps: int, minutes: float) -> list[tuple[float, int, bytes]]:
    per: list[list[tuple[float, int, bytes]]] = []
    for i in range(straps):
        gen = RRGenerator(
            seed=i,
            episodes=(ScriptedEpisode(start_s=300.0 + 7 * i % 300), ScriptedEpisode(start_s=900.0 + i % 120)),
        )
        per.append([(START + n.t_s, i, n.data) for n in notifications(gen, duration_s=minutes * 60.0)])
    return list(heapq.merge(*per))


def baseline() -> list[tuple[str, BaselineStats]]:
    """The personal baseline every strap starts with: (bin, statistics) of a simulated calm half hour."""
    return calm_baseline(stream_config(Config()), seed=0, end_t=START).snapshot()


def age(tracker: BaselineTracker, samples: int, saved: list[tuple[str, BaselineStats]], seed: int) -> None:
    """Give ``tracker`` ``samples`` baseline samples ending at START, one per 5 minutes (1 minute each for
    the first 1,440, as the dense first day keeps them, 5 after), drawn around the saved all-day statistics:
    the baseline of a strap that has been worn for weeks (8,064 samples: the full 28 days)."""
    stats = dict(saved)["all"]
    rng = np.random.default_rng(seed)
    for k in range(samples):
        t = START - (samples - k) * 300.0
        hr = stats.hr_bpm + stats.hr_sd * float(rng.standard_normal())
        lr = stats.ln_rmssd + stats.ln_rmssd_sd * float(rng.standard_normal())
        h = int(((t % 86400.0) / 3600.0) * HOUR_STEPS) % (24 * HOUR_STEPS)
        tracker._samples.add(t, h, 1 if k < 1440 else 5, hr, lr, 0.0)
    tracker._version += 1


GROUP_STATS: list[float] = []
"""The last grouped run's folds of the beats journal, seconds in them and longest flush (seconds)."""


def run(
    notes: list[tuple[float, int, bytes]],
    straps: int,
    *,
    grouped: bool,
    saved: list[tuple[str, BaselineStats]] | None = None,
    keep: Path | None = None,
    clock_us: float | None = None,
    aged: int = 0,
) -> tuple[float, float, int, TableCounts]:
    """Wall and CPU seconds to handle every notification, the number of commits made, the rows archived
    (``clock_us``: the grouped commits' clock moves that much per notification, see ``--clock-us``;
    ``aged``: baseline samples each strap starts with instead of the restored baseline, see :func:`age`)."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        _open_archive((keep or Path(tmp)) / "archive.db") as ar,
    ):
        group = CommitGroup(ar, every_s=COMMIT_EVERY_S) if grouped else None
        cfg = Config()
        for i in range(straps):
            for bin_name, stats in () if aged else saved or ():
                ar.save_baseline(f"u{i}", START, stats, bin_name)
        ar.commit()
        sessions: list[StrapSession] = [
            new_session(
                cfg, ar, [], user=f"u{i}", device=f"d{i}", seed=i, commits=group, ignore_quiet_hours=True
            )
            for i in range(straps)
        ]
        if aged and saved:
            for i, session in enumerate(sessions):
                age(session.processor.baseline, aged, saved, seed=i)

        sim = [0.0]
        if group is not None and clock_us is not None:
            CLOCKED.time = SimpleNamespace(monotonic=lambda: sim[0], time=time.time)  # type: ignore[attr-defined]
            group._last = group._last_wal_checkpoint = group._last_fold = 0.0

        async def go() -> None:
            step = (clock_us or 0.0) * 1e-6
            for arrival, i, data in notes:
                sim[0] += step
                await sessions[i].handle(arrival, data)
            if group is not None:
                group.flush(fold=True)  # every beat in ``beats`` before the clock stops

        if group is not None:
            group.flush()  # the set-up's writes: not timed
        with as_the_service():
            w0, c0 = time.perf_counter(), time.process_time()
            asyncio.run(go())
            cpu = time.process_time() - c0
            wall = time.perf_counter() - w0
        commits = group.commits if group is not None else len(notes)
        if group is not None:
            GROUP_STATS[:] = [group.folds, group.fold_s, group.longest_flush_s]
        counts = ar.counts()
    CLOCKED.time = time  # type: ignore[attr-defined]
    return wall, cpu, commits, counts


def run_processing_only(
    notes: list[tuple[float, int, bytes]],
    straps: int,
    saved: list[tuple[str, BaselineStats]] | None = None,
    aged: int = 0,
) -> tuple[float, float]:
    """Wall and CPU seconds for decode + beat clock + stream processing alone (no policy, no archive)."""
    procs = [
        StreamProcessor(user=f"u{i}", device=f"d{i}", config=stream_config(Config())) for i in range(straps)
    ]
    for i, p in enumerate(procs):
        if aged and saved:
            age(p.baseline, aged, saved, seed=i)
            continue
        for bin_name, stats in saved or ():
            p.baseline.restore(stats, bin_name)
    clocks = [BeatClock(device=f"d{i}", user=f"u{i}") for i in range(straps)]
    with as_the_service():
        w0, c0 = time.perf_counter(), time.process_time()
        for arrival, i, data in notes:
            beats, gap = clocks[i].push(parse_measurement(data), arrival)
            if gap is not None:
                procs[i].gap(gap)
            for b in beats:
                procs[i].push(b)
            procs[i].take_artifact_times()
        return time.perf_counter() - w0, time.process_time() - c0


PATHS = ("per-notification", "grouped", "processing")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--straps", type=int, default=200)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument(
        "--paths", default=",".join(PATHS), help=f"comma-separated, of {', '.join(PATHS)}; or none"
    )
    ap.add_argument("--cpu", type=int, default=None, help="the CPU to pin to (default: the last one allowed)")
    ap.add_argument(
        "--keep", type=Path, default=None, help="keep the grouped path's archive in this new directory"
    )
    ap.add_argument(
        "--clock-us", type=float, default=None, help="simulated commit clock: µs per notification (callgrind)"
    )
    ap.add_argument(
        "--aged",
        type=int,
        default=0,
        help="baseline samples per strap instead of the restored baseline (8064: 28 days worn)",
    )
    args = ap.parse_args()
    paths = [] if args.paths == "none" else args.paths.split(",")
    if unknown := set(paths) - set(PATHS):
        ap.error(f"unknown paths {sorted(unknown)}")
    cpu_id = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu_id})
    notes = make_notes(args.straps, args.minutes)
    saved = baseline()
    print(
        f"{platform.processor() or platform.machine()}, pinned to CPU {cpu_id} of {os.cpu_count()}, "
        f"Python {platform.python_version()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"{args.straps} straps x {args.minutes:g} simulated minutes = {len(notes)} notifications; baseline: "
        + (f"{args.aged} samples per strap (aged)" if args.aged else "restored from the archive")
    )
    wall_us: dict[str, float] = {}
    for path in paths:
        if path == "processing":
            wall, cpu = run_processing_only(notes, args.straps, saved, aged=args.aged)
            note = "decode, beat clock, windows, arousal, episodes; no policy, no archive"
        else:
            grouped = path == "grouped"
            keep = args.keep if grouped else None
            if keep is not None:
                keep.mkdir(parents=True)
            wall, cpu, commits, n = run(
                notes,
                args.straps,
                grouped=grouped,
                saved=saved,
                keep=keep,
                clock_us=args.clock_us,
                aged=args.aged,
            )
            note = f"{commits} commits, {n.windows} windows, {n.episodes} episodes, {n.prompts} prompts"
            if grouped and GROUP_STATS:
                folds, fold_s, longest_s = GROUP_STATS
                note += (
                    f" ({folds:.0f} folds, {fold_s:.1f} s in them; longest flush {longest_s * 1e3:.0f} ms)"
                )
        wall_us[path] = wall / len(notes) * 1e6
        print(
            f"{path:18s}: {wall_us[path]:6.1f} us per notification ({cpu / len(notes) * 1e6:6.1f} us CPU), "
            f"{note}: one core carries {1e6 / wall_us[path]:,.0f} straps in real time (target 20,000)"
        )
    if "grouped" in wall_us and "processing" in wall_us:
        print(
            f"grouped minus processing (session, policy, archive rows, commits): "
            f"{wall_us['grouped'] - wall_us['processing']:.1f} us per notification"
        )


if __name__ == "__main__":
    main()
