"""Kubios-readable RR text: one file per continuous recording.

Layout of a file::

    # calmstrap RR intervals for Kubios HRV: milliseconds, one per line after these '#' lines
    # device: sim-strap
    # label: client-a
    # start: 2026-11-02T10:00:00.123Z
    # beats: 2412
    # note: one continuous recording; RR in ms with 3 decimals; ...
    812.500
    798.828
    ...

``start`` is the time of the R peak that opens the first interval (its end minus its RR), so
``start + cumsum(rr)`` places every beat on the strap's own clock (the archive's beat times also follow the
notification arrival clock slowly, so they may differ from that sum by up to the beat clock's drift bound). RR values are written with exactly 3 decimals: a strap
sends RR in 1/1024 s ticks (0.9765625 ms), and 3 decimals keep the rounding error (at most 0.0005 ms) far
below half a tick, so ``round(ms * 1.024)`` recovers every tick, and reading then writing again gives the
same text. In Kubios HRV open the file as a custom ASCII RR file, RR in milliseconds, and skip the header
lines that start with ``#`` (:data:`HEADER_LINES` of them).

A new file starts at every gap the archive recorded (a disconnect, silence, re-anchoring of the beat clock)
and wherever two consecutive beat times are further apart than the later RR says (a jump of more than
:data:`MAX_JUMP_S`), so a file never spans a hole in the data.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from exports.dataset import ExportData, Progress, iso_utc
from exports.files import Staging, safe_name

RR_DECIMALS = 3
MAX_JUMP_S = 1.0
"""Beat time minus previous beat time may differ from the RR by this much before a new recording starts."""
HEADER_KEYS: tuple[str, ...] = ("device", "label", "start", "beats", "note")
HEADER_LINES = 1 + len(HEADER_KEYS)
NOTE = (
    "one continuous recording; RR in milliseconds with 3 decimals; a gap in the data starts a new file; "
    "wellness data from a consumer chest strap"
)


@dataclass(frozen=True, slots=True)
class Recording:
    """A continuous run of beats of one device: ``beats[start:stop]``."""

    device: str
    start: int
    stop: int
    start_t: float
    """Time of the R peak that opens the first interval (epoch s UTC)."""


def split_recordings(data: ExportData) -> Iterator[Recording]:
    """The continuous recordings in the export, per device in time order."""
    for device in data.devices:
        b = data.beats[device]
        t, rr = b["t"], b["rr_ms"]
        if len(t) == 0:
            continue
        jump = np.abs(np.diff(t) - rr[1:] / 1000.0) > MAX_JUMP_S
        cuts = set((np.nonzero(jump)[0] + 1).tolist())
        for g in data.gaps:
            if g.device == device:
                i = int(np.searchsorted(t, g.start_t, side="right"))
                if 0 < i < len(t):
                    cuts.add(i)
        bounds = [0, *sorted(cuts), len(t)]
        for a, z in itertools.pairwise(bounds):
            yield Recording(device, a, z, float(t[a] - rr[a] / 1000.0))


def format_rr(rr_ms: npt.NDArray[np.float64]) -> str:
    """RR lines, 3 decimals each, newline-terminated."""
    if len(rr_ms) == 0:
        return ""
    return "\n".join(f"{x:.{RR_DECIMALS}f}" for x in rr_ms.tolist()) + "\n"


def header(device: str, label: str, start_t: float, n_beats: int) -> str:
    values = (device, label, iso_utc(start_t), str(n_beats), NOTE)
    lines = ["# calmstrap RR intervals for Kubios HRV: milliseconds, one per line after these '#' lines"]
    lines += [f"# {k}: {v}" for k, v in zip(HEADER_KEYS, values, strict=True)]
    return "\n".join(lines) + "\n"


def file_name(name: str, rec: Recording) -> str:
    stamp = iso_utc(rec.start_t)[:19].replace("-", "").replace(":", "")
    return f"{safe_name(name)}_rr_{stamp}Z_{safe_name(rec.device)}.txt"


def write(data: ExportData, stage: Staging, progress: Progress | None = None) -> int:
    """One RR file per recording; returns how many files."""
    recs = list(split_recordings(data))
    total = max(1, sum(r.stop - r.start for r in recs))
    done = 0
    used: set[str] = set()
    for rec in recs:
        name = file_name(data.range.name, rec)
        n = 2
        while name in used:
            name = file_name(data.range.name, rec).replace(".txt", f"_{n}.txt")
            n += 1
        used.add(name)
        rr = data.beats[rec.device]["rr_ms"][rec.start : rec.stop]
        with stage.open_text(name) as f:
            f.write(header(rec.device, data.range.name, rec.start_t, len(rr)))
            f.write(format_rr(rr))
        done += len(rr)
        if progress:
            progress("kubios", done / total)
    return len(recs)
