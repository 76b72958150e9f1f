"""The netCDF layout of one run: one group per stream, documents kept losslessly.

Root attributes: ``start`` and ``stop`` (JSON), plus ``uid``, ``scan_id``, ``plan_name``,
``exit_status`` for quick search. Each stream group has the unlimited ``time`` dimension
and the variables ``time`` (event time), ``seq_num``, ``event_uid``, ``doc_index`` (the
event's place in the run's document order) and one variable per data key (CF ``units``,
``long_name``, ``coordinates``) with its ``<key>_timestamp``; the descriptors are the
group attribute ``descriptors`` (JSON) with ``descriptor_doc_index``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

FORMAT_VERSION = 1


def to_json(obj: Any) -> str:
    """JSON of a document, turning numpy values into plain ones."""
    return json.dumps(obj, default=_plain, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _np_type(dtype: str, sample: Any) -> Any:
    if dtype == "string" or isinstance(sample, str):
        return str
    if dtype == "boolean":
        return "i1"
    arr = np.asarray(sample)
    if arr.dtype.kind in "iu":
        return "i8"
    if arr.dtype.kind == "b":
        return "i1"
    return "f8"


def write_run(path: Path, docs: list[tuple[str, dict[str, Any]]]) -> None:
    """Write the documents of one run to ``path`` atomically (a temp file, then rename)."""
    start = next(d for n, d in docs if n == "start")
    stop = next((d for n, d in docs if n == "stop"), None)
    descriptors: dict[str, dict[str, Any]] = {}
    desc_index: dict[str, int] = {}
    events: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for i, (name, doc) in enumerate(docs):
        if name == "descriptor":
            descriptors[doc["uid"]] = doc
            desc_index[doc["uid"]] = i
        elif name == "event":
            events.setdefault(doc["descriptor"], []).append((i, doc))
    tmp = path.with_name(path.name + ".part")
    with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
        nc.Conventions = "CF-1.8"
        nc.title = f"beamtwin run {start.get('scan_id')} {start.get('plan_name', '')}".strip()
        nc.beamtwin_format = FORMAT_VERSION
        nc.uid = start["uid"]
        nc.scan_id = int(start.get("scan_id", 0))
        nc.plan_name = str(start.get("plan_name", ""))
        nc.exit_status = stop["exit_status"] if stop else "incomplete"
        nc.start = to_json(start)
        nc.stop = to_json(stop) if stop else "null"
        streams: dict[str, list[str]] = {}
        for uid, desc in descriptors.items():
            streams.setdefault(desc.get("name", "primary"), []).append(uid)
        motors = [str(m) for m in start.get("motors", [])]
        for stream, uids in streams.items():
            _write_stream(nc.createGroup(stream), [descriptors[u] for u in uids],
                          [desc_index[u] for u in uids],
                          sorted((e for u in uids for e in events.get(u, [])), key=lambda e: e[0]),
                          motors)
    os.replace(tmp, path)


def _write_stream(grp: Any, descs: list[dict[str, Any]], desc_idx: list[int],
                  events: list[tuple[int, dict[str, Any]]], motors: list[str]) -> None:
    grp.descriptors = to_json(descs)
    grp.descriptor_doc_index = to_json(desc_idx)
    grp.createDimension("time", None)
    uid_to_ordinal = {d["uid"]: i for i, d in enumerate(descs)}
    len(events)
    t = grp.createVariable("time", "f8", ("time",))
    t.units = "seconds since 1970-01-01 00:00:00 UTC"
    t.standard_name = "time"
    t.long_name = "event time"
    t[:] = np.array([e["time"] for _, e in events], dtype="f8")
    grp.createVariable("seq_num", "i8", ("time",))[:] = np.array([e["seq_num"] for _, e in events], "i8")
    grp.createVariable("doc_index", "i8", ("time",))[:] = np.array([i for i, _ in events], "i8")
    grp.createVariable("descriptor_ordinal", "i4", ("time",))[:] = np.array(
        [uid_to_ordinal[e["descriptor"]] for _, e in events], "i4")
    uids = grp.createVariable("event_uid", str, ("time",))
    for j, (_, e) in enumerate(events):
        uids[j] = e["uid"]
    data_keys: dict[str, dict[str, Any]] = {}
    for d in descs:
        data_keys.update(d["data_keys"])
    present_motors = [m for m in motors if m in data_keys]
    for key, dk in data_keys.items():
        values = [e["data"].get(key) for _, e in events]
        sample = next((v for v in values if v is not None), 0.0)
        shape = [int(s) for s in dk.get("shape", [])]
        dims = ("time", *(f"{key}_dim_{k}" for k in range(len(shape))))
        for dim, size in zip(dims[1:], shape, strict=True):
            grp.createDimension(dim, size)
        vtype = _np_type(dk.get("dtype", "number"), sample)
        kwargs: dict[str, Any] = {}
        if shape:
            kwargs = {"zlib": True, "complevel": 4, "chunksizes": (1, *shape)}
        var = grp.createVariable(key, vtype, dims, **kwargs)
        var.long_name = key
        var.source = str(dk.get("source", ""))
        var.beamtwin_dtype = str(dk.get("dtype", ""))
        if dk.get("units"):
            var.units = str(dk["units"])
        if key not in present_motors and present_motors:
            var.coordinates = " ".join(present_motors)
        for j, v in enumerate(values):
            if v is None:
                continue
            var[j] = v if vtype is str else np.asarray(v)
        ts = grp.createVariable(f"{key}_timestamp", "f8", ("time",))
        ts.units = "seconds since 1970-01-01 00:00:00 UTC"
        ts.long_name = f"timestamp of {key}"
        ts[:] = np.array([e["timestamps"].get(key, np.nan) for _, e in events], "f8")


def read_header(path: Path) -> dict[str, Any]:
    """The start and stop documents and the stream names of a run file."""
    with netCDF4.Dataset(path, "r") as nc:
        if getattr(nc, "beamtwin_format", None) is None:
            raise ValueError(f"{path}: not a beamtwin run file")
        return {"start": json.loads(nc.start), "stop": json.loads(nc.stop), "streams": list(nc.groups)}


def _py(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist() if value.ndim else value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def iter_documents(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The run's documents again, in their original order, events rebuilt from the variables."""
    with netCDF4.Dataset(path, "r") as nc:
        nc.set_auto_mask(False)
        start = json.loads(nc.start)
        stop = json.loads(nc.stop)
        items: list[tuple[int, str, dict[str, Any]]] = []
        for grp in nc.groups.values():
            descs = json.loads(grp.descriptors)
            for idx, d in zip(json.loads(grp.descriptor_doc_index), descs, strict=True):
                items.append((idx, "descriptor", d))
            keys_of = [list(d["data_keys"]) for d in descs]
            times = grp["time"][:]
            seq = grp["seq_num"][:]
            order = grp["doc_index"][:]
            ordinal = grp["descriptor_ordinal"][:]
            uids = grp["event_uid"][:]
            columns = {k: grp[k][:] for d in descs for k in d["data_keys"]}
            stamps = {k: grp[f"{k}_timestamp"][:] for k in columns}
            for j in range(len(times)):
                keys = keys_of[int(ordinal[j])]
                items.append((int(order[j]), "event", {
                    "uid": str(uids[j]),
                    "time": float(times[j]),
                    "descriptor": descs[int(ordinal[j])]["uid"],
                    "seq_num": int(seq[j]),
                    "data": {k: _py(columns[k][j]) for k in keys},
                    "timestamps": {k: float(stamps[k][j]) for k in keys},
                    "filled": {},
                }))
    yield "start", start
    for _, name, doc in sorted(items, key=lambda it: it[0]):
        yield name, doc
    if stop is not None:
        yield "stop", stop
