"""The exports package's error types: one base, subclasses that carry data."""

from __future__ import annotations


class ExportError(Exception):
    """Base of every error raised by the exports package."""


class UnknownUser(ExportError):
    """The archive holds no beats at all for ``user``."""

    def __init__(self, user: str, known: tuple[str, ...]) -> None:
        self.user = user
        self.known = known
        hint = f"; users in the archive: {', '.join(known)}" if known else "; the archive holds no beats yet"
        super().__init__(f"no data for user {user!r}{hint}")


class EmptyRange(ExportError):
    """The user has data, but none between ``start`` and ``end`` (ISO 8601 UTC)."""

    def __init__(self, user: str, start: str, end: str) -> None:
        self.user = user
        self.start = start
        self.end = end
        super().__init__(f"no beats for user {user!r} from {start} to {end}: nothing to export")


class OutputNotWritable(ExportError):
    """The output directory cannot be created or written; ``reason`` is the system's word."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot write to {path}: {reason}")
