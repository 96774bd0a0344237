"""What a notifier does. The pipeline hands every prompt, state and episode event to its notifiers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from alerts.catalog import Prompt
from processing.arousal import Arousal
from processing.episodes import Episode, EpisodeOnset


@dataclass(frozen=True, slots=True)
class StrapStatus:
    """The connection and battery of a user's strap, as the state topic reports it."""

    device: str
    connected: bool
    battery_pct: float | None = None


class Notifier(Protocol):
    name: str

    async def send_prompt(self, prompt: Prompt) -> bool:
        """Deliver a prompt; False when it could not be delivered now (the pipeline falls back)."""
        ...

    async def publish_state(self, user: str, arousal: Arousal, strap: StrapStatus | None) -> None: ...

    async def publish_episode(self, user: str, event: EpisodeOnset | Episode) -> None: ...
