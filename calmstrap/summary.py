"""What the CLI shows: a live status line and the end-of-session summary."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TextIO

from calmstrap.pipeline import StrapSession
from processing.arousal import Arousal, score_from_a
from processing.effect import Difference, welch_difference
from processing.outcomes import ControlBasis, ControlMoment, HelpedBasis, PromptOutcome
from web.words import words_for


def _clock(t: float, origin: float | None, tz: tzinfo | None = None) -> str:
    """Clock time in ``tz`` (None: the system's), or with an ``origin`` the time elapsed, ``+06:25``."""
    if origin is None:
        return datetime.fromtimestamp(t, tz).strftime("%H:%M:%S")
    s = max(round(t - origin), 0)
    return f"+{s // 60:02d}:{s % 60:02d}"


def _dur(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}m{s % 60:02d}s"


def format_control(c: ControlMoment, origin: float | None) -> str:
    """The console line when a prompt is held back as a control."""
    return f"[{_clock(c.t, origin)}] (no prompt: held back as a control, to compare later prompts with)"


def _verdict(o: PromptOutcome) -> str:
    raw = "came down after" if o.came_down else "no clear change after"
    if o.helped is None:
        return f"{raw}; not compared yet (no moment held back so far)"
    n = o.n_reference
    held = "the moment held back" if n == 1 else f"the {n} moments held back"
    if o.helped_basis is HelpedBasis.MATCHED and o.n_held_back < n:
        held = "the moment without a prompt" if n == 1 else f"the {n} moments without a prompt"
    return f"{raw}; " + (f"helped compared with {held}" if o.helped else f"no better than {held}")


def _effect_text(d: Difference, unit: str, digits: int) -> str:
    if not math.isfinite(d.diff):
        return "-"
    text = f"{d.diff:+.{digits}f}{unit}"
    if d.known:
        text += f" (95 % CI {d.ci_low:+.{digits}f} to {d.ci_high:+.{digits}f})"
    return text


def effect_lines(session: StrapSession) -> list[str]:
    """The effect of prompting in this session: prompted minus held-back changes, with n and a 95 % CI."""
    held = [c.change for c in session.control_outcomes if c.moment.basis is ControlBasis.HELD_BACK]
    measured = {o.prompt_id: o for o in session.outcomes}
    prompted = list(measured.values())
    if not held or not prompted:
        return []
    hr = welch_difference([o.d_hr_bpm for o in prompted], [c.d_hr_bpm for c in held])
    lr = welch_difference([o.d_ln_rmssd for o in prompted], [c.d_ln_rmssd for c in held])
    out = [
        f"  effect of prompting (after a prompt minus after a moment held back; {hr.n_prompted} vs "
        f"{hr.n_control}): HR {_effect_text(hr, ' bpm', 1)}, ln RMSSD {_effect_text(lr, '', 2)}"
    ]
    if not hr.known:
        out.append("    (a confidence interval needs at least 2 of each; a longer run gathers them)")
    return out


@dataclass
class StatusLine:
    """One line rewritten in place on a terminal (HR, RMSSD, arousal); silent when not a terminal."""

    stream: TextIO
    origin: float | None
    tz: tzinfo | None = None
    _shown: bool = field(default=False)

    def update(self, user: str, x: Arousal) -> None:
        if not self.stream.isatty():
            return
        rmssd = f"{x.rmssd_ms:5.1f}" if math.isfinite(x.rmssd_ms) else "  -  "
        warm = " (learning your baseline)" if x.warming_up else ""
        self.stream.write(
            f"\r\033[K{_clock(x.t, self.origin, self.tz)}  HR {x.hr_bpm:5.1f} bpm  RMSSD {rmssd} ms  "
            f"now: {words_for(x.state.value).word:<14}{warm}"
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
        f"Summary ({minutes:g} simulated minutes, user {session.user}"
        + ("; times are +minutes:seconds from the start)" if origin is not None else ")"),
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
    changes = {c.moment.id: c.change for c in session.control_outcomes}
    lines.append(f"  prompts sent: {len(session.prompts)}; held back as controls: {len(session.controls)}")
    rows: list[tuple[float, str]] = []
    for p in session.prompts:
        o = outcomes.get(p.id)
        result = (
            "" if o is None else f"  -> HR {o.d_hr_bpm:+.1f} bpm, ln RMSSD {o.d_ln_rmssd:+.2f}: {_verdict(o)}"
        )
        rows.append((p.t, f"    {_clock(p.t, origin)}  {p.title} ({p.kind.value}){result}"))
    for c in session.controls:
        ch = changes.get(c.id)
        result = "" if ch is None else f"  -> HR {ch.d_hr_bpm:+.1f} bpm, ln RMSSD {ch.d_ln_rmssd:+.2f}"
        rows.append((c.t, f"    {_clock(c.t, origin)}  held back as a control (no prompt){result}"))
    lines.extend(text for _, text in sorted(rows, key=lambda r: r[0]))
    lines.extend(effect_lines(session))
    lines.append(f"  archive: {archive_path}")
    return "\n".join(lines)
