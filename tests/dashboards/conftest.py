"""A real InfluxDB holding what the service wrote: `calmstrap demo` then `calmstrap sync`, into a fresh
InfluxDB 1.x (no database created by hand: the writer creates it), shared by the module.

Nothing is filled by the test: the demo's session keeps ``weekly_progress`` current itself (as episodes end
and when it finishes), its simulated strap reports a battery level, and the pipeline records connected /
disconnected; `calmstrap sync` brings the weekly progress up to date and pushes what InfluxDB lacks.
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
        sync = subprocess.run(
            [sys.executable, "-m", "calmstrap", "sync", "--data-dir", str(data_dir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            cwd=root,
        )
        assert sync.returncode == 0, sync.stderr
        with Archive.in_dir(data_dir) as a:
            connected = a.query(
                "SELECT connected FROM device_status WHERE user = ? AND connected IS NOT NULL ORDER BY seq",
                (USER,),
            )
            assert [c for (c,) in connected] == [1, 0], "the demo records its strap's connected/disconnected"
            battery = a.query(
                "SELECT COUNT(*) FROM device_status WHERE user = ? AND battery_pct > 0", (USER,)
            )
            assert battery[0][0] >= 2, "the demo's simulated strap reports its battery"
        time.sleep(0.1)
        yield PipelineData(server, data_dir, USER)
