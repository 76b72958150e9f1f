"""End to end: the twin IOC in a subprocess, CA over loopback, the engine, netCDF on disk."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from acq import plans
from acq.devices import LimitError, Motor, Scaler, load_profile
from acq.engine import RunEngine
from acq.loop import call_in_loop
from scenarios import scenario as scenarios
from store import Catalog, Writer
from tests.conftest import validate_documents
from twin.physics import BeamlineModel

TWIN_SEED = 1234
TWIN_SPEED = 50.0


@pytest.fixture(scope="module")
def devices(twin: Any) -> dict[str, Any]:
    return load_profile("default")


def test_scan_is_stored_and_fits_the_true_peak(twin: Any, devices: dict[str, Any], tmp_path: Path) -> None:
    motor, det = devices["motor"], devices["det"]
    assert isinstance(motor, Motor) and isinstance(det, Scaler)
    call_in_loop(det.preset_time.put(0.5))
    docs: list[tuple[str, dict[str, Any]]] = []
    RE = RunEngine(state_dir=tmp_path)
    RE.subscribe(lambda n, d: docs.append((n, d)))
    writer = Writer(tmp_path)
    RE.subscribe(writer)
    start, stop, num = -6.0, 6.0, 41
    (uid,) = RE(plans.scan([det], motor, start, stop, num))

    validate_documents(docs)
    assert docs[0][1]["uid"] == uid
    run = Catalog(tmp_path)[-1]
    assert run.uid == uid and run.metadata["stop"]["exit_status"] == "success"
    ds = run.stream("primary")
    assert ds.sizes["time"] == num
    step = (stop - start) / (num - 1)
    np.testing.assert_allclose(ds["motor"].values, np.linspace(start, stop, num), atol=1e-3)
    assert ds["det"].dtype.kind == "i" and int(ds["det"].max()) > 1000
    # a plain xarray user sees the counts with the motor as a coordinate
    plain = xr.open_dataset(writer.last_path, group="primary")
    assert "motor" in plain["det"].coords

    from acq.callbacks import fit_gaussian

    fit = fit_gaussian(ds["motor"].values, ds["det"].values)
    truth = BeamlineModel(scenarios.load("demo").beamline["physics"], seed=TWIN_SEED).truth()
    assert abs(fit["center"] - truth["center"]) <= step / 2


def test_replay_yields_the_same_documents(twin: Any, devices: dict[str, Any], tmp_path: Path) -> None:
    docs: list[tuple[str, dict[str, Any]]] = []
    RE = RunEngine()
    RE.subscribe(lambda n, d: docs.append((n, d)))
    RE.subscribe(Writer(tmp_path))
    RE(plans.count([devices["det"]], num=3))
    replayed = list(Catalog(tmp_path)[-1].documents())
    assert [n for n, _ in replayed] == [n for n, _ in docs]
    import json

    from store.netcdf import to_json
    assert [json.loads(to_json(d)) for _, d in replayed] == [json.loads(to_json(d)) for _, d in docs]


def test_scan_past_the_limits_fails_before_anything_moves(twin: Any, devices: dict[str, Any]) -> None:
    motor, det = devices["motor"], devices["det"]
    before = call_in_loop(motor.readback.get_value())
    docs: list[str] = []
    RE = RunEngine()
    RE.subscribe(lambda n, d: docs.append(n))
    with pytest.raises(LimitError, match=r"motor: position 50\.0 is outside the limits \[-10\.0, 10\.0\]"):
        RE(plans.scan([det], motor, 0.0, 50.0, 5))
    assert docs == [], "no run was opened"
    time.sleep(0.1)
    assert call_in_loop(motor.readback.get_value()) == before
    assert call_in_loop(motor.done_moving.get_value()) == 1


def test_a_pv_that_never_connects_names_itself(twin: Any, tmp_path: Path) -> None:
    profile = tmp_path / "broken.yaml"
    profile.write_text("devices:\n  ghost:\n    kind: motor\n    prefix: 'NOPE:m9'\n")
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match=r"NOPE:m9\.RBV did not connect within 1\.0 s"):
        load_profile(profile, timeout=1.0)
    assert time.monotonic() - t0 < 5.0
