"""Replay: a run's documents sent to subscribers again, as fast as possible or at the original pace."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

Subscriber = Callable[[str, dict[str, Any]], Any]


def doc_time(name: str, doc: dict[str, Any]) -> float | None:
    """The time a document was made (the first event's for an event_page), if it has one."""
    t = doc.get("time")
    if isinstance(t, list):
        return float(t[0]) if t else None
    return float(t) if isinstance(t, int | float) else None


def replay(documents: Iterable[tuple[str, dict[str, Any]]], *subscribers: Subscriber,
           pace: float | None = None) -> int:
    """Send every ``(name, doc)`` to each subscriber in order; return how many documents were sent.

    ``pace`` None (or 0) sends as fast as possible; 1.0 keeps the original intervals between
    documents (from their ``time``), 10.0 runs ten times faster.
    """
    if pace is not None and pace < 0:
        raise ValueError(f"pace must be positive (1.0 = original timing), not {pace}")
    t0_doc: float | None = None
    t0_wall = time.monotonic()
    count = 0
    for name, doc in documents:
        if pace:
            t = doc_time(name, doc)
            if t is not None:
                if t0_doc is None:
                    t0_doc, t0_wall = t, time.monotonic()
                delay = t0_wall + (t - t0_doc) / pace - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        for fn in subscribers:
            fn(name, doc)
        count += 1
    return count
