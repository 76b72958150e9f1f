"""The netCDF layout of one run: one group per stream, every document kept losslessly.

Root attributes: ``start`` and ``stop`` (JSON; ``stop`` is ``null`` for an interrupted run),
``uid``, ``scan_id``, ``plan_name``, ``exit_status`` (``incomplete`` when interrupted) and
``num_events``. Documents that are not events or descriptors (resource, datum,
stream_resource, stream_datum) are the root variable ``documents`` (JSON ``[name, doc]`` per
entry) with their places in the run's order in ``document_index``.

Each stream group has the unlimited ``time`` dimension and these variables: ``time`` (event
time, seconds since the epoch), ``seq_num``, ``event_uid``, ``doc_index`` (the event's place
in the run's document order; rows of one event_page share it and have ``page`` = 1),
``descriptor_ordinal``, and one variable per data key (CF ``units``, ``long_name``,
``coordinates`` naming the motor positions; arrays such as camera frames chunked per frame
and compressed) with ``<key>_timestamp``. Group attributes hold the descriptors (JSON),
their places in the document order, and each descriptor's configuration as
``configuration.<object>.<key>``. Events are rebuilt from these variables, so the file is
the record: change a value with netCDF4 and the replayed event changes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

from store.journal import to_json

FORMAT_VERSION = 2
EPOCH_UNITS = "seconds since 1970-01-01 00:00:00 UTC"
STREAM_EXTERNAL = "STREAM:"
_ARRAY_BATCH_BYTES = 64 << 20

__all__ = ["FORMAT_VERSION", "iter_documents", "read_header", "to_json", "write_run"]


# -- writing ---------------------------------------------------------------------------------
class _Row:
    __slots__ = ("data", "descriptor", "doc_index", "filled", "page", "seq_num", "time", "timestamps", "uid")

    def __init__(self, doc_index: int, page: int, descriptor: str, uid: str, time: float, seq_num: int,
                 data: dict[str, Any], timestamps: dict[str, Any], filled: dict[str, Any]) -> None:
        self.doc_index, self.page, self.descriptor, self.uid = doc_index, page, descriptor, uid
        self.time, self.seq_num, self.data, self.timestamps, self.filled = time, seq_num, data, timestamps, filled


def _page_rows(index: int, page: dict[str, Any]) -> list[_Row]:
    rows = []
    for i, uid in enumerate(page["uid"]):
        rows.append(_Row(index, 1, page["descriptor"], uid, page["time"][i], page["seq_num"][i],
                         {k: v[i] for k, v in page["data"].items()},
                         {k: v[i] for k, v in page["timestamps"].items()},
                         {k: v[i] for k, v in page.get("filled", {}).items()}))
    return rows


def write_run(path: Path, docs: Iterable[tuple[str, dict[str, Any]]], *, durable: bool = True) -> None:
    """Write the documents of one run to ``path`` atomically (a temporary file, fsync, rename).

    With ``durable=False`` the fsyncs are left to the caller (``make_durable(path)``), which
    must keep another durable copy of the run (its journal) until then.
    """
    start: dict[str, Any] | None = None
    stop: dict[str, Any] | None = None
    descriptors: dict[str, tuple[int, dict[str, Any]]] = {}
    rows: dict[str, list[_Row]] = {}
    others: list[tuple[int, str, dict[str, Any]]] = []
    for i, (name, doc) in enumerate(docs):
        if name == "start":
            start = doc
        elif name == "stop":
            stop = doc
        elif name == "descriptor":
            descriptors[doc["uid"]] = (i, doc)
        elif name == "event":
            rows.setdefault(doc["descriptor"], []).append(
                _Row(i, 0, doc["descriptor"], doc["uid"], doc["time"], doc["seq_num"], doc["data"],
                     doc["timestamps"], doc.get("filled", {})))
        elif name == "event_page":
            rows.setdefault(doc["descriptor"], []).extend(_page_rows(i, doc))
        else:
            others.append((i, name, doc))
    if start is None:
        raise ValueError(f"{path.name}: no start document among the run's documents")
    unknown = set(rows) - set(descriptors)
    if unknown:
        raise ValueError(f"{path.name}: events refer to descriptors never emitted: {sorted(unknown)}")
    tmp = path.with_name(path.name + ".part")
    num_events = sum(len(r) for r in rows.values())
    with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
        nc.Conventions = "CF-1.8"
        nc.title = f"beamtwin run {start.get('scan_id')} {start.get('plan_name', '')}".strip()
        nc.institution = "beamtwin (simulated)" if start.get("simulated") else "beamtwin"
        nc.source = "beamtwin store: bluesky event-model documents"
        nc.beamtwin_format = FORMAT_VERSION
        nc.uid = start["uid"]
        nc.scan_id = int(start.get("scan_id", 0) or 0)
        nc.plan_name = str(start.get("plan_name", ""))
        nc.exit_status = stop["exit_status"] if stop else "incomplete"
        nc.num_events = num_events
        nc.start = to_json(start)
        nc.stop = to_json(stop) if stop else "null"
        if others:
            nc.createDimension("document", len(others))
            nc.createVariable("document_index", "i8", ("document",))[:] = np.array([o[0] for o in others])
            var = nc.createVariable("documents", str, ("document",))
            var.long_name = "resource, datum, stream_resource and stream_datum documents as JSON [name, doc]"
            var[:] = np.array([to_json([o[1], o[2]]) for o in others], dtype=object)
        streams: dict[str, list[str]] = {}
        for uid, (_, desc) in sorted(descriptors.items(), key=lambda kv: kv[1][0]):
            streams.setdefault(str(desc.get("name", "primary")), []).append(uid)
        groups: dict[str, str] = {}
        for stream in streams:
            group = netcdf_name(stream)
            while group in groups.values():
                group += "_"
            groups[stream] = group
        nc.stream_groups = to_json(groups)
        motors = [str(m) for m in start.get("motors", [])]
        for stream, uids in streams.items():
            stream_rows = sorted((r for u in uids for r in rows.get(u, [])), key=lambda r: r.doc_index)
            _write_stream(nc.createGroup(groups[stream]), [descriptors[u] for u in uids], stream_rows, motors)
    if durable:
        _fsync_file(tmp)
    os.replace(tmp, path)
    if durable:
        _fsync_dir(path.parent)


def make_durable(path: Path) -> None:
    """fsync a file written with ``write_run(..., durable=False)`` and its directory entry."""
    _fsync_file(path)
    _fsync_dir(path.parent)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


RESERVED = {"time", "seq_num", "doc_index", "page", "descriptor_ordinal", "event_uid", "row_keys", "filled"}


def netcdf_name(name: str) -> str:
    """A legal netCDF name for ``name`` ('/' and control characters replaced, a letter first)."""
    clean = "".join("_" if c == "/" or ord(c) < 32 else c for c in name) or "_"
    return clean if clean[0].isalpha() or clean[0] == "_" else f"v_{clean}"


def variable_names(keys: list[str]) -> dict[str, str]:
    """Data key → variable name, unique, clear of the layout's own variables and timestamps."""
    taken = set(RESERVED)
    out: dict[str, str] = {}
    for key in keys:
        name = netcdf_name(key)
        while name in taken or f"{name}_timestamp" in taken:
            name += "_"
        taken |= {name, f"{name}_timestamp"}
        out[key] = name
    return out


