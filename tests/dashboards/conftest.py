"""A real InfluxDB holding what the pipeline wrote: one accelerated `calmstrap demo` run, shared by the module.

Two tables the demo does not fill yet are filled here the way production will:

* ``weekly_progress``: by ``storage.progress.refresh_weekly_progress`` (what the export runs);
* ``device_status``: from the demo itself (its simulated strap reports a battery level every 10 simulated
  minutes; the pipeline records connected/disconnected for sources without link events).

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
            connected = a.query(
                "SELECT connected FROM device_status WHERE user = ? AND connected IS NOT NULL ORDER BY seq",
                (USER,),
            )
            assert [c for (c,) in connected] == [1, 0], "the demo records its strap's connected/disconnected"
            battery = a.query(
                "SELECT COUNT(*) FROM device_status WHERE user = ? AND battery_pct > 0", (USER,)
            )
            assert battery[0][0] >= 2, "the demo's simulated strap reports its battery"
            a.commit()
            sink = V1Sink(server.url, DB)
            InfluxWriter(a, sink).drain()
            sink.close()
        time.sleep(0.1)
        yield PipelineData(server, data_dir, USER)
