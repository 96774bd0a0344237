"""Compare-and-set writes to the JetStream key-value store: a lease or a checkpoint is written only by the
owner that last saw it, and an ambiguous write (a timeout) is read back before it counts."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

import nats.errors
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from cluster.errors import LeaseLost

log = logging.getLogger("calmstrap.cluster.worker")


@dataclass(slots=True)
class CasKey:
    """A key-value key this owner writes with compare-and-set; ``rev`` 0 = not there yet."""

    name: str
    rev: int = 0


async def cas_put(kv: KeyValue, key: CasKey, value: bytes, partition: int, *, attempts: int = 4) -> None:
    """Write ``key`` if it is still at the revision this owner last saw; raises :class:`LeaseLost` if not.

    A timeout is ambiguous (the write may have landed): the key is read back, and the write counts as
    done when it holds this value at a newer revision, or is tried again when it is unchanged."""
    for attempt in range(attempts):
        try:
            key.rev = await (
                kv.create(key.name, value) if key.rev == 0 else kv.update(key.name, value, last=key.rev)
            )
            return
        except KeyWrongLastSequenceError:
            raise LeaseLost(partition, key.name) from None
        except (TimeoutError, nats.errors.TimeoutError, nats.errors.ConnectionClosedError, APIError) as exc:
            if attempt == attempts - 1:
                raise
            log.debug("partition %d: %s write unsure (%s); reading it back", partition, key.name, exc)
            await asyncio.sleep(random.uniform(0.05, 0.3 * (attempt + 1)))
            try:
                entry = await kv.get(key.name)
            except KeyNotFoundError:
                continue
            except Exception:
                continue
            rev = int(entry.revision or 0)
            if entry.value == value and rev > key.rev:
                key.rev = rev
                return
            if rev != key.rev:
                raise LeaseLost(partition, key.name) from None
    raise LeaseLost(partition, key.name)


async def cas_get(kv: KeyValue, name: str) -> tuple[CasKey, bytes | None]:
    try:
        entry = await kv.get(name)
    except KeyNotFoundError:
        return CasKey(name), None
    return CasKey(name, int(entry.revision or 0)), entry.value
