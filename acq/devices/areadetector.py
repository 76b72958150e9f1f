"""An areaDetector camera (``cam1:``, ``HDF1:``) whose frames go to HDF5 files the IOC writes.

Each trigger acquires one frame (``cam1:Acquire`` with put-completion) and waits until the
HDF5 plugin has stored it. The image itself never travels through the event documents:
``describe()`` declares it as an external ``STREAM:`` data key, and
``collect_asset_docs()`` yields one ``stream_resource`` per file (URI, dataset
``/entry/data/data``) and one ``stream_datum`` per frame (its index range), as Bluesky's
``WritesStreamAssets`` protocol says.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from acq.devices._async import on_shared_loop, status_of
from acq.devices.backends import CABackend
from acq.devices.device import Device, Readings, Signal
from acq.devices.motor import BackendFactory
from acq.engine.status import Status

#: Where the IOC writes HDF5 files unless the profile says ``write_path``.
DEFAULT_WRITE_PATH = str(Path(tempfile.gettempdir()) / "beamtwin-images")
DATASET = "/entry/data/data"
#: ``cam1:DetectorState_RBV`` while waiting for an external trigger.
WAITING = 7


def _text(backend: BackendFactory, pv: str) -> Any:
    """A CHAR-waveform string PV (CA only; soft backends hold strings already)."""
    return CABackend(pv, string=True) if backend is CABackend else backend(pv)


class AreaDetector(Device):
    """A camera at ``prefix`` (``cam1:``, ``HDF1:`` below it), writing to ``write_path``."""

    def __init__(self, prefix: str, name: str = "", *, write_path: str | None = None, timeout: float = 30.0,
                 backend: BackendFactory = CABackend) -> None:
        c, h = prefix + "cam1:", prefix + "HDF1:"
        self.prefix = prefix
        self.write_path = write_path or DEFAULT_WRITE_PATH
        self.timeout = timeout
        self.acquire = Signal(backend(c + "Acquire"), kind="omitted")
        self.acquire_time = Signal(backend(c + "AcquireTime_RBV"), write_backend=backend(c + "AcquireTime"),
                                   kind="config")
        self.image_mode = Signal(backend(c + "ImageMode"), kind="omitted")
        self.trigger_mode = Signal(backend(c + "TriggerMode"), kind="omitted")
        self.num_images = Signal(backend(c + "NumImages"), kind="omitted")
        self.detector_state = Signal(backend(c + "DetectorState_RBV"), kind="omitted", read_only=True)
        self.size_x = Signal(backend(c + "SizeX_RBV"), kind="config", read_only=True)
        self.size_y = Signal(backend(c + "SizeY_RBV"), kind="config", read_only=True)
        self.array_counter = Signal(backend(c + "ArrayCounter_RBV"), kind="normal", read_only=True)
        self.file_path = Signal(_text(backend, h + "FilePath"), kind="omitted")
        self.file_name = Signal(_text(backend, h + "FileName"), kind="omitted")
        self.file_template = Signal(_text(backend, h + "FileTemplate"), kind="omitted")
        self.full_file_name = Signal(_text(backend, h + "FullFileName_RBV"), kind="omitted", read_only=True)
        self.path_exists = Signal(backend(h + "FilePathExists_RBV"), kind="omitted", read_only=True)
        self.create_directory = Signal(backend(h + "CreateDirectory"), kind="omitted")
        self.file_write_mode = Signal(backend(h + "FileWriteMode"), kind="omitted")
        self.num_capture = Signal(backend(h + "NumCapture"), kind="omitted")
        self.num_captured = Signal(backend(h + "NumCaptured_RBV"), kind="omitted", read_only=True)
        self.capture = Signal(backend(h + "Capture"), kind="omitted")
        self.capturing = Signal(backend(h + "Capture_RBV"), kind="omitted", read_only=True)
        self.enable_plugin = Signal(backend(h + "EnableCallbacks"), kind="omitted")
        self.auto_increment = Signal(backend(h + "AutoIncrement"), kind="omitted")
        super().__init__(name=name)
        self.set_name(name)
        self._resource: dict[str, Any] | None = None
        self._emitted = 0
        self._captured = 0
        self._shape: list[int] = []

    @property
    def image_key(self) -> str:
        """The data key of the frames: ``<name>_image``."""
        return f"{self.name}_image"

    def stage(self) -> Status:
        """Open an HDF5 file in stream mode for this run (single internal-trigger frames)."""
        return status_of(self._stage(), f"stage {self.name}")

    async def _stage(self) -> None:
        await self._open_file(num_capture=0, trigger_mode=0, image_mode=0)  # until told; Internal; Single

    async def _open_file(self, *, num_capture: int, trigger_mode: int, image_mode: int) -> None:
        """Start an HDF5 capture (Stream mode) of ``num_capture`` frames (0: until stopped) and
        describe its file as this run's ``stream_resource``."""
        await self.create_directory.put(-5)
        await self.file_path.put(self.write_path.rstrip("/") + "/")
        if int(await self.path_exists.get_value()) != 1:
            raise OSError(f"{self.name}: the IOC cannot write to {self.write_path!r} (HDF1:FilePathExists_RBV)")
        await asyncio.gather(
            self.file_name.put(f"{self.name}_{uuid.uuid4().hex[:12]}"),
            self.file_template.put("%s%s.h5"),
            self.file_write_mode.put(2),  # Stream
            self.num_capture.put(num_capture),
            self.auto_increment.put(0),
            self.enable_plugin.put(1),
            self.image_mode.put(image_mode),
            self.trigger_mode.put(trigger_mode),
        )
        await self.capture.put(1, wait=False)
        deadline = time.monotonic() + self.timeout
        while int(await self.capturing.get_value()) != 1:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: HDF1 did not start capturing within {self.timeout} s")
            await asyncio.sleep(0.005)
        self._shape = [int(await self.size_y.get_value()), int(await self.size_x.get_value())]
        self._resource = {
            "uid": str(uuid.uuid4()),
            "data_key": self.image_key,
            "mimetype": "application/x-hdf5",
            "uri": "file://localhost" + str(await self.full_file_name.get_value()),
            "parameters": {"dataset": DATASET, "chunk_shape": [1, *self._shape]},
        }
        self._emitted = self._captured = 0

    @on_shared_loop
    async def arm_external(self, frames: int, exposure: float | None = None) -> asyncio.Task[None]:
        """Open a file for ``frames`` frames and start acquiring them on external triggers
        (``Multiple`` images); return once the camera waits for its first trigger, with the task
        of the Acquire put (done when every frame has been taken)."""
        if exposure is not None:
            await self.acquire_time.put(float(exposure))
        await self.num_images.put(int(frames))
        await self._open_file(num_capture=int(frames), trigger_mode=1, image_mode=1)  # External; Multiple
        acquiring = asyncio.ensure_future(self.acquire.put(1, wait=True, timeout=None))
        deadline = time.monotonic() + self.timeout
        while int(await self.detector_state.get_value()) != WAITING:
            if acquiring.done():
                acquiring.result()
                raise RuntimeError(f"{self.name}: acquisition ended before the first trigger")
            if time.monotonic() > deadline:
                acquiring.cancel()
                raise TimeoutError(f"{self.name}: not waiting for triggers within {self.timeout} s")
            await asyncio.sleep(0.002)
        return acquiring

    @on_shared_loop
    async def wait_written(self, frames: int, timeout: float) -> int:
        """Wait until the file holds ``frames`` frames (or ``timeout`` s pass); the count written."""
        deadline = time.monotonic() + timeout
        while (written := int(await self.num_captured.get_value())) < frames and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        self._captured = written
        return written

    @on_shared_loop
    async def disarm(self) -> None:
        """Stop acquiring, close the file (keeping what it holds) and go back to internal triggers."""
        await self.acquire.put(0, wait=False)
        if int(await self.capturing.get_value()) == 1:
            await self.capture.put(0, wait=True, timeout=self.timeout)
        await self.trigger_mode.put(0)

    def unstage(self) -> Status:
        """Close the HDF5 file."""
        return status_of(self._unstage(), f"unstage {self.name}")

    async def _unstage(self) -> None:
        if self._resource is not None:
            await self.capture.put(0, wait=True, timeout=self.timeout)
        self._resource = None

    def trigger(self) -> Status:
        """Acquire one frame; done once the HDF5 plugin has stored it."""
        return status_of(self._trigger(), f"trigger {self.name}")

    async def _trigger(self) -> None:
        if self._resource is None:
            raise RuntimeError(f"{self.name}: stage the camera before triggering it (it has no file open)")
        want = self._captured + 1
        await self.acquire.put(1, wait=True, timeout=self.timeout)
        deadline = time.monotonic() + self.timeout
        while int(await self.num_captured.get_value()) < want:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: frame {want} was not written within {self.timeout} s")
            await asyncio.sleep(0.002)
        self._captured = want

    @on_shared_loop
    async def describe(self) -> Readings:
        """The frame counter, and the frames as an external stream (``STREAM:``)."""
        keys = await super().describe()
        shape = self._shape or [int(await self.size_y.get_value()), int(await self.size_x.get_value())]
        keys[self.image_key] = {"source": f"ca://{self.prefix}HDF1:FullFileName_RBV", "dtype": "array",
                                "dtype_numpy": "<u2", "shape": [1, *shape], "external": "STREAM:"}
        return keys

    def get_index(self) -> int:
        """Frames written so far in this run."""
        return self._captured

    def collect_asset_docs(self, index: int | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """The file's ``stream_resource`` (once) and a ``stream_datum`` for the frames since last time
        (``seq_nums`` left 0–0: the run engine numbers them, as Bluesky's does)."""
        if self._resource is None:
            return
        stop = self._captured if index is None else min(int(index), self._captured)
        if self._emitted == 0 and stop > 0:
            yield "stream_resource", dict(self._resource)
        if stop > self._emitted:
            yield "stream_datum", {
                "uid": f"{self._resource['uid']}/{self._emitted}",
                "stream_resource": self._resource["uid"],
                "descriptor": "",
                "indices": {"start": self._emitted, "stop": stop},
                "seq_nums": {"start": 0, "stop": 0},
            }
            self._emitted = stop
