"""The live view's frame is one frame: its pixels and its id are never from two frames.

The plugin's pixels and its id are separate PVs. Here a new frame arrives (pixels, then id, as
areaDetector posts them) while the pixels are being read, the race a running camera makes now
and then; the frame returned must pair the new pixels with the new id.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest

from acq.devices.areadetector import AreaDetector
from acq.devices.backends import Reading, SoftBackend
from acq.loop import call_in_loop
from qserver.frames import _Plugin

W, H = 4, 3


class _Camera:
    """The image1 plugin's PVs in memory; ``arrive_during_reads`` frames land while pixels are read."""

    def __init__(self, arrive_during_reads: int) -> None:
        self.pvs: dict[str, SoftBackend] = {}
        self.arrivals = arrive_during_reads
        self.uid = 1

    def frame(self, uid: int) -> np.ndarray:
        return np.full(W * H, 100 * uid, dtype=np.int16)

    def backend(self, pv: str) -> SoftBackend:
        initial: Any = {"ArrayData": self.frame(1), "ArraySize0_RBV": W, "ArraySize1_RBV": H,
                        "UniqueId_RBV": 1}[pv.rsplit(":", 1)[1]]
        self.pvs[pv] = b = (_Racing(self, initial) if pv.endswith("ArrayData") else SoftBackend(initial))
        return b

    def deliver(self) -> None:
        self.uid += 1
        self.pvs["CAM:image1:ArrayData"].set_now(self.frame(self.uid))
        self.pvs["CAM:image1:UniqueId_RBV"].set_now(self.uid)


class _Racing(SoftBackend):
    def __init__(self, camera: _Camera, initial: Any) -> None:
        super().__init__(initial)
        self.camera = camera

    async def get(self) -> Reading:
        if self.camera.arrivals > 0:  # a frame lands after the id was read, before the pixels are
            self.camera.arrivals -= 1
            self.camera.deliver()
        return await super().get()


def _plugin(camera: _Camera) -> _Plugin:
    return _Plugin(AreaDetector("CAM:", name="cam", backend=lambda pv: SoftBackend("")), backend=camera.backend)


@pytest.mark.parametrize("arrivals", [0, 1, 3])
def test_pixels_and_id_come_from_the_same_frame(arrivals: int) -> None:
    camera = _Camera(arrivals)
    frame = call_in_loop(_plugin(camera).frame())
    pixels = np.frombuffer(base64.b64decode(frame["data"]), dtype="<i4")
    assert frame["unique_id"] == 1 + arrivals
    assert (frame["width"], frame["height"]) == (W, H)
    np.testing.assert_array_equal(pixels, camera.frame(frame["unique_id"]))


def test_a_camera_that_never_holds_still_is_named() -> None:
    camera = _Camera(arrive_during_reads=_Plugin.TRIES)
    with pytest.raises(ValueError, match=f"cam: image1 changed during each of {_Plugin.TRIES} reads"):
        call_in_loop(_plugin(camera).frame())
