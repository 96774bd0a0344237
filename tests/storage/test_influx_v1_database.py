"""InfluxDB 1.x: a missing database is created by the writer; refusals say what was refused, not "HTTP 200"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.influx import InfluxRejected, V1Sink
from tests.support.influxdb import InfluxServer, running_influxdb


@pytest.fixture
def bare_influxdb(tmp_path: Path) -> Iterator[InfluxServer]:
    """A fresh influxd with no database at all."""
    root = tmp_path / "influxdb"
    root.mkdir()
    with running_influxdb(root) as server:
        yield server


def test_first_write_creates_the_missing_database(bare_influxdb: InfluxServer) -> None:
    """Writing to a database that does not exist creates it, and the points arrive."""
    sink = V1Sink(bare_influxdb.url, "fresh")
    sink.write(b"beat,device=d,user=u rr_ms=812.5,artifact=0i 1000\n")
    sink.close()
    assert bare_influxdb.count("beat", "fresh") == 1


def test_removing_a_user_from_a_missing_database_is_no_error(bare_influxdb: InfluxServer) -> None:
    """The demo removes its previous points first: with no database yet there is nothing to remove."""
    sink = V1Sink(bare_influxdb.url, "fresh")
    sink.delete_user("demo")
    sink.close()


def test_a_refused_query_names_what_was_refused_without_a_meaningless_status() -> None:
    """A 1.x /query answers 200 with an error: the message says what was refused and never "HTTP 200"."""
    err = InfluxRejected("http://127.0.0.1:8086", 200, "error parsing query", "creation of the database")
    assert (
        str(err)
        == "InfluxDB at http://127.0.0.1:8086 refused the creation of the database: error parsing query"
    )
    assert "HTTP 400" in str(InfluxRejected("http://h", 400, "unable to parse"))
