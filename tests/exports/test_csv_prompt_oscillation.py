"""CSV export: a paced-breathing prompt's HR oscillation, as archived."""

from __future__ import annotations

import csv

from storage.archive import Archive
from tests.exports.conftest import LABEL, Exported, Month


def test_prompts_csv_carries_the_archived_hr_oscillation(
    exported: Exported, month_archive: Archive, month: Month
) -> None:
    """prompts.csv has osc_freq_hz, osc_amplitude_bpm and osc_power_share equal to the archive's, empty for NULL."""
    with (exported.out / f"{LABEL}_prompts.csv").open(encoding="utf-8", newline="") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    stored = month_archive.query(
        "SELECT id, osc_freq_hz, osc_amplitude_bpm, osc_power_share FROM prompts WHERE user = ?",
        (month.user,),
    )
    assert len(rows) == len(stored) and any(v is not None for _, v, _, _ in stored)
    for pid, *values in stored:
        row = rows[LABEL + pid[len(month.user) :] if pid.startswith(month.user + "-") else pid]
        got = [row["osc_freq_hz"], row["osc_amplitude_bpm"], row["osc_power_share"]]
        assert [None if g == "" else float(g) for g in got] == values, pid
