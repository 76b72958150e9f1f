"""The newest camera frame of the running plan, for the dashboard's live view.

The image never travels in the event documents (they hold a reference into the IOC's HDF5
file), so the worker reads the frame an areaDetector's standard-arrays plugin (``image1:``)
holds, once a camera's event is emitted, at most ``max_rate`` times a second and once
more when the run stops (so the last frame shown is the run's last). A frame is
``{device, width, height, unique_id, run, seq_num, dtype, data}`` with ``data`` the pixels
row by row as base64 little-endian ``int32``.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from acq.devices.areadetector import AreaDetector
from acq.devices.backends import CABackend
from acq.devices.device import Signal
from acq.devices.motor import BackendFactory

Post = Callable[[dict[str, Any]], None]


class _Plugin:
    """The ``image1:`` plugin of one camera: its array and its geometry."""

    TRIES = 5

    def __init__(self, camera: AreaDetector, backend: BackendFactory = CABackend) -> None:
        p = camera.prefix + "image1:"
        self.name = camera.name
        self.image_key = camera.image_key
        self.data = Signal(backend(p + "ArrayData"), name=f"{camera.name}_image1_data")
        self.width = Signal(backend(p + "ArraySize0_RBV"), name=f"{camera.name}_image1_width")
        self.height = Signal(backend(p + "ArraySize1_RBV"), name=f"{camera.name}_image1_height")
        self.unique_id = Signal(backend(p + "UniqueId_RBV"), name=f"{camera.name}_image1_uid")
        self.connected = False

    async def frame(self) -> dict[str, Any]:
        if not self.connected:
            await asyncio.gather(*(s.connect(5.0) for s in (self.data, self.width, self.height, self.unique_id)))
            self.connected = True
        # The array and its id are separate PVs: a frame that arrives between their reads would pair
        # one frame's pixels with another's id, so the id is read before and after the pixels, until
        # both reads agree (the IOC posts the pixels before the id, as areaDetector's plugin does).
        uid = await self.unique_id.get_value()
        for _ in range(self.TRIES):
            width, height, data = await asyncio.gather(self.width.get_value(), self.height.get_value(),
                                                       self.data.get_value())
            after = await self.unique_id.get_value()
            if after == uid:
                break
            uid = after
        else:
            raise ValueError(f"{self.name}: image1 changed during each of {self.TRIES} reads")
        w, h = int(width), int(height)
        pixels = np.asarray(data).ravel()[: w * h].astype("<i4")
        if pixels.size != w * h:
            raise ValueError(f"{self.name}: image1 holds {pixels.size} pixels, not {w}×{h}")
        return {"device": self.name, "width": w, "height": h, "unique_id": int(uid), "dtype": "int32",
                "data": base64.b64encode(pixels.tobytes()).decode()}


class FrameGrabber:
    """A document subscriber (it runs in the engine's loop) posting camera frames through ``post``."""

    def __init__(self, cameras: list[AreaDetector], post: Post, max_rate: float = 5.0) -> None:
        self.plugins = {cam.image_key: _Plugin(cam) for cam in cameras}
        self.post = post
        self.period = 1.0 / max_rate
        self._watched: dict[str, _Plugin] = {}  # descriptor uid -> the camera its events carry
        self._want: tuple[_Plugin, str, int] | None = None
        self._latest: tuple[_Plugin, str, int] | None = None
        self._task: asyncio.Task[None] | None = None
        self._last = 0.0
        self._run = ""

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self._watched, self._run = {}, doc["uid"]
        elif name == "descriptor":
            plugin = next((p for key, p in self.plugins.items() if key in doc.get("data_keys", {})), None)
            if plugin is not None:
                self._watched[doc["uid"]] = plugin
        elif name == "event" and doc["descriptor"] in self._watched:
            self._want = self._latest = (self._watched[doc["descriptor"]], self._run, int(doc["seq_num"]))
            self._kick()
        elif name == "stop" and self._latest is not None:
            self._want, self._latest = self._latest, None  # read once more now that the run is over
            self._kick(final=True)

    def _kick(self, final: bool = False) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._grab(final))

    async def _grab(self, final: bool) -> None:
        while self._want is not None:
            wait = self._last + self.period - time.monotonic()
            if wait > 0 and not final:
                await asyncio.sleep(wait)
            plugin, run, seq = self._want
            self._want = None
            self._last = time.monotonic()
            try:
                frame = await plugin.frame()
            except Exception as exc:  # a missing plugin must not disturb the plan
                self.post({"t": "console", "line": f"camera frame: {type(exc).__name__}: {exc}", "time": time.time()})
                return
            self.post({"t": "frame", "run": run, "seq_num": seq, "time": time.time(), **frame})
