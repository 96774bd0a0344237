"""Reading a range: time text, empty ranges and unknown users."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from exports.dataset import ExportRange, iso_utc, iso_utc_array, load
from exports.errors import EmptyRange, UnknownUser
from sensors.beats import Beat
from storage.archive import Archive


def test_iso_text_rounds_to_the_millisecond_and_matches_vectorised() -> None:
    """Scalar and vectorised ISO 8601 agree, round (not truncate) to ms, and parse back within 0.5 ms."""
    ts = np.random.default_rng(1).uniform(1.7e9, 1.8e9, 20_000)
    ts = np.concatenate([ts, np.round(ts * 1000) / 1000 - 1e-7])
    scalar = [iso_utc(t) for t in ts.tolist()]
    assert iso_utc_array(ts).tolist() == scalar
    assert iso_utc(1791190800.4979999) == "2026-10-05T09:00:00.498Z"
    back = np.array([datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() for s in scalar])
    assert np.max(np.abs(back - ts)) <= 0.0005 + 1e-6


def test_unknown_user_and_empty_range(tmp_path: Path) -> None:
    """No beats for the user at all: UnknownUser naming who is there; none in the range: EmptyRange."""
    with Archive.in_dir(tmp_path) as archive:
        archive.add_beats([Beat(1_800_000_000.0 + i, 1000.0, "d", "ann") for i in range(5)])
        archive.commit()
        with pytest.raises(UnknownUser) as unknown:
            load(archive, ExportRange("bob", 0.0, 2e9))
        assert unknown.value.known == ("ann",)
        with pytest.raises(EmptyRange):
            load(archive, ExportRange("ann", 0.0, 1_000_000_000.0))
        assert load(archive, ExportRange("ann", 0.0, 2e9)).n_beats == 5
