"""The alerts package's error types."""

from __future__ import annotations


class AlertError(Exception):
    """Base of every error raised by the alerts package."""


class CatalogError(AlertError, ValueError):
    """A prompt catalog entry that is not well formed."""

    def __init__(self, prompt_id: str, reason: str) -> None:
        self.prompt_id = prompt_id
        self.reason = reason
        super().__init__(f"prompt catalog entry {prompt_id!r}: {reason}")
