"""Composing event-model documents: start, descriptor, event, stop."""

from __future__ import annotations

import functools
import importlib.metadata
import time
import uuid
from typing import Any


def new_uid() -> str:
    """A fresh document uid."""
    return str(uuid.uuid4())


@functools.cache
def _version() -> str:
    try:
        return importlib.metadata.version("beamtwin")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def start_doc(scan_id: int, md: dict[str, Any]) -> dict[str, Any]:
    """A start document carrying ``md`` (user and plan metadata) and the engine's version."""
    doc = dict(md)
    doc.update(uid=new_uid(), time=time.time(), scan_id=scan_id)
    doc["versions"] = {"beamtwin": _version(), **(doc.get("versions") or {})}
    return doc


def descriptor_doc(
    run_start: str,
    name: str,
    data_keys: dict[str, Any],
    object_keys: dict[str, list[str]],
    configuration: dict[str, Any],
    hints: dict[str, Any],
) -> dict[str, Any]:
    """An event descriptor for the stream ``name``."""
    return {
        "uid": new_uid(),
        "time": time.time(),
        "run_start": run_start,
        "name": name,
        "data_keys": data_keys,
        "object_keys": object_keys,
        "configuration": configuration,
        "hints": hints,
    }


def event_doc(descriptor: str, seq_num: int, readings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An event made of ``readings`` (``{key: {'value', 'timestamp'}}``)."""
    return {
        "uid": new_uid(),
        "time": time.time(),
        "descriptor": descriptor,
        "seq_num": seq_num,
        "data": {k: r["value"] for k, r in readings.items()},
        "timestamps": {k: r["timestamp"] for k, r in readings.items()},
        "filled": {},
    }


def stop_doc(run_start: str, exit_status: str, reason: str, num_events: dict[str, int]) -> dict[str, Any]:
    """A stop document closing the run ``run_start``."""
    return {
        "uid": new_uid(),
        "time": time.time(),
        "run_start": run_start,
        "exit_status": exit_status,
        "reason": reason,
        "num_events": dict(num_events),
    }


def event_page_doc(descriptor: str, seq_nums: list[int], events: list[dict[str, Any]],
                   external: tuple[str, ...] = ()) -> dict[str, Any]:
    """An event page: ``events`` (each with ``data``, ``timestamps`` and ``time``) column-wise."""
    keys = list(events[0]["data"]) if events else []
    return {
        "descriptor": descriptor,
        "uid": [new_uid() for _ in events],
        "time": [float(e.get("time", time.time())) for e in events],
        "seq_num": list(seq_nums),
        "data": {k: [e["data"][k] for e in events] for k in keys},
        "timestamps": {k: [e["timestamps"][k] for e in events] for k in keys},
        "filled": {k: [False] * len(events) for k in external},
    }
