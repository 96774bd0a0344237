"""A notice: a one-off message to the person that is not a prompt (a practice starting), for push channels.

Channels that can carry one (Apprise) implement :class:`NoticeChannel`; a notice is never archived as a
prompt and never counts as one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Notice:
    id: str
    user: str
    t: float
    title: str
    body: str
    expires_t: float
    link_query: str = ""
    """Appended to the page's address in the push's link (e.g. ``practice=ID``)."""


@runtime_checkable
class NoticeChannel(Protocol):
    name: str

    async def send_notice(self, notice: Notice) -> bool: ...
