"""Honest link history after a crash: a strap the archive still shows "connected" is closed on start.

A service that ends normally writes a "disconnected" status row for each strap; ``kill -9`` or a power cut
does not. So on start, before any new beat, the service (holding the data dir's lock, so no other live
process owns those straps) gives every strap whose last link status is "connected" a "disconnected" row at
its last sign of life (its last archived beat or status row) and a gap from there to the start: the
downtime is a gap, never a stretch that looks worn but silent.
"""

from __future__ import annotations

from sensors.beats import Gap, GapReason
from storage.archive import Archive


def close_dangling_links(archive: Archive, now_t: float) -> list[Gap]:
    """Close every strap left "connected" (committed); returns the gaps recorded for the downtime."""
    rows = archive.query(
        "SELECT d.user, d.device, d.t FROM device_status d"
        " JOIN (SELECT user, device, MAX(seq) AS seq FROM device_status WHERE connected IS NOT NULL"
        " GROUP BY user, device) last ON last.seq = d.seq"
        " WHERE d.connected = 1"
    )
    gaps: list[Gap] = []
    for user, device, status_t in rows:
        last_beat = archive.query("SELECT MAX(t) FROM beats WHERE user = ? AND device = ?", (user, device))[
            0
        ][0]
        last_status = archive.query(
            "SELECT MAX(t) FROM device_status WHERE user = ? AND device = ?", (user, device)
        )[0][0]
        last_t = max(float(x) for x in (status_t, last_beat, last_status) if x is not None)
        with archive.transaction():
            archive.add_device_status(user, device, last_t, None, False)
            if last_t < now_t:  # (an accelerated simulation's beats may lie ahead of the clock: no gap then)
                gap = Gap(start_t=last_t, end_t=now_t, device=device, user=user, reason=GapReason.DISCONNECT)
                archive.add_gap(gap)
                gaps.append(gap)
    return gaps
