"""What the CLI shows: a live status line and the end-of-session summary."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from calmstrap.pipeline import StrapSession
from processing.arousal import Arousal, score_from_a


def _clock(t: float, origin: float | None) -> str:
    if origin is None:
        return datetime.fromtimestamp(t).strftime("%H:%M:%S")
    s = max(round(t - origin), 0)
    return f"{s // 60:02d}:{s % 60:02d}"


def _dur(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}m{s % 60:02d}s"


@dataclass
class StatusLine:
    """One line rewritten in place on a terminal (HR, RMSSD, arousal); silent when not a terminal."""

    stream: TextIO
    origin: float | None
    _shown: bool = field(default=False)

    def update(self, user: str, x: Arousal) -> None:
        if not self.stream.isatty():
            return
        rmssd = f"{x.rmssd_ms:5.1f}" if math.isfinite(x.rmssd_ms) else "  -  "
        warm = " (learning your baseline)" if x.warming_up else ""
        self.stream.write(
            f"\r\033[K{_clock(x.t, self.origin)}  HR {x.hr_bpm:5.1f} bpm  RMSSD {rmssd} ms  "
            f"arousal {x.score:5.1f} {x.state.value:<8}{warm}"
        )
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False


def _active_s(session: StrapSession) -> float:
    return session.processor.active_s


def format_summary(
    session: StrapSession,
    *,
    origin: float | None,
    archive_path: Path,
    minutes: float,
    baseline_note: str = "",
) -> str:
    st = session.stats
    lines = [
        "",
        f"Summary ({minutes:g} simulated minutes, user {session.user})",
        f"  beats: {st.beats} from {st.notifications} notifications; malformed skipped: {st.malformed}; "
        f"gaps: {st.gaps}",
    ]
    tracker = session.processor.baseline
    base = tracker.current
    prog = tracker.progress
    if tracker.warming_up:
        state = f"still learning: {prog.collected_min:.0f} of {prog.needed_min:.0f} minutes ({base.source} values)"
    else:
        note = f"; {baseline_note}" if baseline_note else ""
        state = f"personal, from {tracker.collected_minutes:.0f} minutes of ordinary windows{note}"
    lines.append(
        f"  resting baseline: HR {base.hr_bpm:.1f} bpm, ln RMSSD {base.ln_rmssd:.2f} "
        f"(RMSSD {math.exp(base.ln_rmssd):.0f} ms), {state}"
    )
    sc = session.processor.config
    lines.append(
        f"  score: 50 = your own baseline's middle; calm below {score_from_a(sc.elevated_a):.0f}, high from "
        f"{score_from_a(sc.high_a):.0f}; time active (moving): {_dur(_active_s(session))}"
    )
    lines.append(f"  episodes: {len(session.episodes)}")
    for i, e in enumerate(session.episodes, 1):
        lines.append(
            f"    #{i} onset {_clock(e.onset_t, origin)}  peak {_clock(e.peak_t, origin)} (score {e.peak_score:.0f})"
            f"  amplitude +{e.amplitude:.0f} points (+{e.amplitude_a:.1f} SD)  duration {_dur(e.duration_s)}  half-way down in "
            f"{_dur(e.t50_s)}  recovery {_dur(e.recovery_s)}  prompts {len(e.prompt_ids)}"
        )
    if session.episodes:
        amp = statistics.median(e.amplitude for e in session.episodes)
        amp_a = statistics.median(e.amplitude_a for e in session.episodes)
        rec = statistics.median(e.recovery_s for e in session.episodes)
        lines.append(f"    median amplitude +{amp:.0f} points (+{amp_a:.1f} SD), median recovery {_dur(rec)}")
    outcomes = {o.prompt_id: o for o in session.outcomes}
    lines.append(f"  prompts sent: {len(session.prompts)}")
    for p in session.prompts:
        o = outcomes.get(p.id)
        if o is None:
            result = ""
        else:
            verdict = "helped" if o.helped else "no clear change"
            result = f"  -> HR {o.d_hr_bpm:+.1f} bpm, ln RMSSD {o.d_ln_rmssd:+.2f}: {verdict}"
        lines.append(f"    {_clock(p.t, origin)}  {p.title} ({p.kind.value}){result}")
    lines.append(f"  archive: {archive_path}")
    return "\n".join(lines)
