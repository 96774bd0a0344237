"""A small client of the running service's page API, for the CLI's answers (stdlib HTTP, loopback).

The service writes ``<data-dir>/web.json`` (0600) with its address and token while it runs; without that
file the ``[web] listen`` address and ``[web] token`` of the config are used.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web.errors import AnswerRefused, ServiceNotFound
from web.listen import Listen
from web.server import ADDRESS_FILE, ADDRESS_SCHEMA

TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class ServiceAddress:
    url: str
    token: str | None
    where: str
    """Where the address came from (the address file or the config), for messages."""


def find_service(data_dir: Path, listen: Listen | None, token: str | None) -> ServiceAddress:
    path = data_dir / ADDRESS_FILE
    if path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ServiceNotFound(str(path), f"unreadable address file ({type(exc).__name__})") from None
        if isinstance(doc, dict) and doc.get("schema") == ADDRESS_SCHEMA and isinstance(doc.get("url"), str):
            tok = doc.get("token")
            return ServiceAddress(doc["url"], tok if isinstance(tok, str) else token, str(path))
    if listen is None:
        raise ServiceNotFound(str(path), "no address file, and the page is off in the config ([web] listen)")
    return ServiceAddress(listen.url(), token, "[web] listen")


def _request(addr: ServiceAddress, path: str, user: str | None, body: bytes | None) -> dict[str, Any]:
    query = f"?user={urllib.parse.quote(user)}" if user else ""
    headers = {"x-calmstrap-request": "1", "x-calmstrap-client": "cli", "content-type": "application/json"}
    if addr.token:
        headers["authorization"] = f"Bearer {addr.token}"
    req = urllib.request.Request(
        addr.url.rstrip("/") + path + query, data=body, headers=headers, method="POST" if body else "GET"
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            doc = json.loads(raw.decode("utf-8"))
            message = str(doc.get("message", "")) if isinstance(doc, dict) else ""
        except ValueError:
            message = raw.decode("utf-8", "replace").strip()
        raise AnswerRefused(exc.code, message or exc.reason) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServiceNotFound(f"{addr.url} (from {addr.where})", f"not answering ({reason})") from None
    doc = json.loads(raw.decode("utf-8"))
    if not isinstance(doc, dict):
        raise AnswerRefused(502, "the service sent something that is not a JSON object")
    return doc


def state(addr: ServiceAddress, user: str | None) -> dict[str, Any]:
    return _request(addr, "/api/state", user, None)


def command(addr: ServiceAddress, user: str | None, cmd: dict[str, object]) -> dict[str, Any]:
    return _request(addr, "/api/command", user, json.dumps(cmd).encode())
