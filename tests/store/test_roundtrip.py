"""Documents → Writer → netCDF → replay: equal to the originals; files readable by plain tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import event_model
import netCDF4
import numpy as np
import pytest
import xarray as xr

from store import Catalog, Writer
from store.journal import to_json
from tests.store import runs


def _validate(docs: runs.Docs) -> None:
    for name, doc in docs:
        event_model.schema_validators[event_model.DocumentNames[name]].validate(json.loads(to_json(doc)))


def _store(tmp_path: Path, docs: runs.Docs) -> Path:
    writer = Writer(tmp_path / "data", flush_interval=0.2)
    for name, doc in docs:
        writer(name, doc)
    assert writer.last_path is not None and writer.last_path.exists()   # readable at once
    assert Catalog(tmp_path / "data").interrupted() == []               # its journal is held till it is fsync'd
    writer.flush()                                                      # (the flush thread's job; here at once)
    assert not list((tmp_path / "data" / ".journal").glob("*")), "the journal is gone once the file is durable"
    return writer.last_path


def _assert_same(replayed: runs.Docs, docs: runs.Docs) -> None:
    assert [n for n, _ in replayed] == [n for n, _ in docs]
    for (name, got), (_, want) in zip(replayed, docs, strict=True):
        assert json.loads(to_json(got)) == json.loads(to_json(want)), name


@pytest.mark.parametrize("make", [runs.scan_with_baseline, runs.grid_scan, runs.frames_run, runs.aborted_run,
                                  runs.odd_names_run],
                         ids=["baseline-scan", "grid-event-pages", "frames", "aborted", "odd-names"])
def test_replay_equals_the_original_documents(tmp_path: Path, make: Any) -> None:
    docs = make()
    _validate(docs)
    _store(tmp_path, docs)
    run = Catalog(tmp_path / "data")[-1]
    _assert_same(list(run.documents()), docs)
    assert run.metadata["stop"]["exit_status"] == docs[-1][1]["exit_status"]


def test_odd_names_read_back(tmp_path: Path) -> None:
    _store(tmp_path, runs.odd_names_run())
    run = Catalog(tmp_path / "data")[-1]
    assert run.streams == ["monitor/ring"]
    ds = run.stream("monitor/ring")
    assert ds.sizes["time"] == 3 and ds["a b"].values.tolist() == [2.0, 3.0, 4.0]


def test_value_types_survive(tmp_path: Path) -> None:
    docs = runs.scan_with_baseline(4)
    _store(tmp_path, docs)
    events = [d for n, d in Catalog(tmp_path / "data")[-1].documents() if n == "event"]
    prim = [e for e in events if "det" in e["data"]]
    assert type(prim[0]["data"]["det"]) is int and type(prim[0]["data"]["in_beam"]) is bool
    assert type(prim[0]["data"]["m1"]) is float and [e["data"]["in_beam"] for e in prim] == [True, False, True, False]
    assert [e["data"]["mono_name"] for e in events if "mono_name" in e["data"]] == ["Si111", "Si111"]


def test_frames_are_chunked_compressed_and_exact(tmp_path: Path) -> None:
    docs = runs.frames_run(5, (64, 80))
    path = _store(tmp_path, docs)
    with netCDF4.Dataset(path) as nc:
        var = nc["primary"]["cam_image"]
        assert var.dtype == np.uint16
        assert var.chunking() == [1, 64, 80]
        assert var.filters()["zlib"] and var.filters()["shuffle"]
    ds = Catalog(tmp_path / "data")[-1].stream("primary")
    assert ds["cam_image"].chunks is not None, "frames stay lazy"
    want = np.stack([d["data"]["cam_image"] for n, d in docs if n == "event"])
    np.testing.assert_array_equal(ds["cam_image"].values, want)
    assert ds["cam_image"].dims == ("time", "cam_image_dim_0", "cam_image_dim_1")


def test_external_hdf5_data_recorded_and_loaded_on_demand(tmp_path: Path) -> None:
    docs, frames = runs.external_frames_run(tmp_path / "cam")
    _validate(docs)
    _store(tmp_path, docs)
    run = Catalog(tmp_path / "data")[-1]
    _assert_same(list(run.documents()), docs)
    ds = run.stream("primary")
    assert ds["cam_image"].chunks is not None
    np.testing.assert_array_equal(ds["cam_image"].values, frames)
    np.testing.assert_array_equal(ds["cam2_image"].values, frames[::-1])
    raw = run.stream("primary", fill=False)
    assert str(raw["cam_image"].values[0]) == docs[5][1]["data"]["cam_image"]
    # the paths are recorded in the file, and the data are read only when asked for
    (tmp_path / "cam" / "cam.h5").rename(tmp_path / "cam" / "moved.h5")
    with pytest.raises(FileNotFoundError, match=r"cam\.h5"):
        run.stream("primary")
    assert run.stream("primary", fill=False).sizes["time"] == 3


def test_plain_readers_see_names_units_coordinates(tmp_path: Path) -> None:
    docs = runs.scan_with_baseline(6)
    path = _store(tmp_path, docs)
    ds = xr.open_dataset(path, group="primary")
    assert ds.sizes["time"] == 6 and np.issubdtype(ds["time"].dtype, np.datetime64)
    assert ds["det"].attrs["units"] == "counts" and ds["det"].attrs["long_name"] == "det"
    assert "m1" in ds["det"].coords and ds["m1"].attrs["units"] == "mm"
    base = xr.open_dataset(path, group="baseline")
    assert base.sizes["time"] == 2 and base["ring_current"].attrs["units"] == "mA"
    assert base.attrs["configuration.slit.slit_offset"] == 0.25
    assert ds["det"].dtype.kind == "i", "integer counts stay integers for plain readers"
    with netCDF4.Dataset(path) as nc:
        assert set(nc.groups) == {"baseline", "primary"}
        assert nc.plan_name == "scan" and nc.exit_status == "success"
        assert json.loads(nc.start)["sample"] == {"name": "foil", "thickness": 0.1}
        stamps = [d["timestamps"]["det"] for n, d in docs if n == "event" and "det" in d["data"]]
        assert nc["primary"]["det_timestamp"][:].tolist() == stamps
        assert nc["primary"]["det_timestamp"].units.startswith("seconds since 1970")


def test_replay_follows_the_file(tmp_path: Path) -> None:
    _store(tmp_path, runs.grid_scan())
    run = Catalog(tmp_path / "data")[-1]
    with netCDF4.Dataset(run.path, "a") as nc:
        nc["primary"]["fluo"][5] = -7.5
    pages = [d for n, d in Catalog(tmp_path / "data")[-1].documents() if n == "event_page"]
    assert pages[1]["data"]["fluo"][1] == -7.5


def test_two_runs_interleaved_go_to_their_own_files(tmp_path: Path) -> None:
    a, b = runs.scan_with_baseline(3, scan_id=10), runs.grid_scan(scan_id=11)
    writer = Writer(tmp_path)
    for i in range(max(len(a), len(b))):
        for docs in (a, b):
            if i < len(docs):
                writer(*docs[i])
    cat = Catalog(tmp_path)
    _assert_same(list(cat[10].documents()), a)
    _assert_same(list(cat[11].documents()), b)
