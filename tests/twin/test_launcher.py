"""The launcher: loopback only unless told otherwise, faults on cue from Python, the printed
client environment."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from tests.twin.ca import CA

TWIN_SPEED = 50.0


def test_serve_refuses_a_network_interface_without_the_option(tmp_path: Any) -> None:
    done = subprocess.run([sys.executable, "-m", "scenarios", "serve", "--host", "0.0.0.0", "--port", "5999",
                           "--ready-file", str(tmp_path / "ready")], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "refusing to serve on 0.0.0.0" in done.stderr
    assert not (tmp_path / "ready").exists()


def test_serve_prints_what_a_client_needs(twin: Any) -> None:
    log = twin.log_path.read_text()
    for key in ("EPICS_CA_ADDR_LIST", "EPICS_CA_AUTO_ADDR_LIST", "EPICS_CA_SERVER_PORT", "EPICS_CA_MAX_ARRAY_BYTES"):
        assert f"export {key}=" in log
    assert "bound to 127.0.0.1 only" in log


def test_faults_on_cue_from_python(twin: Any, ca: CA) -> None:
    twin.fault("dump", value=100.0)
    assert ca.get("BT:beam:Current-RB") == 0.0
    ca.put("BT:m1.VELO", 0.1)  # slow: the fault lands mid-move even on a loaded machine
    moving = ca.put_async("BT:m1", 5.0)
    ca.wait_for("BT:m1.RBV", lambda v: v > 0.5)
    twin.fault("stall", "motor", "On")
    assert moving.wait(5) and ca.get("BT:m1.RBV") < 4.0 and ca.get("BT:m1.MSTA") & (1 << 6)
    twin.fault("stall", "motor", "Off")
    ca.put("BT:m1.VELO", 5.0)
    ca.put("BT:m1", 0.0, timeout=30)
    with pytest.raises(ValueError, match="unknown fault"):
        twin.fault("earthquake")
    with pytest.raises(ValueError, match="needs a target"):
        twin.fault("saturate")
