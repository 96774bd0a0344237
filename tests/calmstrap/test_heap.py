"""The collector settled for a long-running service: start-up objects frozen, young collections rarer
(tests/conftest.py puts the collector back after each test)."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from calmstrap.cli import main
from calmstrap.heap import YOUNG_THRESHOLD, settle_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_settle_heap_raises_the_young_threshold_and_keeps_the_older_ones() -> None:
    """The young generation waits for YOUNG_THRESHOLD allocations; the older generations' ratios stay."""
    _gen0, gen1, gen2 = gc.get_threshold()
    settle_heap()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, gen1, gen2)


def test_settle_heap_freezes_what_is_alive() -> None:
    """Objects alive at start-up are moved out of the collector's generations."""
    gc.unfreeze()
    settle_heap()
    assert gc.get_freeze_count() > 0


def test_cycles_made_after_settling_are_still_freed() -> None:
    """The collector stays on: a reference cycle made later is freed by a collection."""
    settle_heap()
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None


def test_run_settles_the_heap_once_its_sessions_are_set_up(tmp_path: Path) -> None:
    """``calmstrap run`` (in this process) leaves the young threshold raised and its start-up frozen."""
    f = tmp_path / "rr.txt"
    f.write_text("\n".join(["800", "810", "790"] * 40) + "\n", encoding="utf-8")
    gc.unfreeze()
    assert gc.get_threshold()[0] != YOUNG_THRESHOLD
    assert (
        main(["run", "--source", f"replay:{f}", "--speed", "100000", "--data-dir", str(tmp_path / "d")]) == 0
    )
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_freeze_count() > 0
