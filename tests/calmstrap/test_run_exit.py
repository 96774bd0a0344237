"""A strap source that stops on an error is recorded as such (the service then exits non-zero)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alerts.console import ConsoleNotifier
from calmstrap.cli import _run_until_stopped
from calmstrap.config import Config
from calmstrap.pipeline import new_session
from sensors.replay import ReplaySource, RRFormat, RRRecording
from storage.archive import Archive


def test_a_source_failing_midway_marks_its_session_failed(tmp_path: Path) -> None:
    """A replay whose 50th RR cannot be sent ends with stats.error set; the beats before it are archived."""
    rr = tuple([800.0] * 49 + [70_000.0] + [800.0] * 10)  # 70 s does not fit a 0x2A37 RR field
    source = ReplaySource(RRRecording(rr_ms=rr, t_s=None, format=RRFormat.KUBIOS, path="mem"), speed=1e6)
    with Archive.in_dir(tmp_path) as archive:
        session = new_session(Config(), archive, [ConsoleNotifier()], user="u", device="replay")
        asyncio.run(_run_until_stopped([(session, source)]))
        assert session.stats.error is not None
        assert 0 < archive.count("beats") <= 49
