"""The [web], [notify] and [policy] disabled_kinds settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from calmstrap.config import ConfigError, load_config


def test_push_urls_come_from_the_environment_separated_by_spaces_or_commas() -> None:
    """CALMSTRAP_NOTIFY__URLS holds several Apprise URLs; the repr never shows them."""
    cfg = load_config(None, env={"CALMSTRAP_NOTIFY__URLS": "ntfy://topic-s3cret, json://127.0.0.1:9/"})
    assert cfg.notify.urls == ("ntfy://topic-s3cret", "json://127.0.0.1:9/")
    assert "s3cret" not in repr(cfg)


def test_push_urls_file_one_per_line_with_comments(tmp_path: Path) -> None:
    """``urls_file``: one URL a line, ``#`` lines ignored."""
    f = tmp_path / "urls"
    f.write_text("# phone\nntfy://a\n\njson://127.0.0.1:9/\n")
    cfg = load_config(None, env={"CALMSTRAP_NOTIFY__URLS_FILE": str(f)})
    assert cfg.notify.urls == ("ntfy://a", "json://127.0.0.1:9/")


def test_the_web_token_comes_from_a_file_and_stays_out_of_the_repr(tmp_path: Path) -> None:
    """``[web] token_file`` is read; the token is not part of the config's repr."""
    f = tmp_path / "token"
    f.write_text("tok-123456\n")
    cfg = load_config(None, env={"CALMSTRAP_WEB__TOKEN_FILE": str(f)})
    assert cfg.web.token == "tok-123456" and "tok-123456" not in repr(cfg)


def test_an_unknown_prompt_kind_names_the_key_and_the_kinds() -> None:
    """disabled_kinds with a kind that does not exist: a ConfigError listing the kinds."""
    with pytest.raises(ConfigError) as info:
        load_config(None, env={"CALMSTRAP_POLICY__DISABLED_KINDS": "breathing, naps"})
    assert info.value.key == "policy.disabled_kinds" and "urge_surfing" in str(info.value)


def test_a_bad_push_url_is_refused_without_showing_it(tmp_path: Path) -> None:
    """An Apprise URL with an unknown scheme: the service refuses to start, naming the entry, not its secret."""
    from alerts.console import ConsoleNotifier
    from calmstrap.alerting import build_notifiers

    cfg = load_config(None, env={"CALMSTRAP_NOTIFY__URLS": "nosuch://user:hunter2@host/"})
    with pytest.raises(ConfigError) as info:
        build_notifiers(cfg, ConsoleNotifier())
    assert info.value.key == "notify.urls" and "hunter2" not in str(info.value)
