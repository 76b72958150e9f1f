"""The live run as a page that opens late still sees it: the current run's documents and notable events.

A ``LiveRecorder`` taps the queue manager's events (synchronously, in the server) and keeps the
documents of the latest run (start, descriptors, events, stop) and the last state changes
(paused, resumed, suspended with the reason, …), so a browser that connects mid-run can draw the whole run
so far and then follow the stream.
"""

from __future__ import annotations

import time
from typing import Any

from qserver.manager import QueueManager

MAX_DOCS = 50000
MAX_NOTES = 200
ORDINARY = frozenset({"", "idle", "running", "opening", "closed"})  # other worker states (paused, suspended) are noted
SUSPENSION_LINES = ("SUSPENDED:", "RESUMED:")  # the worker's lines for what its suspension events say
NOTABLE = ("suspend", "paused", "resum", "abort", "halt", "fail", "error", "interrupt")


class LiveRecorder:
    """Keeps the latest run's documents and recent state changes."""

    def __init__(self, manager: QueueManager) -> None:
        self.manager = manager
        self.docs: list[list[Any]] = []
        self.notes: list[dict[str, Any]] = []
        self._worker = ""

    def ensure_started(self) -> None:
        """Start taking the manager's events; idempotent."""
        self.manager.tap(self.take)

    def note(self, kind: str, text: str) -> None:
        """Remember one notable event."""
        self.notes.append({"time": time.time(), "kind": kind, "text": text})
        del self.notes[:-MAX_NOTES]

    def take(self, event: dict[str, Any]) -> None:
        """Digest one stream event."""
        kind = event.get("type")
        if kind == "doc":
            name, doc = event["name"], event["doc"]
            if name == "start":
                self.docs = []
            if len(self.docs) < MAX_DOCS:
                self.docs.append([name, doc])
        elif kind == "status":
            worker = str(event.get("worker", ""))
            if worker != self._worker and not {worker, self._worker} <= ORDINARY:
                self.note("state", f"worker {self._worker} → {worker}")
            self._worker = worker
        elif kind == "console":
            line = str(event.get("line", ""))
            if any(w in line.lower() for w in NOTABLE) and not line.startswith(SUSPENSION_LINES):
                self.note("console", line)
        elif kind == "suspension":
            self.note("suspension", f"SUSPENDED: {event.get('justification')}" if event.get("state") == "suspended"
                      else f"RESUMED: {event.get('justification')} cleared")
        elif kind == "finished":
            self.note("finished", f"{event['item']['name']} ended {event.get('exit_status')}"
                                  + (f": {event['reason']}" if event.get("reason") else ""))

    def snapshot(self) -> dict[str, Any]:
        """The latest run's documents so far and the recent notes."""
        return {"docs": self.docs, "notes": self.notes[-50:], "worker": self._worker}
