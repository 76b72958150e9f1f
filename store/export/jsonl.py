"""JSON lines: one ``[name, doc]`` per line, to a stream or to ``<scan_id>-<uid8>.jsonl``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from store.journal import to_json


class JsonLines:
    """Write every document as a JSON line ``[name, doc]`` (to ``stream``, default stdout, or a file)."""

    def __init__(self, stream: TextIO | None = None, *, out_dir: Path | None = None) -> None:
        self.out_dir = out_dir
        self._stream = stream
        self._file: TextIO | None = None
        self._paths: list[Path] = []

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if self.out_dir is not None and name == "start":
            self.out_dir.mkdir(parents=True, exist_ok=True)
            path = self.out_dir / f"{int(doc.get('scan_id', 0) or 0):06d}-{doc['uid'][:8]}.jsonl"
            self._file = path.open("w")
            self._paths.append(path)
        out = self._file or self._stream or sys.stdout
        out.write(to_json([name, doc]) + "\n")

    def close(self) -> list[Path]:
        """Finish; return the files written."""
        if self._file is not None:
            self._file.close()
            self._file = None
        else:
            (self._stream or sys.stdout).flush()
        return list(self._paths)
