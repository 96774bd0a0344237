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


class InfluxError(StorageError):
    """Base of the InfluxDB writer's errors."""


class InfluxUnavailable(InfluxError):
    """The server could not be reached or answered 5xx/429: retry later, nothing was acknowledged."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"InfluxDB at {url} unavailable: {reason}")


class InfluxRejected(InfluxError):
    """The server refused the request (4xx): bad credentials, unknown database/bucket, bad data."""

    def __init__(self, url: str, status: int, message: str, action: str = "write") -> None:
        self.url = url
        self.status = status
        self.message = message
        self.action = action
        # a 1.x /query answers 200 with an "error" in the body: the status then says nothing
        code = "" if 200 <= status < 300 else f"HTTP {status}: "
        super().__init__(f"InfluxDB at {url} refused the {action}: {code}{message}")
