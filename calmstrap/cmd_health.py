"""``calmstrap health``: is the service alive? The heartbeat file ``run`` keeps, and its age.

``calmstrap run`` rewrites ``<data-dir>/heartbeat.json`` every :data:`HEARTBEAT_EVERY_S` seconds from a task
on the same event loop as the pipeline, so a fresh file means the loop is running (a strap that is off or
asleep does not make the service unhealthy: the person may simply not wear it). The file holds only the
time, the process id and the schema (no heart data); it is written atomically with mode 0600.
``calmstrap health`` exits 0 when the heartbeat is younger than ``--max-age`` (default
:data:`DEFAULT_MAX_AGE_S`), 1 otherwise, saying why: the compose healthcheck runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from calmstrap.config import load_config

HEARTBEAT_NAME = "heartbeat.json"
HEARTBEAT_EVERY_S = 15.0
DEFAULT_MAX_AGE_S = 90.0
SCHEMA = "calmstrap.heartbeat/1"
EXIT_UNHEALTHY = 1


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One heartbeat: when (epoch s) and which process wrote it."""

    t: float
    pid: int

    def to_bytes(self) -> bytes:
        return json.dumps({"schema": SCHEMA, "t": self.t, "pid": self.pid}).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Heartbeat:
        """Raises ValueError for anything that is not a heartbeat of this schema."""
        try:
            obj = json.loads(data)
            if obj.get("schema") != SCHEMA:
                raise ValueError(f"unknown schema {obj.get('schema')!r}")
            return cls(t=float(obj["t"]), pid=int(obj["pid"]))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a heartbeat: {exc}") from None


def write_heartbeat(path: Path, beat: Heartbeat) -> None:
    """Atomically replace ``path`` (mode 0600) with ``beat``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(beat.to_bytes())
    os.replace(tmp, path)


async def _beat(path: Path, every_s: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.to_thread(write_heartbeat, path, Heartbeat(time.time(), os.getpid()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


@contextlib.asynccontextmanager
async def heartbeat(data_dir: Path, every_s: float = HEARTBEAT_EVERY_S) -> AsyncIterator[Path]:
    """While the body runs, keep ``<data_dir>/heartbeat.json`` fresh; removed again on a clean exit."""
    path = data_dir / HEARTBEAT_NAME
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_beat(path, every_s, stop), name="heartbeat")
        try:
            yield path
        finally:
            stop.set()
    with contextlib.suppress(OSError):
        path.unlink()


def check(path: Path, max_age_s: float, now: float | None = None) -> str | None:
    """None when healthy, else the reason in words."""
    try:
        beat = Heartbeat.from_bytes(path.read_bytes())
    except FileNotFoundError:
        return f"no heartbeat at {path}: `calmstrap run` is not running (or has not started yet)"
    except (OSError, ValueError) as exc:
        return f"unreadable heartbeat at {path}: {exc}"
    age = (time.time() if now is None else now) - beat.t
    if age > max_age_s:
        return (
            f"the last heartbeat is {age:.0f} s old (more than {max_age_s:g} s): the service is stuck or gone"
        )
    return None


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], add_common: Callable[..., None]
) -> None:
    p = sub.add_parser(
        "health",
        help="exit 0 when `calmstrap run` is alive (its heartbeat is fresh), 1 otherwise",
        description="Check that `calmstrap run` is alive: it rewrites <data-dir>/heartbeat.json every "
        f"{HEARTBEAT_EVERY_S:g} s. Exit 0 when that is younger than --max-age, else 1 with the reason. "
        "A strap that is off does not count as unhealthy.",
    )
    add_common(p)
    p.add_argument(
        "--max-age",
        type=float,
        default=DEFAULT_MAX_AGE_S,
        metavar="S",
        help=f"oldest acceptable heartbeat in seconds (default {DEFAULT_MAX_AGE_S:g})",
    )
    p.set_defaults(func=cmd_health)


def cmd_health(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    problem = check(cfg.data_dir(args.data_dir) / HEARTBEAT_NAME, args.max_age)
    if problem:
        print(f"calmstrap health: {problem}", file=sys.stderr)
        return EXIT_UNHEALTHY
    print("calmstrap health: alive")
    return 0
