"""A progress line: points done of the planned total, and the time left at the current pace."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from acq.callbacks.stream import StreamCollector


class LiveProgress(StreamCollector):
    """Print ``[####....] 12/41 points, 3.2 s left`` as events of ``stream`` arrive."""

    def __init__(self, stream: str = "primary", out: TextIO | None = None, width: int = 30) -> None:
        super().__init__([], stream=stream)
        self.out = out or sys.stderr
        self.width = width
        self.done = 0
        self.total: int | None = None
        self._t0 = 0.0

    def on_start(self) -> None:
        self.done = 0
        total = self.start_doc.get("num_points")
        self.total = int(total) if isinstance(total, int) and total > 0 else None
        self._t0 = time.monotonic()

    def line(self) -> str:
        """The current progress line."""
        elapsed = time.monotonic() - self._t0
        if self.total is None:
            return f"{self.done} points, {elapsed:.1f} s"
        frac = min(self.done / self.total, 1.0)
        bar = "#" * round(frac * self.width)
        left = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        return f"[{bar.ljust(self.width, '.')}] {self.done}/{self.total} points, {left:.1f} s left"

    def on_event(self, doc: dict[str, Any]) -> None:
        self.done += 1
        self.out.write("\r" + self.line())
        self.out.flush()

    def on_stop(self, doc: dict[str, Any]) -> None:
        self.out.write("\r" + self.line() + f" — {doc['exit_status']}\n")
        self.out.flush()
