"""Window rows as the archive stores them (storage.event_rows.window_values) and the archive's SQLite settings."""

from __future__ import annotations

import math
import random
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from storage.archive import CACHE_MIB, SERVICE_CACHE_MIB, WAL_AUTOCHECKPOINT_PAGES, WINDOW_FEATURES, Archive
from storage.event_rows import window_values


def _window(values: list[float]) -> SimpleNamespace:
    return SimpleNamespace(**dict(zip(WINDOW_FEATURES, values, strict=True)))


def test_finite_features_are_stored_as_floats_in_feature_order() -> None:
    """Finite features (NumPy floats among them) come back as the same floats, in WINDOW_FEATURES order."""
    rng = random.Random(3)
    values = [rng.uniform(-1e3, 1e3) for _ in WINDOW_FEATURES]
    mixed = [np.float64(v) if i % 2 else v for i, v in enumerate(values)]
    out = window_values(_window(mixed))
    assert out == tuple(values)
    assert all(type(v) is float for v in out)


def test_nan_and_infinities_become_null_and_only_they() -> None:
    """A NaN, an infinity and a negative infinity become None; the features around them are kept."""
    values = [float(i) + 0.5 for i in range(len(WINDOW_FEATURES))]
    bad = {1: math.nan, 4: math.inf, len(values) - 1: -math.inf}
    for i, v in bad.items():
        values[i] = v
    out = window_values(_window(values))
    assert [i for i, v in enumerate(out) if v is None] == sorted(bad)
    assert [v for i, v in enumerate(out) if i not in bad] == [v for i, v in enumerate(values) if i not in bad]


def test_finite_features_whose_sum_overflows_are_kept() -> None:
    """Huge finite features (their sum overflows to infinity) are stored as they are, not as NULL."""
    values = [1.5e308] * len(WINDOW_FEATURES)
    assert window_values(_window(values)) == tuple(values)


def test_archive_sets_its_page_cache_and_wal_size(tmp_path: Path) -> None:
    """A connection of the archive has the page cache and WAL checkpoint size its constants name."""
    with Archive(tmp_path / "a.db") as ar:
        assert ar.query("PRAGMA cache_size") == [(-CACHE_MIB * 1024,)]
        assert ar.query("PRAGMA wal_autocheckpoint") == [(WAL_AUTOCHECKPOINT_PAGES,)]
    with Archive(tmp_path / "a.db", cache_mib=SERVICE_CACHE_MIB) as ar:  # a running service's connection
        assert ar.query("PRAGMA cache_size") == [(-SERVICE_CACHE_MIB * 1024,)]
    other = sqlite3.connect(tmp_path / "a.db")  # a setting of the connection, not of the file
    assert other.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)
    other.close()
