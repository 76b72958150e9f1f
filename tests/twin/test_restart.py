"""IOC restarts through the launcher: same port, settings and positions restored by autosave;
several IOC processes, each on its own port, all reachable through one EPICS_CA_ADDR_LIST."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import caproto
import pytest

from scenarios.twin_process import TwinProcess, ca_environment
from tests.conftest import wait_until
from tests.twin.ca import CA
from twin.iocs.server import cluster_environment


def wait_autosaved(twin: TwinProcess, values: dict[str, Any], positions: dict[str, float] | None = None) -> None:
    """Wait until the twin's autosave file holds ``values`` (and the motors' dial ``positions``):
    what a restart restores is what was saved, whenever the save loop got to run."""

    def saved() -> bool:
        try:
            data = json.loads((twin.autosave_dir / "autosave.json").read_text())
        except (OSError, ValueError):
            return False
        return all(data["values"].get(k) == pytest.approx(v) for k, v in values.items()) and all(
            data["positions"].get(k) == pytest.approx(v) for k, v in (positions or {}).items())

    wait_until(saved, 30.0, f"autosave to hold {values} {positions or ''}")


def test_a_restarted_ioc_keeps_its_port_and_its_settings() -> None:
    with TwinProcess("demo", seed=2, speed=50.0, autosave=True) as twin, ca_environment(twin.env):
        ca = CA()
        try:
            ca.put("BT:m1.OFF", 0.5)
            ca.put("BT:m1.VELO", 2.5)
            ca.put("BT:m1.DHLM", 8.0)
            ca.put("BT:m1", 3.5, timeout=30)  # dial 3.0
            ca.put("BT:sc1.TP", 0.7)
            wait_autosaved(twin, {"BT:m1.OFF": 0.5, "BT:m1.VELO": 2.5, "BT:m1.DHLM": 8.0, "BT:sc1.TP": 0.7},
                           {"BT:m1": 3.0})
            port, pid = twin.port, twin.proc.pid if twin.proc else None
            twin.restart()
            assert twin.port == port and twin.proc is not None and twin.proc.pid != pid
            ca.wait_for("BT:m1.RBV", lambda v: True, timeout=20)  # the client reconnects by itself
            assert ca.get("BT:m1.OFF") == 0.5 and ca.get("BT:m1.VELO") == 2.5
            assert ca.get("BT:m1.DHLM") == 8.0 and ca.get("BT:m1.HLM") == 8.5
            assert ca.get("BT:m1.DRBV") == pytest.approx(3.0) and ca.get("BT:m1.RBV") == pytest.approx(3.5)
            assert ca.get("BT:m1") == pytest.approx(3.5) and ca.get("BT:sc1.TP") == pytest.approx(0.7)
            ca.put("BT:m1", 0.5, timeout=30)  # and it still moves
            assert ca.get("BT:m1.DRBV") == pytest.approx(0.0)
        finally:
            ca.close()


def test_several_ioc_processes_on_their_own_ports() -> None:
    with TwinProcess("demo", seed=1, speed=50.0) as a, TwinProcess("demo", seed=1, speed=50.0,
                                                                    beamline="xafs") as b:
        assert a.port != b.port
        env = cluster_environment([a.port, b.port])
        assert env["EPICS_CA_ADDR_LIST"] == f"127.0.0.1:{a.port} 127.0.0.1:{b.port}"
        with ca_environment(env):
            ca = CA(timeout=20)  # a reconnect after the restart may take over 5 s on a loaded machine
            try:
                assert ca.get("BT:m1.DMOV") == 1 and ca.get("BTX:dcm:theta.DMOV") == 1
                b.restart()
                ca.put("BTX:dcm:theta", 13.0, timeout=30)
                assert ca.get("BTX:dcm:theta.RBV") == pytest.approx(13.0) and ca.get("BT:m1.DMOV") == 1
            finally:
                ca.close()


def test_restart_on_cue_from_a_pv_through_the_launcher() -> None:
    with TwinProcess("demo", seed=2, speed=50.0, autosave=True, supervise=True) as twin, ca_environment(twin.env):
        ca = CA()
        try:
            ca.put("BT:m1.VELO", 3.5)
            wait_autosaved(twin, {"BT:m1.VELO": 3.5})
            pid = twin.proc.pid if twin.proc else None
            ca.put("BT:twin:Restart-Cmd", 1)
            deadline = time.monotonic() + 60
            while twin.restarts == 0 or twin.proc is None or twin.proc.pid == pid or not twin.ready_file.exists():
                assert time.monotonic() < deadline, "the launcher did not start the IOC again"
                time.sleep(0.05)
            ca.close()
            ca = CA()  # a fresh client: no reconnection back-off to wait out
            assert ca.get("BT:m1.VELO") == 3.5 and twin.restarts == 1
        finally:
            ca.close()


def test_a_client_reconnecting_at_once_after_a_restart_sees_the_restored_settings() -> None:
    """The IOC answers no search before autosave has restored: the first reply after a restart,
    however early, already carries the saved settings (not the defaults they replace)."""
    from caproto.sync.client import read

    with TwinProcess("demo", seed=2, speed=50.0, autosave=True) as twin, ca_environment(twin.env):
        ca = CA()
        try:
            ca.put("BT:m1.VELO", 3.5)
            ca.put("BT:m1.OFF", 0.25)
        finally:
            ca.close()
        wait_autosaved(twin, {"BT:m1.VELO": 3.5, "BT:m1.OFF": 0.25})
        assert twin.proc is not None
        twin.proc.kill()
        twin.proc.wait()
        starting = threading.Thread(target=twin.restart, daemon=True)
        starting.start()
        first: list[tuple[float, float]] = []
        deadline = time.monotonic() + 60
        while not first:  # poll as fast as CA allows: a fresh search each time
            assert time.monotonic() < deadline, "the restarted IOC never answered"
            try:
                velo = read("BT:m1.VELO", timeout=0.05, repeater=False).data[0]
                off = read("BT:m1.OFF", timeout=0.5, repeater=False).data[0]
            except (TimeoutError, OSError, caproto.CaprotoTimeoutError):
                continue
            first.append((float(velo), float(off)))
        starting.join(60)
        assert first[0] == (3.5, 0.25), f"first reply after the restart showed defaults: {first[0]}"
