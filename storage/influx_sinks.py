"""Where line protocol goes: InfluxDB 1.x ``/write`` (:class:`V1Sink`) or 2.x/3 ``/api/v2/write`` (:class:`V2Sink`)."""

from __future__ import annotations

import base64
import http.client
import logging
import re
import urllib.parse
from typing import Any, Protocol

from storage.errors import InfluxRejected, InfluxUnavailable
from storage.influx_lines import PRECISION

_QUOTED = re.compile(r"'[^']*'")

log = logging.getLogger("calmstrap.influx")


def redact(message: str) -> str:
    """A server error without the echoed line protocol (it holds RR and HRV values): quoted parts elided."""
    return _QUOTED.sub("'…'", message.strip())[:300]


def public_url(url: str) -> str:
    """``url`` without a ``user:password@`` part, for messages and watermark keys."""
    parts = urllib.parse.urlsplit(url.rstrip("/"))
    if parts.username is None and parts.password is None:
        return url.rstrip("/")
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Sink(Protocol):
    key: str
    """Names the destination in ``sync_watermark.sink``: another server or database drains from zero."""
    url: str

    def write(self, body: bytes) -> None:
        """Post line protocol; return on 2xx, raise InfluxUnavailable or InfluxRejected otherwise."""
        ...

    def delete_user(self, user: str) -> None:
        """Remove every point tagged with ``user`` (``calmstrap demo`` replacing its previous run)."""
        ...

    def close(self) -> None: ...


class V1Sink:
    """InfluxDB 1.x ``/write`` through the standard library (keep-alive connection, Basic auth)."""

    def __init__(
        self,
        url: str,
        database: str,
        *,
        retention_policy: str = "",
        username: str = "",
        password: str = "",
        timeout_s: float = 10.0,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"influx.url must be http(s)://host[:port], got {url!r}")
        self.url = public_url(url)
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname
        self._port = parsed.port
        self._timeout_s = timeout_s
        params = {"db": database, "precision": PRECISION}
        if retention_policy:
            params["rp"] = retention_policy
        self.database = database
        self.base_path = parsed.path.rstrip("/")
        self.path = self.base_path + "/write?" + urllib.parse.urlencode(params)
        self.headers = {"Content-Type": "text/plain; charset=utf-8"}
        if username:
            cred = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
            self.headers["Authorization"] = f"Basic {cred}"
        self.key = f"influx-v1 {self.url} {database}/{retention_policy}"
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout_s)
        return self._conn

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST with one silent retry when a kept-alive connection was closed by the server."""
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.read().decode("utf-8", errors="replace")
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if attempt == 0:
                    continue
                raise InfluxUnavailable(self.url, str(exc) or type(exc).__name__) from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise InfluxUnavailable(self.url, str(exc) or type(exc).__name__) from None
        raise AssertionError("unreachable")

    def _query(self, q: str, action: str) -> str:
        """One InfluxQL statement through ``/query`` (POST); an ``"error"`` in a 200 answer is a refusal."""
        params = {"db": self.database, "q": q}
        headers = {**self.headers, "Content-Type": "application/x-www-form-urlencoded"}
        status, payload = self._post(
            self.base_path + "/query", urllib.parse.urlencode(params).encode(), headers
        )
        if status >= 500 or status == 429:
            raise InfluxUnavailable(self.url, f"HTTP {status}: {redact(payload)}")
        if status >= 300 or '"error"' in payload:
            raise InfluxRejected(self.url, status, redact(payload), action)
        return payload

    def create_database(self) -> None:
        """``CREATE DATABASE`` (a no-op when it exists); a refusal says how to create it by hand."""
        name = self.database.replace("\\", "\\\\").replace('"', '\\"')
        try:
            self._query(f'CREATE DATABASE "{name}"', "creation of the database")
        except InfluxRejected as exc:
            raise InfluxRejected(
                self.url,
                exc.status,
                f"{exc.message}; the database {self.database!r} does not exist and this user may not create it: "
                f"create it as an admin, e.g. influx -execute 'CREATE DATABASE \"{name}\"' or "
                f"curl -XPOST '{self.url}/query' --data-urlencode 'q=CREATE DATABASE \"{name}\"'",
                "creation of the database",
            ) from None

    def write(self, body: bytes) -> None:
        for attempt in (0, 1):  # once more after creating a missing database
            status, payload = self._post(self.path, body, self.headers)
            if 200 <= status < 300:
                return
            message = redact(payload)
            if status >= 500 or status == 429:
                raise InfluxUnavailable(self.url, f"HTTP {status}: {message}")
            if status == 404 and "database not found" in message and attempt == 0:
                log.info("InfluxDB database %r is missing: creating it", self.database)
                self.create_database()
                continue
            raise InfluxRejected(self.url, status, message)

    def delete_user(self, user: str) -> None:
        quoted = user.replace("\\", "\\\\").replace("'", "\\'")
        try:
            self._query(f"DROP SERIES WHERE \"user\" = '{quoted}'", "removal of the old points")
        except InfluxRejected as exc:
            if "database not found" not in exc.message:
                raise
            # nothing to remove yet: the first write creates the database

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class V2Sink:
    """InfluxDB 2.x / 3 Core ``/api/v2/write`` through influxdb-client's synchronous write API."""

    def __init__(self, url: str, org: str, bucket: str, token: str, *, timeout_s: float = 10.0) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.url = public_url(url)
        self.org = org
        self.bucket = bucket
        self.key = f"influx-v2 {self.url} {org}/{bucket}"
        # retries=False (the default, said here on purpose): a failed post raises; the archive is the spool
        self._client: Any = InfluxDBClient(
            url=url.rstrip("/"), token=token, org=org, timeout=int(timeout_s * 1000), retries=False
        )
        self._write_api: Any = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, body: bytes) -> None:
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        try:
            self._write_api.write(
                bucket=self.bucket, org=self.org, record=body, write_precision=WritePrecision.MS
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            message = redact(str(exc.body or exc.reason or ""))
            if status >= 500 or status == 429 or status == 0:
                raise InfluxUnavailable(self.url, f"HTTP {status}: {message}") from None
            raise InfluxRejected(self.url, status, message) from None
        except Exception as exc:  # urllib3 connection errors, timeouts
            raise InfluxUnavailable(self.url, str(exc) or type(exc).__name__) from None

    def delete_user(self, user: str) -> None:
        from influxdb_client.rest import ApiException

        quoted = user.replace("\\", "\\\\").replace('"', '\\"')
        try:
            self._client.delete_api().delete(
                "1970-01-01T00:00:00Z",
                "2200-01-01T00:00:00Z",
                f'user="{quoted}"',
                bucket=self.bucket,
                org=self.org,
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            message = redact(str(exc.body or exc.reason or ""))
            if status >= 500 or status == 0:
                raise InfluxUnavailable(self.url, f"HTTP {status}: {message}") from None
            raise InfluxRejected(self.url, status, message) from None
        except Exception as exc:
            raise InfluxUnavailable(self.url, str(exc) or type(exc).__name__) from None

    def close(self) -> None:
        self._write_api.close()
        self._client.close()


def sink_from_config(cfg: Any) -> Sink:
    """The sink the ``[influx]`` settings name (``cfg`` is a ``calmstrap.config.InfluxConfig``)."""
    if cfg.api == "v1":
        return V1Sink(
            cfg.url,
            cfg.database,
            retention_policy=cfg.retention_policy,
            username=cfg.username,
            password=cfg.password,
        )
    return V2Sink(cfg.url, cfg.org, cfg.bucket, cfg.token)
