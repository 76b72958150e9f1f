"""The catalog: every run in a data directory, found by key or searched through an SQLite index."""

from __future__ import annotations

import glob
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import netCDF4
import xarray as xr

from store.external import lazy_from_datums, lazy_from_stream_datums
from store.index import Entry, Index
from store.journal import is_abandoned, read_journal
from store.netcdf import STREAM_EXTERNAL, iter_documents, read_header, write_run
from store.replay import Subscriber, replay
from store.writer import JOURNAL_DIR, run_filename

INDEX_FILE = ".catalog.sqlite"
CONVERT_WAIT = 30.0  # s: how long a lookup waits for a stopped run's file that its writer is making
DIR_CLOCK_MARGIN = 0.05  # s: file-system timestamps lag the clock by up to a kernel tick
_COLUMN_KEYS = ("plan_name", "scan_id", "exit_status", "num_events")


class Run:
    """One stored run: ``.metadata`` (start/stop), ``.stream(name)`` as xarray, ``.documents()``."""

    def __init__(self, path: Path, entry: Entry) -> None:
        self.path = path
        self.entry = entry
        self.metadata: dict[str, Any] = {"start": entry.start, "stop": entry.stop}
        self.streams = list(entry.streams)

    @property
    def uid(self) -> str:
        """The run's uid."""
        return self.entry.uid

    def stream(self, name: str = "primary", *, fill: bool = True) -> xr.Dataset:
        """The stream ``name`` as a Dataset with a ``time`` dimension.

        Scalar streams are loaded; arrays (frames) stay lazy (dask). With ``fill``, external
        data (HDF5 files named by resource/datum or stream_resource/stream_datum) become lazy
        arrays read from their files on demand; without, they are their datum ids.
        """
        if name not in self.streams:
            raise KeyError(f"run {self.uid[:8]} has no stream {name!r} (streams: {self.streams})")
        with netCDF4.Dataset(self.path, "r") as nc:
            groups = json.loads(nc.stream_groups) if "stream_groups" in nc.ncattrs() else {}
            group = groups.get(name, name)
            grp = nc.groups[group]
            big = any(len(v.dimensions) > 1 for v in grp.variables.values())
            external = {k: str(v.external) for k, v in grp.variables.items() if "external" in v.ncattrs()}
            descs = json.loads(grp.descriptors)
            others = [json.loads(s) for s in nc["documents"][:]] if "documents" in nc.variables else []
        if big:
            ds = xr.open_dataset(self.path, group=group, decode_times=False, chunks={})
        else:
            with xr.open_dataset(self.path, group=group, decode_times=False) as opened:
                ds = opened.load()
        if fill:
            ds = self._fill(ds, external, descs, others)
        return ds

    def _fill(self, ds: xr.Dataset, external: dict[str, str], descs: list[dict[str, Any]],
              others: list[list[Any]]) -> xr.Dataset:
        resources = {d["uid"]: d for n, d in others if n == "resource"}
        datums = {d["datum_id"]: d for n, d in others if n == "datum"}
        stream_resources = {d["uid"]: d for n, d in others if n == "stream_resource"}
        desc_uids = {d["uid"] for d in descs}
        for key in external:
            if key in ds and ds[key].dtype.kind in "OUS":
                arr: Any = lazy_from_datums(resources, datums, [str(v) for v in ds[key].values])
                ds = ds.drop_vars(key).assign({key: (("time", *(f"{key}_dim_{i}" for i in range(arr.ndim - 1))),
                                                     arr)})
        stream_keys = {k for d in descs for k, dk in d["data_keys"].items()
                       if str(dk.get("external", "")).startswith(STREAM_EXTERNAL)}
        for key in sorted(stream_keys - set(ds.data_vars)):
            sds = [d for n, d in others if n == "stream_datum" and d.get("descriptor") in desc_uids
                   and stream_resources.get(d["stream_resource"], {}).get("data_key") == key]
            sarr: Any = lazy_from_stream_datums(stream_resources, sds, [int(s) for s in ds["seq_num"].values])
            if sarr is not None:
                ds = ds.assign({key: (("time", *(f"{key}_dim_{i}" for i in range(sarr.ndim - 1))), sarr)})
        return ds

    def documents(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The run's documents, as they were emitted (events rebuilt from the file's variables)."""
        return iter_documents(self.path)

    def replay(self, *subscribers: Subscriber, pace: float | None = None) -> int:
        """Send the run's documents to ``subscribers`` (``pace`` 1.0 = original timing; None = at once)."""
        return replay(self.documents(), *subscribers, pace=pace)

    def __repr__(self) -> str:
        start = self.metadata["start"]
        return f"Run(scan_id={start.get('scan_id')}, uid={self.uid[:8]!r}, plan={start.get('plan_name')!r})"


