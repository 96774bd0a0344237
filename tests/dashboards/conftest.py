"""A real InfluxDB holding what the pipeline wrote: one accelerated `calmstrap demo` run, shared by the module.

Two tables the demo does not fill yet are filled here the way production will:

* ``weekly_progress``: by ``storage.progress.refresh_weekly_progress`` (what the export runs);
* ``device_status`` battery readings: the demo's simulated strap has no battery, so readings are added by
  the archive's own ``add_device_status`` (what the BLE collector calls). The connected/disconnected rows
  come from the demo itself (the pipeline records them for sources without link events).

Then the same :class:`storage.influx.InfluxWriter` the service uses drains the archive into InfluxDB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from storage.archive import Archive
from storage.influx import InfluxWriter, V1Sink
from storage.progress import refresh_weekly_progress
from tests.support.influxdb import InfluxServer, running_influxdb

REPO = Path(__file__).resolve().parents[2]
DB = "calmstrap"
USER = "demo"


@dataclass(frozen=True)
class PipelineData:
    server: InfluxServer
    data_dir: Path
    user: str


def fill_battery(a: Archive, user: str) -> None:
    """A strap reporting its battery a few times (as the BLE collector does; the simulated strap has none)."""
    t0, t1 = a.query("SELECT MIN(t), MAX(t) FROM beats WHERE user = ?", (user,))[0]
    device = a.query("SELECT device FROM beats WHERE user = ? LIMIT 1", (user,))[0][0]
    span = t1 - t0
    for frac, battery in [(0.0, 81.0), (0.5, 80.0), (0.9, 79.0)]:
        a.add_device_status(user, device, t0 + frac * span, battery, None)


@pytest.fixture(scope="module")
def pipeline_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineData]:
    """`calmstrap demo` writing into a fresh InfluxDB, plus weekly progress and strap status."""
    root = tmp_path_factory.mktemp("dashboards")
    (root / "influxdb").mkdir()
    with running_influxdb(root / "influxdb") as server:
        server.create_database(DB)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALMSTRAP_")}
        env.update(
            PYTHONPATH=str(REPO),
            CALMSTRAP_INFLUX__URL=server.url,
            CALMSTRAP_INFLUX__API="v1",
            CALMSTRAP_INFLUX__DATABASE=DB,
            CALMSTRAP_INFLUX__FLUSH_INTERVAL_S="0.2",
        )
        data_dir = root / "data"
        out = subprocess.run(
            [sys.executable, "-m", "calmstrap", "demo", "--data-dir", str(data_dir), "--speed", "600"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            cwd=root,
        )
        assert out.returncode == 0, out.stderr
        with Archive.in_dir(data_dir) as a:
            refresh_weekly_progress(a, USER)
            connected = a.query("SELECT connected FROM device_status WHERE user = ? ORDER BY seq", (USER,))
            assert [c for (c,) in connected] == [1, 0], "the demo records its strap's connected/disconnected"
            fill_battery(a, USER)
            a.commit()
            sink = V1Sink(server.url, DB)
            InfluxWriter(a, sink).drain()
            sink.close()
        time.sleep(0.1)
        yield PipelineData(server, data_dir, USER)
