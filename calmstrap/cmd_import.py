"""``calmstrap import FILE --user U``: an RR file through processing into the archive, all or nothing."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from calmstrap.cli_args import user_id
from calmstrap.config import Config, load_config
from calmstrap.pipeline import MAX_RR_MS, MIN_RR_MS, stream_config
from processing.arousal import Arousal
from processing.episodes import Episode, EpisodeOnset
from processing.outcomes import ControlOutcome, PromptOutcome
from processing.stream import StreamProcessor, WindowResult
from sensors.beats import Beat, Gap, GapReason
from sensors.errors import ReplayFormatError
from sensors.replay import RRFormat, RRRecording
from sensors.rr_files import EPOCH_UNITS, FUTURE_SLACK_S, MIN_EPOCH_S, RRScan, iter_rr_file, scan_rr_file
from storage.archive import Archive
from storage.imports import (
    begin_import,
    discard_import,
    finish_import,
    record_chunk,
    recover_interrupted_imports,
)

EXIT_BAD_FILE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
IMPORT_GAP_S = 3.0
"""With per-beat times in the file: a pause longer than this beyond the RR is recorded as a gap."""
CHUNK_BEATS = 1_000
"""Beats per write transaction: processing runs outside it, so the archive's write lock is held only for
the inserts of one chunk (milliseconds; ``benchmarks/import_memory.py`` measures the longest)."""


def register(sub: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "import",
        help="import an RR file (Kubios RR text, CSV) into the archive",
        description="Read an RR file -- Kubios RR text ('#' header lines, then one RR per line, ms or s), "
        "or CSV of RR in ms with or without timestamps -- run it through processing and store beats, "
        "windows, arousal and episodes in the archive, all or nothing: every line is checked before the "
        "first write, a bad line fails with its line number, and a failed import leaves nothing. "
        "No prompts are sent for imported data.",
    )
    add_common(p)
    p.add_argument("file", metavar="FILE", help="the RR file")
    p.add_argument("--user", required=True, type=user_id, help="whose recording it is (a user id)")
    p.add_argument(
        "--format", choices=[f.value for f in RRFormat], default="auto", help="file format (default: auto)"
    )
    p.add_argument(
        "--start",
        metavar="TIME",
        help="when the recording started (ISO 8601 or epoch seconds) for files without timestamps "
        "(default: the '# start:' line of calmstrap's own Kubios export, else it ended at the file's "
        "modification time)",
    )
    p.add_argument("--device", default="", help="device label stored with the beats (default: import:FILE)")
    p.set_defaults(func=cmd_import)


@dataclass(frozen=True, slots=True)
class ImportResult:
    beats: int
    gaps: int
    windows: int
    episodes: int
    start_t: float
    end_t: float


class ImportConflict(Exception):
    """Beats of this import are already in the archive (written beside it since the overlap check)."""


class ProgressLike(Protocol):
    def update(self, done: int) -> None: ...

    def done(self) -> None: ...


class Progress:
    """A one-line progress bar on stderr (only when it is a terminal, or forced)."""

    def __init__(self, total: int, out: TextIO = sys.stderr, *, force: bool = False) -> None:
        self.total = max(1, total)
        self.out = out
        self.enabled = force or out.isatty()
        self._shown = -1

    def update(self, done: int) -> None:
        pct = done * 100 // self.total
        if not self.enabled or pct == self._shown:
            return
        self._shown = pct
        bar = "#" * (pct // 4)
        self.out.write(f"\rimporting [{bar:<25}] {pct:3d}% {done}/{self.total} beats")
        self.out.flush()

    def done(self) -> None:
        if self.enabled:
            self.out.write("\n")
            self.out.flush()


class BadStart(ValueError):
    """``--start`` (or a file's ``# start:``) is not a usable time; the message says what is expected."""


def _range_text() -> str:
    return f"between {datetime.fromtimestamp(MIN_EPOCH_S, UTC).date().isoformat()} and now"


def parse_start(text: str, duration_s: float, *, now_t: float | None = None) -> float:
    """``--start``: ISO 8601 or epoch seconds, finite, with the whole recording between 2000 and now."""
    now = time.time() if now_t is None else now_t
    try:
        v = float(text)
    except ValueError:
        try:
            dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise BadStart(
                f"--start {text!r}: expected an ISO 8601 date-time (2026-11-02T08:00) or epoch seconds"
            ) from None
        if dt.tzinfo is None:
            dt = dt.astimezone()
        v = dt.astimezone(UTC).timestamp()
    return check_start(v, duration_s, f"--start {text!r}", now_t=now)


def check_start(v: float, duration_s: float, what: str, *, now_t: float | None = None) -> float:
    now = time.time() if now_t is None else now_t
    if not math.isfinite(v):
        raise BadStart(f"{what}: expected a finite time")
    if not v >= MIN_EPOCH_S or v + duration_s > now + FUTURE_SLACK_S:
        for unit, scale in EPOCH_UNITS[1:]:
            if v * scale >= MIN_EPOCH_S and v * scale + duration_s <= now + FUTURE_SLACK_S:
                raise BadStart(
                    f"{what}: {v:g} looks like epoch {unit}; --start takes epoch seconds ({v * scale:.3f})"
                )
        raise BadStart(
            f"{what}: the recording ({duration_s / 60:.1f} min) would not lie {_range_text()}; expected its "
            "start as ISO 8601 or epoch seconds"
        )
    return v


def _stream_beats(scan: RRScan, start_t: float, user: str, device: str) -> Iterator[tuple[Beat, Gap | None]]:
    """Every beat of the file with the gap that precedes it (per-beat times only), in order."""
    t_run = start_t
    prev: Beat | None = None
    for t_file, rr in iter_rr_file(scan):
        if t_file is None:
            t_run += rr / 1000.0
            t = t_run
        else:
            t = t_file
        b = Beat(t=t, rr_ms=rr, device=device, user=user)
        gap = None
        if t_file is not None and prev is not None and b.t - prev.t - rr / 1000.0 > IMPORT_GAP_S:
            gap = Gap(
                start_t=prev.t, end_t=b.t - rr / 1000.0, device=device, user=user, reason=GapReason.SILENCE
            )
        yield b, gap
        prev = b


def _recording_beats(
    rec: RRRecording, start_t: float, user: str, device: str
) -> Iterator[tuple[Beat, Gap | None]]:
    t_run = start_t
    prev: Beat | None = None
    for i, rr in enumerate(rec.rr_ms):
        if rec.t_s is None:
            t_run += rr / 1000.0
            t = t_run
        else:
            t = rec.t_s[i]
        b = Beat(t=t, rr_ms=rr, device=device, user=user)
        gap = None
        if rec.t_s is not None and prev is not None and b.t - prev.t - rr / 1000.0 > IMPORT_GAP_S:
            gap = Gap(
                start_t=prev.t, end_t=b.t - rr / 1000.0, device=device, user=user, reason=GapReason.SILENCE
            )
        yield b, gap
        prev = b


class _ChunkWriter:
    """Collects one chunk's beats, gaps and processing outputs; writes them in one short transaction."""

    def __init__(self, archive: Archive, import_id: int, user: str, device: str) -> None:
        self.archive = archive
        self.import_id = import_id
        self.user = user
        self.device = device
        self.beats: list[Beat] = []
        self.gaps: list[Gap] = []
        self.outputs: list[object] = []
        self.flagged: list[float] = []
        self.windows = 0
        self.episodes = 0
        self.longest_tx_s = 0.0

    def write(self, *, last: bool = False, baseline: tuple[float, Any] | None = None) -> None:
        a = self.archive
        t0 = time.monotonic()
        with a.transaction():
            seq_before = a.last_seq
            if self.beats:
                added = a.add_beats(self.beats, [not (MIN_RR_MS <= b.rr_ms <= MAX_RR_MS) for b in self.beats])
                if added != len(self.beats):
                    raise ImportConflict(
                        f"{len(self.beats) - added} beats of this recording appeared in the archive while it "
                        "was being imported (the same file imported twice at once?)"
                    )
            for g in self.gaps:
                a.add_gap(g)
            for out in self.outputs:
                if isinstance(out, WindowResult):
                    a.add_window(out)
                    self.windows += 1
                elif isinstance(out, Arousal):
                    a.add_arousal(self.user, out)
                elif isinstance(out, Episode):
                    a.add_episode(out)
                    self.episodes += 1
                elif isinstance(out, EpisodeOnset | PromptOutcome | ControlOutcome):
                    pass  # live-only: no prompts are sent for imported data
                else:
                    raise TypeError(f"unexpected processing output {type(out).__name__}")
            if self.flagged:
                a.flag_beats(self.user, self.device, self.flagged)
            if baseline is not None:
                a.save_baseline(self.user, baseline[0], baseline[1])
            record_chunk(a, self.import_id, seq_before)
            if last:
                finish_import(a, self.import_id)
        self.longest_tx_s = max(self.longest_tx_s, time.monotonic() - t0)
        self.beats, self.gaps, self.outputs, self.flagged = [], [], [], []


def import_beats(
    cfg: Config,
    archive: Archive,
    beats: Iterable[tuple[Beat, Gap | None]],
    *,
    user: str,
    device: str,
    path: str,
    total: int,
    progress: ProgressLike | None = None,
    chunk_beats: int = CHUNK_BEATS,
) -> tuple[ImportResult, float]:
    """Run beats through processing into the archive in short chunks, all or nothing (the import journal).

    Returns the result and the longest write transaction in seconds. Any exception (KeyboardInterrupt too)
    removes what was written before it propagates.
    """
    processor = StreamProcessor(user=user, device=device, config=stream_config(cfg))
    saved = archive.load_baseline(user)
    if saved is not None:
        processor.baseline.restore(saved)
    import_id = begin_import(archive, user, device, path)
    w = _ChunkWriter(archive, import_id, user, device)
    n = n_gaps = 0
    first: Beat | None = None
    last: Beat | None = None
    try:
        for b, gap in beats:
            if gap is not None:
                w.gaps.append(gap)
                processor.gap(gap)
                n_gaps += 1
            w.outputs.extend(processor.push(b))
            w.flagged.extend(processor.take_artifact_times())
            w.beats.append(b)
            first = first or b
            last = b
            n += 1
            if len(w.beats) >= chunk_beats:
                w.write()
                if progress is not None:
                    progress.update(n)
        if first is None or last is None:
            raise ImportConflict("no beats to import")
        w.outputs.extend(processor.flush())
        w.flagged.extend(processor.take_artifact_times())
        w.write(last=True, baseline=(last.t, processor.baseline.current))
    except BaseException:
        discard_import(archive, import_id)
        raise
    if progress is not None:
        progress.update(total)
        progress.done()
    res = ImportResult(
        beats=n,
        gaps=n_gaps,
        windows=w.windows,
        episodes=w.episodes,
        start_t=first.t - first.rr_ms / 1000.0,
        end_t=last.t,
    )
    return res, w.longest_tx_s


def import_recording(
    cfg: Config,
    archive: Archive,
    rec: RRRecording,
    *,
    user: str,
    device: str,
    start_t: float,
    progress: ProgressLike | None = None,
    chunk_beats: int = CHUNK_BEATS,
) -> ImportResult:
    """An in-memory recording through processing into the archive; all or nothing."""
    res, _ = import_beats(
        cfg,
        archive,
        _recording_beats(rec, start_t, user, device),
        user=user,
        device=device,
        path=rec.path,
        total=len(rec.rr_ms),
        progress=progress,
        chunk_beats=chunk_beats,
    )
    return res


def import_file(
    cfg: Config,
    archive: Archive,
    scan: RRScan,
    *,
    user: str,
    device: str,
    start_t: float,
    progress: ProgressLike | None = None,
) -> tuple[ImportResult, float]:
    """A scanned file, streamed (a second pass) through processing into the archive; all or nothing."""
    return import_beats(
        cfg,
        archive,
        _stream_beats(scan, start_t, user, device),
        user=user,
        device=device,
        path=scan.path,
        total=scan.n_beats,
        progress=progress,
    )


def _fail(message: str, code: int = EXIT_BAD_FILE) -> int:
    print(f"calmstrap import: {message}; nothing imported", file=sys.stderr)
    return code


def cmd_import(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    path = Path(args.file)
    try:
        scan = scan_rr_file(path, RRFormat(args.format))
    except ReplayFormatError as exc:
        return _fail(str(exc))
    try:
        if scan.has_times:
            start_t = (scan.first_t or 0.0) - scan.first_rr_ms / 1000.0
            if args.start:
                print("calmstrap import: the file has its own times; --start is not used", file=sys.stderr)
        elif args.start:
            start_t = parse_start(args.start, scan.duration_s)
        elif scan.header_start_t is not None:
            start_t = check_start(scan.header_start_t, scan.duration_s, f"{path}: the '# start:' line")
        else:
            start_t = check_start(
                os.stat(path).st_mtime - scan.duration_s,
                scan.duration_s,
                f"{path}: its modification time (give --start)",
            )
    except BadStart as exc:
        return _fail(str(exc), EXIT_USAGE)
    device = args.device or f"import:{path.name}"
    with Archive.in_dir(cfg.data_dir(args.data_dir)) as archive:
        for d in recover_interrupted_imports(archive):
            print(
                f"calmstrap import: removed an interrupted import of {d.path} ({d.rows_removed} rows)",
                file=sys.stderr,
            )
        end_t = scan.last_t if scan.last_t is not None else start_t + scan.duration_s
        overlap = sum(
            archive.query(
                "SELECT COUNT(*) FROM beats WHERE user = ? AND device = ? AND t > ? AND t <= ?",
                (args.user, device, start_t, end_t),
            )[0][0]
            for device in archive.devices(args.user)
        )
        if overlap:
            return _fail(
                f"the archive already has {overlap} beats of {args.user} in that span (imported before?)"
            )
        try:
            res, _ = import_file(
                cfg,
                archive,
                scan,
                user=args.user,
                device=device,
                start_t=start_t,
                progress=Progress(scan.n_beats),
            )
        except (ReplayFormatError, ImportConflict) as exc:
            return _fail(str(exc))
        except KeyboardInterrupt:
            return _fail("interrupted", EXIT_INTERRUPTED)
    when = datetime.fromtimestamp(res.start_t).isoformat(timespec="seconds")
    dups = ""
    if scan.duplicates:
        dups = (
            f"; {scan.duplicates} duplicate row{'s' if scan.duplicates != 1 else ''} (the same time as the row "
            "before) skipped"
        )
    print(
        f"imported {res.beats} beats ({scan.format.value}, {scan.duration_s / 60:.1f} min from {when}) for "
        f"{args.user}: {res.windows} windows, {res.episodes} episodes, {res.gaps} gaps{dups}"
    )
    return 0
