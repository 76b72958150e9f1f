"""A live table of readings, printed as events arrive."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class LiveTable:
    """Print one row per event of ``stream`` with the given ``fields`` (default: hinted ones)."""

    def __init__(self, fields: list[str] | None = None, *, stream: str = "primary",
                 out: TextIO | None = None, width: int = 12) -> None:
        self.fields = fields
        self.stream = stream
        self.out = out or sys.stdout
        self.width = width
        self._descriptors: set[str] = set()
        self._cols: list[str] = []

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        getattr(self, name, lambda d: None)(doc)

    def _line(self, cells: list[str]) -> None:
        self.out.write("| " + " | ".join(c.rjust(self.width) for c in cells) + " |\n")
        self.out.flush()

    def start(self, doc: dict[str, Any]) -> None:
        self.out.write(f"Run {doc.get('scan_id')} ({doc['uid'][:8]}) {doc.get('plan_name', '')}\n")

    def descriptor(self, doc: dict[str, Any]) -> None:
        if doc.get("name") != self.stream:
            return
        self._descriptors.add(doc["uid"])
        if self.fields is not None:
            cols = [f for f in self.fields if f in doc["data_keys"]]
        else:
            hinted = [f for h in doc.get("hints", {}).values() for f in h.get("fields", [])]
            cols = hinted or list(doc["data_keys"])
        self._cols = [c for c in cols if doc["data_keys"][c].get("dtype") != "array"]
        self._line(["seq_num", "time", *self._cols])

    def event(self, doc: dict[str, Any]) -> None:
        if doc["descriptor"] not in self._descriptors:
            return
        cells = [str(doc["seq_num"]), time.strftime("%H:%M:%S", time.localtime(doc["time"]))]
        for c in self._cols:
            v = doc["data"].get(c)
            cells.append(f"{v:.5g}" if isinstance(v, float) else str(v))
        self._line(cells)

    def stop(self, doc: dict[str, Any]) -> None:
        self.out.write(f"Run {doc['run_start'][:8]} ended: {doc['exit_status']}"
                       f"{' (' + doc['reason'] + ')' if doc.get('reason') else ''}\n")
        self.out.flush()
