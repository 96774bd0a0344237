"""Processing benchmarks (issue 4, point 9), side by side with NeuroKit2 in one run.

(a) one slow-channel update (300 s window: artifact correction + every feature) vs NeuroKit2's
    ``signal_fixpeaks(method="kubios")`` + ``hrv_time`` + ``hrv_frequency`` on the same window;
(b) how many simulated straps (≈1.1-1.2 beats/s each, both channels, baseline, arousal, episodes) one core
    keeps in real time, and what the same per-strap work costs with NeuroKit2 doing the windows;
(c) memory per strap after a simulated day (tracemalloc), and the worst case with a full 28-day baseline.

Run by hand: ``PYTHONPATH=. python benchmarks/processing.py [--straps 20 --minutes 30 --repeat 30]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processing import artifacts
from processing.hrv import compute_window
from processing.stream import StreamConfig, StreamProcessor
from sensors.beats import Beat
from sensors.simulated import RRGenerator, random_script

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "SampleNNISeriesShort.npy"


def _median_time(fn: Callable[[], object], repeat: int, inner: int = 1) -> float:
    """Median wall time of ``fn`` in seconds over ``repeat`` samples of ``inner`` calls each."""
    fn()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        out.append((time.perf_counter() - t) / inner)
    return statistics.median(out)


def _nk() -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import neurokit2 as nk
    return nk


def _nk_update(nk: object, rr: np.ndarray, *, frequency: bool) -> None:
    peaks = np.concatenate([[0], np.cumsum(rr)]).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, fixed = nk.signal_fixpeaks(peaks, sampling_rate=1000, method="kubios")  # type: ignore[attr-defined]
        nk.hrv_time(fixed, sampling_rate=1000)  # type: ignore[attr-defined]
        if frequency:
            nk.hrv_frequency(fixed, sampling_rate=1000)  # type: ignore[attr-defined]


def _ours_update(rr: np.ndarray, *, full: bool) -> None:
    art = artifacts.detect(rr)
    compute_window(art.corrected_rr_ms, artifact_pct=art.artifact_pct, full=full)


def bench_update(repeat: int) -> dict[str, float]:
    nk = _nk()
    rr = np.load(FIXTURE).astype(np.float64)  # 337 beats, 5 minutes (a real recording)
    fast = rr[-70:]  # ~60 s
    res: dict[str, float] = {}
    # interleave so both see the same machine load
    ours_slow, nk_slow, ours_fast, nk_fast = [], [], [], []
    for _ in range(repeat):
        ours_slow.append(_median_time(lambda: _ours_update(rr, full=True), 1, 20))
        nk_slow.append(_median_time(lambda: _nk_update(nk, rr, frequency=True), 1, 1))
        ours_fast.append(_median_time(lambda: _ours_update(fast, full=False), 1, 20))
        nk_fast.append(_median_time(lambda: _nk_update(nk, fast, frequency=False), 1, 1))
    res["ours_slow_s"] = statistics.median(ours_slow)
    res["nk_slow_s"] = statistics.median(nk_slow)
    res["ours_fast_s"] = statistics.median(ours_fast)
    res["nk_fast_s"] = statistics.median(nk_fast)
    return res


def _beats(seed: int, seconds: float) -> list[Beat]:
    gen = RRGenerator(
        seed=seed, episodes=random_script(seconds, __import__("random").Random(seed), every_s=900)
    )
    out = []
    t0 = 1_700_000_000.0
    while gen.t_s < seconds:
        t_s, rr, _ = gen.next_rr()
        out.append(Beat(t0 + t_s, rr, f"d{seed}", f"u{seed}"))
    return out


def bench_straps(n_straps: int, minutes: float) -> dict[str, float]:
    seconds = 60.0 * minutes
    streams = [_beats(s, seconds) for s in range(n_straps)]
    procs = [StreamProcessor(f"u{s}", f"d{s}", StreamConfig(utc_offset_s=0.0)) for s in range(n_straps)]
    n_beats = sum(len(b) for b in streams)
    # round-robin one second at a time, as a server with many straps would see them
    idx = [0] * n_straps
    gc.collect()
    t = time.perf_counter()
    sec = 0.0
    while sec < seconds:
        sec += 1.0
        edge = 1_700_000_000.0 + sec
        for s in range(n_straps):
            beats, i, p = streams[s], idx[s], procs[s]
            while i < len(beats) and beats[i].t <= edge:
                p.push(beats[i])
                i += 1
            p.take_artifact_times()  # the pipeline archives the per-beat artifact flags as they come
            idx[s] = i
    wall = time.perf_counter() - t
    strap_seconds = n_straps * seconds
    return {
        "wall_s": wall,
        "beats": float(n_beats),
        "beats_per_s_per_strap": n_beats / strap_seconds,
        "us_per_strap_second": 1e6 * wall / strap_seconds,
        "straps_realtime": strap_seconds / wall,
    }


def bench_memory(hours: float) -> dict[str, float]:
    beats = _beats(7, 3600.0 * hours)
    # a first strap warms the process-wide caches (Hann windows, DFA plans): they are not per strap
    warm = StreamProcessor("w", "w", StreamConfig(utc_offset_s=0.0))
    for b in _beats(8, 3600.0):
        warm.push(b)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    p = StreamProcessor("u", "d", StreamConfig(utc_offset_s=0.0))
    for n, b in enumerate(beats):
        p.push(b)
        if n % 4 == 3:  # as the pipeline does after each notification (about one per second)
            p.take_artifact_times()
    del b
    gc.collect()
    snap = tracemalloc.take_snapshot()
    day = sum(s.size_diff for s in snap.compare_to(base, "filename"))
    # worst case: the baseline store full (28 days of ordinary windows offered every minute; one kept every
    # 5 minutes on average), and its statistics computed (the hourly cache)
    t0 = beats[-1].t
    for i in range(28 * 1440):
        p.baseline.add(62.0 + (i % 7), 3.6 + 0.01 * (i % 11), t0 + 60.0 * (i + 1))
    for h in range(25):
        p.baseline.stats_for(t0 + 28 * 86400.0 + 3600.0 * h)
    gc.collect()
    snap2 = tracemalloc.take_snapshot()
    full = sum(s.size_diff for s in snap2.compare_to(base, "filename"))
    tracemalloc.stop()
    # peer: peak memory of one NeuroKit2 slow update on the same 5-minute recording
    nk = _nk()
    rr = np.load(FIXTURE).astype(np.float64)
    tracemalloc.start()
    _nk_update(nk, rr, frequency=True)
    _, nk_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tracemalloc.start()
    _ours_update(rr, full=True)
    _, our_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "per_strap_day_b": float(day),
        "per_strap_28d_b": float(full),
        "nbytes_estimate_b": float(p.nbytes),
        "nk_update_peak_b": float(nk_peak),
        "our_update_peak_b": float(our_peak),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--straps", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--hours", type=float, default=24.0, help="simulated hours for the memory figure")
    args = ap.parse_args()
    print(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, cpus={os.cpu_count()}"
    )
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, date {time.strftime('%Y-%m-%d %H:%M %Z')}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    u = bench_update(args.repeat)
    print(
        f"(a) slow update (300 s, artifacts + all features): ours {u['ours_slow_s'] * 1e3:.2f} ms, "
        f"NeuroKit2 {u['nk_slow_s'] * 1e3:.1f} ms -> {u['nk_slow_s'] / u['ours_slow_s']:.0f}x (target >= 50x)"
    )
    print(
        f"    fast update (60 s, artifacts + time domain): ours {u['ours_fast_s'] * 1e3:.2f} ms, "
        f"NeuroKit2 fixpeaks+hrv_time {u['nk_fast_s'] * 1e3:.1f} ms -> {u['nk_fast_s'] / u['ours_fast_s']:.0f}x"
    )
    s = bench_straps(args.straps, args.minutes)
    nk_per_strap_s = u["nk_fast_s"] / 5.0 + u["nk_slow_s"] / 30.0
    print(
        f"(b) {args.straps} straps x {args.minutes:g} min ({s['beats_per_s_per_strap']:.2f} beats/s each): "
        f"{s['us_per_strap_second']:.0f} us per strap-second -> {s['straps_realtime']:.0f} straps in real time "
        f"on one core (target >= 5000); NeuroKit2 windows alone: {1 / nk_per_strap_s:.0f} straps "
        f"-> {s['straps_realtime'] * nk_per_strap_s:.0f}x"
    )
    m = bench_memory(args.hours)
    print(
        f"(c) memory per strap after {args.hours:g} h: {m['per_strap_day_b'] / 1024:.0f} KB; with a full 28-day "
        f"baseline: {m['per_strap_28d_b'] / 1024:.0f} KB (target <= 200 KB); "
        f"peak of one update: ours {m['our_update_peak_b'] / 1024:.0f} KB, NeuroKit2 {m['nk_update_peak_b'] / 1024:.0f} KB"
    )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
