"""``calmstrap export``: therapist exports of one user's range from the archive."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from calmstrap.cli_args import user_id
from calmstrap.config import load_config
from calmstrap.ranges import RangeError, parse_span
from exports.dataset import ExportRange
from exports.errors import ExportError
from exports.files import safe_name
from exports.formats import Format
from processing.progress import local_date, local_midnight_t
from storage.archive import ARCHIVE_NAME, Archive
from storage.errors import StorageError

EXIT_EXPORT = 1
EXIT_USAGE = 2
PROGRESS_MIN_DAYS = 7.0
"""Ranges longer than this show a progress bar on stderr."""
FORMAT_CHOICES = (*(str(f) for f in Format), "all")


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], add_common: Callable[..., None]
) -> None:
    p = sub.add_parser(
        "export",
        help="write one user's data for a therapist: Kubios RR text, CSV, PDF report, FHIR",
        description="Export one user's data from the archive: Kubios-readable RR files (one per continuous "
        "recording), CSV tables with a README of every column, a PDF progress report and a FHIR R4 bundle. "
        "With no options: everything of the configured user, into ./calmstrap-export-<user>-<date>/. Days "
        "are the person's local days ([general] timezone): YYYY-MM-DD, today, yesterday, or 7d for the last "
        "7 days; --to includes its day; ISO 8601 date-times work too. Every number comes from the chosen "
        "range only. Files are created with mode 0600; nothing is written when the range holds no data.",
    )
    add_common(p)
    p.add_argument("--user", type=user_id, help="whose data (default: the configured [general] user)")
    p.add_argument(
        "--from",
        dest="start",
        metavar="DATE",
        help="first day (default: the first data): YYYY-MM-DD, today, 7d",
    )
    p.add_argument("--to", dest="end", metavar="DATE", help="last day, included (default: the last data)")
    p.add_argument(
        "--format",
        default="all",
        choices=FORMAT_CHOICES,
        help="kubios, csv, pdf, fhir or all (default all)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="output directory (created if missing, 0700; default: ./calmstrap-export-<user>-<date>, a new one)",
    )
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


def default_out(name: str, now: datetime, cwd: Path) -> Path:
    """``./calmstrap-export-<name>-<date>``; when that exists, ``...-2``, ``...-3``: always a new folder."""
    base = f"calmstrap-export-{safe_name(name)}-{now:%Y-%m-%d}"
    out = cwd / base
    n = 2
    while out.exists():
        out = cwd / f"{base}-{n}"
        n += 1
    return out


def cmd_export(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    tz = cfg.tz()
    user = args.user or cfg.general.user
    try:
        span = parse_span(args.start, args.end, tz=tz)
    except RangeError as exc:
        print(f"calmstrap export: {exc}", file=sys.stderr)
        return EXIT_USAGE
    archive_path = cfg.data_dir(args.data_dir) / ARCHIVE_NAME
    if not archive_path.is_file():
        print(f"calmstrap export: no archive at {archive_path}", file=sys.stderr)
        return EXIT_EXPORT
    formats = list(Format) if args.format == "all" else [Format(args.format)]
    out = (
        Path(args.out).expanduser()
        if args.out
        else default_out(args.label or user, datetime.now(tz), Path.cwd())
    )
    old_umask = os.umask(0o077)
    bar: ProgressBar | None = None
    try:
        with Archive(archive_path) as archive:
            first_t, last_t = archive.beat_span(user)
            # no --from/--to: every local day with data (an unknown user gets its error from the export)
            start_t = span.start_t
            if start_t is None:
                start_t = 0.0 if first_t is None else local_midnight_t(local_date(first_t, tz), tz)
            end_t = span.end_t
            if end_t is None:
                end_t = (
                    1.0
                    if last_t is None
                    else local_midnight_t(local_date(last_t, tz) + timedelta(days=1), tz)
                )
            if end_t <= start_t:
                print("calmstrap export: --to is before the first data (--from)", file=sys.stderr)
                return EXIT_USAGE
            rng = ExportRange(user=user, start_t=start_t, end_t=end_t, label=args.label or None, tz=tz)
            show = not args.no_progress and (end_t - start_t) / 86400.0 > PROGRESS_MIN_DAYS
            bar = ProgressBar(sys.stderr, ["read", *(str(f) for f in formats)]) if show else None
            from exports.run import export  # the writers (matplotlib for the PDF) only when exporting

            result = export(archive, rng, formats, out, bar)
    except (ExportError, StorageError) as exc:
        if bar:
            bar.close()
        print(f"calmstrap export: {exc}", file=sys.stderr)
        return EXIT_EXPORT
    finally:
        os.umask(old_umask)
    if bar:
        bar.close()
    weeks = "week" if result.weeks == 1 else "weeks"
    print(
        f"calmstrap export: {len(result.files)} {'file' if len(result.files) == 1 else 'files'} in {out} "
        f"({result.beats:,} beats, {result.hours:.1f} h, {result.weeks} {weeks} of progress)"
    )
    return 0
