"""``beamtwin runs``: list and search the stored runs (and recover interrupted ones)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from typing import Any

_WHERE = re.compile(r"^\s*([\w.\-]+)\s*(>=|<=|!=|=|>|<|\s+in\s+)\s*(.*)$")
_OPS = {">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte"}


def register(sub: Any) -> None:
    """Add the ``runs`` subcommand."""
    runs = sub.add_parser(
        "runs", help="list and search stored runs, newest first",
        description="List the runs in a data directory, newest first, optionally filtered. "
                    "--where takes any start-document key (dotted for nested ones): "
                    "'temperature>=300', 'sample.name=foil', 'operator in ada,grace'.")
    runs.add_argument("--data-dir", default="beamtwin-data")
    runs.add_argument("--json", action="store_true", help="print a JSON list (uid, scan_id, plan_name, time, "
                                                          "exit_status, num_events)")
    runs.add_argument("--plan", help="plan name")
    runs.add_argument("--scan-id", type=int, help="scan_id")
    runs.add_argument("--uid", help="uid prefix")
    runs.add_argument("--status", help="exit status (success, abort, fail, incomplete)")
    runs.add_argument("--since", help="started at or after (ISO date/time or epoch seconds)")
    runs.add_argument("--until", help="started before (ISO date/time or epoch seconds)")
    runs.add_argument("--where", action="append", default=[], metavar="KEY OP VALUE",
                      help="start-document condition: = > >= < <= or 'in a,b' (repeatable)")
    runs.add_argument("--limit", type=int, default=None, help="at most this many runs")
    runs.add_argument("--recover", action="store_true", help="first finish interrupted runs from their journals")
    runs.add_argument("--rebuild-index", action="store_true", help="first remake the index from the files alone")
    runs.set_defaults(func=main)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_where(text: str) -> tuple[str, Any]:
    """``'temperature>=300'`` → ``('temperature', {'$gte': 300})``; bad text raises ValueError."""
    m = _WHERE.match(text)
    if not m:
        raise ValueError(f"--where {text!r}: expected KEY=VALUE, KEY>VALUE, KEY>=VALUE, KEY<VALUE, KEY<=VALUE "
                         "or 'KEY in A,B'")
    key, op, raw = m.group(1), m.group(2).strip(), m.group(3).strip()
    if op == "in":
        return key, {"$in": [_value(v.strip()) for v in raw.split(",") if v.strip()]}
    if op == "!=":
        raise ValueError(f"--where {text!r}: != is not supported (use ranges or 'in')")
    if op == "=":
        return key, _value(raw)
    value = _value(raw)
    if not isinstance(value, int | float | str):
        raise ValueError(f"--where {text!r}: a range needs a number or text")
    return key, {_OPS[op]: value}


def parse_time(text: str | None) -> float | None:
    """Epoch seconds from an ISO date/time (UTC unless it says otherwise) or a number."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use ISO 8601, e.g. 2026-11-26T17:00, or epoch seconds)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.timestamp()


def main(args: argparse.Namespace) -> int:
    """Print the matching runs as a table or JSON."""
    from pathlib import Path

    from store import Catalog

    if not Path(args.data_dir).is_dir():
        raise FileNotFoundError(f"no data directory {args.data_dir!r} (give the one runs were stored in, --data-dir)")
    query: dict[str, Any] = dict(parse_where(w) for w in args.where)
    since, until = parse_time(args.since), parse_time(args.until)
    if args.plan is not None:
        query["plan_name"] = args.plan
    if args.scan_id is not None:
        query["scan_id"] = args.scan_id
    if args.status is not None:
        query["exit_status"] = args.status
    cat = Catalog(args.data_dir)
    if args.rebuild_index:
        cat.rebuild()
    if args.recover:
        for path in cat.recover():
            print(f"recovered {path}", file=sys.stderr)
    else:
        waiting = cat.interrupted()
        if waiting:
            print(f"beamtwin runs: {len(waiting)} interrupted run(s) not recovered yet (beamtwin runs --recover)",
                  file=sys.stderr)
    found = cat.search(query, since=since, until=until, uid=args.uid, limit=args.limit)
    rows: list[dict[str, Any]] = [
        {"uid": r.uid, "scan_id": r.entry.scan_id, "plan_name": r.entry.plan_name, "time": r.entry.time,
         "exit_status": r.entry.exit_status, "num_events": r.entry.num_events} for r in found]
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'scan_id':>7}  {'uid':8}  {'started (UTC)':19}  {'plan':16}  {'status':10}  {'events':>6}")
    for row in rows:
        when = dt.datetime.fromtimestamp(row["time"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{row['scan_id']:>7}  {row['uid'][:8]}  {when}  {row['plan_name'][:16]:16}  "
              f"{row['exit_status']:10}  {row['num_events']:>6}")
    return 0
