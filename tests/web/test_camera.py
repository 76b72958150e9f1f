"""The live view's camera: a queued run with the mapping beamline's areaDetector shows its newest frame.

A twin of the mapping beamline (a screen camera writing HDF5 files) and a queue server with
its profile; the frame drawn in chromium must be the run's last frame as the IOC stored it.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import yaml

import beamlines
from scenarios.twin_process import TwinProcess
from store import Catalog
from tests.qserver.conftest import QueueServer
from tests.web.conftest import api_get, log_in


@pytest.fixture(scope="module")
def twin() -> Iterator[TwinProcess]:
    """The mapping beamline's twin (its camera is what this module is about)."""
    with TwinProcess("demo", seed=5, speed=20.0, beamline="mapping") as proc:
        yield proc


@pytest.fixture(scope="module")
def qs(twin: TwinProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueueServer]:
    """A queue server with the mapping beamline's camera, stage and scaler (its profile without the
    trigger box, which the worker does not need here)."""
    tmp = tmp_path_factory.mktemp("camqs")
    beamline = yaml.safe_load((Path(beamlines.__file__).parent / "mapping.yaml").read_text())
    profile = {"name": "mapping-camera", "devices": {k: v for k, v in beamline["devices"].items()
                                                     if v["kind"] != "trigger_box"}}
    (tmp / "mapping-camera.yaml").write_text(yaml.safe_dump(profile))
    server = QueueServer(tmp / "state", twin, profile=str(tmp / "mapping-camera.yaml")).start()
    yield server
    server.stop()


def _stored_frames(qs: QueueServer, run_uid: str) -> np.ndarray:
    """The run's frames as the IOC's HDF5 plugin stored them (through the run's stream_resource)."""
    run = Catalog(qs.state_dir / "data")[run_uid]
    [resource] = [doc for name, doc in run.documents() if name == "stream_resource"]
    with h5py.File(resource["uri"].removeprefix("file://localhost"), "r") as f:
        return np.asarray(f[resource["parameters"]["dataset"]])


def test_the_live_view_draws_the_newest_camera_frame(qs: QueueServer, page: Any, shots: Path) -> None:
    log_in(page, qs.url, qs.admin_key)
    page.click("#nav button[data-view=live]")
    with qs.client() as c:
        c.add("count", [["cam"]], {"num": 3})
        c.start()
        c.wait_idle(timeout=60)
        [done] = c.history()[-1:]
    assert done["exit_status"] == "completed", done
    run_uid = done["run_uids"][0]
    page.wait_for_selector(f"#live-frame[data-run='{run_uid}']:not([hidden])", timeout=20000)
    frames = _stored_frames(qs, run_uid)
    assert frames.shape == (3, 96, 128)

    deadline = time.monotonic() + 15
    while True:  # the worker reads the camera once more after the run's end: the newest frame, pixel for pixel
        frame = api_get(page, "/api/web/live/frame")
        shown = np.frombuffer(base64.b64decode(frame["data"]), dtype="<i4").reshape(frame["height"], frame["width"])
        if np.array_equal(shown, frames[-1]) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert frame["run"] == run_uid and frame["device"] == "cam"
    np.testing.assert_array_equal(shown, frames[-1])
    page.wait_for_selector(f"#live-frame[data-unique-id='{frame['unique_id']}']")
    assert not np.array_equal(frames[-1], frames[0])     # (and frames differ: photon noise)

    gray = np.array(page.evaluate("(() => { const c = document.querySelector('#live-frame');"
                                  " return [c.width, c.height, Array.from(c.getContext('2d')"
                                  ".getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0))]; })()"),
                    dtype=object)
    width, height, red = int(gray[0]), int(gray[1]), np.asarray(gray[2], dtype=float).reshape(96, 128)
    assert (width, height) == (128, 96)
    newest = frames[-1].astype(float)
    lo, hi = newest.min(), newest.max()
    expected = np.round(255 * (newest - lo) / max(hi - lo, 1))
    assert np.abs(red - expected).max() <= 1                # drawn as gray levels from its own min…max
    assert f"frame {frame['unique_id']}" in page.inner_text("#live-camera")
    page.screenshot(path=str(shots / "live-camera.png"), full_page=True)
