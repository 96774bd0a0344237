"""Window rows as the archive stores them (storage.event_rows.window_values) and the archive's SQLite settings."""

from __future__ import annotations

import math
import random
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- queued rows bind NULL as NaN (storage.event_rows._NULL): the rows stored are the plain ones -------------


def test_sqlite_stores_a_bound_nan_as_null() -> None:
    """The shortcut rests on this: a NaN parameter is stored as NULL, in execute and executemany."""
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE x (a REAL)")
    con.execute("INSERT INTO x VALUES (?)", (math.nan,))
    con.executemany("INSERT INTO x VALUES (?)", [(math.nan,), (-math.nan,), (float("nan"),)])
    assert con.execute("SELECT a, typeof(a) FROM x").fetchall() == [(None, "null")] * 4


def _plain_rows(ar: Archive, outputs: list[object]) -> None:
    """add_window / add_arousal as they were: window_values and _num (None for NULL), one execute each."""
    from processing.arousal import Arousal
    from processing.stream import WindowResult
    from storage.event_rows import AROUSAL_SQL, WINDOW_SQL, _num

    for out in outputs:
        if isinstance(out, WindowResult):
            win = out.window
            row: tuple[object, ...] = (
                ar._next_seq(), out.user, out.device, str(out.channel), win.t, win.window_s,
                *window_values(win), int(win.valid),
            )  # fmt: skip
            ar.conn.execute(WINDOW_SQL, row)
        elif isinstance(out, Arousal):
            x = out
            row = (
                ar._next_seq(), "ana", x.t, x.score, x.a, _num(x.z_hr), _num(x.z_ln_rmssd), str(x.state),
                int(x.warming_up), int(x.gated), _num(x.hr_bpm), _num(x.rmssd_ms),
            )  # fmt: skip
            ar.conn.execute(AROUSAL_SQL, row)


def _stored(path: Path, *, drop: tuple[str, ...] = ()) -> dict[str, list[tuple[object, ...]]]:
    con = sqlite3.connect(path)
    out = {}
    for table in ("windows", "arousal"):
        cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})") if r[1] not in drop]
        sel = ", ".join(f"{c}, typeof({c})" for c in cols)
        out[table] = [tuple(map(repr, r)) for r in con.execute(f"SELECT {sel} FROM {table} ORDER BY id")]
    con.close()
    return out


def _compare_rows(tmp_path: Path, outputs: list[object]) -> dict[str, list[tuple[object, ...]]]:
    from processing.arousal import Arousal
    from processing.stream import WindowResult

    for name in ("plain.db", "fast.db", "journal.db"):
        (tmp_path / name).unlink(missing_ok=True)
    with Archive(tmp_path / "plain.db") as ar:
        _plain_rows(ar, outputs)
    for name, journal in (("fast.db", False), ("journal.db", True)):
        with Archive(tmp_path / name) as ar:
            ar.journal_rows = journal  # the running service's journals, folded at close
            for out in outputs:
                if isinstance(out, WindowResult):
                    ar.add_window(out)
                elif isinstance(out, Arousal):
                    ar.add_arousal("ana", out)
    plain, fast = _stored(tmp_path / "plain.db"), _stored(tmp_path / "fast.db")
    assert fast == plain
    # journaled rows get their id and seq at the fold (table by table, channel by channel): the rest is equal
    bare = ("id", "seq")
    journaled = _stored(tmp_path / "journal.db", drop=bare)
    assert {k: sorted(v) for k, v in journaled.items()} == {
        k: sorted(v) for k, v in _stored(tmp_path / "plain.db", drop=bare).items()
    }
    return fast


def test_real_recording_windows_and_arousal_are_the_plain_rows(tmp_path: Path) -> None:
    """A real RR recording (tests/fixtures, the long pyhrv series) through a stream processor: every window
    and arousal row, NULLs included, as the plain definition stores it."""
    from processing.stream import StreamProcessor
    from sensors.beats import Beat
    from tests.processing.conftest import load_rr

    proc = StreamProcessor(user="ana", device="d1")
    outputs: list[object] = []
    t = 1_700_000_000.0
    for x in load_rr("Long").tolist():
        t += x / 1000.0
        outputs.extend(proc.push(Beat(t, x, "d1", "ana")))
    outputs.extend(proc.flush())
    rows = _compare_rows(tmp_path, outputs)
    assert len(rows["windows"]) > 100 and len(rows["arousal"]) > 10
    assert any("'null'" in r for r in rows["windows"])  # NULL features were compared too


_feature = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True).map(np.float64),
    st.integers(-5, 5),
)


@settings(max_examples=60, deadline=None)
@given(
    features=st.lists(
        st.lists(_feature, min_size=len(WINDOW_FEATURES), max_size=len(WINDOW_FEATURES)), max_size=4
    ),
    arousal=st.lists(st.tuples(*[st.one_of(st.none(), _feature)] * 4), max_size=4),
)
def test_random_windows_and_arousal_are_the_plain_rows(
    features: list[list[float]],
    arousal: list[tuple[float | None, ...]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from processing.arousal import Arousal, ArousalState
    from processing.stream import Channel, WindowResult

    outputs: list[object] = []
    for i, values in enumerate(features):
        win = SimpleNamespace(
            t=1e9 + i, window_s=60.0, valid=i % 2 == 0, **dict(zip(WINDOW_FEATURES, values, strict=True))
        )
        outputs.append(WindowResult("ana", "d1", Channel.FAST, win))  # type: ignore[arg-type]
    for i, (z_hr, z_ln, hr, rmssd) in enumerate(arousal):
        outputs.append(
            Arousal(t=1e9 + i, score=50.0, a=0.1, z_hr=z_hr, z_ln_rmssd=z_ln, state=ArousalState.CALM,
                    warming_up=False, gated=True, hr_bpm=hr, rmssd_ms=rmssd)  # type: ignore[arg-type]
        )  # fmt: skip
    _compare_rows(tmp_path_factory.mktemp("rows"), outputs)
