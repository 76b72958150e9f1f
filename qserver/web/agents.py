"""The agents panel: what an agent campaign suggested, what ran, and how the best reading improved.

Agents talk to the queue like any client (``qserver.agent``): their items carry
``md.agent`` (the campaign tag) and ``md.agent_round``, and so do the runs they produce.
So a campaign is read from the queue (suggestions not yet run), the history (executed
items and their exit status) and the catalog (each round's data). The report is computed
from the runs: per round the scanned range, the position and value of the highest
reading, and the best value so far (its regret against the best reading of the campaign).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from store import Catalog


def _tag(item: dict[str, Any]) -> tuple[str | None, Any]:
    md = (item.get("kwargs") or {}).get("md") or (item.get("meta") or {})
    if not isinstance(md, dict):
        return None, None
    tag = md.get("agent")
    return (str(tag) if tag is not None else None), md.get("agent_round")


def _round_report(run: Any) -> dict[str, Any]:
    start = run.metadata["start"]
    row: dict[str, Any] = {"round": start.get("agent_round"), "uid": run.uid, "scan_id": start.get("scan_id"),
                           "plan": start.get("plan_name"), "range": None, "best_x": None, "best_y": None}
    args = start.get("plan_args") or {}
    if "start" in args and "stop" in args:
        row["range"] = [args["start"], args["stop"]]
    elif isinstance(args.get("args"), list) and len(args["args"]) >= 3:  # Bluesky's scan(dets, motor, start, stop…)
        row["range"] = list(args["args"][1:3])
    motors, dets = start.get("motors") or [], start.get("detectors") or []
    try:
        ds = run.stream("primary")
        y = np.asarray(ds[dets[0]].values, dtype=float)
        top = int(np.nanargmax(y))
        row["best_y"] = float(y[top])
        if motors and motors[0] in ds:
            row["best_x"] = float(np.asarray(ds[motors[0]].values, dtype=float)[top])
    except Exception as exc:  # a run without readable data still appears, with why
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


def campaigns(catalog: Catalog, queue: list[dict[str, Any]], history: list[dict[str, Any]]) -> dict[str, Any]:
    """Every campaign seen in the queue, the history or the catalog, by tag."""
    found: dict[str, dict[str, Any]] = {}

    def entry(tag: str) -> dict[str, Any]:
        return found.setdefault(tag, {"tag": tag, "suggested": [], "executed": [], "rounds": [], "user": None})

    for item in queue:
        tag, rnd = _tag(item)
        if tag is not None:
            e = entry(tag)
            e["suggested"].append({"uid": item["uid"], "round": rnd, "name": item["name"], "args": item["args"],
                                   "user": item.get("user")})
            e["user"] = e["user"] or item.get("user")
    for h in history:
        tag, rnd = _tag(h["item"])
        if tag is not None:
            e = entry(tag)
            e["executed"].append({"uid": h["item"]["uid"], "round": rnd, "name": h["item"]["name"],
                                  "args": h["item"]["args"], "exit_status": h["exit_status"],
                                  "reason": h.get("reason", ""), "run_uids": h.get("run_uids", [])})
            e["user"] = e["user"] or h["item"].get("user")
    for run in catalog.runs():
        tag = run.metadata["start"].get("agent")
        if tag is not None:
            entry(str(tag))["rounds"].append(_round_report(run))
    for e in found.values():
        e["rounds"].sort(key=lambda r: (r["round"] is None, r["round"]))
        best = -np.inf
        values = [r["best_y"] for r in e["rounds"] if r["best_y"] is not None]
        top = max(values) if values else None
        for r in e["rounds"]:
            if r["best_y"] is not None:
                best = max(best, r["best_y"])
            r["best_so_far"] = None if best == -np.inf else best
            r["regret"] = None if top is None or best == -np.inf else top - best
        e["report"] = {"rounds": len(e["rounds"]), "best_y": top,
                       "best_x": next((r["best_x"] for r in e["rounds"] if r["best_y"] == top), None),
                       "pending": len(e["suggested"])}
    return {"campaigns": sorted(found.values(), key=lambda e: e["tag"])}
