"""Every entry point of a user id refuses the same hostile ids with the same message, touching no data."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from alerts.commands import parse_command
from alerts.errors import CommandError
from alerts.homeassistant import device_id
from alerts.mqtt import MqttNotifier, MqttSettings
from calmstrap.cli import main
from calmstrap.config import ConfigError, load_config
from sensors.ids import InvalidUserId

HOSTILE = ["a/b", "a+b", "a#b", "a b", "trail\\", "", "../x", "a\nb", "x" * 5000, "Ana"]
RR_FILE = "# RR intervals in ms\n" + "\n".join(["800", "810", "790"] * 40) + "\n"


def _message(value: str) -> str:
    return str(InvalidUserId(value))


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string for these characters


def _config_general(value: str, tmp: Path) -> str:
    f = tmp / "c.toml"
    f.write_text(f"[general]\nuser = {_toml_string(value)}\n")
    with pytest.raises(ConfigError) as info:
        load_config(f, env={})
    assert info.value.key == "general.user"
    return str(info.value)


def _config_env(value: str, tmp: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(None, env={"CALMSTRAP_GENERAL__USER": value})
    return str(info.value)


def _config_straps(value: str, tmp: Path) -> str:
    f = tmp / "c.toml"
    f.write_text(f'[[straps]]\nuser = {_toml_string(value)}\naddress = "A0:9E:1A:12:34:56"\n')
    with pytest.raises(ConfigError) as info:
        load_config(f, env={})
    assert info.value.key == "straps[0].user"
    return str(info.value)


def _cli(argv: Callable[[str, Path], list[str]]) -> Callable[[str, Path], str]:
    def run(value: str, tmp: Path) -> str:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as info:
            raise SystemExit(main(argv(value, tmp)))
        assert info.value.code == 2
        assert not (tmp / "data" / "archive.db").exists(), "nothing may be touched"
        return err.getvalue()

    return run


def _rr(tmp: Path) -> str:
    f = tmp / "rr.txt"
    f.write_text(RR_FILE)
    return str(f)


def _mqtt_topic(value: str, tmp: Path) -> str:
    with pytest.raises(CommandError) as info:
        parse_command(f"calmstrap/{value}/command", b'{"command": "snooze", "minutes": 5}', "calmstrap")
    return str(info.value)


def _mqtt_notifier(value: str, tmp: Path) -> str:
    with pytest.raises(InvalidUserId) as info:
        MqttNotifier(MqttSettings(host="127.0.0.1"), users=[value])
    return str(info.value)


def _home_assistant(value: str, tmp: Path) -> str:
    with pytest.raises(InvalidUserId) as info:
        device_id(value)
    return str(info.value)


ENTRY_POINTS: dict[str, Callable[[str, Path], str]] = {
    "config [general] user": _config_general,
    "CALMSTRAP_GENERAL__USER": _config_env,
    "config [[straps]] user": _config_straps,
    "import --user": _cli(lambda v, t: ["import", _rr(t), "--user", v, "--data-dir", str(t / "data")]),
    "export --user": _cli(
        lambda v, t: [
            *("export", "--user", v, "--from", "2026-01-01", "--to", "2026-01-02"),
            *("--out", str(t / "o"), "--data-dir", str(t / "data")),
        ]
    ),
    "export --label": _cli(
        lambda v, t: [
            *("export", "--user", "ana", "--label", v, "--from", "2026-01-01", "--to", "2026-01-02"),
            *("--out", str(t / "o"), "--data-dir", str(t / "data")),
        ]
    ),
    "MQTT command topic": _mqtt_topic,
    "MQTT notifier users": _mqtt_notifier,
    "Home Assistant device id": _home_assistant,
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v)[:12])
def test_every_entry_point_refuses_a_hostile_id_with_the_same_message(
    entry: str, value: str, tmp_path: Path
) -> None:
    """The refusal names the value and the rule, word for word the same at every entry point."""
    out = ENTRY_POINTS[entry](value, tmp_path)
    assert _message(value) in out


@pytest.mark.parametrize("value", ["a/b", "", "x" * 5000])
def test_demo_and_run_refuse_a_hostile_configured_user_before_touching_data(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hostile [general] user stops demo and run with exit 2 and the same message; no archive appears."""
    monkeypatch.setenv("CALMSTRAP_GENERAL__USER", value)
    data = tmp_path / "data"
    for argv in (["demo", "--data-dir", str(data)], ["run", "--source", "sim", "--data-dir", str(data)]):
        assert main(argv) == 2
        assert _message(value) in capsys.readouterr().err
    assert not data.exists()


def test_every_user_option_of_every_command_checks_the_id() -> None:
    """Each command's --user and --label (present and future) goes through the one user-id check."""
    import argparse

    from calmstrap.cli import build_parser
    from calmstrap.cli_args import user_id

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    options = [
        (name, a) for name, p in sub.choices.items() for a in p._actions if a.dest in ("user", "label")
    ]
    assert {name for name, _ in options} >= {"import", "export"}
    assert all(a.type is user_id for _, a in options)
