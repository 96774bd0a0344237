"""A session snapshot written by format 1 (tests/fixtures/session_snapshot_v1.bin) still loads, exactly."""

from __future__ import annotations

import importlib.util
import json
import zlib
from pathlib import Path
from types import ModuleType

from calmstrap.session_state import KIND, dump_session, load_session, state_of
from processing import snapshot
from storage.archive import Archive

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("session_snapshot_v1", FIXTURES / "session_snapshot_v1.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fixture_is_format_1() -> None:
    """The fixture's document is a format-1 document (so the next test reads the old format)."""
    data = (FIXTURES / "session_snapshot_v1.bin").read_bytes()
    assert json.loads(zlib.decompress(data[len(snapshot.MAGIC) :]))["version"] == 1


def test_a_format_1_session_snapshot_loads_to_the_same_state(tmp_path: Path) -> None:
    """The format-1 fixture loads to the state the same session has now: the same format-2 bytes."""
    with Archive(tmp_path / "a.db") as archive:
        session = _builder().build_session(archive)
        t = session.processor.last_t
        expected = dump_session(session, t)
        session.policy.tz = None  # as dump_session writes it
        assert snapshot.dump(state_of(session, t), kind=KIND) == expected
    old = load_session((FIXTURES / "session_snapshot_v1.bin").read_bytes())
    assert old.t == t
    assert snapshot.dump(old, kind=KIND) == expected
