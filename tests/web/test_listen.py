"""Where the page listens, and which addresses need a token."""

from __future__ import annotations

import pytest

from web.errors import ListenError
from web.listen import Listen, parse_listen


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8421", Listen("127.0.0.1", 8421)),
        ("127.0.0.1:0", Listen("127.0.0.1", 0)),
        ("0.0.0.0:80", Listen("0.0.0.0", 80)),
        ("[::1]:8421", Listen("::1", 8421)),
        ("localhost:9000", Listen("localhost", 9000)),
    ],
)
def test_addresses_parse(text: str, expected: Listen) -> None:
    """PORT, HOST:PORT and [IPv6]:PORT."""
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["", "off", "OFF", " no "])
def test_off_means_no_page(text: str) -> None:
    """Empty or off: no page."""
    assert parse_listen(text) is None


@pytest.mark.parametrize("text", ["host:", ":80", "99999", "a b:1", "http://x:1", "[::1]"])
def test_bad_addresses_name_what_is_expected(text: str) -> None:
    """A bad address raises ListenError with the expected form."""
    with pytest.raises(ListenError, match=r"\[HOST:\]PORT|0 to 65535"):
        parse_listen(text)


@pytest.mark.parametrize(
    ("host", "needs"),
    [("127.0.0.1", False), ("::1", False), ("localhost", False), ("127.0.0.2", True), ("0.0.0.0", True)],
)
def test_only_the_loopback_defaults_go_without_a_token(host: str, needs: bool) -> None:
    """127.0.0.1, ::1 and localhost need no token; any other address (another 127/8 one too) does."""
    assert Listen(host, 1).needs_token is needs
