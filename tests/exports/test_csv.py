"""CSV export: every column documented, rows equal the archive's."""

from __future__ import annotations

import csv
import math
from datetime import datetime
from pathlib import Path

from exports.csv_files import FILES
from storage.archive import WINDOW_FEATURES, Archive
from tests.exports.conftest import LABEL, Exported, Month


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _t(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_every_column_is_documented_with_its_unit(exported: Exported) -> None:
    """README.txt names every file and, under it, every header column of that file."""
    readme = exported.out.joinpath(f"{LABEL}_csv_README.txt").read_text(encoding="utf-8")
    sections = readme.split("\n\n")
    for f in FILES:
        path = exported.out / f"{LABEL}_{f.stem}.csv"
        header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
        section = next(s for s in sections if s.startswith(path.name))
        documented = {line.split()[0] for line in section.splitlines()[2:]}
        assert set(header) == documented, f.stem
    assert "rr_ms" in readme and "[ms]" in readme and "ISO 8601 UTC" in readme


def test_beats_equal_archive(exported: Exported, month_archive: Archive, month: Month) -> None:
    """beats.csv has every archive beat: ISO 8601 UTC time to the millisecond, RR, artifact flag."""
    rows = _rows(exported.out / f"{LABEL}_beats.csv")
    stored = month_archive.query(
        "SELECT t, rr_ms, artifact FROM beats WHERE user = ? ORDER BY t", (month.user,)
    )
    assert len(rows) == len(stored)
    for r, (t, rr, art) in list(zip(rows, stored, strict=True))[::97]:
        assert r["time_utc"].endswith("Z")
        assert abs(_t(r["time_utc"]) - t) <= 0.0005
        assert float(r["rr_ms"]) == round(rr, 3)
        assert int(r["artifact"]) == art


def test_windows_have_all_features_and_validity(
    exported: Exported, month_archive: Archive, month: Month
) -> None:
    """windows.csv carries every archived feature and the valid flag, empty where the archive has NULL."""
    rows = _rows(exported.out / f"{LABEL}_windows.csv")
    assert set(WINDOW_FEATURES) | {"valid", "channel", "window_s"} <= set(rows[0])
    stored = month_archive.query(
        "SELECT rmssd_ms, dfa_a1, valid FROM windows WHERE user = ? ORDER BY t, id", (month.user,)
    )
    assert len(rows) == len(stored)
    by_key = sorted(rows, key=lambda r: r["time_utc"])
    assert {r["channel"] for r in rows} == {"60s", "300s"}
    nulls = sum(1 for _, dfa, _ in stored if dfa is None)
    assert sum(1 for r in by_key if r["dfa_a1"] == "") == nulls
    for r, (rmssd, _, valid) in zip(rows, stored, strict=True):
        assert int(r["valid"]) == valid
        if rmssd is not None:
            assert math.isclose(float(r["rmssd_ms"]), rmssd, rel_tol=1e-5)


def test_prompts_carry_outcomes(exported: Exported, month_archive: Archive, month: Month) -> None:
    """prompts.csv: one row per prompt with its measured change and helped flag."""
    rows = {r["time_utc"]: r for r in _rows(exported.out / f"{LABEL}_prompts.csv")}
    stored = month_archive.query(
        "SELECT t, kind, d_ln_rmssd, helped FROM prompts WHERE user = ?", (month.user,)
    )
    assert len(rows) == len(stored)
    assert any(h is not None for *_, h in stored)
    by_t = sorted(rows.values(), key=lambda r: r["time_utc"])
    for r, (_t0, kind, d_lr, helped) in zip(by_t, sorted(stored), strict=True):
        assert r["kind"] == kind
        assert r["helped"] == ("" if helped is None else str(helped))
        if d_lr is not None:
            assert math.isclose(float(r["d_ln_rmssd"]), d_lr, rel_tol=1e-5, abs_tol=1e-6)


def test_episodes_and_weeks_equal_archive(exported: Exported, month_archive: Archive, month: Month) -> None:
    """episodes.csv and weekly_progress.csv hold the archive's rows."""
    eps = _rows(exported.out / f"{LABEL}_episodes.csv")
    stored = month_archive.query(
        "SELECT amplitude, t50_s FROM episodes WHERE user = ? ORDER BY onset_t", (month.user,)
    )
    assert [(float(e["amplitude"]), float(e["t50_s"])) for e in eps] == stored
    weeks = _rows(exported.out / f"{LABEL}_weekly_progress.csv")
    table = month_archive.query(
        "SELECT week, episodes, median_amplitude FROM weekly_progress WHERE user = ? ORDER BY week",
        (month.user,),
    )
    assert [(w["week"], int(w["episodes"]), float(w["median_amplitude"])) for w in weeks] == table
