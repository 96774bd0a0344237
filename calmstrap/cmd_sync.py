"""``calmstrap sync``, and the background InfluxDB drain of ``calmstrap run`` and ``calmstrap demo``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import TextIO

from calmstrap.config import Config, ConfigError, InfluxConfig, load_config
from calmstrap.ranges import RangeError, parse_span
from storage.archive import ARCHIVE_NAME, Archive
from storage.imports import recover_interrupted_imports
from storage.influx import Batch, InfluxError, InfluxWriter, Sink, TimeRange, sink_from_config
from storage.progress import refresh_all

log = logging.getLogger("calmstrap.sync")

EXIT_CONFIG = 2
FINAL_DRAIN_DEMO_S = 30.0
"""How long ``calmstrap demo`` keeps retrying at the end until InfluxDB has everything."""
FINAL_DRAIN_RUN_S = 10.0
"""The same for ``calmstrap run`` after Ctrl-C (what is left goes with the next run or ``calmstrap sync``)."""


def _public_url(url: str) -> str:
    """The URL without any ``user:password@`` part (never print a secret)."""
    scheme, sep, rest = url.partition("://")
    return scheme + sep + rest.rsplit("@", 1)[-1] if sep else url


def _target(cfg: InfluxConfig) -> str:
    where = f"{cfg.database}" + (f"/{cfg.retention_policy}" if cfg.retention_policy else "")
    if cfg.api == "v2":
        where = f"{cfg.org}/{cfg.bucket}"
    return f"{_public_url(cfg.url)} ({cfg.api}, {where})"


def check_influx_config(cfg: InfluxConfig) -> None:
    """The settings the chosen API needs are there (a ConfigError names the missing key)."""
    needed = ("org", "bucket", "token") if cfg.api == "v2" else ("database",)
    for key in needed:
        if not getattr(cfg, key):
            hint = " (or token_file)" if key == "token" else ""
            raise ConfigError(
                f"influx.{key}",
                "",
                f"a value{hint}: influx.api = {cfg.api} needs {', '.join(needed)}",
                "config",
            )


# -- background drain ---------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def background_sync(
    cfg: Config | None,
    archive: Archive | None,
    *,
    final_timeout_s: float = FINAL_DRAIN_RUN_S,
    replace_user: str | None = None,
) -> AsyncIterator[InfluxWriter | None]:
    """While the body runs, drain ``archive`` into InfluxDB every ``influx.flush_interval_s``.

    A no-op without ``influx.url``. ``replace_user``: first remove that user's points from InfluxDB (the
    demo replaces its previous run in the archive, and so there too). On exit: one final drain that retries
    through an outage for at most ``final_timeout_s``; what is still pending is reported on stderr (it stays
    in the archive).
    """
    if cfg is None or archive is None or not cfg.influx.url:
        yield None
        return
    check_influx_config(cfg.influx)
    sink = sink_from_config(cfg.influx)
    if replace_user is not None:
        try:
            await asyncio.to_thread(sink.delete_user, replace_user)
        except InfluxError as exc:
            print(f"calmstrap: could not remove the previous {replace_user!r} points: {exc}", file=sys.stderr)
    writer = InfluxWriter(archive, sink, batch_size=max(1, cfg.influx.batch_size))
    stop = asyncio.Event()
    task = asyncio.create_task(writer.run(cfg.influx.flush_interval_s, stop), name="influx-drain")
    log.info("writing to InfluxDB at %s as data arrives", _target(cfg.influx))
    try:
        yield writer
    finally:
        stop.set()
        await task
        remaining = await writer.final_drain(final_timeout_s)
        sink.close()
        if remaining:
            print(
                f"calmstrap: {remaining} archive rows are not in InfluxDB yet ({_target(cfg.influx)} did not "
                "take them); they stay in the archive and go with the next run or `calmstrap sync`",
                file=sys.stderr,
            )
        else:
            log.info("InfluxDB has everything: %d rows written", writer.rows_written)


# -- calmstrap sync -----------------------------------------------------------------------------------------
class ProgressBar:
    """A one-line progress bar on a stream (redrawn at most 10 times a second)."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO, label: str = "sync") -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.label = label
        self._t0 = time.monotonic()
        self._last_draw = 0.0
        self._tty = bool(getattr(stream, "isatty", lambda: False)())

    def advance(self, rows: int) -> None:
        self.done += rows
        now = time.monotonic()
        if self._tty and now - self._last_draw >= 0.1:
            self._last_draw = now
            self.stream.write("\r" + self.render(now))
            self.stream.flush()

    def render(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        frac = 1.0 if self.total <= 0 else min(1.0, self.done / self.total)
        filled = round(frac * self.WIDTH)
        rate = self.done / max(now - self._t0, 1e-9)
        return (
            f"{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done}/{self.total} rows "
            f"{100 * frac:3.0f}%  {rate:,.0f} rows/s"
        )

    def finish(self) -> None:
        self.stream.write(("\r" if self._tty else "") + self.render() + "\n")
        self.stream.flush()


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], add_common: Callable[..., None]
) -> None:
    p = sub.add_parser(
        "sync",
        help="push the archive to InfluxDB (backfill)",
        description="Push every archive row InfluxDB has not acknowledged yet (from the per-table "
        "watermarks), with a progress bar on stderr. With --from/--to, re-send the rows of that time span "
        "instead (a replay overwrites, nothing is counted twice): days are the person's local days "
        "([general] timezone) as in `calmstrap export` (YYYY-MM-DD, today, yesterday, 7d; --to includes its "
        "day), or ISO 8601 date-times and epoch seconds as exact times. The weekly progress is brought up to "
        "date first. Uses the [influx] settings.",
    )
    add_common(p)
    p.add_argument(
        "--from", dest="from_t", metavar="WHEN", help="start of a span to re-send (a day, 7d, or a time)"
    )
    p.add_argument(
        "--to",
        dest="to_t",
        metavar="WHEN",
        help="end of the span: a day is included whole; a time is exclusive",
    )
    p.add_argument("--full", action="store_true", help="forget the watermarks and send the whole archive")
    p.add_argument(
        "--retry-quarantined",
        action="store_true",
        help="also send again the rows InfluxDB refused for good before (after mending the cause, e.g. a "
        "field type conflict): those it takes now leave the quarantine",
    )
    p.set_defaults(func=cmd_sync)


