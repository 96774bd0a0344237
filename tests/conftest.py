"""Suite-wide: what one test's in-process service run changes in the interpreter is put back after it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _collector_as_found() -> Iterator[None]:
    """``calmstrap run`` in the test process settles the heap (calmstrap.heap): unfrozen, thresholds back."""
    threshold = gc.get_threshold()
    yield
    if gc.get_freeze_count():
        gc.unfreeze()
    gc.set_threshold(*threshold)
