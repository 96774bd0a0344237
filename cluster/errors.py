"""One base error for the cluster package, with data-carrying subclasses."""

from __future__ import annotations


class ClusterError(Exception):
    """Base of every error the cluster package raises."""


class BadUserId(ClusterError, ValueError):
    """A user id that cannot be a subject token or a key-value key."""

    def __init__(self, user: str) -> None:
        self.user = user
        super().__init__(f"user id {user!r}: expected 1-64 letters, digits, '_' or '-'")


class BadMessage(ClusterError, ValueError):
    """A stream message calmstrap cannot read (counted and skipped, never guessed at)."""

    def __init__(self, subject: str, reason: str) -> None:
        self.subject = subject
        self.reason = reason
        super().__init__(f"message on {subject}: {reason}")


class LeaseLost(ClusterError):
    """Another worker holds the partition now (a renewal or a checkpoint write failed its compare-and-set)."""

    def __init__(self, partition: int, key: str) -> None:
        self.partition = partition
        self.key = key
        super().__init__(f"partition {partition}: lost {key} to another worker")