def cmd_sync(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    logging.basicConfig(
        level=cfg.general.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not cfg.influx.url:
        print(
            "calmstrap sync: no InfluxDB configured (set [influx] url or CALMSTRAP_INFLUX__URL)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    check_influx_config(cfg.influx)
    try:
        when = parse_span(args.from_t, args.to_t, tz=cfg.tz())
    except RangeError as exc:
        print(f"calmstrap sync: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    data_dir = cfg.data_dir(args.data_dir)
    if not (data_dir / ARCHIVE_NAME).is_file():
        print(f"calmstrap sync: no archive at {data_dir / ARCHIVE_NAME}", file=sys.stderr)
        return 1
    span = TimeRange(when.start_t, when.end_t)
    ranged = span.from_t is not None or span.to_t is not None
    sink: Sink = sink_from_config(cfg.influx)
    with Archive.in_dir(data_dir) as archive:
        for d in recover_interrupted_imports(archive):
            print(
                f"calmstrap sync: removed an interrupted import of {d.path} ({d.rows_removed} rows)",
                file=sys.stderr,
            )
        refresh_all(archive, tz=cfg.tz())  # the progress panels read weekly_progress: current before pushing
        writer = InfluxWriter(archive, sink, batch_size=max(1, cfg.influx.batch_size))
        if args.full and not ranged:
            writer.reset()
        if ranged:
            total = sum(writer.count_span(m.table, span) for m in writer.measurements)
        else:
            total = sum(writer.pending().values())
        bar = ProgressBar(total, sys.stderr)

        def on_batch(b: Batch) -> None:
            bar.advance(b.rows)

        try:
            written = writer.push_span(span, on_batch) if ranged else writer.drain(on_batch)
            retried = writer.retry_quarantined() if args.retry_quarantined else None
        except InfluxError as exc:
            bar.finish()
            left = "" if ranged else f"; {sum(writer.pending().values())} rows wait in the archive"
            print(f"calmstrap sync: {exc}{left}", file=sys.stderr)
            return 1
        finally:
            sink.close()
        bar.finish()
        waiting = sum(writer.pending().values()) if not ranged else 0
    note = ""
    if writer.rows_quarantined:
        note += (
            f"; {writer.rows_quarantined} row{'s' if writer.rows_quarantined != 1 else ''} quarantined "
            "(InfluxDB refused them for good: see the archive's influx_quarantine table)"
        )
    if retried is not None:
        taken, still = retried
        note += f"; quarantine sent again: {taken} taken, {still} still refused"
    if waiting:
        note += f"; {waiting} rows of an import still running wait for it"
    print(f"synced {written} rows to {_target(cfg.influx)}{note}")
    return 0
