"""``calmstrap scan``: its help, and the table it prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sensors.ble import FoundStrap, describe_found

REPO = Path(__file__).resolve().parents[2]


def test_scan_help_lists_common_options() -> None:
    """``calmstrap scan --help`` works and offers --data-dir, --config and --timeout."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run(
        [sys.executable, "-m", "calmstrap", "scan", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert res.returncode == 0
    for opt in ("--data-dir", "--config", "--timeout", "0x180D"):
        assert opt in res.stdout


def test_found_straps_are_listed_with_name_address_and_rssi() -> None:
    """The table shows name, address and RSSI of each strap, and how it was recognised."""
    text = describe_found(
        [
            FoundStrap("A0:9E:1A:00:00:01", "Polar H10 0A1B2C3D", -58, True, "Polar H10"),
            FoundStrap("C4:00:00:00:00:02", "TICKR 4F21", -71, False, "Wahoo TICKR"),
        ]
    )
    lines = text.splitlines()
    assert "RSSI" in lines[0]
    assert "Polar H10 0A1B2C3D" in lines[1] and "A0:9E:1A:00:00:01" in lines[1] and "-58" in lines[1]
    assert "TICKR 4F21" in lines[2] and "name (Wahoo TICKR)" in lines[2]
    assert describe_found([]) == "no straps found"
