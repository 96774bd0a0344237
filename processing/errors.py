"""The processing package's error types: one base, subclasses that carry data."""

from __future__ import annotations


class ProcessingError(ValueError):
    """Base of every error raised by the processing package."""


class WindowTooShort(ProcessingError):
    """A window with too few beats for the asked feature."""

    def __init__(self, n_beats: int, needed: int, feature: str) -> None:
        self.n_beats = n_beats
        self.needed = needed
        self.feature = feature
        super().__init__(f"{feature} needs at least {needed} beats, window has {n_beats}")


class InvalidRR(ProcessingError):
    """RR input that is not a finite, positive series in milliseconds."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid RR input: {reason}")
