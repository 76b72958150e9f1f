"""CSV: one file per stream, ``<scan_id>-<uid8>-<stream>.csv``, one row per event (scalar fields)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, TextIO


class CsvPerStream:
    """Write each stream's events as CSV rows: time, seq_num, then the scalar data keys."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self._prefix = "run"
        self._streams: dict[str, tuple[TextIO, Any, list[str]]] = {}
        self._desc_stream: dict[str, str] = {}
        self._paths: list[Path] = []

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self._prefix = f"{int(doc.get('scan_id', 0) or 0):06d}-{doc['uid'][:8]}"
        elif name == "descriptor":
            self._descriptor(doc)
        elif name == "event":
            self._row(doc["descriptor"], doc["time"], doc["seq_num"], doc["data"])
        elif name == "event_page":
            for i, t in enumerate(doc["time"]):
                self._row(doc["descriptor"], t, doc["seq_num"][i], {k: v[i] for k, v in doc["data"].items()})

    def _descriptor(self, doc: dict[str, Any]) -> None:
        stream = doc.get("name", "primary")
        self._desc_stream[doc["uid"]] = stream
        if stream in self._streams:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        keys = [k for k, dk in doc["data_keys"].items() if not dk.get("shape") and not dk.get("external")]
        path = self.out_dir / f"{self._prefix}-{stream}.csv"
        f = path.open("w", newline="")
        writer = csv.writer(f)
        units = {k: doc["data_keys"][k].get("units") for k in keys}
        writer.writerow(["time", "seq_num", *(f"{k} ({units[k]})" if units[k] else k for k in keys)])
        self._streams[stream] = (f, writer, keys)
        self._paths.append(path)

    def _row(self, descriptor: str, time: float, seq_num: int, data: dict[str, Any]) -> None:
        stream = self._desc_stream.get(descriptor)
        if stream is None:
            return
        _, writer, keys = self._streams[stream]
        writer.writerow([repr(float(time)), seq_num, *(_cell(data.get(k)) for k in keys)])

    def close(self) -> list[Path]:
        """Finish; return the files written."""
        for f, _, _ in self._streams.values():
            f.close()
        self._streams.clear()
        return list(self._paths)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)
