"""The hardware-triggered fly scan over Channel Access: the twin's trigger box fires its camera as
the stage sweeps; the run holds one event per trigger and references every frame in HDF5."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import beamlines
from acq import plans
from acq.devices import AreaDetector, LimitError, Motor, TriggerBox, TriggeredFlyer, load_profile
from acq.engine import RunEngine
from acq.loop import call_in_loop
from scenarios.twin_process import TwinProcess
from store import Catalog, Writer
from tests.conftest import validate_documents
from twin.physics import BeamlineModel

SEED = 7


@pytest.fixture(scope="module")
def fly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The fly beamline's twin in a subprocess and its profile loaded over CA."""
    saved = {k: os.environ.get(k) for k in ("EPICS_CA_ADDR_LIST", "EPICS_CA_AUTO_ADDR_LIST",
                                           "EPICS_CA_SERVER_PORT", "EPICS_CA_MAX_ARRAY_BYTES")}
    with TwinProcess("demo", seed=SEED, speed=20.0, beamline="fly") as proc:
        os.environ.update(proc.env)
        devices = load_profile("fly")
        devices["cam"].write_path = str(tmp_path_factory.mktemp("frames"))
        yield devices
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _transmission(positions: np.ndarray) -> np.ndarray:
    model = BeamlineModel(beamlines.load("fly")["physics"], seed=SEED)
    return np.array([model.sample.transmission({"sample_x": float(p), "sample_y": 0.0}, 12.0) for p in positions])


def test_profile_loads_the_trigger_box_with_its_wiring(fly: dict[str, Any]) -> None:
    box = fly["pc"]
    assert isinstance(box, TriggerBox) and box.axes == {"sample_x": "sample_x"}
    with pytest.raises(ValueError, match="motor 'sample_y' is not wired to this trigger box"):
        box.axis_entry("sample_y")


def test_fly_scan_stores_one_event_per_trigger_with_its_frame(fly: dict[str, Any], tmp_path: Path) -> None:
    cam, x, box = fly["cam"], fly["sample_x"], fly["pc"]
    velocity_before = call_in_loop(x.velocity.get_value())
    docs: list[tuple[str, dict[str, Any]]] = []
    RE = RunEngine({})
    RE.subscribe(lambda n, d: docs.append((n, d)))
    RE(plans.fly_scan([cam], x, -1.0, 1.0, 5, trigger_box=box, velocity=2.0, exposure=0.01))  # an earlier flight
    docs.clear()
    RE.subscribe(Writer(tmp_path))
    began = time.time()
    (uid,) = RE(plans.fly_scan([cam], x, -3.0, 3.0, 31, trigger_box=box, velocity=1.0, exposure=0.01))
    ended = time.time()
    validate_documents([(n, d) for n, d in docs])
    names = [n for n, _ in docs]
    assert names == ["start", "descriptor", "stream_resource", "stream_datum", "event_page", "stop"]
    start = docs[0][1]
    assert start["plan_name"] == "fly_scan" and start["num_points"] == 31 and start["motors"] == ["sample_x"]
    assert start["detectors"] == ["cam"] and start["hints"]["dimensions"] == [[["sample_x"], "primary"]]
    desc = docs[1][1]
    assert desc["name"] == "primary" and desc["data_keys"]["cam_image"]["external"] == "STREAM:"
    assert desc["data_keys"]["sample_x"]["source"] == "ca://BTF:pc1:Positions-RB"
    resource, datum = docs[2][1], docs[3][1]
    assert datum["indices"] == {"start": 0, "stop": 31} and datum["seq_nums"] == {"start": 1, "stop": 32}
    assert datum["descriptor"] == desc["uid"] and datum["stream_resource"] == resource["uid"]
    page = docs[4][1]
    assert page["seq_num"] == list(range(1, 32))
    grid = np.linspace(-3.0, 3.0, 31)
    np.testing.assert_allclose(page["data"]["sample_x"], grid, atol=1e-6)
    assert np.all(np.diff(page["data"]["pc_time"]) == pytest.approx(0.2, rel=1e-3))  # 0.2 mm at 1 mm/s
    # each event's time is when the box reported its pulse, during this flight (6 simulated s at ×20)
    assert began <= page["time"][0] and page["time"][-1] <= ended
    assert np.all(np.diff(page["time"]) >= 0) and page["time"][-1] - page["time"][0] > 0.1
    path = resource["uri"].removeprefix("file://localhost")
    with h5py.File(path, "r") as f:
        assert f["/entry/data/data"].shape == (31, 48, 64)
    assert call_in_loop(x.velocity.get_value()) == velocity_before, "the fly velocity is undone"

    ds = Catalog(tmp_path)[uid].stream("primary")
    frames = ds["cam_image"]
    assert frames.shape == (31, 48, 64) and type(frames.data).__module__.startswith("dask"), "loaded on demand"
    sums = frames.values.astype(float).sum(axis=(1, 2))
    truth = _transmission(ds["sample_x"].values)
    # each frame shows what the sample transmits at its trigger's position
    assert np.corrcoef(sums, truth)[0, 1] > 0.995
    # a frame one trigger off would not
    assert np.corrcoef(sums[1:], truth[:-1])[0, 1] < 0.97


