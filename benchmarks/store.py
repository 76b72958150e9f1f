"""Store benchmark: writing while streaming, replay, search at 100,000 runs, index rebuild.

Side by side with the peer a store is measured against: the same documents written as
JSON lines (``json.dumps`` per document to one buffered file, like suitcase-jsonl) and read
back line by line; for search, a scan of a JSON-lines file of the start documents.
Prints the figures as one JSON object on its last line. ``--quick`` for a smaller run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

# run as a script, this file's folder comes first on sys.path and its name would shadow the store package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from store import Catalog, Writer  # noqa: E402
from store.index import Entry, Index  # noqa: E402
from store.journal import to_json  # noqa: E402

Docs = list[tuple[str, dict[str, Any]]]


def scalar_run(num: int, scan_id: int = 1) -> Docs:
    """A step scan: start, descriptor, ``num`` events of five scalars, stop."""
    t = time.time()
    uid = str(uuid.uuid4())
    desc = str(uuid.uuid4())
    keys = ["m1", "m1_setpoint", "det", "i0", "ring_current"]
    docs: Docs = [("start", {"uid": uid, "time": t, "scan_id": scan_id, "plan_name": "scan", "motors": ["m1"],
                             "versions": {}})]
    docs.append(("descriptor", {"uid": desc, "time": t, "run_start": uid, "name": "primary",
                                "data_keys": {k: {"dtype": "number", "shape": [], "source": f"PV:{k}", "units": "mm"}
                                              for k in keys},
                                "object_keys": {}, "configuration": {}, "hints": {}}))
    for i in range(num):
        ti = t + 0.001 * i
        data = {"m1": i * 0.01, "m1_setpoint": i * 0.01, "det": 1000 + i % 97, "i0": 1.0 + 1e-6 * i,
                "ring_current": 300.0 - 1e-5 * i}
        docs.append(("event", {"uid": str(uuid.uuid4()), "time": ti, "descriptor": desc, "seq_num": i + 1,
                               "data": data, "timestamps": {k: ti for k in keys}, "filled": {}}))
    docs.append(("stop", {"uid": str(uuid.uuid4()), "time": t + num * 0.001, "run_start": uid,
                          "exit_status": "success", "reason": "", "num_events": {"primary": num}}))
    return docs


def frames_run(num: int, shape: tuple[int, int]) -> Docs:
    """A camera run: ``num`` uint16 frames (a Gaussian spot with Poisson noise) and their sums."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    t = time.time()
    uid, desc = str(uuid.uuid4()), str(uuid.uuid4())
    docs: Docs = [("start", {"uid": uid, "time": t, "scan_id": 2, "plan_name": "fly_camera", "versions": {}})]
    docs.append(("descriptor", {"uid": desc, "time": t, "run_start": uid, "name": "primary",
                                "data_keys": {"cam_image": {"dtype": "array", "shape": list(shape), "source": "cam"},
                                              "cam_sum": {"dtype": "integer", "shape": [], "source": "cam"}},
                                "object_keys": {}, "configuration": {}, "hints": {}}))
    for i in range(num):
        cx, cy = shape[1] / 2 + 20 * np.sin(i / 5), shape[0] / 2
        spot = 2000 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 15.0 ** 2)) + 50
        frame = rng.poisson(spot).astype(np.uint16)
        ti = t + 0.01 * i
        docs.append(("event", {"uid": str(uuid.uuid4()), "time": ti, "descriptor": desc, "seq_num": i + 1,
                               "data": {"cam_image": frame, "cam_sum": int(frame.sum())},
                               "timestamps": {"cam_image": ti, "cam_sum": ti}, "filled": {}}))
    docs.append(("stop", {"uid": str(uuid.uuid4()), "time": t + 0.01 * num, "run_start": uid,
                          "exit_status": "success", "reason": "", "num_events": {"primary": num}}))
    return docs


def write_store(docs: Docs, directory: Path) -> tuple[float, float, list[float]]:
    """(seconds streaming, seconds to the file in place, per-call latencies) for the Writer."""
    writer = Writer(directory, flush_interval=1.0)
    lat = []
    t0 = time.perf_counter()
    for name, doc in docs[:-1]:
        a = time.perf_counter()
        writer(name, doc)
        lat.append(time.perf_counter() - a)
    t_stream = time.perf_counter() - t0
    writer(*docs[-1])
    return t_stream, time.perf_counter() - t0, lat


