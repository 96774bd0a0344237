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
        ({"CALMSTRAP_INFLUX__URL": "http://127.0.0.1:1", "CALMSTRAP_INFLUX__API": "v2"}, "influx.org"),
        (
            {"CALMSTRAP_MQTT__URL": "mqtt://127.0.0.1:1", "CALMSTRAP_MQTT__BASE_TOPIC": "a/#"},
            "mqtt.base_topic",
        ),
        ({"CALMSTRAP_MQTT__URL": "mqtt://127.0.0.1:1", "CALMSTRAP_MQTT__PASSWORD": "pw"}, "mqtt.username"),
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


def test_a_client_id_with_a_newline_is_refused_before_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broker refuses such a client id with "Unspecified error" forever: refused at start instead."""
    monkeypatch.setenv("CALMSTRAP_MQTT__URL", "mqtt://127.0.0.1:1")
    monkeypatch.setenv("CALMSTRAP_MQTT__CLIENT_ID", "calm\nstrap")
    assert main(["run", "--source", "sim", "--data-dir", str(tmp_path / "data")]) == 2
    assert "mqtt.client_id" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--minutes", "1"],
        ["run", "--source", "sim"],
        ["sync"],
        ["export", "--user", "ana", "--from", "2026-01-01", "--to", "2026-01-02", "--out", "OUT"],
        ["import", "RR", "--user", "ana"],
    ],
    ids=lambda a: a[0],
)
def test_every_command_refuses_a_bad_port_before_touching_data(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """CALMSTRAP_INFLUX__URL=http://127.0.0.1:abc: exit 2 naming influx.url, no data dir, no output."""
    rr = tmp_path / "rr.txt"
    rr.write_text("800\n810\n790\n" * 40)
    monkeypatch.setenv("CALMSTRAP_INFLUX__URL", "http://127.0.0.1:abc")
    data = tmp_path / "data"
    args = [str(rr) if a == "RR" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    assert main([*args, "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert "influx.url" in err and "port" in err and "Traceback" not in err
    assert not data.exists() and not (tmp_path / "out").exists()
