from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import Mosquitto


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto of this test's own on a free loopback port (anonymous, persistence on)."""
    with Mosquitto(tmp_path / "mosquitto") as m:
        yield m
