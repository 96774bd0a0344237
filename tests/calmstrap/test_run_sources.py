"""``calmstrap run`` sources: replay files, BLE straps from the config (several at once), choices."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alerts.console import ConsoleNotifier
from calmstrap.cli import _run_until_stopped
from calmstrap.config import Config, GeneralConfig, StrapConfig
from calmstrap.pipeline import new_session
from calmstrap.sources import SourceChoiceError, ble_plan
from sensors.ble import Backoff, BleCollector, FoundStrap, StrapTarget
from sensors.source import ScaledClock
from storage.archive import Archive
from tests.support.virtual_strap import HeartDriver, VirtualRadio

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "calmstrap", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_run_replay_streams_a_file_as_if_live(tmp_path: Path) -> None:
    """``run --source replay:FILE --speed N`` archives every beat of the file, without gaps, then ends."""
    rr = np.load(REPO / "tests" / "fixtures" / "SampleNNISeriesLong.npy")[:900]
    f = tmp_path / "rr.txt"
    f.write_text("# Kubios\n" + "\n".join(str(int(x)) for x in rr) + "\n", encoding="utf-8")
    res = _cli("run", "--source", f"replay:{f}", "--speed", "100000", "--data-dir", str(tmp_path / "d"))
    assert res.returncode == 0, res.stderr
    with sqlite3.connect(tmp_path / "d" / "archive.db") as conn:
        got = [r for (r,) in conn.execute("SELECT rr_ms FROM beats ORDER BY t")]
        gaps = conn.execute("SELECT COUNT(*) FROM gaps").fetchone()[0]
    assert len(got) == len(rr)
    assert np.max(np.abs(np.array(got) - rr)) <= 1000.0 / 1024  # one strap tick
    assert gaps == 0


def test_run_rejects_an_unknown_source(tmp_path: Path) -> None:
    """An unknown --source names what is expected."""
    res = _cli("run", "--source", "usb", "--data-dir", str(tmp_path))
    assert res.returncode == 2 and "expected sim, ble or replay:FILE" in res.stderr


def test_run_replay_bad_file_names_the_line(tmp_path: Path) -> None:
    """A replay file with a bad line fails before anything runs, naming the line."""
    f = tmp_path / "rr.txt"
    f.write_text("800\n800\nabc\n", encoding="utf-8")
    res = _cli("run", "--source", f"replay:{f}", "--data-dir", str(tmp_path))
    assert res.returncode == 2 and "line 3" in res.stderr


def _found(name: str, address: str) -> FoundStrap:
    return FoundStrap(address=address, name=name, rssi_dbm=-60, advertises_hr=True, model=None)


def test_without_straps_entries_the_single_strap_found_is_used_and_named() -> None:
    """No [[straps]]: the one strap a scan found is used, and the note says so."""
    cfg = Config(general=GeneralConfig(user="ana"))
    plan, note = ble_plan(cfg, [_found("Polar H10 1", "AA:BB")])
    assert [(p.user, p.device) for p in plan] == [("ana", "AA:BB")]
    assert "only strap found" in note and "AA:BB" in note


def test_without_straps_entries_several_found_is_an_error_listing_them() -> None:
    """No [[straps]] and two straps in range: an error that lists both and asks for entries."""
    with pytest.raises(SourceChoiceError) as err:
        ble_plan(Config(), [_found("Polar H10 1", "AA:BB"), _found("TICKR 2", "CC:DD")])
    assert "[[straps]]" in str(err.value) and "AA:BB" in str(err.value) and "CC:DD" in str(err.value)
    with pytest.raises(SourceChoiceError, match="no strap found"):
        ble_plan(Config(), [])


def test_straps_entries_become_one_collector_each() -> None:
    """Each [[straps]] entry becomes its own collector for its user."""
    cfg = Config(straps=(StrapConfig(user="ana", address="AA:BB"), StrapConfig(user="ben", name="TICKR")))
    plan, _ = ble_plan(cfg, None)
    assert [(p.user, p.device) for p in plan] == [("ana", "AA:BB"), ("ben", "TICKR")]
    assert all(isinstance(p.source, BleCollector) for p in plan)


def test_several_straps_run_as_named_tasks_and_one_failing_stops_no_other(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two straps and a device that is not one: the bad one ends with an error, the two keep beating."""
    clock = ScaledClock(10.0)
    names: set[str] = set()

    async def main() -> dict[str, int]:
        radio = VirtualRadio(connect_timeout_s=0.4)
        await radio.start()
        straps = [
            radio.strap(name="Polar H10 AAAA0001", address="F1:00:00:00:00:01"),
            radio.strap(name="TICKR 0002", address="F1:00:00:00:00:02"),
            radio.strap(name="Kitchen scale", address="F1:00:00:00:00:03", heart_rate_service=False),
        ]
        hearts = []
        for i, s in enumerate(straps):
            await s.start()
            if i < 2:
                hearts.append(asyncio.create_task(HeartDriver(s, clock, seed=i).run()))
        cfg = Config()
        with Archive.in_dir(tmp_path) as archive:
            pairs = []
            for user, target in (
                ("ana", StrapTarget(address="F1:00:00:00:00:01")),
                ("ben", StrapTarget(name="TICKR")),
                ("cy", StrapTarget(name="Kitchen")),
            ):
                collector = BleCollector(
                    target,
                    clock=clock,
                    scan_timeout_s=0.3,
                    backoff=Backoff(cap_s=5.0),
                    rng=random.Random(1),
                    op_timeout_s=2.0,
                    scanner_backend=radio.scanner_backend,
                    client_backend=radio.client_backend,
                )
                session = new_session(cfg, archive, [ConsoleNotifier()], user=user, device=target.describe())
                pairs.append((session, collector))

            async def stop_later() -> None:
                await clock.sleep(25.0)
                names.update(t.get_name() for t in asyncio.all_tasks())
                signal.raise_signal(signal.SIGINT)

            stopper = asyncio.create_task(stop_later())
            stopped = await _run_until_stopped(pairs)
            await stopper
            for h in hearts:
                h.cancel()
            assert stopped
            return {s.user: s.stats.beats for s, _ in pairs}

    with caplog.at_level(logging.ERROR, logger="calmstrap.sources"):
        beats = asyncio.run(main())
    assert beats["ana"] >= 15 and beats["ben"] >= 15
    assert beats["cy"] == 0
    assert any("Kitchen" in r.getMessage() and "0x2A37" in r.getMessage() for r in caplog.records)
    assert {"strap:ana:F1:00:00:00:00:01", "strap:ben:TICKR"} <= names
