"""One export run: read the range once, write each chosen format into a staging folder, then move it in place."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from exports import csv_files, fhir, kubios, pdf
from exports.dataset import ExportData, ExportRange, Progress, load
from exports.files import Staging
from exports.formats import Format
from storage.archive import Archive

WRITERS: dict[Format, Callable[[ExportData, Staging, Progress | None], int]] = {
    Format.KUBIOS: kubios.write,
    Format.CSV: csv_files.write,
    Format.PDF: pdf.write,
    Format.FHIR: fhir.write,
}


@dataclass(frozen=True, slots=True)
class ExportResult:
    files: tuple[Path, ...]
    beats: int
    hours: float
    weeks: int


def export(
    archive: Archive,
    rng: ExportRange,
    formats: Sequence[Format],
    out_dir: Path,
    progress: Progress | None = None,
) -> ExportResult:
    """Write the chosen formats of one user's range into ``out_dir``.

    Raises :class:`exports.errors.UnknownUser` or :class:`exports.errors.EmptyRange` before anything is
    written, and :class:`exports.errors.OutputNotWritable` when ``out_dir`` cannot be written (nothing of
    the export is left behind then).
    """
    data = load(archive, rng, progress)
    with Staging(out_dir) as stage:
        for fmt in formats:
            WRITERS[fmt](data, stage, progress)
    return ExportResult(tuple(stage.written), data.n_beats, data.hours_worn, len(data.weeks))
