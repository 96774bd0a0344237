"""``calmstrap scan``: list the heart-rate straps in range (name, address, signal strength)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import Any

from bleak.exc import BleakError

from calmstrap.config import load_config
from sensors.ble import describe_found, scan


def register(sub: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "scan",
        help="list heart-rate straps in range",
        description="Scan for Bluetooth LE heart-rate straps: devices advertising the Heart Rate Service "
        "(0x180D) and devices whose name matches a known strap (Polar H10/H9/H7, Garmin HRM, Wahoo "
        "TICKR, Decathlon, ...). Wear the strap: most sleep while dry. Put an address into a [[straps]] "
        "entry of calmstrap.toml to use it.",
    )
    add_common(p)
    p.add_argument("--timeout", type=float, default=8.0, help="seconds to scan (default 8)")
    p.set_defaults(func=cmd_scan)


def cmd_scan(args: argparse.Namespace) -> int:
    load_config(args.config)
    if args.timeout <= 0:
        print("calmstrap scan: --timeout must be > 0", file=sys.stderr)
        return 2
    try:
        found = asyncio.run(scan(args.timeout))
    except (BleakError, OSError) as exc:
        print(
            f"calmstrap scan: Bluetooth is not available ({exc}); see README, 'Connect your strap'",
            file=sys.stderr,
        )
        return 1
    print(describe_found(found))
    return 0
