"""demo and run check every setting before touching data: a bad one exits 2 naming the key, data kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from calmstrap.cli import main
from sensors.beats import Beat
from storage.archive import Archive


def _previous_demo(data: Path) -> None:
    with Archive.in_dir(data) as archive:
        archive.add_beats(
            [Beat(t=1000.0 + i, rr_ms=800.0, device="sim-strap", user="demo") for i in range(5)]
        )
        archive.commit()


def _demo_beats(data: Path) -> int:
    with Archive.in_dir(data) as archive:
        return archive.count("beats", "demo")


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"CALMSTRAP_INFLUX__URL": "http://127.0.0.1:abc"}, "influx.url"),
        ({"CALMSTRAP_INFLUX__URL": "http://127.0.0.1:8086", "CALMSTRAP_INFLUX__API": "v2"}, "influx.org"),
        (
            {"CALMSTRAP_MQTT__URL": "mqtt://127.0.0.1:1883", "CALMSTRAP_MQTT__BASE_TOPIC": "a/#"},
            "mqtt.base_topic",
        ),
        ({"CALMSTRAP_MQTT__URL": "mqtt://127.0.0.1:1883", "CALMSTRAP_MQTT__PASSWORD": "pw"}, "mqtt.username"),
        ({"CALMSTRAP_POLICY__QUIET_HOURS": "99:00-07:00"}, "policy.quiet_hours"),
    ],
)
def test_demo_with_a_bad_setting_exits_2_and_keeps_the_previous_demo(
    env: dict[str, str],
    key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The previous demo's data is deleted only after every setting passed."""
    data = tmp_path / "data"
    _previous_demo(data)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert main(["demo", "--data-dir", str(data), "--minutes", "1"]) == 2
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err
    assert _demo_beats(data) == 5


def test_run_with_a_password_in_the_broker_url_exits_2_without_printing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """CALMSTRAP_MQTT__URL=mqtt://u:SECRETPW@host: refused, the password shown as ***, no archive made."""
    monkeypatch.setenv("CALMSTRAP_MQTT__URL", "mqtt://u:SECRETPW@host")
    data = tmp_path / "data"
    assert main(["run", "--source", "sim", "--data-dir", str(data)]) == 2
    captured = capsys.readouterr()
    assert "SECRETPW" not in captured.err + captured.out
    assert "mqtt.url" in captured.err and "mqtt://u:***@host" in captured.err
    assert not data.exists()
