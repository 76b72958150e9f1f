"""The Writer: a document subscriber that stores every run as one netCDF file."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from store.netcdf import to_json, write_run

JOURNAL_DIR = ".journal"


def run_filename(start: dict[str, Any]) -> str:
    """The file name of a run: ``<scan_id>-<uid>.nc``."""
    return f"{int(start.get('scan_id', 0)):06d}-{start['uid']}.nc"


class Writer:
    """``RE.subscribe(Writer(data_dir))``: one netCDF file per run in ``data_dir``.

    Documents are appended to a journal as they arrive (fsync'd every ``flush_interval``
    seconds); the netCDF file is made from them when the run stops and replaces nothing
    but by atomic rename.
    """

    def __init__(self, data_dir: str | Path, flush_interval: float = 1.0) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.flush_interval = flush_interval
        self._docs: list[tuple[str, dict[str, Any]]] = []
        self._journal: Any = None
        self._journal_path: Path | None = None
        self._last_sync = 0.0
        self.last_path: Path | None = None

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self._open(doc)
        if self._journal is None:
            return
        self._docs.append((name, doc))
        self._journal.write(to_json([name, doc]) + "\n")
        now = time.monotonic()
        if now - self._last_sync >= self.flush_interval:
            self._sync()
            self._last_sync = now
        if name == "stop":
            self._close(doc)

    def _open(self, start: dict[str, Any]) -> None:
        journal_dir = self.data_dir / JOURNAL_DIR
        journal_dir.mkdir(exist_ok=True)
        self._docs = []
        self._journal_path = journal_dir / f"{start['uid']}.jsonl"
        self._journal = self._journal_path.open("a")
        self._last_sync = time.monotonic()

    def _sync(self) -> None:
        self._journal.flush()
        os.fsync(self._journal.fileno())

    def _close(self, stop: dict[str, Any]) -> None:
        start = self._docs[0][1]
        path = self.data_dir / run_filename(start)
        self._sync()
        self._journal.close()
        write_run(path, self._docs)
        assert self._journal_path is not None
        self._journal_path.unlink()
        self._journal = None
        self._docs = []
        self.last_path = path


def read_journal(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """The documents of a journal, ignoring a torn last line."""
    docs: list[tuple[str, dict[str, Any]]] = []
    for line in path.read_text().splitlines():
        try:
            name, doc = json.loads(line)
        except ValueError:
            break
        docs.append((name, doc))
    return docs
