"""The ecosystem's clients drive the twin unchanged: ophyd (EpicsMotor, EpicsScaler), pyepics,
ophyd-async (Motor; SimDetector with its HDF writer). Each case runs in its own process
(``tests.twin.peer_clients``) with the CA environment of the twin it drives."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scenarios.twin_process import TwinProcess

TWIN_SPEED = 50.0


def _run(case: str, twin: TwinProcess, tmp_path: Path) -> None:
    env = {**os.environ, **twin.env}
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "tests.twin.peer_clients", case, str(tmp_path)], env=env,
                              capture_output=True, text=True, timeout=180)
        # pyepics has a known client-side race (a connection callback before create_channel has
        # returned: "Unexpected channel ID") on a loaded machine; only that earns a second try
        if done.returncode == 0 or "Unexpected channel ID" not in done.stderr:
            break
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.parametrize("case", ["ophyd_motor", "ophyd_scaler", "pyepics", "ophyd_async_motor"])
def test_default_beamline_clients(case: str, twin: TwinProcess, tmp_path: Path) -> None:
    _run(case, twin, tmp_path)


@pytest.fixture(scope="module")
def mapping() -> Iterator[TwinProcess]:
    with TwinProcess("demo", seed=3, speed=20.0, beamline="mapping") as proc:
        yield proc


def test_ophyd_async_sim_detector_with_hdf_writer(mapping: TwinProcess, tmp_path: Path) -> None:
    _run("sim_detector", mapping, tmp_path)