class Catalog:
    """All runs in ``data_dir``: ``Catalog(d)[key]`` with a uid, uid prefix, scan_id or -1.

    The index (``<data_dir>/.catalog.sqlite``) follows the files: every lookup first indexes
    new or changed ``*.nc`` files and forgets removed ones; files that are not readable runs
    are reported once (on standard error and in ``problems``) and skipped.
    """

    def __init__(self, data_dir: str | Path, *, index_path: str | Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.problems: dict[str, str] = {}
        self._dir_sig: tuple[int, int] | None = None
        self._looked_at = 0.0
        path = Path(index_path) if index_path else self.data_dir / INDEX_FILE
        try:
            self.index = Index(path if self.data_dir.is_dir() else ":memory:")
        except Exception:  # a read-only data directory: index in memory
            self.index = Index(":memory:")
        self.refresh()

    # -- keeping the index in step with the files ------------------------------------------------
    def refresh(self, *, force: bool = False) -> None:
        """Index new or changed run files, forget removed ones, report unreadable ones.

        Skipped (unless ``force``) while the directory has not changed since the last full
        look; a change within the clock's granularity of that look is never skipped.
        """
        try:
            st_dir = self.data_dir.stat()
        except FileNotFoundError:
            st_dir = None
        sig = (st_dir.st_mtime_ns, st_dir.st_ino) if st_dir else None
        if not force and sig is not None and sig == self._dir_sig and \
                sig[0] / 1e9 < self._looked_at - DIR_CLOCK_MARGIN:
            return
        self._dir_sig, self._looked_at = sig, time.time()
        files: dict[str, tuple[float, int]] = {}
        if self.data_dir.is_dir():
            for p in self.data_dir.glob("*.nc"):
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                files[p.name] = (st.st_mtime, st.st_size)
        known = self.index.known_files()
        changed = [p for p, sig in known.items() if files.get(p) != sig]
        if changed:
            self.index.forget_paths(changed)
        entries = []
        for name, (mtime, size) in files.items():
            if known.get(name) == (mtime, size):
                continue
            try:
                header = read_header(self.data_dir / name)
                entries.append((_entry(name, header), mtime, size))
            except Exception as exc:  # a corrupt or foreign file must not break the catalog
                self.index.add_bad(name, mtime, size, f"{type(exc).__name__}: {exc}")
        if entries:
            self.index.add(entries)
        for name, error in self.index.bad_files():
            if name not in self.problems:
                self.problems[name] = error
                print(f"catalog: skipping {name}: {error}", file=sys.stderr)

    def rebuild(self) -> int:
        """Remake the index from the run files alone; return the number of runs indexed."""
        self.index.clear()
        self.problems.clear()
        self.refresh(force=True)
        return self.index.count()

    # -- finding runs ---------------------------------------------------------------------------
    def search(self, query: dict[str, Any] | None = None, *, since: float | None = None,
               until: float | None = None, uid: str | None = None, limit: int | None = None,
               offset: int = 0, **fields: Any) -> list[Run]:
        """Runs matching every condition, newest first.

        ``query`` and ``fields`` map start-document keys (dotted for nested ones) or
        ``exit_status``/``num_events`` to a value or to ``{"$in": [...]}``,
        ``{"$gt"|"$gte"|"$lt"|"$lte": v}``; ``since``/``until`` bound the start time (epoch s);
        ``uid`` is a uid prefix. Unknown keys match nothing.
        """
        self.refresh()
        q = {**(query or {}), **fields}
        return [self._run(e) for e in self.index.search(q, since=since, until=until, uid=uid, limit=limit,
                                                         offset=offset)]

    def _run(self, entry: Entry) -> Run:
        return Run(self.data_dir / entry.path, entry)

    def runs(self) -> list[Run]:
        """Every readable run, oldest first."""
        return self.search()[::-1]

    def __len__(self) -> int:
        self.refresh()
        return self.index.count()

    def __iter__(self) -> Iterator[Run]:
        return iter(self.search())

    def __getitem__(self, key: int | str) -> Run:
        self.refresh()
        if isinstance(key, int) or key.lstrip("-").isdigit():
            n = int(key)
            if n < 0:
                found = self.index.search(limit=1, offset=-n - 1)
                if not found:
                    raise KeyError(f"only {self.index.count()} runs in {self.data_dir}; {n} reaches past the first")
                return self._run(found[0])
            found = self.index.search({"scan_id": n}, limit=1)
            if not found:
                raise KeyError(f"no run with scan_id {n} in {self.data_dir}")
            return self._run(found[0])
        matches = self.index.search(uid=key, limit=50)
        deadline = time.monotonic() + CONVERT_WAIT
        while not matches:
            # The journal is looked at before the files: its writer moves the file into place before it
            # lets the journal go, so a journal gone by now means a file that this refresh sees.
            converting = self._being_converted(key)
            self.refresh(force=True)
            matches = self.index.search(uid=key, limit=50)
            if matches or not converting or time.monotonic() > deadline:
                break
            time.sleep(0.005)  # its writer makes the file now (``Writer(convert_after_stop=True)``)
        if not matches:
            raise KeyError(f"no run with uid {key!r} in {self.data_dir}")
        exact = [e for e in matches if e.uid == key]
        if len(matches) > 1 and not exact:
            raise KeyError(f"uid prefix {key!r} is ambiguous: " + ", ".join(e.uid for e in matches))
        return self._run(exact[0] if exact else matches[0])

    def _being_converted(self, uid_prefix: str) -> bool:
        """Whether a live writer holds a complete journal (stop document last) of a run matching the prefix."""
        jdir = self.data_dir / JOURNAL_DIR
        if not uid_prefix or not jdir.is_dir():
            return False
        for path in jdir.glob(f"{glob.escape(uid_prefix)}*.jsonl"):
            try:
                with path.open("rb") as f:
                    f.seek(max(0, f.seek(0, os.SEEK_END) - 65536))
                    complete = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1].startswith(b'["stop"')
                if complete and not is_abandoned(path):
                    return True
            except OSError:  # converted and removed meanwhile
                continue
        return False

    # -- interrupted runs ------------------------------------------------------------------------
    def interrupted(self) -> list[Path]:
        """Journals of runs whose writer died before their stop document (none held by a live writer)."""
        jdir = self.data_dir / JOURNAL_DIR
        return [p for p in sorted(jdir.glob("*.jsonl")) if is_abandoned(p)] if jdir.is_dir() else []

    def recover(self) -> list[Path]:
        """Finish interrupted runs: make their netCDF files from their journals; return the files.

        A recovered run without a stop document is marked ``exit_status = "incomplete"`` and
        its ``metadata["stop"]`` is None; it reads like any other run.
        """
        done: list[Path] = []
        for journal in self.interrupted():
            docs = read_journal(journal)
            if not docs or docs[0][0] != "start":
                self.problems[journal.name] = "journal without a start document"
                print(f"catalog: cannot recover {journal.name}: no start document", file=sys.stderr)
                continue
            path = self.data_dir / run_filename(docs[0][1])
            write_run(path, docs)
            journal.unlink()
            journal.with_suffix(".bin").unlink(missing_ok=True)
            done.append(path)
        self.refresh()
        return done

    # -- many runs together ---------------------------------------------------------------------
    def to_dask(self, runs: Sequence[Run | int | str], stream: str = "primary",
                fields: Sequence[str] | None = None) -> xr.Dataset:
        """Several runs' stream as one lazy (dask) Dataset with dimensions ``run`` × ``seq_num``."""
        opened = []
        uids = []
        for r in runs:
            run = r if isinstance(r, Run) else self[r]
            ds = xr.open_dataset(run.path, group=stream, decode_times=False, chunks={}, decode_coords=False)
            keep = list(fields) if fields is not None else [
                str(k) for k in ds.data_vars
                if k not in ("seq_num", "doc_index", "page", "descriptor_ordinal", "event_uid", "row_keys", "filled")
                and not str(k).endswith("_timestamp") and ds[k].dtype.kind in "biuf"]
            ds = ds[keep].assign_coords(seq_num=("time", ds["seq_num"].values)).swap_dims(time="seq_num")
            ds = ds.reset_coords("time")
            ds.attrs = {}
            opened.append(ds)
            uids.append(run.uid)
        combined = xr.concat(opened, dim="run", join="outer", data_vars="all", coords="different",
                             compat="equals")
        combined.attrs = {"stream": stream}
        return combined.assign_coords(run=uids)


def _entry(name: str, header: dict[str, Any]) -> Entry:
    start, stop = header["start"], header["stop"]
    return Entry(uid=start["uid"], path=name, scan_id=int(start.get("scan_id", 0) or 0),
                 plan_name=str(start.get("plan_name", "")), time=float(start.get("time", 0.0)),
                 exit_status=stop["exit_status"] if stop else "incomplete", num_events=header["num_events"],
                 streams=header["streams"], start=start, stop=stop)
