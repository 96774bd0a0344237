"""The processing package's error types: one base, subclasses that carry data."""

from __future__ import annotations


class ProcessingError(ValueError):
    """Base of every error raised by the processing package."""


class InvalidRR(ProcessingError):
    """RR input that is not a finite, positive series in milliseconds."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid RR input: {reason}")
