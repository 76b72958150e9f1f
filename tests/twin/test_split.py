"""One beamline served as several IOC processes (``TwinProcess(split=True)``, ``beamtwin serve
--split``): each IOC on its own port, one physics model shared, tested over CA with real
processes against the single-process twin."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from acq import plans
from acq.callbacks import fit_gaussian
from acq.devices import load_profile
from acq.engine import RunEngine
from acq.loop import call_in_loop
from scenarios import scenario as scenarios
from scenarios.twin_process import TwinProcess, ca_environment
from tests.twin.ca import CA
from twin.iocs.server import ioc_groups
from twin.physics import BeamlineModel

SEED = 21
SPEED = 20.0
START, STOP, NUM = -6.0, 6.0, 13


def scan_counts(tmp_path: Path) -> dict[float, int]:
    """A step scan of the default beamline's detector over its motor, through acq's devices
    over CA (whatever the environment points at): motor position → counts."""
    devices = load_profile("default")
    motor, det = devices["motor"], devices["det"]
    call_in_loop(det.preset_time.put(0.5))
    events: list[dict[str, Any]] = []
    RE = RunEngine(state_dir=tmp_path)
    RE.subscribe(lambda name, doc: events.append(doc) if name == "event" else None)
    RE(plans.scan([det], motor, START, STOP, NUM))
    assert len(events) == NUM
    return {round(float(e["data"]["motor"]), 3): int(e["data"]["det"]) for e in events}


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> dict[float, int]:
    """The scan against the single-process twin."""
    with TwinProcess("demo", seed=SEED, speed=SPEED) as twin, ca_environment(twin.env):
        return scan_counts(tmp_path_factory.mktemp("single"))


@pytest.fixture(scope="module")
def split() -> Iterator[TwinProcess]:
    """The same beamline split into one IOC process per device group."""
    with TwinProcess("demo", seed=SEED, speed=SPEED, split=True) as twin, ca_environment(twin.env):
        yield twin


def test_each_ioc_has_its_own_port_and_the_address_list_names_them_all(split: TwinProcess) -> None:
    assert list(split.iocs) == ["motor", "det", "beam"]  # default.yaml: beam and shutter share a prefix
    assert len(set(split.ports)) == 3
    assert split.env["EPICS_CA_ADDR_LIST"] == " ".join(f"127.0.0.1:{p}" for p in split.ports)
    served = {ioc: set(member.pvs) for ioc, member in split.iocs.items()}
    assert "BT:m1.RBV" in served["motor"] and "BT:twin:SimTime-RB" in served["motor"]
    assert "BT:sc1.S2" in served["det"] and "BT:m1.RBV" not in served["det"]
    assert "BT:beam:Shutter-Cmd" in served["beam"] and len(split.pvs) == sum(map(len, served.values()))


def test_a_scan_over_a_split_twin_gives_the_single_process_physics(
        split: TwinProcess, single: dict[float, int], tmp_path: Path) -> None:
    counts = scan_counts(tmp_path)
    assert counts.keys() == single.keys()
    for x, n in counts.items():  # Poisson noise and the top-up sawtooth (±0.5 %) apart, the same
        m = single[x]
        assert abs(n - m) <= 5 * math.sqrt(n + m) + 0.02 * max(n, m) + 10, (x, n, m)
    xs = sorted(counts)
    truth = BeamlineModel(scenarios.load("demo").beamline["physics"], seed=SEED).truth()["center"]
    step = (STOP - START) / (NUM - 1)
    fits = [fit_gaussian(xs, [c[x] for x in xs])["center"] for c in (counts, single)]
    assert all(abs(f - truth) <= step / 2 for f in fits), (fits, truth)
    assert max(counts.values()) > 20 * min(counts.values())  # the detector IOC saw the motor move


def test_killing_one_ioc_leaves_the_others_answering_and_it_comes_back_on_its_port(split: TwinProcess) -> None:
    ca = CA(timeout=5.0)
    try:
        port = split.iocs["det"].port
        split.kill("det")
        ca.put("BT:m1", 2.0, timeout=30)  # the motor IOC still moves and completes
        assert ca.get("BT:m1.RBV") == pytest.approx(2.0) and ca.get("BT:beam:BeamAvailable-RB") == 1
        split.restart("det")
        assert split.iocs["det"].port == port
        # the restarted detector IOC took the motor's position and the shared clock from its peers:
        # a dump struck in the motor IOC (twin-wide faults) shows in its counts at once
        ca.put("BT:sc1.TP", 0.5)
        truth = BeamlineModel(scenarios.load("demo").beamline["physics"], seed=SEED).truth()["center"]
        ca.put("BT:m1", round(truth, 2), timeout=30)
        ca.put("BT:sc1.CNT", 1, timeout=30)
        on_peak = ca.get("BT:sc1.S2")
        assert on_peak > 5000, on_peak
        ca.put("BT:twin:Dump-Cmd", 5000.0)
        ca.put("BT:sc1.CNT", 1, timeout=30)
        assert ca.get("BT:sc1.S2") < 50
        deadline = time.monotonic() + 10
        while ca.get("BT:beam:BeamAvailable-RB") != 0:  # the beam IOC too
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        ca.close()


def test_iocs_section_groups_devices_and_bad_ones_are_named() -> None:
    beamline = scenarios.load("demo").beamline
    assert ioc_groups({**beamline, "iocs": {"motion": ["motor"], "rest": ["det", "beam", "shutter"]}}) == {
        "motion": ["motor"], "rest": ["det", "beam", "shutter"]}
    with pytest.raises(ValueError, match=r"iocs: device\(s\) \['shutter'\] are in no IOC"):
        ioc_groups({**beamline, "iocs": {"motion": ["motor"], "rest": ["det", "beam"]}})
    with pytest.raises(ValueError, match=r"iocs\.rest: no device named 'cam'"):
        ioc_groups({**beamline, "iocs": {"motion": ["motor"], "rest": ["cam"]}})
    with pytest.raises(ValueError, match="share the prefix"):
        ioc_groups({**beamline, "iocs": {"a": ["motor", "beam"], "b": ["det", "shutter"]}})


def test_serve_split_prints_every_port_and_stops_its_iocs(tmp_path: Path) -> None:
    """``beamtwin serve --split``: one process per IOC on the given ports, the address list a
    client needs printed, every IOC process gone once the launcher is terminated."""
    import signal
    import socket
    import subprocess
    import sys

    from scenarios.twin_process import free_port

    ports = [free_port() for _ in range(3)]
    ready = tmp_path / "ready"
    serve = subprocess.Popen([sys.executable, "-m", "scenarios", "serve", "demo", "--split", "--ports",
                              ",".join(map(str, ports)), "--ready-file", str(ready), "--speed", "50",
                              "--autosave-dir", str(tmp_path / "autosave")],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while not ready.exists():
            assert serve.poll() is None and time.monotonic() < deadline, "the split twin did not come up"
            time.sleep(0.1)
        env = {"EPICS_CA_ADDR_LIST": " ".join(f"127.0.0.1:{p}" for p in ports), "EPICS_CA_AUTO_ADDR_LIST": "NO",
               "EPICS_CA_MAX_ARRAY_BYTES": str(64 * 1024 * 1024)}
        with ca_environment(env):
            ca = CA()
            try:
                ca.put("BT:m1", 1.5, timeout=30)
                assert ca.get("BT:sc1.TP") > 0 and ca.get("BT:beam:Shutter-RB") == 1
            finally:
                ca.close()
        assert {"BT:m1.RBV", "BT:sc1.S2", "BT:beam:Current-RB"} <= set(ready.read_text().split())
        assert (tmp_path / "autosave" / "motor").is_dir()  # each IOC its own autosave
    finally:
        serve.send_signal(signal.SIGTERM)
        out, _ = serve.communicate(timeout=60)
    for key, value in env.items():
        assert f"export {key}={value}" in out, out
    assert "ioc motor on 127.0.0.1:" in out and "ioc det on" in out
    deadline = time.monotonic() + 20
    for port in ports:  # each IOC process is gone: its UDP port is free again
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"an IOC process still holds port {port}"
            time.sleep(0.1)


def test_a_new_speed_factor_reaches_every_ioc(split: TwinProcess) -> None:
    """Speed-SP is served by the first IOC; the detector IOC's counts follow the new speed
    (a 2 s count takes 0.5 s wall at ×4; at the twin's ×20 it would take 0.1 s)."""
    ca = CA(timeout=10.0)
    try:
        ca.put("BT:sc1.TP", 2.0)
        ca.put("BT:twin:Speed-SP", 4.0)
        t0 = time.monotonic()
        ca.put("BT:sc1.CNT", 1, timeout=30)
        assert time.monotonic() - t0 >= 0.45
    finally:
        ca.put("BT:twin:Speed-SP", SPEED)
        ca.close()
