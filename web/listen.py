"""Where the page listens: ``[HOST:]PORT`` parsed once, and whether that address needs a token."""

from __future__ import annotations

import re
from dataclasses import dataclass

from web.errors import ListenError

DEFAULT_HOST = "127.0.0.1"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
"""The only hosts served without a token: every other address (another 127/8 one too) needs one."""
OFF = frozenset({"", "off", "no", "false", "0"})


@dataclass(frozen=True, slots=True)
class Listen:
    host: str
    port: int

    @property
    def needs_token(self) -> bool:
        return self.host not in LOOPBACK_HOSTS

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port if port is None else port}/"


def parse_listen(text: str) -> Listen | None:
    """``"8421"``, ``"127.0.0.1:8421"``, ``"[::1]:8421"``, ``"0.0.0.0:8421"``; None for ``off`` / empty."""
    s = text.strip()
    if s.lower() in OFF:
        return None
    m = re.fullmatch(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]:|(?P<host>[A-Za-z0-9.\-]+):)?(?P<port>\d{1,5})", s)
    if m is None:
        raise ListenError(text, "[HOST:]PORT, e.g. 8421, 127.0.0.1:8421 or [::1]:8421 (or off)")
    port = int(m.group("port"))
    if port > 65535:
        raise ListenError(text, "a port from 0 to 65535 (0: any free port)")
    host = m.group("v6") or m.group("host") or DEFAULT_HOST
    return Listen(host, port)
