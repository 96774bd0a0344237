"""The beat clock: RR sums anchored to jittered arrival times, re-anchoring with explicit gaps."""

from __future__ import annotations

import itertools
import random

from sensors.beats import Beat, BeatClock, Gap, GapReason
from sensors.heart_rate import encode_measurement, ms_to_ticks, parse_measurement, ticks_to_ms

T0 = 1_800_000_000.0


def _strap(
    seconds: float, *, seed: int = 0, latency_s: tuple[float, float] = (0.0, 0.3)
) -> list[tuple[float, bytes, list[float]]]:
    """A strap's notifications: (arrival time with BLE latency jitter, bytes, true beat times carried)."""
    rng = random.Random(seed)
    out: list[tuple[float, bytes, list[float]]] = []
    t_beat = T0
    send = T0 + 1.0
    pending: list[int] = []
    times: list[float] = []
    while send < T0 + seconds:
        while True:
            rr = 850.0 + rng.gauss(0.0, 50.0)
            ticks = ms_to_ticks(rr)
            if t_beat + ticks_to_ms(ticks) / 1000.0 > send:
                break
            t_beat += ticks_to_ms(ticks) / 1000.0
            pending.append(ticks)
            times.append(t_beat)
            # the un-sent beat is re-drawn next time round; fine for a model of arrival jitter
        if pending:
            out.append((send + rng.uniform(*latency_s), encode_measurement(70, pending), times))
        pending, times = [], []
        send += 1.0
    return out


def _run(clock: BeatClock, notes: list[tuple[float, bytes, list[float]]]) -> tuple[list[Beat], list[Gap]]:
    beats: list[Beat] = []
    gaps: list[Gap] = []
    for arrival, data, _ in notes:
        b, g = clock.push(parse_measurement(data), arrival)
        beats += b
        if g is not None:
            gaps.append(g)
    return beats, gaps


def test_jittered_arrivals_keep_every_rr_and_stay_close_to_true_times() -> None:
    """30 min with 0-300 ms arrival jitter: no gap, every RR kept, times off by a steady lag under 1.3 s."""
    notes = _strap(1800.0, seed=1)
    beats, gaps = _run(BeatClock("d", "u"), notes)
    assert gaps == []
    sent = [ms_to_ticks(b) for b in [x for _, d, _ in notes for x in parse_measurement(d).rr_ms]]
    assert [ms_to_ticks(b.rr_ms) for b in beats] == sent
    truth = [t for _, _, ts in notes for t in ts]
    # a notification is sent up to 1 s after its last beat and arrives 0-0.3 s later: anchoring to the
    # arrival places beats late by that lag, but the lag is steady (drift correction is slow)
    err = sorted(b.t - t for b, t in zip(beats, truth, strict=True))
    median = err[len(err) // 2]
    assert 0.0 <= median < 1.3
    assert max(abs(e - median) for e in err) < 0.35
    assert all(b2.t > b1.t for b1, b2 in itertools.pairwise(beats))


def test_silence_over_three_seconds_reanchors_with_a_gap() -> None:
    """Four seconds without RR-carrying notifications: a silence gap, beats after it end at the arrival."""
    notes = _strap(120.0, seed=2)
    kept = [n for n in notes if not (T0 + 60.0 <= n[0] < T0 + 64.5)]
    beats, gaps = _run(BeatClock("d", "u"), kept)
    assert [g.reason for g in gaps] == [GapReason.SILENCE]
    gap = gaps[0]
    assert T0 + 58.0 < gap.start_t < T0 + 61.0
    assert gap.end_t > gap.start_t
    first_after = next(n for n in kept if n[0] >= T0 + 64.5)
    n_after = len(parse_measurement(first_after[1]).rr_raw)
    idx = next(i for i, b in enumerate(beats) if b.t > gap.end_t) + n_after - 1
    assert abs(beats[idx].t - first_after[0]) < 1e-9


def test_drift_over_one_and_a_half_seconds_reanchors_with_a_gap() -> None:
    """Two lost notifications inside a 1 s cadence (no silence) leave a 2 s drift: a drift gap."""
    notes = _strap(60.0, seed=3, latency_s=(0.0, 0.0))
    # drop two notifications' RRs but keep the cadence: replace them by HR-only notifications
    doctored: list[tuple[float, bytes, list[float]]] = []
    for i, n in enumerate(notes):
        doctored.append((n[0], encode_measurement(70, []), []) if i in (30, 31) else n)
    clock = BeatClock("d", "u", max_silence_s=3.5)
    _beats, gaps = _run(clock, doctored)
    assert [g.reason for g in gaps] == [GapReason.DRIFT]
    assert gaps[0].end_t - gaps[0].start_t > 1.5


def test_duplicate_notifications_after_reconnect_create_no_duplicate_beats() -> None:
    """The last two notifications re-sent after a reconnect are dropped; the next new one opens the gap."""
    notes = _strap(60.0, seed=4)
    clock = BeatClock("d", "u")
    beats, _gaps = _run(clock, notes[:20])
    clock.mark_disconnect(notes[19][0] + 0.5)
    resent = [(notes[30][0] - 0.2, notes[18][1], []), (notes[30][0] - 0.1, notes[19][1], [])]
    more, more_gaps = _run(clock, resent + notes[30:])
    assert clock.stats.duplicates_dropped == 2
    assert [g.reason for g in more_gaps] == [GapReason.DISCONNECT]
    all_beats = beats + more
    expected = [x for _, d, _ in notes[:20] + notes[30:] for x in parse_measurement(d).rr_raw]
    assert [ms_to_ticks(b.rr_ms) for b in all_beats] == expected
    assert all(b2.t > b1.t for b1, b2 in itertools.pairwise(all_beats))


def test_reanchor_never_moves_beats_backwards() -> None:
    """A re-anchor whose arrival predicts beats before the last one starts them at the last one."""
    clock = BeatClock("d", "u")
    b1, _ = clock.push(parse_measurement(encode_measurement(60, [1024, 1024])), T0 + 10.0)
    clock.mark_disconnect(T0 + 10.1)
    # arrives early (a clock step backwards on the host): would place beats before T0 + 10
    b2, gap = clock.push(parse_measurement(encode_measurement(60, [1024, 1024, 1024])), T0 + 10.5)
    assert gap is not None and gap.reason is GapReason.DISCONNECT
    assert gap.end_t >= gap.start_t
    assert b2[0].t > b1[-1].t


def test_notifications_without_rr_create_no_beats() -> None:
    """A notification with heart rate only (no RR field) places nothing."""
    clock = BeatClock("d", "u")
    beats, gap = clock.push(parse_measurement(encode_measurement(72, [])), T0)
    assert beats == [] and gap is None
    assert clock.stats.notifications == 1
