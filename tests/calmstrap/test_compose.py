"""docker-compose.yml is accepted by `docker-compose config` (no engine needed) and names the four services."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    if exe is None:
        msg = "docker-compose not found (Debian package 'docker-compose')"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [exe, "--project-directory", str(REPO), "-f", str(REPO / "docker-compose.yml"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO,
    )


def test_compose_config_accepts_the_file_and_names_four_services() -> None:
    """`docker-compose config` with .env.example succeeds and lists mosquitto, influxdb, grafana, calmstrap."""
    out = compose("--env-file", str(REPO / ".env.example"), "config")
    assert out.returncode == 0, out.stderr
    services = compose("--env-file", str(REPO / ".env.example"), "config", "--services")
    assert sorted(services.stdout.split()) == ["calmstrap", "grafana", "influxdb", "mosquitto"]
    text = out.stdout
    for needle in ("condition: service_healthy", "healthcheck:", "influxdb-data:", "grafana-data:"):
        assert needle in text
    assert "GF_AUTH_ANONYMOUS_ENABLED: 'false'" in text or 'GF_AUTH_ANONYMOUS_ENABLED: "false"' in text


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path) -> None:
    """Without a .env, the secrets are missing and `docker-compose config` says which one to set."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    out = compose("--env-file", str(empty), "config")
    assert out.returncode != 0
    assert "in .env" in out.stderr


def test_env_example_names_every_variable_the_compose_file_uses() -> None:
    """Each ${VAR} in docker-compose.yml has a line in .env.example."""
    used = set(re.findall(r"\$\{(\w+)", (REPO / "docker-compose.yml").read_text(encoding="utf-8")))
    example = set(re.findall(r"^(\w+)=", (REPO / ".env.example").read_text(encoding="utf-8"), re.M))
    assert used <= example, used - example


def _config_text() -> str:
    out = compose("--env-file", str(REPO / ".env.example"), "config")
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_ports_listen_on_loopback_unless_opted_in() -> None:
    """MQTT, InfluxDB and Grafana publish on 127.0.0.1 by default (BIND_ADDRESS opts in to more)."""
    text = _config_text()
    published = re.findall(r"host_ip: (\S+)", text) or re.findall(r"- (\d+\.\d+\.\d+\.\d+):\d+:\d+", text)
    assert published and set(published) == {"127.0.0.1"}, published


def test_calmstrap_has_the_bluetooth_group_the_time_zone_and_a_liveness_check() -> None:
    """group_add for BlueZ, TZ and the timezone key, and `calmstrap health` as the healthcheck."""
    text = _config_text()
    block = text.split("  calmstrap:", 1)[1].split("\n  grafana:", 1)[0]
    assert "group_add:" in block and "TZ: UTC" in block and "CALMSTRAP_GENERAL__TIMEZONE: UTC" in block
    assert "calmstrap" in block and "health" in block and "--max-age" in block


def test_the_default_source_is_the_strap() -> None:
    """Neither compose nor .env.example make simulated data the person's by default."""
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    assert re.search(r"^CALMSTRAP_SOURCE=ble$", example, re.M)
    assert "CALMSTRAP_SOURCE:-ble" in (REPO / "docker-compose.yml").read_text(encoding="utf-8")
