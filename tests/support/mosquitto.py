"""A real Mosquitto broker for tests: own config, own free loopback port, own temp dir.

``Mosquitto(workdir, ...)`` writes a config (optionally a password file made with ``mosquitto_passwd``
and a TLS listener with a CA and server certificate generated here), starts ``mosquitto -c``, waits
until the port accepts connections, and can be stopped and started again on the same port (outage
tests). Persistence is on by default so that persistent sessions and retained messages survive a restart.

Outside CI a missing ``mosquitto`` binary skips the test; with ``CI=true`` it fails it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import procs
from tests.support.procs import missing_binary

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")


def _find(name: str, candidates: tuple[str, ...] = ()) -> str | None:
    for c in candidates:
        if os.access(c, os.X_OK):
            return c
    return shutil.which(name)


def require_binary(name: str, candidates: tuple[str, ...] = ()) -> str:
    """The path of a service binary; pytest.fail in CI (CI=true), pytest.skip elsewhere."""
    path = _find(name, candidates)
    if path is None:
        missing_binary(f"{name} is not installed (Debian package {name})")
    return path


def free_port() -> int:
    return procs.free_port()


@dataclass(frozen=True)
class TlsFiles:
    """A test CA, a server certificate for 127.0.0.1/localhost signed by it, and a client certificate."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """Create a CA, a server certificate (SAN 127.0.0.1, localhost) and a client certificate (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
        return path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("calmstrap test CA"))
        .issuer_name(name("calmstrap test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, server: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
        )
        if server:
            b = b.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return b.sign(ca_key, hashes.SHA256()), key

    server_cert, server_key = leaf("localhost", True)
    client_cert, client_key = leaf("calmstrap-test-client", False)
    pem = serialization.Encoding.PEM
    files = TlsFiles(
        ca_cert=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )
    files.ca_cert.write_bytes(ca_cert.public_bytes(pem))
    files.server_cert.write_bytes(server_cert.public_bytes(pem))
    write_key(server_key, files.server_key)
    files.client_cert.write_bytes(client_cert.public_bytes(pem))
    write_key(client_key, files.client_key)
    return files


@dataclass
class Mosquitto:
    """One Mosquitto process on ``127.0.0.1:port`` with its config, data and log in ``workdir``."""

    workdir: Path
    users: Mapping[str, str] = field(default_factory=dict)
    """username -> password; non-empty: anonymous connections are refused."""
    tls: bool = False
    require_client_cert: bool = False
    persistence: bool = True
    port: int = 0
    binary: str = ""
    tls_files: TlsFiles | None = None
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.binary:
            self.binary = require_binary("mosquitto", MOSQUITTO_CANDIDATES)
        if not self.port:
            self.port = free_port()
        if self.tls:
            self.tls_files = make_tls_files(self.workdir / "tls")
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self._write_config()

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'false' if self.users else 'true'}",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "max_queued_messages 10000",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to user 'mosquitto', who cannot read workdir
        if self.users:
            pw = self.workdir / "passwd"
            passwd = _find("mosquitto_passwd", ("/usr/bin/mosquitto_passwd",))
            if passwd is None:
                raise RuntimeError("mosquitto_passwd not found (Debian package mosquitto)")
            pw.unlink(missing_ok=True)
            for i, (user, password) in enumerate(self.users.items()):
                args = [passwd, "-b", *(["-c"] if i == 0 else []), str(pw), user, password]
                subprocess.run(args, check=True, capture_output=True)
            pw.chmod(0o600)
            lines.append(f"password_file {pw}")
        if self.tls_files is not None:
            f = self.tls_files
            lines += [f"cafile {f.ca_cert}", f"certfile {f.server_cert}", f"keyfile {f.server_key}"]
            if self.require_client_cert:
                lines.append("require_certificate true")
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout_s: float = 10.0) -> Mosquitto:
        if self.running:
            return self
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not accept connections on port {self.port}\n{self.log()}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop gracefully (SIGTERM: persistence is written), then wait until the port is free."""
        p = self.proc
        self.proc = None
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p.stderr is not None:
            p.stderr.close()

    def restart(self) -> Mosquitto:
        self.stop()
        return self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def running_mosquitto(workdir: Path, **kwargs: object) -> Iterator[Mosquitto]:
    """A started broker, stopped afterwards."""
    broker = Mosquitto(workdir, **kwargs)  # type: ignore[arg-type]
    try:
        yield broker.start()
    finally:
        broker.stop()


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    wall_t: float
    expiry_s: int | None


class Subscriber:
    """A paho MQTT 5 client recording every message it gets (thread-safe), for assertions.

    ``persistent``: a session that outlives a broker restart (clean_start False, session expiry 1 h),
    so QoS 1 messages published while it was away are queued for it by the broker.
    """

    def __init__(
        self,
        broker: Mosquitto,
        topics: tuple[str, ...],
        *,
        client_id: str = "",
        persistent: bool = False,
        username: str = "",
        password: str = "",
    ) -> None:
        import threading

        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self.topics = topics
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-sub-{os.getpid()}-{id(self)}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        if username:
            self.client.username_pw_set(username, password)
        if broker.tls_files is not None:
            self.client.tls_set(ca_certs=str(broker.tls_files.ca_cert))
        self.client.reconnect_delay_set(0.05, 0.3)  # type: ignore[arg-type]  # floats work
        self.subscribed = threading.Event()

        def on_connect(c: mqtt.Client, _u: object, _f: object, rc: object, _p: object = None) -> None:
            c.subscribe([(t, 1) for t in topics])

        def on_subscribe(*_a: object) -> None:
            self.subscribed.set()

        def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
            exp = getattr(msg.properties, "MessageExpiryInterval", None) if msg.properties else None
            r = Received(msg.topic, bytes(msg.payload), bool(msg.retain), time.time(), exp)
            with self._cond:
                self.messages.append(r)
                self._cond.notify_all()

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        props = None
        if persistent:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", broker.port, 10, clean_start=not persistent, properties=props)
        self.client.loop_start()
        if not self.subscribed.wait(5.0):
            raise RuntimeError("test subscriber: no SUBACK within 5 s")

    def on(self, topic: str) -> list[Received]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, topic: str, count: int = 1, timeout_s: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                got = [m for m in self.messages if m.topic == topic]
                left = deadline - time.monotonic()
                if len(got) >= count or left <= 0:
                    return got
                self._cond.wait(left)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def retained(broker: Mosquitto, topic: str, timeout_s: float = 1.0) -> bytes | None:
    """The retained message of a topic (None when there is none), read by a fresh client."""
    with Subscriber(broker, (topic,)) as s:
        got = s.wait_for(topic, 1, timeout_s)
        return got[0].payload if got and got[0].retain else None
