"""Runs composed with event-model (validated), for the store tests and benchmark."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import event_model
import numpy as np

Docs = list[tuple[str, dict[str, Any]]]


def _reading(value: Any, t: float) -> tuple[Any, float]:
    return value, t


def scan_with_baseline(num: int = 9, *, scan_id: int = 1, t0: float | None = None, **md: Any) -> Docs:
    """A 1-D step scan of ``m1`` reading ``det`` (counts) and ``i0``, with a baseline before and after."""
    t = time.time() if t0 is None else t0
    bundle = event_model.compose_run(time=t, metadata={
        "plan_name": "scan", "scan_id": scan_id, "motors": ["m1"], "sample": {"name": "foil", "thickness": 0.1},
        "operator": "ada", "num_points": num, "versions": {}, **md})
    docs: Docs = [("start", bundle.start_doc)]
    base = bundle.compose_descriptor(name="baseline", time=t, data_keys={
        "ring_current": {"dtype": "number", "shape": [], "source": "PV:ring", "units": "mA"},
        "slit_gap": {"dtype": "number", "shape": [], "source": "PV:slit", "units": "mm"},
        "mono_name": {"dtype": "string", "shape": [], "source": "PV:mono"}},
        configuration={"slit": {"data": {"slit_offset": 0.25}, "timestamps": {"slit_offset": t},
                                "data_keys": {"slit_offset": {"dtype": "number", "shape": [], "source": "x"}}}})
    docs.append(("descriptor", base.descriptor_doc))
    docs.append(("event", base.compose_event(data={"ring_current": 301.5, "slit_gap": 1.25, "mono_name": "Si111"},
                                              timestamps={"ring_current": t, "slit_gap": t, "mono_name": t},
                                              time=t + 0.001)))
    prim = bundle.compose_descriptor(name="primary", time=t + 0.002, data_keys={
        "m1": {"dtype": "number", "shape": [], "source": "PV:m1.RBV", "units": "mm", "precision": 3},
        "m1_setpoint": {"dtype": "number", "shape": [], "source": "PV:m1.VAL", "units": "mm"},
        "det": {"dtype": "integer", "shape": [], "source": "PV:sc1.S2", "units": "counts"},
        "i0": {"dtype": "number", "shape": [], "source": "PV:i0", "units": "V"},
        "in_beam": {"dtype": "boolean", "shape": [], "source": "PV:shutter"}},
        hints={"m1": {"fields": ["m1"]}, "det": {"fields": ["det"]}},
        object_keys={"m1": ["m1", "m1_setpoint"], "det": ["det"], "i0": ["i0"], "shutter": ["in_beam"]})
    docs.append(("descriptor", prim.descriptor_doc))
    for i in range(num):
        x = -1.0 + 2.0 * i / max(1, num - 1)
        ti = t + 0.01 * (i + 1)
        docs.append(("event", prim.compose_event(
            data={"m1": x + 1e-4, "m1_setpoint": x, "det": int(1000 * math.exp(-x * x)) + i, "i0": 1.0 + 0.01 * i,
                  "in_beam": i % 2 == 0},
            timestamps={k: ti for k in ("m1", "m1_setpoint", "det", "i0", "in_beam")}, time=ti)))
    docs.append(("event", base.compose_event(data={"ring_current": 301.0, "slit_gap": 1.25, "mono_name": "Si111"},
                                              timestamps={"ring_current": t + 1, "slit_gap": t + 1, "mono_name": t + 1},
                                              time=t + 0.01 * (num + 1))))
    docs.append(("stop", bundle.compose_stop(exit_status="success", time=t + 0.01 * (num + 2))))
    return docs


def grid_scan(nx: int = 4, ny: int = 3, *, scan_id: int = 2, t0: float | None = None) -> Docs:
    """A 2-D grid over ``x`` and ``y`` (snaking), its events sent as one event_page per row."""
    t = time.time() if t0 is None else t0
    bundle = event_model.compose_run(time=t, metadata={
        "plan_name": "grid_scan", "scan_id": scan_id, "motors": ["y", "x"], "shape": [ny, nx], "snaking": [False, True],
        "versions": {}})
    docs: Docs = [("start", bundle.start_doc)]
    prim = bundle.compose_descriptor(name="primary", time=t, data_keys={
        "x": {"dtype": "number", "shape": [], "source": "PV:x", "units": "mm"},
        "y": {"dtype": "number", "shape": [], "source": "PV:y", "units": "mm"},
        "fluo": {"dtype": "number", "shape": [], "source": "PV:fluo", "units": "counts/s"}})
    docs.append(("descriptor", prim.descriptor_doc))
    for j in range(ny):
        xs = list(range(nx)) if j % 2 == 0 else list(range(nx))[::-1]
        ts = [t + 0.01 * (j * nx + k + 1) for k in range(nx)]
        data = {"x": [float(x) for x in xs], "y": [float(j)] * nx, "fluo": [float(x * x + j) for x in xs]}
        docs.append(("event_page", prim.compose_event_page(
            data=data, timestamps={k: ts for k in data}, time=ts, seq_num=[j * nx + k + 1 for k in range(nx)])))
    docs.append(("stop", bundle.compose_stop(exit_status="success", time=t + 1)))
    return docs


def frames_run(num: int = 4, shape: tuple[int, int] = (32, 48), *, scan_id: int = 3, t0: float | None = None,
               exit_status: str = "success") -> Docs:
    """A fly-like run whose events carry camera frames inline (uint16 arrays)."""
    t = time.time() if t0 is None else t0
    rng = np.random.default_rng(7)
    bundle = event_model.compose_run(time=t, metadata={"plan_name": "fly_camera", "scan_id": scan_id,
                                                       "motors": ["theta"], "versions": {}})
    docs: Docs = [("start", bundle.start_doc)]
    prim = bundle.compose_descriptor(name="primary", time=t, data_keys={
        "theta": {"dtype": "number", "shape": [], "source": "PV:th", "units": "deg"},
        "cam_image": {"dtype": "array", "shape": list(shape), "source": "PV:cam:image", "units": "counts"},
        "cam_sum": {"dtype": "integer", "shape": [], "source": "PV:cam:sum"}})
    docs.append(("descriptor", prim.descriptor_doc))
    for i in range(num):
        frame = rng.integers(0, 4000, size=shape, dtype=np.uint16)
        ti = t + 0.01 * (i + 1)
        docs.append(("event", prim.compose_event(data={"theta": 0.5 * i, "cam_image": frame,
                                                        "cam_sum": int(frame.sum())},
                                                  timestamps={"theta": ti, "cam_image": ti, "cam_sum": ti}, time=ti)))
    docs.append(("stop", bundle.compose_stop(exit_status=exit_status, time=t + 0.01 * (num + 1),
                                             reason="" if exit_status == "success" else "user abort")))
    return docs


def external_frames_run(directory: Path, num: int = 3, shape: tuple[int, int] = (8, 10), *, scan_id: int = 4,
                        t0: float | None = None) -> tuple[Docs, np.ndarray]:
    """A camera run whose frames live in an HDF5 file (resource/datum) and a second one (stream_resource)."""
    import h5py

    t = time.time() if t0 is None else t0
    frames = np.arange(num * shape[0] * shape[1], dtype=np.uint16).reshape(num, *shape)
    directory.mkdir(parents=True, exist_ok=True)
    with h5py.File(directory / "cam.h5", "w") as f:
        f["/entry/data/data"] = frames
    with h5py.File(directory / "cam2.h5", "w") as f:
        f["/entry/data/data"] = frames[::-1].copy()
    bundle = event_model.compose_run(time=t, metadata={"plan_name": "count_camera", "scan_id": scan_id,
                                                       "versions": {}})
    docs: Docs = [("start", bundle.start_doc)]
    res = bundle.compose_resource(spec="AD_HDF5", root=str(directory), resource_path="cam.h5",
                                  resource_kwargs={"frame_per_point": 1})
    docs.append(("resource", res.resource_doc))
    prim = bundle.compose_descriptor(name="primary", time=t, data_keys={
        "cam_image": {"dtype": "array", "shape": list(shape), "source": "PV:cam", "external": "FILESTORE:"},
        "cam2_image": {"dtype": "array", "shape": [1, *shape], "source": "PV:cam2", "external": "STREAM:"},
        "cam_stats_total": {"dtype": "number", "shape": [], "source": "PV:cam:total"}})
    docs.append(("descriptor", prim.descriptor_doc))
    sres = bundle.compose_stream_resource(mimetype="application/x-hdf5", uri=f"file://localhost{directory}/cam2.h5",
                                          data_key="cam2_image", parameters={"dataset": "/entry/data/data"})
    docs.append(("stream_resource", sres.stream_resource_doc))
    for i in range(num):
        datum = res.compose_datum(datum_kwargs={"point_number": i})
        docs.append(("datum", datum))
        ti = t + 0.01 * (i + 1)
        docs.append(("event", prim.compose_event(data={"cam_image": datum["datum_id"],
                                                        "cam_stats_total": float(frames[i].sum())},
                                                  timestamps={"cam_image": ti, "cam_stats_total": ti},
                                                  filled={"cam_image": False}, time=ti)))
        docs.append(("stream_datum", sres.compose_stream_datum(
            indices={"start": i, "stop": i + 1}, seq_nums={"start": i + 1, "stop": i + 2},
            descriptor=prim.descriptor_doc)))
    docs.append(("stop", bundle.compose_stop(exit_status="success", time=t + 1)))
    return docs, frames


def aborted_run(*, scan_id: int = 5, t0: float | None = None) -> Docs:
    """A scan stopped by the user after three points."""
    docs = scan_with_baseline(3, scan_id=scan_id, t0=t0)
    stop = dict(docs[-1][1])
    stop.update(exit_status="abort", reason="RequestAbort: stopped by the user")
    return [*docs[:-1], ("stop", stop)]


def odd_names_run(*, scan_id: int = 6, t0: float | None = None) -> Docs:
    """Data keys and a stream whose names clash with the layout or are not legal netCDF names."""
    t = time.time() if t0 is None else t0
    bundle = event_model.compose_run(time=t, metadata={"plan_name": "odd", "scan_id": scan_id, "motors": ["time"],
                                                       "versions": {}})
    docs: Docs = [("start", bundle.start_doc)]
    keys = ["time", "seq_num", "a b", "3d", "x", "x_timestamp", "mixed"]
    desc = bundle.compose_descriptor(name="monitor/ring", time=t, data_keys={
        k: {"dtype": "number", "shape": [], "source": "sim"} for k in keys})
    docs.append(("descriptor", desc.descriptor_doc))
    for i in range(3):
        data: dict[str, Any] = {k: float(i + j) for j, k in enumerate(keys)}
        data["mixed"] = [1, "two", None][i]
        docs.append(("event", desc.compose_event(data=data, timestamps={k: t + i for k in keys}, time=t + i)))
    docs.append(("stop", bundle.compose_stop(exit_status="success", time=t + 4)))
    return docs
