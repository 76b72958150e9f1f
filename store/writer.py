"""The Writer: a document subscriber that stores every run as one netCDF file.

Documents go to the run's append-only journal as they arrive (``store.journal``): once the
writer's call has returned, the document survives a kill of the process, and a background
thread fsyncs the journal every ``flush_interval`` seconds, so it survives a crash of the
machine too. At the stop document the netCDF file is made from the documents and moved into
place by atomic rename, readable at once; the same thread then fsyncs it (the fsyncs would
otherwise take milliseconds from the plan, between its last document and its end) and only
then lets the journal go, which it holds locked till then. An interrupted run's journal
stays behind for ``Catalog.recover()``.

With ``convert_after_stop=True`` the stop document's call returns once the run's journal is
complete and fsync'd (the run survives a kill of the process and a crash of the machine from
then on); the netCDF file is then made by the writer's thread, and ``Catalog[uid]`` waits for
a run whose journal is complete but not yet converted.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from store.journal import Journal, iter_journal, resolve_arrays
from store.netcdf import make_durable, write_run

JOURNAL_DIR = ".journal"
MAX_FLUSH_INTERVAL = 1.0
MAX_DOCS_IN_MEMORY = 200_000


def run_filename(start: dict[str, Any]) -> str:
    """The file name of a run: ``<scan_id>-<uid>.nc``."""
    return f"{int(start.get('scan_id', 0) or 0):06d}-{start['uid']}.nc"


class _OpenRun:
    """One run being written: its journal and the routing keys of its documents."""

    def __init__(self, journal_dir: Path, start: dict[str, Any]) -> None:
        self.start = start
        self.journal = Journal(journal_dir, start["uid"])
        self.descriptors: set[str] = set()
        self.resources: set[str] = set()
        # the documents as journalled (large arrays as references into the .bin file), kept in
        # memory so that the netCDF file is made without rereading the journal; dropped past a cap
        self.docs: list[tuple[str, dict[str, Any]]] | None = []
        self.last_snapshot = time.monotonic()

    def append(self, name: str, doc: dict[str, Any]) -> None:
        """Journal one document (it survives a kill once this returns)."""
        stored = self.journal.append(name, doc)
        if self.docs is not None:
            self.docs.append((name, stored))
            if len(self.docs) > MAX_DOCS_IN_MEMORY:
                self.docs = None

    def documents(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The run's documents with their arrays, from memory or else from the journal."""
        if self.docs is None:
            return iter_journal(self.journal.path)
        bin_path = self.journal.bin_path
        blob = np.memmap(bin_path, dtype=np.uint8, mode="r") if bin_path.exists() and bin_path.stat().st_size \
            else None
        return ((name, resolve_arrays(name, doc, blob)) for name, doc in self.docs)