def test_bad_flights_are_refused_before_anything_moves(fly: dict[str, Any]) -> None:
    cam, x, box = fly["cam"], fly["sample_x"], fly["pc"]
    y: Motor = fly["sample_y"]
    where = call_in_loop(x.readback.get_value())
    RE = RunEngine({})
    with pytest.raises(ValueError, match=r"exposure 0\.5 s does not fit between triggers 0\.2 s apart"):
        RE(plans.fly_scan([cam], x, -1.0, 1.0, 11, trigger_box=box, velocity=1.0, exposure=0.5))
    with pytest.raises(LimitError, match="outside the limits"):  # the run-up leaves the limits
        RE(plans.fly_scan([cam], x, -1.0, 10.0, 11, trigger_box=box, velocity=5.0, exposure=0.01))
    assert call_in_loop(x.readback.get_value()) == pytest.approx(where), "nothing moved"
    with pytest.raises(ValueError, match="not wired"):
        plans.fly_scan([cam], y, -1.0, 1.0, 11, trigger_box=box)
    with pytest.raises(ValueError, match="need at least 2 trigger positions"):
        TriggeredFlyer(box, x, [cam], 0.0, 1.0, 1)
    with pytest.raises(ValueError, match="velocity must be positive"):
        TriggeredFlyer(box, x, [cam], 0.0, 1.0, 5, velocity=0.0)
    with pytest.raises(LimitError):
        plans.fly_scan([cam], x, -1.0, 20.0, 11, trigger_box=box)


def test_a_sweep_that_misses_triggers_fails_clearly(fly: dict[str, Any]) -> None:
    cam: AreaDetector = fly["cam"]
    x, box = fly["sample_x"], fly["pc"]
    flyer = TriggeredFlyer(box, x, [cam], -1.0, 1.0, 5, velocity=2.0, exposure=0.01, timeout=1.0)
    flyer.kickoff().wait(30)
    call_in_loop(x.stop())  # the sweep halts before the positions
    with pytest.raises(RuntimeError, match=r"the trigger box fired [0-4] of 5 pulses"):
        flyer.complete().wait(30)
    assert int(call_in_loop(box.armed.get_value())) == 0, "the box is disarmed"
    assert int(call_in_loop(cam.capturing.get_value())) == 0, "the camera's file is closed"


def test_step_scan_frames_are_numbered_by_the_engine_and_load_from_the_store(fly: dict[str, Any],
                                                                              tmp_path: Path) -> None:
    """The engine numbers a stepped camera's stream_datum too, so the catalog finds each frame."""
    docs: list[tuple[str, dict[str, Any]]] = []
    RE = RunEngine({})
    RE.subscribe(lambda n, d: docs.append((n, d)))
    RE.subscribe(Writer(tmp_path))
    (uid,) = RE(plans.count([fly["cam"]], 3))
    validate_documents(docs)
    datums = [d for n, d in docs if n == "stream_datum"]
    assert [d["seq_nums"] for d in datums] == [{"start": i, "stop": i + 1} for i in (1, 2, 3)]
    frames = Catalog(tmp_path)[uid].stream("primary")["cam_image"]
    assert frames.shape == (3, 48, 64) and int(frames.values.max()) > 100


def test_bluesky_runengine_flies_it_and_numbers_the_frames(fly: dict[str, Any]) -> None:
    """Bluesky's RunEngine runs our fly_scan and fills each stream_datum's seq_nums itself (the
    flyer leaves them 0–0, as Bluesky asks). Bluesky collects no events from an object that
    writes stream assets, so under it the run holds the frames but not the captured positions."""
    bluesky = pytest.importorskip("bluesky")
    docs: list[tuple[str, dict[str, Any]]] = []
    RE = bluesky.RunEngine({})
    RE.subscribe(lambda n, d: docs.append((n, d)))
    RE(plans.fly_scan([fly["cam"]], fly["sample_x"], -1.0, 1.0, 11, trigger_box=fly["pc"], velocity=1.0,
                      exposure=0.01))
    assert [n for n, _ in docs] == ["start", "descriptor", "stream_resource", "stream_datum", "stop"]
    validate_documents(docs)
    datum = docs[3][1]
    assert datum["indices"] == {"start": 0, "stop": 11} and datum["seq_nums"] == {"start": 1, "stop": 12}
