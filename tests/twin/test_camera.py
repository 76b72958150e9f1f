"""The camera (areaDetector subset) over Channel Access: acquisition, states, HDF5 files, faults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.twin.ca import CA
from tests.twin.conftest import serving

C = "BTM:cam:cam1:"
H = "BTM:cam:HDF1:"


@pytest.fixture(scope="module")
def cam() -> Iterator[CA]:
    with serving("mapping", speed=20.0) as (_, client):
        yield client


def _arm_hdf(ca: CA, tmp_path: Path, name: str, n: int, mode: str = "Stream") -> None:
    ca.put(f"{H}CreateDirectory", -2)
    ca.put(f"{H}FilePath", str(tmp_path / "frames") + "/")
    assert ca.string(f"{H}FilePathExists_RBV") == "Yes"
    ca.put(f"{H}FileName", name)
    ca.put(f"{H}FileTemplate", "%s%s_%3.3d.h5")
    ca.put(f"{H}FileWriteMode", mode)
    ca.put(f"{H}AutoIncrement", "Yes")
    ca.put(f"{H}NumCapture", n)


def test_setpoints_echo_to_their_readbacks_and_states_are_standard(cam: CA) -> None:
    for pv, value in (("AcquireTime", 0.25), ("AcquirePeriod", 0.5), ("NumImages", 7)):
        cam.put(f"{C}{pv}", value)
        assert cam.get(f"{C}{pv}_RBV") == pytest.approx(value)
    cam.put(f"{C}ImageMode", "Multiple")
    assert cam.string(f"{C}ImageMode_RBV") == "Multiple"
    states = [s.decode() for s in cam.read(f"{C}DetectorState_RBV", "control").metadata.enum_strings]
    assert states == ["Idle", "Acquire", "Readout", "Correct", "Saving", "Aborting", "Error", "Waiting",
                      "Initializing", "Disconnected", "Aborted"]
    assert cam.string(f"{C}DetectorState_RBV") == "Idle"


def test_acquire_writes_an_hdf5_file_with_every_frame(cam: CA, tmp_path: Path) -> None:
    _arm_hdf(cam, tmp_path, "scan", 5)
    capture = cam.put_async(f"{H}Capture", 1)
    cam.wait_for(f"{H}Capture_RBV", lambda v: v == 1)
    cam.put(f"{C}AcquireTime", 0.1)
    cam.put(f"{C}AcquirePeriod", 0.2)
    cam.put(f"{C}NumImages", 5)
    cam.put(f"{C}ImageMode", "Multiple")
    cam.put(f"{C}TriggerMode", "Internal")
    before = cam.get(f"{C}ArrayCounter_RBV")
    cam.put(f"{C}Acquire", 1, timeout=30)  # completes when all frames are taken
    assert capture.wait(10), "the capture completes once NumCapture frames are written"
    assert cam.get(f"{C}ArrayCounter_RBV") == before + 5 and cam.get(f"{C}NumImagesCounter_RBV") == 5
    assert cam.get(f"{H}NumCaptured_RBV") == 5 and cam.string(f"{C}DetectorState_RBV") == "Idle"
    full = cam.string(f"{H}FullFileName_RBV")
    assert full == str(tmp_path / "frames" / "scan_000.h5") and cam.get(f"{H}FileNumber") == 1
    with h5py.File(full, "r") as f:
        data = f["/entry/data/data"][()]
    assert data.shape == (5, 96, 128) and data.dtype == np.uint16
    assert data.max() <= 4095 and data.mean() > 2  # the spot on a background
    row = data[0].sum(axis=1)
    assert abs(int(np.argmax(row)) - 47.5) < 5, "the spot sits where the beam is (centre of the screen)"
    image = np.asarray(cam.get("BTM:cam:image1:ArrayData"))[: 96 * 128].reshape(96, 128)
    assert np.array_equal(image, data[-1])


def test_external_triggers_and_dropped_frames(cam: CA, tmp_path: Path) -> None:
    _arm_hdf(cam, tmp_path, "ext", 0, mode="Capture")  # NumCapture 0: until Capture is set to Done
    capture = cam.put_async(f"{H}Capture", 1)
    cam.wait_for(f"{H}Capture_RBV", lambda v: v == 1)
    cam.put(f"{C}TriggerMode", "External")
    cam.put(f"{C}ImageMode", "Multiple")
    cam.put(f"{C}NumImages", 4)
    acquire = cam.put_async(f"{C}Acquire", 1)
    cam.wait_for(f"{C}DetectorState_RBV", lambda v: v == 7)  # Waiting for a trigger
    cam.put("BTM:twin:cam:DropFrames-Cmd", 1)
    for n in range(4):
        cam.put("BTM:twin:cam:Trigger-Cmd", 1)
        cam.wait_for(f"{C}NumImagesCounter_RBV", lambda v, n=n: v == n + 1)
    assert acquire.wait(10)
    assert cam.get(f"{H}DroppedArrays_RBV") == 1
    cam.put(f"{H}Capture", 0)
    assert capture.wait(10)
    with h5py.File(cam.string(f"{H}FullFileName_RBV"), "r") as f:
        assert f["/entry/data/data"].shape[0] == 3  # four triggers, one frame dropped
    cam.put(f"{C}TriggerMode", "Internal")


def test_capture_refuses_a_missing_directory(cam: CA, tmp_path: Path) -> None:
    cam.put(f"{H}CreateDirectory", 0)
    cam.put(f"{H}FilePath", str(tmp_path / "nowhere") + "/")
    assert cam.string(f"{H}FilePathExists_RBV") == "No"
    with pytest.raises(Exception):  # noqa: B017 - the IOC refuses the put
        cam.put(f"{H}Capture", 1, timeout=1.0)
    assert cam.string(f"{H}Capture_RBV") == "Done"


def test_trigger_box_fires_the_camera_at_each_position(cam: CA, tmp_path: Path) -> None:
    _arm_hdf(cam, tmp_path, "fly", 9)
    capture = cam.put_async(f"{H}Capture", 1)
    cam.wait_for(f"{H}Capture_RBV", lambda v: v == 1)
    cam.put(f"{C}TriggerMode", "External")
    cam.put(f"{C}ImageMode", "Multiple")
    cam.put(f"{C}NumImages", 9)
    cam.put(f"{C}AcquireTime", 0.01)
    cam.put("BTM:x", -3.0, timeout=30)
    cam.put("BTM:x.VELO", 1.0)
    acquire = cam.put_async(f"{C}Acquire", 1)
    for pv, value in (("Axis-Sel", "sample_x"), ("Start-SP", -2.0), ("Step-SP", 0.5), ("Count-SP", 9)):
        cam.put(f"BTM:pc1:{pv}", value)
    armed = cam.put_async("BTM:pc1:Arm-Cmd", 1)
    cam.wait_for("BTM:pc1:Armed-RB", lambda v: v == 1)
    cam.put("BTM:x", 3.0, timeout=60)  # the fly move
    assert armed.wait(10) and acquire.wait(10) and capture.wait(10)
    assert cam.get("BTM:pc1:Captured-RB") == 9
    positions = np.asarray(cam.get("BTM:pc1:Positions-RB"))[:9]
    np.testing.assert_allclose(positions, np.linspace(-2.0, 2.0, 9), atol=1e-6)
    times = np.asarray(cam.get("BTM:pc1:Times-RB"))[:9]
    assert np.all(np.diff(times) == pytest.approx(0.5, rel=0.01))  # 0.5 mm apart at 1 mm/s
    with h5py.File(cam.string(f"{H}FullFileName_RBV"), "r") as f:
        assert f["/entry/data/data"].shape[0] == 9
    cam.put(f"{C}TriggerMode", "Internal")
    cam.put("BTM:x.VELO", 2.0)


def test_continuous_acquisition_runs_until_stopped(cam: CA) -> None:
    cam.put(f"{C}TriggerMode", "Internal")
    cam.put(f"{C}ImageMode", "Continuous")
    cam.put(f"{C}AcquireTime", 0.05)
    cam.put(f"{C}AcquirePeriod", 0.1)
    before = cam.get(f"{C}ArrayCounter_RBV")
    running = cam.put_async(f"{C}Acquire", 1)
    cam.wait_for(f"{C}ArrayCounter_RBV", lambda v: v >= before + 5, timeout=10)
    assert cam.string(f"{C}DetectorState_RBV") == "Acquire" and not running.is_set()
    cam.put(f"{C}Acquire", 0)
    assert running.wait(5)
    cam.wait_for(f"{C}DetectorState_RBV", lambda v: v == 0)  # Idle
    assert cam.get(f"{C}Acquire_RBV") == 0
    cam.put(f"{C}ImageMode", "Single")
