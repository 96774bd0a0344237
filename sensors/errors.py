"""The sensors package's error types: one base, subclasses that carry data."""

from __future__ import annotations


class SensorError(Exception):
    """Base of every error raised by the sensors package."""


class MalformedMeasurement(SensorError, ValueError):
    """A Heart Rate Measurement payload (0x2A37) that does not fit its own flags.

    `data` is the payload as received, `reason` says what did not fit.
    """

    def __init__(self, reason: str, data: bytes) -> None:
        self.reason = reason
        self.data = bytes(data)
        super().__init__(f"malformed heart rate measurement ({len(self.data)} bytes): {reason}")


class ReplayFormatError(SensorError, ValueError):
    """A line of an RR file that cannot be read; `line_no` is 1-based."""

    def __init__(self, path: str, line_no: int, reason: str) -> None:
        self.path = path
        self.line_no = line_no
        self.reason = reason
        super().__init__(f"{path}: line {line_no}: {reason}")