class Writer:
    """``RE.subscribe(Writer(data_dir))``: one netCDF file per run in ``data_dir``.

    ``flush_interval`` (seconds, at most 1) bounds how long an acknowledged document may
    sit in the operating system's cache before it is fsync'd. With ``snapshot_interval``
    (seconds), a run in progress is also written as its netCDF file (``exit_status``
    ``incomplete``) at most that often, so that readers can follow it; each snapshot rewrites
    the run so far, inside the writer's call, so keep it coarse for long runs.
    """

    def __init__(self, data_dir: str | Path, flush_interval: float = MAX_FLUSH_INTERVAL,
                 snapshot_interval: float | None = None, *, convert_after_stop: bool = False) -> None:
        if not 0 < flush_interval <= MAX_FLUSH_INTERVAL:
            raise ValueError(f"flush_interval must be in (0, {MAX_FLUSH_INTERVAL}] s, not {flush_interval}")
        if snapshot_interval is not None and snapshot_interval <= 0:
            raise ValueError(f"snapshot_interval must be positive (seconds) or None, not {snapshot_interval}")
        self.snapshot_interval = snapshot_interval
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.journal_dir = self.data_dir / JOURNAL_DIR
        self.flush_interval = flush_interval
        self.last_path: Path | None = None
        self._runs: dict[str, _OpenRun] = {}
        self._by_descriptor: dict[str, _OpenRun] = {}
        self._by_resource: dict[str, _OpenRun] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._closing: list[tuple[Path, Journal]] = []  # files written, not yet fsync'd; their journals
        self.convert_after_stop = convert_after_stop
        self._converting: list[tuple[Path, _OpenRun]] = []  # stopped runs (journal fsync'd) to write as files
        self._finishing = threading.Lock()
        _WRITERS.add(self)

    # -- routing ---------------------------------------------------------------------------
    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self._open(doc)
            return
        run = self._route(name, doc)
        if run is None:
            print(f"store.Writer: {name} document for no open run; ignored", file=sys.stderr)
            return
        run.append(name, doc)
        if name == "descriptor":
            run.descriptors.add(doc["uid"])
            self._by_descriptor[doc["uid"]] = run
        elif name in ("resource", "stream_resource"):
            run.resources.add(doc["uid"])
            self._by_resource[doc["uid"]] = run
        elif name == "stop":
            self._close(run)
        elif self.snapshot_interval is not None and name in ("event", "event_page") and run.docs is not None \
                and time.monotonic() - run.last_snapshot >= self.snapshot_interval:
            write_run(self.data_dir / run_filename(run.start), run.documents())
            run.last_snapshot = time.monotonic()

    def _route(self, name: str, doc: dict[str, Any]) -> _OpenRun | None:
        if name in ("event", "event_page"):
            return self._by_descriptor.get(doc.get("descriptor", ""))
        if name == "datum":
            return self._by_resource.get(doc.get("resource", ""))
        if name == "stream_datum":
            return self._by_descriptor.get(doc.get("descriptor", "")) or \
                self._by_resource.get(doc.get("stream_resource", ""))
        run_start = doc.get("run_start")
        if run_start is not None:
            return self._runs.get(run_start)
        return next(iter(self._runs.values())) if len(self._runs) == 1 else None

    # -- life of a run ----------------------------------------------------------------------
    def _open(self, start: dict[str, Any]) -> None:
        run = _OpenRun(self.journal_dir, start)
        run.append("start", start)
        with self._lock:
            self._runs[start["uid"]] = run
        self._ensure_flusher()

    def _close(self, run: _OpenRun) -> None:
        with self._lock:
            self._runs.pop(run.start["uid"], None)
        for uid in run.descriptors:
            self._by_descriptor.pop(uid, None)
        for uid in run.resources:
            self._by_resource.pop(uid, None)
        path = self.data_dir / run_filename(run.start)
        if self.convert_after_stop:
            run.journal.sync()
            with self._lock:
                self._converting.append((path, run))
        else:
            write_run(path, run.documents(), durable=False)
            with self._lock:
                self._closing.append((path, run.journal))
        self.last_path = path
        self._ensure_flusher()
        self._wake.set()

    def flush(self) -> None:
        """fsync every open run's journal now; write the stopped runs' files (``convert_after_stop``);
        fsync every finished run's file (then drop its journal)."""
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.journal.sync()
        with self._finishing:  # a flush that overlaps the flush thread's returns once its files are done too
            with self._lock:
                closing, self._closing = self._closing, []
                converting, self._converting = self._converting, []
            for path, run in converting:
                try:
                    write_run(path, run.documents(), durable=False)
                except Exception as exc:  # its journal, released, stays for Catalog.recover()
                    print(f"store.Writer: cannot write {path.name}: {exc!r}; its journal is kept", file=sys.stderr)
                    run.journal.close()
                    continue
                closing.append((path, run.journal))
            for path, journal in closing:
                make_durable(path)
                journal.close()
                journal.remove()

    def _ensure_flusher(self) -> None:
        if self._flusher is None or not self._flusher.is_alive():
            self._flusher = threading.Thread(target=_flush_loop, args=(weakref.ref(self),),
                                             name="store-writer-flush", daemon=True)
            self._flusher.start()


_WRITERS: weakref.WeakSet[Writer] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    """At exit, make the runs finished in the last moments durable (the flush thread is a daemon)."""
    for writer in list(_WRITERS):
        try:
            writer.flush()
        except Exception as exc:  # their journals stay for Catalog.recover()
            print(f"store.Writer: flush at exit: {exc}", file=sys.stderr)


def _flush_loop(ref: weakref.ReferenceType[Writer]) -> None:
    """fsync the journals of a writer every flush interval while it lives and has open runs."""
    while True:
        writer = ref()
        if writer is None:
            return
        interval = writer.flush_interval
        wake = writer._wake
        del writer
        wake.wait(interval)
        wake.clear()
        writer = ref()
        if writer is None:
            return
        writer.flush()
        del writer
