"""The append-only journal of a run: what survives a kill.

Each run being written has ``<uid>.jsonl`` (one ``[name, doc]`` JSON line per document) and,
when its events carry large arrays, ``<uid>.bin`` (the raw array bytes; the JSON line holds
``{"__nd__": [offset, dtype, shape]}`` in their place). Array bytes are written before the
line that refers to them, every write goes straight to the operating system (no user-space
buffer, so a killed process loses nothing it acknowledged), and ``sync()`` fsyncs both files.
The writer holds an exclusive ``flock`` on the journal: a journal nobody holds belongs to an
interrupted run.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ARRAY_MIN_BYTES = 256  # smaller arrays stay in the JSON line
ND = "__nd__"


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_json(obj: Any) -> str:
    """JSON of a document, turning numpy values into plain ones."""
    return json.dumps(obj, default=_plain, separators=(",", ":"))


class Journal:
    """The append-only journal of one run in ``directory``; ``append`` returns once the OS has it."""

    def __init__(self, directory: Path, uid: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{uid}.jsonl"
        self.bin_path = directory / f"{uid}.bin"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._bin_fd = -1
        self._bin_size = 0
        self._dirty = False
        self._lock = threading.Lock()

    def append(self, name: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Write one document; return it as journalled (large arrays replaced by references)."""
        stored = self._externalise(name, doc)
        line = (to_json([name, stored]) + "\n").encode()
        with self._lock:
            _write_all(self._fd, line)
            self._dirty = True
        return stored

    def _externalise(self, name: str, doc: dict[str, Any]) -> dict[str, Any]:
        if name not in ("event", "event_page"):
            return doc
        data = doc.get("data", {})
        big = [k for k, v in data.items() if isinstance(v, np.ndarray) and v.nbytes >= ARRAY_MIN_BYTES]
        if not big:
            return doc
        new_data = dict(data)
        for key in big:
            new_data[key] = self._put_array(data[key])
        return {**doc, "data": new_data}

    def _put_array(self, arr: np.ndarray) -> dict[str, Any]:
        arr = np.ascontiguousarray(arr)
        with self._lock:
            if self._bin_fd < 0:
                self._bin_fd = os.open(self.bin_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                self._bin_size = os.fstat(self._bin_fd).st_size
            offset = self._bin_size
            _write_all(self._bin_fd, arr.data.cast("B"))
            self._bin_size += arr.nbytes
        return {ND: [offset, arr.dtype.str, list(arr.shape)]}

    def sync(self) -> None:
        """fsync what has been appended (a no-op when nothing is new)."""
        with self._lock:
            if not self._dirty or self._fd < 0:
                return
            if self._bin_fd >= 0:
                os.fsync(self._bin_fd)
            os.fsync(self._fd)
            self._dirty = False

    def close(self) -> None:
        """Sync and release the journal (its files stay until ``remove``)."""
        self.sync()
        with self._lock:
            for fd in (self._bin_fd, self._fd):
                if fd >= 0:
                    os.close(fd)
            self._fd = self._bin_fd = -1

    def __del__(self) -> None:  # a forgotten journal must not keep its lock (and look live) for ever
        try:
            self.close()
        except Exception:
            pass

    def remove(self) -> None:
        """Delete the journal's files (once the netCDF file holds the run)."""
        for p in (self.path, self.bin_path):
            p.unlink(missing_ok=True)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def is_abandoned(path: Path) -> bool:
    """Whether no live writer holds the journal ``path`` (its run was interrupted)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def read_journal(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """The documents of a journal, arrays as (memory-mapped) numpy arrays; a torn tail is dropped."""
    return list(iter_journal(path))


def iter_journal(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Iterate the documents of a journal (see ``read_journal``)."""
    bin_path = path.with_suffix(".bin")
    blob: np.ndarray | None = None
    if bin_path.exists() and bin_path.stat().st_size:
        blob = np.memmap(bin_path, dtype=np.uint8, mode="r")
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break  # torn last line: the kill came mid-write
            try:
                name, doc = json.loads(raw)
            except ValueError:
                break
            try:
                yield name, resolve_arrays(name, doc, blob)
            except ValueError:
                break


def resolve_arrays(name: str, doc: dict[str, Any], blob: np.ndarray | None) -> dict[str, Any]:
    """Replace array references of a journalled event by views of ``blob``."""
    if name not in ("event", "event_page"):
        return doc
    data = doc.get("data", {})
    refs = [k for k, v in data.items() if isinstance(v, dict) and ND in v]
    if not refs:
        return doc
    new_data = dict(data)
    for key in refs:
        offset, dtype, shape = data[key][ND]
        dt = np.dtype(dtype)
        count = int(np.prod(shape)) if shape else 1
        if blob is None or offset + count * dt.itemsize > blob.size:
            raise ValueError(f"journal array of {key!r} lies beyond the end of its .bin file")
        new_data[key] = blob[offset:offset + count * dt.itemsize].view(dt).reshape(shape)
    return {**doc, "data": new_data}
