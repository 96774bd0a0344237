"""``calmstrap import FILE --user U``: an RR file through processing into the archive, in one transaction."""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from calmstrap.cli_args import user_id
from calmstrap.config import Config, load_config
from calmstrap.pipeline import MAX_RR_MS, MIN_RR_MS, stream_config
from processing.arousal import Arousal
from processing.episodes import Episode, EpisodeOnset
from processing.outcomes import PromptOutcome
from processing.stream import StreamProcessor, WindowResult
from sensors.beats import Beat, Gap, GapReason
from sensors.errors import ReplayFormatError
from sensors.replay import RRFormat, RRRecording, beat_times, read_rr_file
from storage.archive import Archive

EXIT_BAD_FILE = 1
IMPORT_GAP_S = 3.0
"""With per-beat times in the file: a pause longer than this beyond the RR is recorded as a gap."""


def register(sub: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "import",
        help="import an RR file (Kubios RR text, CSV) into the archive",
        description="Read an RR file -- Kubios RR text ('#' header lines, then one RR per line, ms or s), "
        "or CSV of RR in ms with or without timestamps -- run it through processing and store beats, "
        "windows, arousal and episodes in the archive, in one transaction: a bad line fails with its "
        "line number and imports nothing. No prompts are sent for imported data.",
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
        "(default: it ended at the file's modification time)",
    )
    p.add_argument("--device", default="", help="device label stored with the beats (default: import:FILE)")
    p.set_defaults(func=cmd_import)


@dataclass
class ImportResult:
    beats: int
    gaps: int
    windows: int
    episodes: int
    start_t: float
    end_t: float


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


def _parse_start(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.astimezone()
        return dt.astimezone(UTC).timestamp()


def _beats_and_gaps(rec: RRRecording, start_t: float, user: str, device: str) -> tuple[list[Beat], list[Gap]]:
    times = beat_times(rec, start_t)
    beats = [Beat(t=t, rr_ms=r, device=device, user=user) for t, r in zip(times, rec.rr_ms, strict=True)]
    gaps: list[Gap] = []
    if rec.t_s is not None:
        for prev, b in itertools.pairwise(beats):
            if b.t - prev.t - b.rr_ms / 1000.0 > IMPORT_GAP_S:
                gaps.append(
                    Gap(
                        start_t=prev.t,
                        end_t=b.t - b.rr_ms / 1000.0,
                        device=device,
                        user=user,
                        reason=GapReason.SILENCE,
                    )
                )
    return beats, gaps


def import_recording(
    cfg: Config,
    archive: Archive,
    rec: RRRecording,
    *,
    user: str,
    device: str,
    start_t: float,
    progress: Progress | None = None,
) -> ImportResult:
    """Run the recording through processing into the archive; all or nothing (one transaction)."""
    beats, gaps = _beats_and_gaps(rec, start_t, user, device)
    processor = StreamProcessor(user=user, device=device, config=stream_config(cfg))
    saved = archive.load_baseline(user)
    if saved is not None:
        processor.baseline.restore(saved)
    counts = {"windows": 0, "episodes": 0}

    def store(outputs: Sequence[object]) -> None:
        for out in outputs:
            if isinstance(out, WindowResult):
                archive.add_window(out)
                counts["windows"] += 1
            elif isinstance(out, Arousal):
                archive.add_arousal(user, out)
            elif isinstance(out, Episode):
                archive.add_episode(out)
                counts["episodes"] += 1
            elif isinstance(out, EpisodeOnset | PromptOutcome):
                pass  # live-only: no prompts are sent for imported data
            else:
                raise TypeError(f"unexpected processing output {type(out).__name__}")

    pending_gaps = sorted(gaps, key=lambda g: g.start_t)
    with archive.transaction():
        archive.add_beats(beats, [not (MIN_RR_MS <= b.rr_ms <= MAX_RR_MS) for b in beats])
        for g in gaps:
            archive.add_gap(g)
        gi = 0
        for i, b in enumerate(beats):
            while gi < len(pending_gaps) and pending_gaps[gi].end_t <= b.t - b.rr_ms / 1000.0 + 1e-9:
                processor.gap(pending_gaps[gi])
                gi += 1
            store(processor.push(b))
            flagged = processor.take_artifact_times()
            if flagged:
                archive.flag_beats(user, device, flagged)
            if progress is not None and i % 256 == 0:
                progress.update(i)
        store(processor.flush())
        archive.save_baseline(user, beats[-1].t, processor.baseline.current)
    if progress is not None:
        progress.update(len(beats))
        progress.done()
    return ImportResult(
        beats=len(beats),
        gaps=len(gaps),
        windows=counts["windows"],
        episodes=counts["episodes"],
        start_t=beats[0].t - beats[0].rr_ms / 1000.0,
        end_t=beats[-1].t,
    )


def cmd_import(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    path = Path(args.file)
    try:
        rec = read_rr_file(path, RRFormat(args.format))
    except ReplayFormatError as exc:
        print(f"calmstrap import: {exc}; nothing imported", file=sys.stderr)
        return EXIT_BAD_FILE
    if args.start:
        try:
            start_t = _parse_start(args.start)
        except ValueError:
            print(
                f"calmstrap import: --start {args.start!r}: expected ISO 8601 or epoch seconds",
                file=sys.stderr,
            )
            return 2
    else:
        start_t = os.stat(path).st_mtime - rec.duration_s
    device = args.device or f"import:{path.name}"
    with Archive.in_dir(cfg.data_dir(args.data_dir)) as archive:
        end_t = start_t + rec.duration_s if rec.t_s is None else rec.t_s[-1]
        first_t = start_t if rec.t_s is None else rec.t_s[0] - rec.rr_ms[0] / 1000.0
        overlap = archive.query(
            "SELECT COUNT(*) FROM beats WHERE user = ? AND t > ? AND t <= ?", (args.user, first_t, end_t)
        )[0][0]
        if overlap:
            print(
                f"calmstrap import: the archive already has {overlap} beats of {args.user} in that span "
                "(imported before?); nothing imported",
                file=sys.stderr,
            )
            return EXIT_BAD_FILE
        res = import_recording(
            cfg,
            archive,
            rec,
            user=args.user,
            device=device,
            start_t=start_t,
            progress=Progress(len(rec.rr_ms)),
        )
    when = datetime.fromtimestamp(res.start_t).isoformat(timespec="seconds")
    print(
        f"imported {res.beats} beats ({rec.format.value}, {rec.duration_s / 60:.1f} min from {when}) for "
        f"{args.user}: {res.windows} windows, {res.episodes} episodes, {res.gaps} gaps"
    )
    return 0
