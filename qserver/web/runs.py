"""Stored runs for the dashboard: search the catalog, a run's metadata and streams, CSV export.

Search conditions (all optional, all must hold): ``since``/``until`` (epoch seconds or ISO
time, on the start time), ``plan``, ``scan_id``, ``exit_status``, ``sample``, ``user``, and
free metadata ``md`` as ``key=value`` pairs separated by commas (dotted keys reach nested
start-document entries; a value without ``=`` matches anywhere in the start document).
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime
from typing import Any

import numpy as np

from store import Catalog

MAX_POINTS = 20000
SKIP_VARS = ("seq_num", "doc_index", "page", "descriptor_ordinal", "event_uid", "row_keys", "filled", "uid")


def _time(value: str | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise ValueError(f"{name}: {value!r} is neither epoch seconds nor an ISO time (2026-01-31T12:00)") from None


def _dotted(doc: dict[str, Any], key: str) -> Any:
    value: Any = doc
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _same(actual: Any, wanted: str) -> bool:
    if actual is None:
        return False
    if isinstance(actual, bool):
        return str(actual).lower() == wanted.lower()
    if isinstance(actual, int | float):
        try:
            return float(actual) == float(wanted)
        except ValueError:
            return False
    return str(actual) == wanted


def parse_md(text: str | None) -> tuple[dict[str, str], list[str]]:
    """``key=value`` pairs and bare words of the free-metadata field."""
    pairs: dict[str, str] = {}
    words: list[str] = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            k, v = part.split("=", 1)
            if not k.strip():
                raise ValueError(f"md: {part!r} has no key before '='")
            pairs[k.strip()] = v.strip()
        else:
            words.append(part.lower())
    return pairs, words


def summary(run: Any) -> dict[str, Any]:
    """The row of a run in the search results."""
    start = run.metadata["start"]
    stop = run.metadata.get("stop") or {}
    return {"uid": run.uid, "scan_id": start.get("scan_id"), "plan_name": start.get("plan_name"),
            "time": start.get("time"), "exit_status": stop.get("exit_status", "incomplete"),
            "num_events": stop.get("num_events", {}), "sample": start.get("sample"),
            "user": start.get("qserver_user") or start.get("user"), "motors": start.get("motors", []),
            "detectors": start.get("detectors", []), "streams": list(run.streams)}


def search(catalog: Catalog, params: dict[str, str], limit: int = 200) -> dict[str, Any]:
    """Runs matching ``params`` (see the module docstring), newest first."""
    since, until = _time(params.get("since"), "since"), _time(params.get("until"), "until")
    scan_id = params.get("scan_id") or None
    if scan_id is not None and not scan_id.strip().isdigit():
        raise ValueError(f"scan_id: expected a whole number, got {scan_id!r}")
    fields = {"plan_name": params.get("plan"), "exit_status": params.get("exit_status"),
              "sample": params.get("sample"), "qserver_user": params.get("user"), "scan_id": scan_id}
    pairs, words = parse_md(params.get("md"))
    found = []
    for run in reversed(catalog.runs()):
        start = run.metadata["start"]
        stop = run.metadata.get("stop") or {}
        t = float(start.get("time") or 0.0)
        if (since is not None and t < since) or (until is not None and t > until):
            continue
        merged = {**start, "exit_status": stop.get("exit_status", "incomplete")}
        if any(v not in (None, "") and not _same(merged.get(k), str(v)) for k, v in fields.items()):
            continue
        if any(not _same(_dotted(merged, k), v) for k, v in pairs.items()):
            continue
        if words:
            text = json.dumps(start, default=str).lower()
            if not all(w in text for w in words):
                continue
        found.append(summary(run))
        if len(found) >= limit:
            break
    return {"runs": found, "truncated": len(found) >= limit}


def _values(arr: Any) -> list[Any]:
    data = np.asarray(arr)
    if data.dtype.kind in "biuf":
        return [None if isinstance(v, float) and not math.isfinite(v) else v for v in data.astype(float).tolist()]
    return [str(v) for v in data.tolist()]


def stream_columns(ds: Any) -> dict[str, list[Any]]:
    """The one-value-per-event variables of a stream (``time`` first, coordinates too), as lists."""
    cols: dict[str, list[Any]] = {}
    if "time" in ds.variables:
        cols["time"] = _values(ds["time"].values[:MAX_POINTS])
    for name, var in ds.variables.items():
        key = str(name)
        if var.ndim != 1 or key in cols or key in SKIP_VARS or key.endswith("_timestamp"):
            continue
        cols[key] = _values(var.values[:MAX_POINTS])
    return cols


def detail(catalog: Catalog, uid: str) -> dict[str, Any]:
    """A run's metadata and every stream's columns."""
    run = catalog[uid]
    streams = {}
    for name in run.streams:
        try:
            streams[name] = stream_columns(run.stream(name))
        except Exception as exc:  # one unreadable stream must not hide the others
            streams[name] = {"error": [f"{type(exc).__name__}: {exc}"]}
    return {"summary": summary(run), "metadata": run.metadata, "streams": streams,
            "file": run.path.name}


def to_csv(catalog: Catalog, uid: str, stream: str = "primary") -> tuple[str, str]:
    """A stream as CSV text (a header row of variable names) and a file name for it."""
    run = catalog[uid]
    cols = stream_columns(run.stream(stream))
    out = io.StringIO()
    writer = csv.writer(out)
    names = list(cols)
    writer.writerow(names)
    for row in zip(*(cols[n] for n in names), strict=True):
        writer.writerow(["" if v is None else v for v in row])
    start = run.metadata["start"]
    return out.getvalue(), f"scan{start.get('scan_id', '')}_{run.uid[:8]}_{stream}.csv"