def write_jsonl(docs: Docs, path: Path) -> float:
    """Seconds to write the documents as JSON lines (the peer)."""
    t0 = time.perf_counter()
    with path.open("w") as f:
        for name, doc in docs:
            f.write(to_json([name, doc]) + "\n")
        f.flush()
    return time.perf_counter() - t0


def read_jsonl(path: Path) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = 0
    with path.open() as f:
        for line in f:
            json.loads(line)
            n += 1
    return n, time.perf_counter() - t0


def replay_store(directory: Path) -> tuple[int, float]:
    run = Catalog(directory)[-1]
    t0 = time.perf_counter()
    n = sum(1 for _ in run.documents())
    return n, time.perf_counter() - t0


def dir_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("*.nc"))


def bench_scalar(tmp: Path, num: int) -> dict[str, Any]:
    docs = scalar_run(num)
    t_stream, t_total, lat = write_store(docs, tmp / "scalar")
    t_jsonl = write_jsonl(docs, tmp / "scalar.jsonl")
    n_doc, t_replay = replay_store(tmp / "scalar")
    n_doc_j, t_read_j = read_jsonl(tmp / "scalar.jsonl")
    lat_sorted = sorted(lat)
    return {
        "scalar_events": num,
        "scalar_events_per_s_streaming": round(num / t_stream),
        "scalar_events_per_s_to_netcdf_file": round(num / t_total),
        "scalar_events_per_s_jsonl_peer": round(num / t_jsonl),
        "scalar_write_ratio_vs_jsonl": round(t_jsonl / t_total, 3),
        "writer_call_latency_us_p50": round(1e6 * lat_sorted[len(lat) // 2], 1),
        "writer_call_latency_us_p99": round(1e6 * lat_sorted[int(len(lat) * 0.99)], 1),
        "replay_docs_per_s": round(n_doc / t_replay),
        "replay_docs_per_s_jsonl_peer": round(n_doc_j / t_read_j),
        "replay_ratio_vs_jsonl": round(t_read_j / t_replay, 3),
        "scalar_bytes_netcdf": dir_bytes(tmp / "scalar"),
        "scalar_bytes_jsonl": (tmp / "scalar.jsonl").stat().st_size,
    }


def bench_frames(tmp: Path, num: int, shape: tuple[int, int]) -> dict[str, Any]:
    docs = frames_run(num, shape)
    mb = num * shape[0] * shape[1] * 2 / 1e6
    t_stream, t_total, _ = write_store(docs, tmp / "frames")
    t_jsonl = write_jsonl(docs, tmp / "frames.jsonl")
    n_doc, t_replay = replay_store(tmp / "frames")
    return {
        "frames": num, "frame_shape": list(shape), "frames_raw_MB": round(mb, 1),
        "frames_MB_per_s_streaming": round(mb / t_stream, 1),
        "frames_MB_per_s_to_netcdf_file": round(mb / t_total, 1),
        "frames_MB_per_s_jsonl_peer": round(mb / t_jsonl, 1),
        "frames_write_ratio_vs_jsonl": round(t_jsonl / t_total, 2),
        "frames_bytes_netcdf": dir_bytes(tmp / "frames"),
        "frames_bytes_jsonl": (tmp / "frames.jsonl").stat().st_size,
        "frames_replay_docs_per_s": round(n_doc / t_replay, 1),
    }


PLANS = ["scan", "count", "grid_scan", "xafs", "fly_camera", "adaptive_scan"]
SAMPLES = ["foil", "powder", "film", "crystal", "blank"]
STATUSES = ["success"] * 8 + ["abort", "fail"]


def synthetic_entries(n: int) -> list[tuple[Entry, float, int]]:
    rng = np.random.default_rng(3)
    t0 = 1.7e9
    out = []
    for i in range(n):
        uid = str(uuid.UUID(int=int(rng.integers(0, 2 ** 62)) << 64 | i))
        start = {"uid": uid, "time": t0 + 60.0 * i, "scan_id": i + 1, "plan_name": PLANS[i % len(PLANS)],
                 "sample": {"name": SAMPLES[i % 5], "temperature": float(250 + i % 100)},
                 "operator": f"user{i % 20}", "proposal": 1000 + i // 500, "motors": ["m1"]}
        stop = {"exit_status": STATUSES[i % 10]}
        out.append((Entry(uid, f"{i:06d}-{uid}.nc", i + 1, start["plan_name"], start["time"], stop["exit_status"],
                          50 + i % 200, ["primary"], start, stop), 0.0, 0))
    return out


def bench_search(tmp: Path, n: int, repeats: int) -> dict[str, Any]:
    entries = synthetic_entries(n)
    index = Index(tmp / "index.sqlite")
    t0 = time.perf_counter()
    index.add(entries)
    t_fill = time.perf_counter() - t0
    some_uid = entries[n // 2][0].uid
    t_mid = entries[n // 2][0].time
    queries: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("plan_name", {"plan_name": "xafs"}, {}),
        ("scan_id", {"scan_id": n // 3}, {}),
        ("uid_prefix", {}, {"uid": some_uid[:8]}),
        ("time_range", {}, {"since": t_mid, "until": t_mid + 3600 * 24}),
        ("exit_status", {"exit_status": "abort"}, {}),
        ("start_key_eq", {"sample.name": "powder"}, {}),
        ("start_key_range", {"sample.temperature": {"$gte": 300, "$lt": 310}}, {}),
        ("start_key_in", {"operator": {"$in": ["user3", "user7"]}}, {}),
        ("combined", {"plan_name": "scan", "sample.name": "foil", "proposal": {"$gt": 1100}},
         {"since": 1.7e9 + 60.0 * n / 2}),
        ("unknown_key", {"no_such_key": 1}, {}),
    ]
    per: dict[str, float] = {}
    all_times: list[float] = []
    for label, q, kw in queries:
        times = []
        for _ in range(repeats):
            a = time.perf_counter()
            index.search(q, limit=100, **kw)
            times.append(time.perf_counter() - a)
        per[label] = round(1e3 * sorted(times)[int(0.95 * (len(times) - 1))], 2)
        all_times += times
    all_times.sort()
    # the peer: no index, scan a JSON-lines file of the start documents
    jl = tmp / "starts.jsonl"
    with jl.open("w") as f:
        for e, _, _ in entries:
            f.write(json.dumps(e.start) + "\n")
    peer = []
    for _ in range(3):
        a = time.perf_counter()
        hits = []
        with jl.open() as f:
            for line in f:
                d = json.loads(line)
                if d["plan_name"] == "xafs":
                    hits.append(d)
        hits.sort(key=lambda d: -d["time"])
        peer.append(time.perf_counter() - a)
    index.close()
    return {
        "index_runs": n, "index_fill_s": round(t_fill, 2),
        "search_ms_p50": round(1e3 * all_times[len(all_times) // 2], 2),
        "search_ms_p95": round(1e3 * all_times[int(0.95 * (len(all_times) - 1))], 2),
        "search_ms_p95_by_query": per,
        "search_ms_jsonl_scan_peer": round(1e3 * statistics.median(peer), 1),
    }


def bench_rebuild(tmp: Path, n: int) -> dict[str, Any]:
    d = tmp / "many"
    writer = Writer(d)
    t0 = time.perf_counter()
    for i in range(n):
        for name, doc in scalar_run(5, scan_id=i + 1):
            writer(name, doc)
    t_write = time.perf_counter() - t0
    cat = Catalog(d)
    t0 = time.perf_counter()
    count = cat.rebuild()
    t_rebuild = time.perf_counter() - t0
    t0 = time.perf_counter()
    cat.refresh(force=True)
    t_refresh = time.perf_counter() - t0
    time.sleep(0.1)
    cat.refresh()
    t0 = time.perf_counter()
    found = cat.search(plan_name="scan", limit=100)
    t_search = time.perf_counter() - t0
    assert len(found) == min(n, 100)
    assert count == n
    return {"rebuild_run_files": n, "rebuild_index_s": round(t_rebuild, 2),
            "refresh_full_unchanged_ms": round(1e3 * t_refresh, 1),
            "catalog_search_ms_at_rebuild_size": round(1e3 * t_search, 2),
            "small_runs_written_per_s": round(n / t_write, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = p.parse_args()
    q = args.quick
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        out: dict[str, Any] = {"benchmark": "store"}
        out.update(bench_scalar(tmp, 2000 if q else 20000))
        print("scalar done", file=sys.stderr)
        out.update(bench_frames(tmp, 10 if q else 100, (256, 256) if q else (512, 512)))
        print("frames done", file=sys.stderr)
        out.update(bench_search(tmp, 5000 if q else 100_000, 20 if q else 50))
        print("search done", file=sys.stderr)
        out.update(bench_rebuild(tmp, 50 if q else 1000))
        out["search_p95_under_50ms"] = out["search_ms_p95"] < 50.0
        print(json.dumps(out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
