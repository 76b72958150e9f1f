"""Plain-PV devices over CA against the twin's ``stage`` beamline: a setpoint/readback positioner
(put completes on arrival) and a point detector read fresh."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import beamlines
from acq import plans
from acq.devices import LimitError, PointDetector, Positioner, Signal, load_profile
from acq.engine import RunEngine
from acq.loop import call_in_loop
from scenarios.twin_process import TwinProcess, ca_environment
from tests.conftest import validate_documents


@pytest.fixture(scope="module")
def stage_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinProcess]:
    """The stage beamline with a slow stage (1 mm/s: a 1 mm move takes 20 ms of wall time at speed 50)."""
    data = yaml.safe_load(beamlines.path("stage").read_text())
    data["physics"]["axes"]["stage"]["velocity"] = 1.0
    path = tmp_path_factory.mktemp("stage") / "stage.yaml"
    path.write_text(yaml.safe_dump(data))
    with TwinProcess("demo", seed=5, speed=50.0, beamline=str(path)) as proc, ca_environment(proc.env):
        yield proc


@pytest.fixture(scope="module")
def devices(stage_twin: TwinProcess) -> dict[str, Any]:
    return load_profile("stage")


def test_profile_kinds_describe_what_the_ioc_serves(devices: dict[str, Any]) -> None:
    stage, diode = devices["stage"], devices["diode"]
    assert isinstance(stage, Positioner) and isinstance(diode, PointDetector)
    key = call_in_loop(stage.describe())["stage"]
    assert key["source"] == "ca://BTS:stage:Pos-RB" and key["units"] == "mm" and key["precision"] == 5
    assert stage.limits == (-5.0, 5.0)
    assert call_in_loop(diode.describe())["diode"]["source"] == "ca://BTS:diode:Rate-RB"
    assert diode.read_only and not stage.read_only
    assert stage.hints == {"fields": ["stage"]} and diode.hints == {"fields": ["diode"]}


def test_set_completes_on_arrival_and_the_readback_follows(devices: dict[str, Any]) -> None:
    stage = devices["stage"]
    stage.set(0.0).wait(10)
    t0 = time.monotonic()
    stage.set(1.0).wait(10)  # 1 mm at 1 mm/s: 1 simulated s, 20 ms of wall time
    assert time.monotonic() - t0 >= 0.015, "the put completed before the stage could have arrived"
    assert call_in_loop(stage.read())["stage"]["value"] == pytest.approx(1.0, abs=1e-9)
    assert call_in_loop(stage.locate()) == {"setpoint": pytest.approx(1.0), "readback": pytest.approx(1.0)}


def test_scan_reads_the_commanded_point_and_finds_the_peak(devices: dict[str, Any]) -> None:
    stage, diode = devices["stage"], devices["diode"]
    docs: list[tuple[str, dict[str, Any]]] = []
    RE = RunEngine()
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    RE(plans.scan([diode], stage, 0.0, 1.0, 41))
    validate_documents(docs)
    events = [d for n, d in docs if n == "event"]
    assert [e["data"]["stage"] for e in events] == pytest.approx([i / 40 for i in range(41)], abs=1e-9)
    rates = [e["data"]["diode"] for e in events]
    best = events[rates.index(max(rates))]["data"]["stage"]
    assert 0.25 <= best <= 0.75, "the sample's peak (centre drawn in [0.3, 0.7]) is where the diode is brightest"
    assert max(rates) > 20 * min(rates), "on the peak (2e6 cts/s) far above the background (1e4 cts/s)"


def test_targets_beyond_the_limits_fail_before_anything_moves(devices: dict[str, Any]) -> None:
    stage = devices["stage"]
    stage.set(0.5).wait(10)
    RE = RunEngine()
    with pytest.raises(LimitError, match=r"stage: position 6\.0 is outside the limits \[-5\.0, 5\.0\]"):
        RE(plans.scan([devices["diode"]], stage, 0.0, 6.0, 5))
    assert call_in_loop(stage.read())["stage"]["value"] == pytest.approx(0.5)
    with pytest.raises(LimitError, match="outside the limits"):
        stage.set(-5.5)


def test_the_ioc_clamps_a_put_beyond_its_limits(devices: dict[str, Any]) -> None:
    stage = devices["stage"]
    stage.set(4.5).wait(10)
    Signal.set(stage, 7.5).wait(10)  # past the client-side check: the IOC's drive limit holds
    assert call_in_loop(stage.locate()) == {"setpoint": pytest.approx(5.0), "readback": pytest.approx(5.0)}


def test_a_facility_profile_names_its_own_pvs(stage_twin: TwinProcess, tmp_path: Path) -> None:
    profile = tmp_path / "facility.yaml"
    profile.write_text(yaml.safe_dump({"devices": {
        "x": {"kind": "positioner", "prefix": "BTS:stage:", "fields": {"setpoint": "Pos-SP", "readback": "Pos-RB"}},
        "i0": {"kind": "point_detector", "prefix": "BTS:diode:Rate-RB", "fields": {"value": ""}}}}))
    devs = load_profile(profile)
    assert devs["i0"].source == "ca://BTS:diode:Rate-RB" and devs["x"].source == "ca://BTS:stage:Pos-RB"
    assert call_in_loop(devs["i0"].read())["i0"]["value"] >= 0
