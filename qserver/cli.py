"""The client half of ``beamtwin queue``: add, ls, move, rm, start, stop, pause, resume, … tail.

``register(sub)`` adds these commands to an argparse sub-parser set; ``serve`` is added by
the ``scenarios`` layer, which owns the twin.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from qserver.client import Client, QueueError


def _json(text: str, what: str, kind: type) -> Any:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{what} is not valid JSON ({exc}): {text!r}") from None
    if not isinstance(value, kind):
        raise ValueError(f"{what} must be a JSON {'list' if kind is list else 'object'}, got {text!r}")
    return value


def _pos(args: argparse.Namespace) -> dict[str, Any]:
    pos: Any = args.pos
    if isinstance(pos, str) and pos.lstrip("-").isdigit():
        pos = int(pos)
    return {"pos": pos, "before": args.before, "after": args.after}


def _fmt_item(i: int | str, it: dict[str, Any]) -> str:
    est = it.get("estimate")
    est_s = f"{est:8.1f}s" if isinstance(est, int | float) else "       ?"
    kw = ", ".join(f"{k}={json.dumps(v)}" for k, v in it.get("kwargs", {}).items())
    call = ", ".join([*(json.dumps(a) for a in it.get("args", [])), *([kw] if kw else [])])
    return f"{i!s:>4} {it['uid'][:8]} {est_s} {it.get('user', ''):>8}  {it['name']}({call})"


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=1, default=str))


def cmd_add(c: Client, a: argparse.Namespace) -> int:
    if a.file:
        items = c.add_file(a.file, pos=_pos(a)["pos"])
        print(f"queued {len(items)} items from {a.file}")
        return 0
    if not a.plan:
        raise ValueError("give a PLAN (or --file SPREADSHEET)")
    item = c.add(a.plan, _json(a.args, "--args", list), _json(a.kwargs, "--kwargs", dict), **_pos(a))
    print(item["uid"])
    return 0


def cmd_ls(c: Client, a: argparse.Namespace) -> int:
    q = c.queue()
    if a.json:
        print(json.dumps(q["items"]))
        return 0
    st = c.status()
    unknown = f" (+{st['estimate_unknown']} unknown)" if st["estimate_unknown"] else ""
    print(f"queue version {q['version']}: {len(q['items'])} items, ~{st['estimate_total']:.1f} s{unknown}"
          f"; {'running' if st['queue_running'] else 'stopped'}{', loop' if st['loop'] else ''}")
    if q["running"]:
        print(_fmt_item("run", q["running"]["item"]))
    for i, it in enumerate(q["items"]):
        print(_fmt_item(i, it))
    return 0


def cmd_history(c: Client, a: argparse.Namespace) -> int:
    items = c.history(a.limit)
    if a.json:
        print(json.dumps(items))
        return 0
    for h in items:
        runs = ",".join(u[:8] for u in h.get("run_uids", []))
        item = h["item"]
        print(f"{h['exit_status']:>11} {item['uid'][:8]} {item['name']:<10} runs [{runs}] {h.get('reason', '')}")
    return 0


def cmd_status(c: Client, a: argparse.Namespace) -> int:
    st = c.status()
    if a.json:
        print(json.dumps(st))
    else:
        for k, v in st.items():
            print(f"{k:>16}: {json.dumps(v) if isinstance(v, dict) else v}")
    return 0


def cmd_tail(c: Client, a: argparse.Namespace) -> int:
    t0 = time.monotonic()
    following = False
    try:
        for ev in c.stream(timeout=a.timeout):
            if not following:
                print(f"-- following {c.url}", flush=True)
                following = True
            if ev["type"] == "console":
                print(ev["line"], flush=True)
            elif ev["type"] == "doc" and a.docs:
                print(json.dumps([ev["name"], ev["doc"]]), flush=True)
            elif ev["type"] in ("started", "finished"):
                detail = ev.get("exit_status", "")
                print(f"-- {ev['type']} {ev.get('uid') or ev.get('item', {}).get('uid')} {detail}", flush=True)
            if a.timeout and time.monotonic() - t0 > a.timeout:
                break
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # a read timeout ends a bounded tail
        if not a.timeout:
            raise
        print(f"-- tail ended: {type(exc).__name__}", file=sys.stderr)
    return 0


SIMPLE: dict[str, Callable[[Client, argparse.Namespace], Any]] = {
    "start": lambda c, a: c.start(keep_alive=a.keep_alive),
    "stop": lambda c, a: c.stop(cancel=a.cancel),
    "pause": lambda c, a: c.pause(immediate=a.immediate),
    "resume": lambda c, a: c.resume(),
    "abort": lambda c, a: c.abort(),
    "halt": lambda c, a: c.halt(),
    "open": lambda c, a: c.open_environment(),
    "close": lambda c, a: c.close_environment(kill=a.kill),
    "loop": lambda c, a: c.loop(a.state == "on"),
    "clear": lambda c, a: c.clear(),
    "rm": lambda c, a: c.remove(a.uid),
    "duplicate": lambda c, a: c.duplicate(a.uid),
    "move": lambda c, a: c.move(a.uid, **_pos(a)),
    "edit": lambda c, a: c.edit(a.uid, a.plan, _json(a.args, "--args", list), _json(a.kwargs, "--kwargs", dict)),
    "execute": lambda c, a: c.execute(a.plan, _json(a.args, "--args", list), _json(a.kwargs, "--kwargs", dict)),
    "user": lambda c, a: {"key": c.add_user(a.name, a.group)},
    "group": lambda c, a: c.add_group(a.name, a.role, a.plans.split(",") if a.plans != "*" else "*",
                                      a.devices.split(",") if a.devices != "*" else "*"),
}
COMMANDS = {"add": cmd_add, "ls": cmd_ls, "history": cmd_history, "status": cmd_status, "tail": cmd_tail}


def _where_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--pos", default=None, help="index (0 = front, -1 = back), 'front' or 'back'")
    g.add_argument("--before", default=None, metavar="UID")
    g.add_argument("--after", default=None, metavar="UID")


def _plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--args", default="[]",
                   help='positional arguments as a JSON list, e.g. \'[["det"], "motor", -1, 1, 5]\'')
    p.add_argument("--kwargs", default="{}", help="keyword arguments as a JSON object")


def register(sub: Any) -> None:
    """Add the client subcommands to ``sub`` (an argparse subparsers object)."""
    add = sub.add_parser("add", help="queue a plan (or a CSV/Excel batch with --file)")
    add.add_argument("plan", nargs="?")
    _plan_args(add)
    add.add_argument("--file", help="a .csv or .xlsx spreadsheet, one plan a row (all rows or none are queued)")
    _where_args(add)
    ls = sub.add_parser("ls", help="list the queue")
    ls.add_argument("--json", action="store_true", help="print the items as one JSON list")
    hist = sub.add_parser("history", help="executed items with run uids and exit status")
    hist.add_argument("--json", action="store_true")
    hist.add_argument("--limit", type=int, default=None)
    st = sub.add_parser("status", help="the server's state")
    st.add_argument("--json", action="store_true")
    tail = sub.add_parser("tail", help="follow console lines (and documents with --docs)")
    tail.add_argument("--docs", action="store_true")
    tail.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    sub.add_parser("start", help="start the queue").add_argument(
        "--keep-alive", action="store_true", help="wait for new items when the queue runs dry (agents)")
    for name, helptext in (("resume", "resume a paused plan"),
                           ("abort", "abort the plan, stop the queue"), ("halt", "stop motors, abort, stop queue"),
                           ("open", "open the environment (start the worker)"), ("clear", "empty the queue")):
        sub.add_parser(name, help=helptext)
    sub.add_parser("stop", help="stop after the current item").add_argument("--cancel", action="store_true")
    sub.add_parser("pause", help="pause at the next checkpoint").add_argument("--immediate", action="store_true")
    sub.add_parser("close", help="close the environment").add_argument("--kill", action="store_true")
    sub.add_parser("loop", help="loop mode").add_argument("state", choices=["on", "off"])
    for name in ("rm", "duplicate"):
        sub.add_parser(name, help=f"{name} an item").add_argument("uid")
    mv = sub.add_parser("move", help="move an item")
    mv.add_argument("uid")
    _where_args(mv)
    ed = sub.add_parser("edit", help="replace an item's plan and arguments")
    ed.add_argument("uid")
    ed.add_argument("plan")
    _plan_args(ed)
    ex = sub.add_parser("execute", help="run one plan now, ahead of the queue")
    ex.add_argument("plan")
    _plan_args(ex)
    us = sub.add_parser("user", help="create a user and print its key (admin)")
    us.add_argument("name")
    us.add_argument("--group", required=True)
    gr = sub.add_parser("group", help="create a group (admin)")
    gr.add_argument("name")
    gr.add_argument("--role", choices=["admin", "user", "observer"], default="user")
    gr.add_argument("--plans", default="*", help="comma-separated plan names, or *")
    gr.add_argument("--devices", default="*", help="comma-separated device names, or *")


def run(args: argparse.Namespace) -> int:
    """Run the client subcommand ``args.queue_command``."""
    name = args.queue_command
    try:
        with Client() as c:
            if name in COMMANDS:
                return COMMANDS[name](c, args)
            result = SIMPLE[name](c, args)
            if name in ("user", "group"):
                _print(result)
            return 0
    except QueueError as exc:
        print(f"beamtwin queue {name}: {exc}", file=sys.stderr)
        return 1
