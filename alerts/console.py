"""Console notifier: prompts printed to the person's own terminal (the fallback when no broker is up)."""

from __future__ import annotations

import datetime as _dt
import sys
from dataclasses import dataclass, field
from typing import TextIO

from alerts.catalog import Prompt, PromptKind
from alerts.notify import StrapStatus
from processing.arousal import Arousal
from processing.episodes import Episode, EpisodeOnset


def format_prompt(p: Prompt, *, clock: str = "") -> str:
    head = f"[{clock}] " if clock else ""
    if p.kind is PromptKind.RECOVERY:
        return f"{head}~ {p.title}: {p.body}"
    pattern = ""
    if p.inhale_s is not None and p.exhale_s is not None:
        hold = f", hold {p.hold_s:g}" if p.hold_s else ""
        pattern = f"  (in {p.inhale_s:g} s{hold}, out {p.exhale_s:g} s)"
    return f"{head}>> {p.title}: {p.body}{pattern}"


@dataclass
class ConsoleNotifier:
    name: str = "console"
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    clock_origin: float | None = None
    """When set, prompt times print as ``+mm:ss`` elapsed since this epoch (the demo); else as clock time."""
    tz: _dt.tzinfo | None = None
    """The person's time zone for clock times (None: the system's)."""

    def _clock(self, t: float) -> str:
        if self.clock_origin is not None:
            s = max(round(t - self.clock_origin), 0)
            return f"+{s // 60:02d}:{s % 60:02d}"
        return _dt.datetime.fromtimestamp(t, self.tz).strftime("%H:%M:%S")

    async def send_prompt(self, prompt: Prompt) -> bool:
        self.stream.write("\r\033[K" if self.stream.isatty() else "")
        self.stream.write(format_prompt(prompt, clock=self._clock(prompt.t)) + "\n")
        self.stream.flush()
        return True

    async def publish_state(self, user: str, arousal: Arousal, strap: StrapStatus | None) -> None:
        return None

    async def publish_episode(self, user: str, event: EpisodeOnset | Episode) -> None:
        return None
