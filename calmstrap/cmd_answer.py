"""``calmstrap feedback``, ``calmstrap snooze`` and ``calmstrap practice``: answers to the running service.

They talk to the service's page API on loopback (:mod:`web.client`; the address comes from the file the
service writes into its data dir, else from ``[web] listen``), which applies them exactly as it applies
the page's buttons and MQTT commands.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from calmstrap.config import load_config
from web import client
from web.errors import ListenError, ServiceNotFound, WebError
from web.listen import parse_listen

EXIT_REFUSED = 1
EXIT_NO_SERVICE = 3


def register(sub: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    fb = sub.add_parser(
        "feedback",
        help="say whether the latest prompt helped (to the running service)",
        description="Tell the running service whether a prompt helped: the latest one, or --prompt ID. "
        "Your answer counts more than the measured outcome when it picks the next prompt.",
    )
    add_common(fb)
    fb.add_argument("answer", choices=("helped", "didnt", "not-helped"), help="helped, or didnt / not-helped")
    fb.add_argument("--prompt", metavar="ID", help="the prompt's id (default: the latest prompt)")
    fb.add_argument("--user", help="whose prompt (default: the service's first person)")
    fb.set_defaults(func=cmd_feedback)

    sn = sub.add_parser(
        "snooze",
        help="no prompts for a while (to the running service)",
        description="No prompts for MINUTES minutes (at most a day).",
    )
    add_common(sn)
    sn.add_argument("minutes", type=float, help="minutes without prompts, e.g. 60")
    sn.add_argument("--user", help="whose prompts (default: the service's first person)")
    sn.set_defaults(func=cmd_snooze)

    pr = sub.add_parser(
        "practice",
        help="start a breathing practice (one session; the pacer runs on the page)",
        description="Start a slow-breathing practice on the running service: at most one push to your "
        "phone, the pacer on the page, logged as practice minutes (never as prompts).",
    )
    add_common(pr)
    pr.add_argument("--minutes", type=float, default=2.0, help="length in minutes (0.5-20, default 2)")
    pr.add_argument("--rate", type=float, default=6.0, help="breaths a minute (4-8, default 6)")
    pr.add_argument("--user", help="who practises (default: the service's first person)")
    pr.set_defaults(func=cmd_practice)


def _address(args: argparse.Namespace) -> client.ServiceAddress:
    cfg = load_config(args.config)
    try:
        listen = parse_listen(cfg.web.listen)
    except ListenError:
        listen = None
    return client.find_service(cfg.data_dir(args.data_dir), listen, cfg.web.token or None)


def _send(args: argparse.Namespace, name: str, cmd: dict[str, object] | None) -> int:
    try:
        addr = _address(args)
        if cmd is None:  # feedback for the latest prompt
            latest = client.state(addr, args.user).get("latest_prompt")
            if not isinstance(latest, dict) or not isinstance(latest.get("id"), str):
                print(f"calmstrap {name}: there is no prompt to answer yet", file=sys.stderr)
                return EXIT_REFUSED
            cmd = {"command": "feedback", "prompt_id": latest["id"], "helped": args.answer == "helped"}
        doc = client.command(addr, args.user, cmd)
    except ServiceNotFound as exc:
        print(f"calmstrap {name}: {exc} (is `calmstrap run` running with its page on?)", file=sys.stderr)
        return EXIT_NO_SERVICE
    except WebError as exc:
        print(f"calmstrap {name}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(doc.get("message", "done"))
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    if args.prompt:
        cmd: dict[str, object] | None = {
            "command": "feedback",
            "prompt_id": args.prompt,
            "helped": args.answer == "helped",
        }
    else:
        cmd = None
    return _send(args, "feedback", cmd)


def cmd_snooze(args: argparse.Namespace) -> int:
    return _send(args, "snooze", {"command": "snooze", "minutes": args.minutes})


def cmd_practice(args: argparse.Namespace) -> int:
    return _send(
        args, "practice", {"command": "practice", "minutes": args.minutes, "breaths_per_min": args.rate}
    )