_BOOLS = (bool, np.bool_)
_INTS = (int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
_FLOATS = (float, np.float16, np.float32, np.float64)


def _kind(values: list[Any]) -> tuple[str, Any]:
    """How a column is stored: (python kind, netCDF type)."""
    if not values:
        return "float", "f8"
    types = set(map(type, values))
    if all(t in _BOOLS for t in types):
        return "bool", "i1"
    if all(t in _INTS for t in types):
        return "int", "i8"
    if all(t in _INTS or t in _FLOATS for t in types):
        return "float", "f8"
    if types == {str}:
        return "str", str
    if all(issubclass(t, np.ndarray | list) for t in types):
        first = np.asarray(values[0])
        shape, dtype = first.shape, first.dtype
        if dtype.kind in "biuf" and all(np.shape(v) == shape for v in values) and \
                all(np.asarray(v).dtype == dtype for v in values):
            return "array", (np.dtype("u1") if dtype.kind == "b" else dtype)
    return "json", str


def _write_stream(grp: Any, descs: list[tuple[int, dict[str, Any]]], rows: list[_Row], motors: list[str]) -> None:
    grp.descriptors = to_json([d for _, d in descs])
    grp.descriptor_doc_index = to_json([i for i, _ in descs])
    for _, d in descs:
        for obj, conf in (d.get("configuration") or {}).items():
            for key, value in (conf.get("data") or {}).items():
                if isinstance(value, int | float | str) and not isinstance(value, bool):
                    grp.setncattr(f"configuration.{obj}.{key}", value)
    grp.createDimension("time", None)
    n = len(rows)
    ordinal = {d["uid"]: j for j, (_, d) in enumerate(descs)}
    t = grp.createVariable("time", "f8", ("time",))
    t.units, t.standard_name, t.long_name, t.calendar = EPOCH_UNITS, "time", "event time", "standard"
    t[:] = np.array([r.time for r in rows], dtype="f8")
    seq = grp.createVariable("seq_num", "i8", ("time",))
    seq.long_name = "event sequence number in its stream (1, 2, …)"
    seq[:] = np.array([r.seq_num for r in rows], "i8")
    grp.createVariable("doc_index", "i8", ("time",))[:] = np.array([r.doc_index for r in rows], "i8")
    grp.createVariable("page", "i1", ("time",))[:] = np.array([r.page for r in rows], "i1")
    grp.createVariable("descriptor_ordinal", "i4", ("time",))[:] = np.array(
        [ordinal[r.descriptor] for r in rows], "i4")
    grp.createVariable("event_uid", str, ("time",))[:] = np.array([r.uid for r in rows], dtype=object)
    # which data keys each event has: per descriptor when uniform, else per event
    first_keys: dict[str, list[str]] = {}
    for r in rows:
        first_keys.setdefault(r.descriptor, list(r.data))
    uniform = all(list(r.data) == first_keys[r.descriptor] for r in rows)
    grp.event_keys = to_json([first_keys.get(d["uid"], [k for k, dk in d["data_keys"].items()
                                                        if not str(dk.get("external", "")).startswith(STREAM_EXTERNAL)])
                              for _, d in descs])
    if not uniform:
        grp.createVariable("row_keys", str, ("time",))[:] = np.array([to_json(list(r.data)) for r in rows],
                                                                     dtype=object)
    if all(r.filled == rows[0].filled for r in rows):
        grp.filled = to_json(rows[0].filled) if rows else "{}"
    else:
        grp.createVariable("filled", str, ("time",))[:] = np.array([to_json(r.filled) for r in rows], dtype=object)
    data_keys: dict[str, dict[str, Any]] = {}
    for _, d in descs:
        data_keys.update(d["data_keys"])
    row_keys = {k for r in rows for k in r.data}
    keys = [k for k in data_keys if k in row_keys] + sorted(row_keys - set(data_keys))
    names = variable_names(keys)
    grp.data_key_variables = to_json(names)
    present_motors = [names[m] for m in motors if m in names]
    for key in keys:
        vname = names[key]
        dk = data_keys.get(key, {})
        present = [j for j, r in enumerate(rows) if key in r.data]
        values = [rows[j].data[key] for j in present]
        kind, vtype = _kind(values)
        dims: tuple[str, ...] = ("time",)
        kwargs: dict[str, Any] = {}
        shape: tuple[int, ...] = ()
        if kind == "array":
            shape = np.shape(values[0])
            dims = ("time", *(f"{vname}_dim_{k}" for k in range(len(shape))))
            for dim, size in zip(dims[1:], shape, strict=True):
                grp.createDimension(dim, size)
            if shape:
                kwargs = {"zlib": True, "complevel": 1, "shuffle": True, "chunksizes": (1, *shape)}
        var = grp.createVariable(vname, vtype, dims, **kwargs)
        var.long_name = str(dk.get("long_name") or key)
        var.beamtwin_kind = kind
        if kind == "array":
            var.beamtwin_numpy_dtype = np.asarray(values[0]).dtype.str
        if dk.get("source"):
            var.source = str(dk["source"])
        if dk.get("units"):
            var.units = str(dk["units"])
        if dk.get("external"):
            var.external = str(dk["external"])
        if vname not in present_motors and present_motors:
            var.coordinates = " ".join(present_motors)
        _fill_column(var, kind, values, present, n, shape)
        ts = grp.createVariable(f"{vname}_timestamp", "f8", ("time",))
        ts.units, ts.long_name, ts.calendar = EPOCH_UNITS, f"timestamp of {key}", "standard"
        ts[:] = np.array([r.timestamps.get(key, np.nan) for r in rows], "f8")


def _fill_column(var: Any, kind: str, values: list[Any], present: list[int], n: int,
                 shape: tuple[int, ...]) -> None:
    if not values:
        return
    contiguous = present == list(range(present[0], present[0] + len(present)))
    if kind == "array":
        per = max(1, int(np.prod(shape)) * np.asarray(values[0]).dtype.itemsize)
        batch = max(1, _ARRAY_BATCH_BYTES // per)
        for b in range(0, len(values), batch):
            chunk = np.stack([np.asarray(v) for v in values[b:b + batch]])
            if contiguous:
                var[present[b]:present[b] + len(chunk)] = chunk
            else:
                for j, row in zip(present[b:b + batch], chunk, strict=True):
                    var[j] = row
        return
    if kind == "json":
        column = [to_json(v) for v in values]
    elif kind == "str":
        column = values
    else:
        column = values
    if kind in ("str", "json"):
        full = np.full(n, "", dtype=object)
        full[present] = np.array(column, dtype=object)
        var[:] = full
        return
    np_type = {"bool": "i1", "int": "i8", "float": "f8"}[kind]
    fill = {"bool": -1, "int": -2 ** 63, "float": np.nan}[kind]
    full_num = np.full(n, fill, dtype=np_type)
    full_num[present] = np.array(column, dtype=np_type)
    var[:] = full_num


# -- reading ---------------------------------------------------------------------------------
def read_header(path: Path) -> dict[str, Any]:
    """The start and stop documents, stream names and event count of a run file."""
    with netCDF4.Dataset(path, "r") as nc:
        if getattr(nc, "beamtwin_format", None) is None:
            raise ValueError(f"{path.name}: not a beamtwin run file (no beamtwin_format attribute)")
        num = getattr(nc, "num_events", None)
        if num is None:
            num = sum(len(g.dimensions["time"]) for g in nc.groups.values())
        groups = json.loads(nc.stream_groups) if "stream_groups" in nc.ncattrs() else {g: g for g in nc.groups}
        return {"start": json.loads(nc.start), "stop": json.loads(nc.stop), "streams": list(groups),
                "num_events": int(num)}


def _column(var: Any) -> list[Any] | np.ndarray:
    kind = getattr(var, "beamtwin_kind", None)
    raw = var[:]
    if kind == "array":
        arr = np.asarray(raw)
        want = np.dtype(getattr(var, "beamtwin_numpy_dtype", arr.dtype.str))
        return arr.astype(want, copy=False) if arr.dtype != want else arr
    if kind == "json":
        return [json.loads(s) if s else None for s in raw]
    if kind == "bool":
        return [bool(v) for v in np.asarray(raw).tolist()]
    if kind == "str" or var.dtype is str:
        return list(raw)
    return np.asarray(raw).tolist()  # type: ignore[no-any-return]


def _stream_items(grp: Any) -> Iterator[tuple[int, str, dict[str, Any]]]:
    descs = json.loads(grp.descriptors)
    for idx, d in zip(json.loads(grp.descriptor_doc_index), descs, strict=True):
        yield idx, "descriptor", d
    n = len(grp.dimensions["time"])
    if n == 0:
        return
    keys_by_ordinal = json.loads(grp.event_keys) if "event_keys" in grp.ncattrs() else \
        [list(d["data_keys"]) for d in descs]
    row_keys = [json.loads(s) for s in grp["row_keys"][:]] if "row_keys" in grp.variables else None
    if "filled" in grp.variables:
        filled_rows: list[dict[str, Any]] | None = [json.loads(s) for s in grp["filled"][:]]
        filled_one: dict[str, Any] = {}
    else:
        filled_rows, filled_one = None, json.loads(getattr(grp, "filled", "{}"))
    times = grp["time"][:].tolist()
    seq = grp["seq_num"][:].tolist()
    order = grp["doc_index"][:].tolist()
    page = grp["page"][:].tolist() if "page" in grp.variables else [0] * n
    ordinal = grp["descriptor_ordinal"][:].tolist()
    uids = list(grp["event_uid"][:])
    all_keys = {k for ks in keys_by_ordinal for k in ks} | ({k for ks in row_keys for k in ks} if row_keys else set())
    names = json.loads(grp.data_key_variables) if "data_key_variables" in grp.ncattrs() else {}
    var_of = {k: names.get(k, k) for k in all_keys}
    columns = {k: _column(grp[v]) for k, v in var_of.items() if v in grp.variables}
    stamps = {k: grp[f"{var_of[k]}_timestamp"][:].tolist() for k in columns}
    transposed: dict[int, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = {}
    j = 0
    while j < n:
        if page[j]:
            end = j
            while end < n and page[end] and order[end] == order[j]:
                end += 1
            keys = row_keys[j] if row_keys else keys_by_ordinal[ordinal[j]]
            rng = range(j, end)
            filled_page: dict[str, Any] = {}
            if filled_rows is not None:
                for k in filled_rows[j]:
                    filled_page[k] = [filled_rows[i][k] for i in rng]
            else:
                filled_page = {k: [v] * len(rng) for k, v in filled_one.items()}
            yield order[j], "event_page", {
                "descriptor": descs[ordinal[j]]["uid"],
                "uid": [uids[i] for i in rng], "time": [times[i] for i in rng], "seq_num": [seq[i] for i in rng],
                "data": {k: [columns[k][i] for i in rng] for k in keys},
                "timestamps": {k: [stamps[k][i] for i in rng] for k in keys},
                "filled": filled_page,
            }
            j = end
            continue
        if row_keys:
            keys = row_keys[j]
            data = {k: columns[k][j] for k in keys}
            stamp = {k: stamps[k][j] for k in keys}
        else:
            keys = keys_by_ordinal[ordinal[j]]
            if ordinal[j] not in transposed:  # rows of values, made once per descriptor
                transposed[ordinal[j]] = (list(zip(*(columns[k] for k in keys), strict=True)),
                                          list(zip(*(stamps[k] for k in keys), strict=True)))
            data_rows, stamp_rows = transposed[ordinal[j]]
            data = dict(zip(keys, data_rows[j], strict=True)) if keys else {}
            stamp = dict(zip(keys, stamp_rows[j], strict=True)) if keys else {}
        yield order[j], "event", {
            "uid": uids[j],
            "time": times[j],
            "descriptor": descs[ordinal[j]]["uid"],
            "seq_num": seq[j],
            "data": data,
            "timestamps": stamp,
            "filled": dict(filled_rows[j]) if filled_rows is not None else dict(filled_one),
        }
        j += 1


def iter_documents(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The run's documents again, in their original order, events rebuilt from the variables."""
    with netCDF4.Dataset(path, "r") as nc:
        nc.set_auto_mask(False)
        start = json.loads(nc.start)
        stop = json.loads(nc.stop)
        items: list[tuple[int, str, dict[str, Any]]] = []
        if "documents" in nc.variables:
            for idx, text in zip(nc["document_index"][:].tolist(), nc["documents"][:], strict=True):
                name, doc = json.loads(text)
                items.append((idx, name, doc))
        for grp in nc.groups.values():
            items.extend(_stream_items(grp))
    yield "start", start
    items.sort(key=lambda it: it[0])
    for _, name, doc in items:
        yield name, doc
    if stop is not None:
        yield "stop", stop
