"""Import: JSON lines of documents (``[name, doc]`` per line, as ``beamtwin export`` writes) into the store."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from store.writer import Writer


def import_jsonl(lines: Iterable[str], data_dir: str | Path) -> list[Path]:
    """Store every run in ``lines``; return the run files written. Bad lines are named in a ValueError."""
    writer = Writer(data_dir)
    written: list[Path] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            name, doc = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"line {number}: not a JSON [name, doc] pair ({exc})") from None
        if not isinstance(name, str) or not isinstance(doc, dict):
            raise ValueError(f"line {number}: expected [name, doc], got {type(name).__name__}, "
                             f"{type(doc).__name__}")
        writer(name, doc)
        if name == "stop" and writer.last_path is not None:
            written.append(writer.last_path)
    return written
