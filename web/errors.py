"""The web package's error types."""

from __future__ import annotations


class WebError(Exception):
    """Base of every error raised by the web package."""


class ListenError(WebError, ValueError):
    """A listen address that cannot be used: ``value`` as given and what was ``expected``."""

    def __init__(self, value: str, expected: str) -> None:
        self.value = value
        self.expected = expected
        super().__init__(f"web listen address {value!r}: expected {expected}")


class BindError(WebError, OSError):
    """The page's address could not be bound (in use, not on this machine)."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        self.host = host
        self.port = port
        self.reason = reason
        super().__init__(f"cannot serve the page on {host}:{port}: {reason}")


class ServiceNotFound(WebError):
    """No running service answered (no address file in the data dir, or nobody listening)."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"no running calmstrap service at {where}: {reason}")


class AnswerRefused(WebError):
    """The running service refused a request: HTTP ``status`` and its plain-words ``message``."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"the service said: {message} (HTTP {status})")
