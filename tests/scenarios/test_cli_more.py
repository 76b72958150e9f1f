"""The CLI beyond run/export: list, check, and the explicit switch to "real" hardware."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from scenarios.twin_process import TwinProcess


def _beamtwin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scenarios", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_list_shows_scenarios_and_profiles() -> None:
    done = _beamtwin("list")
    assert done.returncode == 0
    assert "demo" in done.stdout and "facility-example" in done.stdout and "facility profile" in done.stdout


def test_check_names_the_missing_pvs(tmp_path: Path) -> None:
    profile = tmp_path / "half.yaml"
    profile.write_text("devices:\n  motor: {kind: motor, prefix: 'BT:m1'}\n  ghost: {kind: motor, prefix: 'GONE:m7'}\n")
    done = _beamtwin("check", str(profile), "--twin", "demo", "--timeout", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ok      motor" in done.stdout
    assert re.search(r"MISSING ghost: (\d+)/\1 PVs", done.stdout) and "GONE:m7.RBV" in done.stdout


def test_no_twin_runs_against_what_the_environment_names(tmp_path: Path) -> None:
    with TwinProcess("demo", seed=3, speed=100) as elsewhere:  # stands in for the real beamline
        done = _beamtwin("run", "--no-twin", "--profile", "facility-example", "--data-dir", str(tmp_path),
                         env=elsewhere.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"EPICS_CA_ADDR_LIST=127.0.0.1:{elsewhere.port}" in done.stdout
    assert "PVs on 127.0.0.1" not in done.stdout, "no twin was started"
    exported = _beamtwin("export", "-1", "--data-dir", str(tmp_path))
    start = json.loads(exported.stdout.splitlines()[0])[1]
    assert start["simulated"] is False and "twin_seed" not in start
    assert start["beamline"] == "facility-example"


def test_a_facility_profile_cannot_be_simulated(tmp_path: Path) -> None:
    sc = tmp_path / "real.yaml"
    sc.write_text("beamline: facility-example\nexperiment: {plan: scan, detectors: [det], motor: motor,"
                  " start: -1, stop: 1, num: 5}\n")
    done = _beamtwin("run", str(sc), "--data-dir", str(tmp_path))
    assert done.returncode == 2 and "has no 'physics' section" in done.stderr
