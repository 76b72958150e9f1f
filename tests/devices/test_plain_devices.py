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


def test_a_monitored_readback_is_the_position_after_each_move_without_a_round_trip(
        devices: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The stage profile's readback is a CA monitor: right after each set, small or long (20 ms of
    wall time, with updates on the way), the value read is where the move ended, never an older
    update, and no read request goes to the IOC."""
    from acq.devices import CABackend, ca_client

    stage = devices["stage"]
    assert stage.monitor_readback and isinstance(stage.backend, CABackend) and stage.backend.monitor
    stage.set(0.0).wait(10)
    stage.set(0.001).wait(10)  # an update has arrived: reads are served from the monitor from now on
    assert stage.backend._fresh
    reads = 0
    fresh_read = ca_client.read

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await fresh_read(*args, **kwargs)

    monkeypatch.setattr(ca_client, "read", counted)
    targets = [0.01, 0.02, 1.02, 1.0205, 0.3, 0.30001, 2.5, 0.0, 0.5]
    RE = RunEngine()
    for x in targets:
        stage.set(x).wait(10)
        assert call_in_loop(stage.read())["stage"]["value"] == pytest.approx(x, abs=1e-9)
    assert reads == 0, "the readback was read from the IOC, not from the monitor"
    docs: list[tuple[str, dict[str, Any]]] = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    RE(plans.list_scan([devices["diode"]], stage, targets))
    events = [d["data"]["stage"] for n, d in docs if n == "event"]
    assert events == pytest.approx(targets, abs=1e-9)
    assert reads == len(targets), "one fresh read per point: the diode's, none for the readback"


def test_a_readback_without_monitor_reads_fresh(stage_twin: TwinProcess, tmp_path: Path) -> None:
    profile = tmp_path / "plain.yaml"
    profile.write_text(yaml.safe_dump({"devices": {"x": {"kind": "positioner", "prefix": "BTS:stage:"}}}))
    x = load_profile(profile)["x"]
    assert not x.monitor_readback and not x.backend.monitor
    for target in (0.2, 0.7):
        x.set(target).wait(10)
        assert call_in_loop(x.read())["x"]["value"] == pytest.approx(target, abs=1e-9)
    assert not x.backend._fresh


def test_a_bad_monitor_readback_option_is_named_before_connecting(tmp_path: Path) -> None:
    profile = tmp_path / "bad.yaml"
    profile.write_text(yaml.safe_dump({"devices": {"x": {"kind": "positioner", "prefix": "NOPE:",
                                                         "monitor_readback": "yes"}}}))
    with pytest.raises(ValueError, match=r"devices\.x\.monitor_readback must be true or false, got 'yes'"):
        load_profile(profile, timeout=0.5)
