"""One-process capacity (issue 14, point 5): straps one core carries end to end, per-notification commits vs
commits grouped every 100 ms, side by side in one run.

End to end = what ``calmstrap run`` does per notification: decode, beat clock, stream processing (both
channels, baseline, arousal, episodes), policy, archive rows (beats, windows, arousal, ...) and the commit.
Each strap sends one notification a second, so straps carried = notifications handled per second of CPU.
The notifications are simulated (``sensors.simulated``, each strap its own seed and two episodes), made
before the clock starts, and fed in arrival order across all straps, as a busy server sees them.

Run by hand: ``PYTHONPATH=. python benchmarks/cluster_capacity.py [--straps 200 --minutes 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calmstrap.config import Config
from calmstrap.pipeline import COMMIT_EVERY_S, CommitGroup, StrapSession, new_session
from processing.stream import StreamProcessor
from sensors.beats import BeatClock
from sensors.heart_rate import parse_measurement
from sensors.simulated import RRGenerator, ScriptedEpisode, notifications
from storage.archive import Archive

START = 1_700_000_000.0


def make_notes(straps: int, minutes: float) -> list[tuple[float, int, bytes]]:
    per: list[list[tuple[float, int, bytes]]] = []
    for i in range(straps):
        gen = RRGenerator(
            seed=i,
            episodes=(ScriptedEpisode(start_s=300.0 + 7 * i % 300), ScriptedEpisode(start_s=900.0 + i % 120)),
        )
        per.append([(START + n.t_s, i, n.data) for n in notifications(gen, duration_s=minutes * 60.0)])
    return list(heapq.merge(*per))


def run(notes: list[tuple[float, int, bytes]], straps: int, *, grouped: bool) -> tuple[float, int]:
    """CPU seconds to handle every notification, and the number of commits made."""
    with tempfile.TemporaryDirectory() as d, Archive(Path(d) / "archive.db") as ar:
        group = CommitGroup(ar, every_s=COMMIT_EVERY_S) if grouped else None
        cfg = Config()
        sessions: list[StrapSession] = [
            new_session(
                cfg, ar, [], user=f"u{i}", device=f"d{i}", seed=i, commits=group, ignore_quiet_hours=True
            )
            for i in range(straps)
        ]

        async def go() -> None:
            for arrival, i, data in notes:
                await sessions[i].handle(arrival, data)
            if group is not None:
                group.flush()

        c0 = time.process_time()
        asyncio.run(go())
        cpu = time.process_time() - c0
        commits = group.commits if group is not None else len(notes)
    return cpu, commits


def run_processing_only(notes: list[tuple[float, int, bytes]], straps: int) -> float:
    """CPU seconds for decode + beat clock + stream processing alone (no policy, no archive)."""
    procs = [StreamProcessor(user=f"u{i}", device=f"d{i}") for i in range(straps)]
    clocks = [BeatClock(device=f"d{i}", user=f"u{i}") for i in range(straps)]
    c0 = time.process_time()
    for arrival, i, data in notes:
        beats, gap = clocks[i].push(parse_measurement(data), arrival)
        if gap is not None:
            procs[i].gap(gap)
        for b in beats:
            procs[i].push(b)
        procs[i].take_artifact_times()
    return time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--straps", type=int, default=200)
    ap.add_argument("--minutes", type=float, default=20.0)
    args = ap.parse_args()
    notes = make_notes(args.straps, args.minutes)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{args.straps} straps x {args.minutes:g} simulated minutes = {len(notes)} notifications")
    results = {}
    for grouped in (False, True):
        cpu, commits = run(notes, args.straps, grouped=grouped)
        per_us = cpu / len(notes) * 1e6
        results[grouped] = per_us
        label = f"grouped every {COMMIT_EVERY_S * 1000:.0f} ms" if grouped else "commit per notification"
        print(
            f"{label:28s}: {per_us:6.1f} us CPU per notification, {commits} commits, "
            f"one core carries {1e6 / per_us:,.0f} straps (target 20,000)"
        )
    print(f"ratio per-notification / grouped: {results[False] / results[True]:.2f}")
    per_us = run_processing_only(notes, args.straps) / len(notes) * 1e6
    print(
        f"{'processing alone':28s}: {per_us:6.1f} us CPU per notification "
        f"(decode, beat clock, windows, arousal, episodes): at most {1e6 / per_us:,.0f} straps"
    )


if __name__ == "__main__":
    main()
