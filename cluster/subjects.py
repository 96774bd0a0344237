"""Names on the cluster: subjects, streams, consumers, buckets, headers (one declarative place)."""

from __future__ import annotations

import re
from enum import StrEnum

from cluster.errors import BadUserId

NOTIFY_PREFIX = "calmstrap.notify"
"""Edge collectors publish to ``calmstrap.notify.<user>``; the server maps it to a partition subject."""
PARTITION_PREFIX = "calmstrap.p"
"""``calmstrap.p.<partition>.<user>``: the subject mapping ``partition(N, 1)`` (nats-server 2.8+) decides."""
RESULTS_PREFIX = "calmstrap.out"
"""Workers publish every output to ``calmstrap.out.<user>.<kind>``."""

NOTIFY_STREAM = "calmstrap_notify"
RESULTS_STREAM = "calmstrap_results"
LEASES_BUCKET = "calmstrap_leases"
STATE_BUCKET = "calmstrap_state"
STRAPS_BUCKET = "calmstrap_straps"
"""Strap leases between collectors (:mod:`cluster.straps`)."""
ARCHIVER_CONSUMER = "archiver"
DELIVERY_CONSUMER = "delivery"

HDR_MSG_ID = "Nats-Msg-Id"
HDR_ARRIVAL = "Calmstrap-Arrival"
HDR_DEVICE = "Calmstrap-Device"
HDR_SEQ = "Calmstrap-Seq"
HDR_EPOCH = "Calmstrap-Epoch"
HDR_EVENT = "Calmstrap-Event"

_USER = re.compile(r"[A-Za-z0-9_-]{1,64}")


class EventKind(StrEnum):
    """What one message from a collector carries."""

    NOTIFY = "notify"
    """A raw 0x2A37 notification (the payload) with its arrival time."""
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    BATTERY = "battery"
    """Payload: the battery percentage as ASCII digits."""
    MOTION = "motion"
    """Payload: the motion intensity in mg as ASCII."""
    END = "end"
    """The source ended (a replay file is done): the session closes what is open."""


def check_user(user: str) -> str:
    if not _USER.fullmatch(user):
        raise BadUserId(user)
    return user


def notify_subject(user: str) -> str:
    return f"{NOTIFY_PREFIX}.{check_user(user)}"


def partition_filter(partition: int) -> str:
    return f"{PARTITION_PREFIX}.{partition}.*"


def partition_consumer(partition: int) -> str:
    return f"p{partition}"


def results_subject(user: str, kind: str) -> str:
    return f"{RESULTS_PREFIX}.{check_user(user)}.{kind}"


def user_of(subject: str) -> str:
    """The user token of a partition or results subject."""
    parts = subject.split(".")
    if len(parts) < 4:
        raise BadUserId(subject)
    return check_user(parts[3] if parts[1] == "p" else parts[2])


def partition_mapping(partitions: int) -> str:
    """The server config line that spreads users over partitions (put in every node's account)."""
    return f'"{NOTIFY_PREFIX}.*": "{PARTITION_PREFIX}.{{{{partition({partitions},1)}}}}.{{{{wildcard(1)}}}}"'
