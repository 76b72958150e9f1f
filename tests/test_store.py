"""The store on real netCDF files: round trip, plain readers, bad files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import netCDF4
import xarray as xr

from acq import plans
from acq.engine import RunEngine
from store import Catalog, Writer
from store.netcdf import to_json
from tests.test_engine_soft import SoftDet, SoftMotor


def _run_scan(data_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    m = SoftMotor("m")
    d = SoftDet("d", m)
    RE = RunEngine()
    docs: list[tuple[str, dict[str, Any]]] = []
    RE.subscribe(lambda n, doc: docs.append((n, doc)))
    RE.subscribe(Writer(data_dir))
    RE(plans.scan([d], m, -1.0, 1.0, 7))
    return docs


def test_round_trip_is_lossless(tmp_path: Path) -> None:
    docs = _run_scan(tmp_path)
    replayed = list(Catalog(tmp_path)[-1].documents())
    assert json.loads(to_json(replayed)) == json.loads(to_json(docs))
    assert not list((tmp_path / ".journal").glob("*")), "the journal is gone once the file is written"


def test_replay_follows_the_file(tmp_path: Path) -> None:
    _run_scan(tmp_path)
    run = Catalog(tmp_path)[-1]
    with netCDF4.Dataset(run.path, "a") as nc:
        nc["primary"]["d"][3] = -123.0
    events = [d for n, d in Catalog(tmp_path)[-1].documents() if n == "event"]
    assert events[3]["data"]["d"] == -123.0


def test_plain_xarray_reads_names_units_coordinates(tmp_path: Path) -> None:
    _run_scan(tmp_path)
    path = Catalog(tmp_path)[-1].path
    ds = xr.open_dataset(path, group="primary")
    assert ds.sizes["time"] == 7
    assert "m" in ds["d"].coords
    assert ds["d"].attrs["long_name"] == "d"


def test_corrupt_files_are_skipped(tmp_path: Path, capsys: Any) -> None:
    _run_scan(tmp_path)
    (tmp_path / "garbage.nc").write_bytes(b"not a netCDF file at all")
    runs = Catalog(tmp_path).runs()
    assert len(runs) == 1
    assert "garbage.nc" in capsys.readouterr().err
