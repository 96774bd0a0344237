"""``calmstrap export``: therapist exports of one user's range from the archive."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TextIO

from calmstrap.cli_args import user_id
from calmstrap.config import load_config
from exports.dataset import ExportRange
from exports.errors import ExportError
from exports.run import Format, export
from storage.archive import ARCHIVE_NAME, Archive
from storage.progress import refresh_weekly_progress

EXIT_EXPORT = 1
EXIT_USAGE = 2
PROGRESS_MIN_DAYS = 7.0
"""Ranges longer than this show a progress bar on stderr."""
FORMAT_CHOICES = (*(str(f) for f in Format), "all")


def parse_when(text: str, *, end: bool) -> float:
    """``YYYY-MM-DD`` (UTC day; as ``--to`` the whole day is included) or an ISO 8601 date-time."""
    try:
        if len(text.strip()) == 10:
            d = date.fromisoformat(text.strip())
            start = datetime(d.year, d.month, d.day, tzinfo=UTC)
            return (start + timedelta(days=1) if end else start).timestamp()
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: expected YYYY-MM-DD or an ISO 8601 date-time"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], add_common: Callable[..., None]
) -> None:
    p = sub.add_parser(
        "export",
        help="write one user's data for a therapist: Kubios RR text, CSV, PDF report, FHIR",
        description="Export one user's data between two dates from the archive: Kubios-readable RR files "
        "(one per continuous recording), CSV tables with a README of every column, a PDF progress report and "
        "a FHIR R4 bundle. Dates are UTC days (YYYY-MM-DD; --to is inclusive) or ISO 8601 date-times. Files "
        "are created with mode 0600; nothing is written when the range holds no data.",
    )
    add_common(p)
    p.add_argument("--user", required=True, type=user_id, help="whose data (the user id in the archive)")
    p.add_argument("--from", dest="start", required=True, metavar="DATE", help="first day (UTC) or date-time")
    p.add_argument("--to", dest="end", required=True, metavar="DATE", help="last day (UTC, inclusive)")
    p.add_argument(
        "--format",
        default="all",
        choices=FORMAT_CHOICES,
        help="kubios, csv, pdf, fhir or all (default all)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created if missing, 0700)")
    p.add_argument(
        "--label",
        type=user_id,
        help="a name written into the files and their names instead of the user id (e.g. a pseudonym; "
        "the same rule as a user id)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=cmd_export)


class ProgressBar:
    """A one-line bar on a terminal; on a pipe one line per finished stage."""

    def __init__(self, stream: TextIO, stages: list[str]) -> None:
        self.stream = stream
        self.stages = stages
        self.tty = stream.isatty()
        self._last = ""
        self._t0 = time.monotonic()

    def __call__(self, stage: str, frac: float) -> None:
        i = self.stages.index(stage) if stage in self.stages else 0
        total = (i + min(max(frac, 0.0), 1.0)) / len(self.stages)
        filled = round(30 * total)
        line = f"export [{'#' * filled}{'.' * (30 - filled)}] {100 * total:3.0f}% {stage}"
        if self.tty:
            if line != self._last:
                self.stream.write("\r" + line)
                self.stream.flush()
        elif frac >= 1.0 and line != self._last:
            self.stream.write(line + "\n")
        self._last = line

    def close(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
        self.stream.flush()


def cmd_export(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    try:
        start_t = parse_when(args.start, end=False)
        end_t = parse_when(args.end, end=True)
    except argparse.ArgumentTypeError as exc:
        print(f"calmstrap export: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if end_t <= start_t:
        print("calmstrap export: --to is before --from", file=sys.stderr)
        return EXIT_USAGE
    archive_path = cfg.data_dir(args.data_dir) / ARCHIVE_NAME
    if not archive_path.is_file():
        print(f"calmstrap export: no archive at {archive_path}", file=sys.stderr)
        return EXIT_EXPORT
    formats = list(Format) if args.format == "all" else [Format(args.format)]
    rng = ExportRange(user=args.user, start_t=start_t, end_t=end_t, label=args.label or None)
    show = not args.no_progress and (end_t - start_t) / 86400.0 > PROGRESS_MIN_DAYS
    bar = ProgressBar(sys.stderr, ["read", *(str(f) for f in formats)]) if show else None
    old_umask = os.umask(0o077)
    try:
        with Archive(archive_path) as archive:
            refresh_weekly_progress(archive, args.user)
            result = export(archive, rng, formats, Path(args.out).expanduser(), bar)
    except ExportError as exc:
        if bar:
            bar.close()
        print(f"calmstrap export: {exc}", file=sys.stderr)
        return EXIT_EXPORT
    finally:
        os.umask(old_umask)
    if bar:
        bar.close()
    print(
        f"calmstrap export: {len(result.files)} files in {args.out} "
        f"({result.beats:,} beats, {result.hours:.1f} h, {result.weeks} weeks of progress)"
    )
    return 0
