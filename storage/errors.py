"""The storage package's error types."""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error raised by the storage package."""


class SchemaTooNew(StorageError):
    """The archive was written by a newer calmstrap (its ``user_version`` is above what this one knows)."""

    def __init__(self, path: str, found: int, known: int) -> None:
        self.path = path
        self.found = found
        self.known = known
        super().__init__(
            f"{path}: archive schema version {found} is newer than this calmstrap knows ({known})"
        )
