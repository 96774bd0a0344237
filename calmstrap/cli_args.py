"""Argument types shared by every command: a value is checked where it enters, with the same message as
everywhere else (argparse then exits 2 with ``argument --user: <message>``)."""

from __future__ import annotations

import argparse

from sensors.ids import InvalidUserId, UserId, parse_user_id


def user_id(text: str) -> UserId:
    """``--user`` / ``--label``: a user id (:mod:`sensors.ids`)."""
    try:
        return parse_user_id(text)
    except InvalidUserId as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
