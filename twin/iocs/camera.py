"""An areaDetector subset: a driver (``cam1:``), an image plugin (``image1:``) and an HDF5 file
plugin (``HDF1:``) with the standard PV names, writing real HDF5 files (frames at
``/entry/data/data``). The image is the beam spot from the physics model.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from twin.iocs.fields import wait_wall
from twin.physics import BeamlineModel
from twin.physics.camera import CameraModel

STATES = ("Idle", "Acquire", "Readout", "Correct", "Saving", "Aborting", "Error", "Waiting", "Initializing",
          "Disconnected", "Aborted")
DATA_TYPES = ("Int8", "UInt8", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64", "Float32", "Float64")
COLOR_MODES = ("Mono", "Bayer", "RGB1", "RGB2", "RGB3", "YUV444", "YUV422", "YUV421")
NO_YES = ("No", "Yes")
OFF_ON = ("Off", "On")


@dataclass(frozen=True)
class Spec:
    """One PV of the table: ``rbv`` adds a ``_RBV`` readback that echoes every put."""

    name: str
    value: Any
    enum: tuple[str, ...] = ()
    rbv: bool = False
    read_only: bool = False
    chars: bool = False
    dtype: ChannelType | None = None
    max_length: int = 1


def _ndarray_base(p: str) -> list[Spec]:
    return [
        Spec(f"{p}PortName_RBV", p.rstrip(":").upper(), read_only=True),
        Spec(f"{p}UniqueId_RBV", 0, read_only=True),
        Spec(f"{p}NDAttributesFile", "", chars=True),
        *(Spec(f"{p}ArraySize{a}_RBV", 0, read_only=True) for a in ("X", "Y", "Z", "0", "1", "2")),
        Spec(f"{p}ArraySize_RBV", 0, read_only=True),
        Spec(f"{p}ColorMode", "Mono", COLOR_MODES, rbv=True),
        Spec(f"{p}DataType", "UInt16", DATA_TYPES, rbv=True),
        Spec(f"{p}ArrayCounter", 0, rbv=True),
        Spec(f"{p}ADCoreVersion_RBV", "3.12.1", read_only=True),
        Spec(f"{p}DriverVersion_RBV", "beamtwin", read_only=True),
    ]


def _plugin_base(p: str) -> list[Spec]:
    return [
        *_ndarray_base(p),
        Spec(f"{p}NDArrayPort", "CAM1", rbv=True),
        Spec(f"{p}EnableCallbacks", "Enable", ("Disable", "Enable"), rbv=True),
        Spec(f"{p}NDArrayAddress", 0, rbv=True),
        Spec(f"{p}QueueSize", 20, rbv=True),
        Spec(f"{p}DroppedArrays", 0, rbv=True),
    ]


def camera_specs(width: int, height: int) -> list[Spec]:
    """Every PV of the camera, relative to its prefix."""
    c, i, h = "cam1:", "image1:", "HDF1:"
    cam = [
        *_ndarray_base(c),
        Spec(f"{c}Acquire", "Done", ("Done", "Acquire"), rbv=True),
        Spec(f"{c}AcquireTime", 0.1, rbv=True),
        Spec(f"{c}AcquirePeriod", 0.1, rbv=True),
        Spec(f"{c}NumImages", 1, rbv=True),
        Spec(f"{c}NumImagesCounter_RBV", 0, read_only=True),
        Spec(f"{c}NumExposures", 1, rbv=True),
        Spec(f"{c}ImageMode", "Single", ("Single", "Multiple", "Continuous"), rbv=True),
        Spec(f"{c}TriggerMode", "Internal", ("Internal", "External"), rbv=True),
        Spec(f"{c}DetectorState_RBV", "Idle", STATES, read_only=True),
        Spec(f"{c}StatusMessage_RBV", "Idle", read_only=True),
        Spec(f"{c}WaitForPlugins", "No", NO_YES),
        Spec(f"{c}Gain", 1.0, rbv=True),
        Spec(f"{c}SizeX", width, rbv=True),
        Spec(f"{c}SizeY", height, rbv=True),
        Spec(f"{c}MaxSizeX_RBV", width, read_only=True),
        Spec(f"{c}MaxSizeY_RBV", height, read_only=True),
        Spec(f"{c}Manufacturer_RBV", "beamtwin", read_only=True),
        Spec(f"{c}Model_RBV", "twin screen camera", read_only=True),
        Spec(f"{c}SerialNumber_RBV", "0001", read_only=True),
        Spec(f"{c}SDKVersion_RBV", "1", read_only=True),
        Spec(f"{c}FirmwareVersion_RBV", "1", read_only=True),
    ]
    image = [*_plugin_base(i), Spec(f"{i}ArrayData", [0] * (width * height), dtype=ChannelType.INT,
                                    max_length=width * height, read_only=True)]
    hdf = [
        *_plugin_base(h),
        Spec(f"{h}FilePath", "", rbv=True, chars=True),
        Spec(f"{h}FileName", "", rbv=True, chars=True),
        Spec(f"{h}FilePathExists_RBV", "No", NO_YES, read_only=True),
        Spec(f"{h}FileTemplate", "%s%s_%6.6d.h5", rbv=True, chars=True),
        Spec(f"{h}FullFileName_RBV", "", read_only=True, chars=True),
        Spec(f"{h}FileNumber", 0, rbv=True),
        Spec(f"{h}AutoIncrement", "No", NO_YES, rbv=True),
        Spec(f"{h}FileWriteMode", "Single", ("Single", "Capture", "Stream"), rbv=True),
        Spec(f"{h}NumCapture", 1, rbv=True),
        Spec(f"{h}NumCaptured_RBV", 0, read_only=True),
        Spec(f"{h}Capture", "Done", ("Done", "Capture"), rbv=True),
        Spec(f"{h}WriteFile", "Done", ("Done", "Write"), rbv=True),
        Spec(f"{h}WriteStatus", "Write OK", ("Write OK", "Write error"), read_only=True),
        Spec(f"{h}WriteMessage", "", read_only=True, chars=True),
        Spec(f"{h}ArraySize0", 0, read_only=True),
        Spec(f"{h}ArraySize1", 0, read_only=True),
        Spec(f"{h}CreateDirectory", 0),
        Spec(f"{h}PositionMode", "Off", OFF_ON, rbv=True),
        Spec(f"{h}Compression", "None", ("None", "N-bit", "szip", "zlib", "Blosc", "BSLZ4", "LZ4", "JPEG"), rbv=True),
        Spec(f"{h}NumExtraDims", 0, rbv=True),
        Spec(f"{h}SWMRMode", "Off", OFF_ON, rbv=True),
        Spec(f"{h}FlushNow", "Done", ("Done", "Flush")),
        Spec(f"{h}XMLFileName", "", rbv=True, chars=True),
        Spec(f"{h}NumFramesChunks", 0, rbv=True),
        Spec(f"{h}ChunkSizeAuto", "No", NO_YES, rbv=True),
        Spec(f"{h}LazyOpen", "No", NO_YES, rbv=True),
    ]
    return cam + image + hdf


def _attr(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _property(spec: Spec, name: str, read_only: bool) -> pvproperty:
    kwargs: dict[str, Any] = {"name": name, "read_only": read_only, "doc": name}
    value = spec.value
    if spec.enum:
        kwargs.update(dtype=ChannelType.ENUM, enum_strings=list(spec.enum))
    elif spec.chars:
        kwargs.update(dtype=ChannelType.CHAR, max_length=256)
    elif spec.dtype is not None:
        kwargs.update(dtype=spec.dtype, max_length=spec.max_length)
    elif isinstance(value, str):
        kwargs.update(dtype=ChannelType.STRING)
    elif isinstance(value, int):
        kwargs.update(dtype=ChannelType.LONG)
    else:
        kwargs.update(precision=3)
    return pvproperty(value=value, **kwargs)


def _build_base(width: int, height: int) -> type[PVGroup]:
    namespace: dict[str, Any] = {}
    for spec in camera_specs(width, height):
        prop = _property(spec, spec.name, spec.read_only)
        if not spec.read_only:
            async def putter(group: Any, instance: Any, value: Any, _name: str = spec.name) -> Any:
                return await group.on_put(_name, instance, value)

            prop = prop.putter(putter)
        namespace[_attr(spec.name)] = prop
        if spec.rbv:
            namespace[_attr(spec.name + "_RBV")] = _property(spec, spec.name + "_RBV", True)
    async def startup(group: Any, instance: Any, async_lib: Any) -> None:
        await group.on_startup()

    namespace["cam1_Acquire"] = namespace["cam1_Acquire"].startup(startup)
    return type("CameraPVs", (PVGroup,), namespace)


_BASES: dict[tuple[int, int], type[PVGroup]] = {}


def camera_class(width: int, height: int) -> type[PVGroup]:
    """The camera PVGroup class for a sensor of ``width``×``height`` pixels."""
    key = (width, height)
    if key not in _BASES:
        base = _build_base(width, height)

        class Camera(_CameraLogic, base):  # type: ignore[valid-type, misc]
            pass

        _BASES[key] = Camera
    return _BASES[key]


class _CameraLogic:
    """The behaviour behind the camera's PVs (mixed into the generated PVGroup)."""

    prefix: str  # set by PVGroup

    def __init__(self, *args: Any, model: BeamlineModel, camera: CameraModel, channel: str = "cam",
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model = model
        self.camera = camera
        self.channel = channel
        self._stop = asyncio.Event()
        self._triggers: asyncio.Queue[float] = asyncio.Queue()
        self._acquiring = asyncio.Lock()
        self._capture_done = asyncio.Event()
        self._file: h5py.File | None = None
        self._frames: list[np.ndarray] = []
        self._last: np.ndarray | None = None
        self._geometry = (-1, -1)
        self.drop_next = 0

    async def on_startup(self) -> None:
        """Publish the array geometry before the first frame (clients read it when they prepare)."""
        await self._publish_geometry(int(self.get("cam1:SizeX")), int(self.get("cam1:SizeY")))

    async def _publish_geometry(self, nx: int, ny: int) -> None:
        """The array size PVs of the driver and the plugins."""
        self._geometry = (nx, ny)
        for p in ("cam1:", "image1:", "HDF1:"):
            await self.set(f"{p}ArraySizeX_RBV", nx)
            await self.set(f"{p}ArraySizeY_RBV", ny)
            await self.set(f"{p}ArraySize0_RBV", nx)
            await self.set(f"{p}ArraySize1_RBV", ny)
            await self.set(f"{p}ArraySize_RBV", nx * ny * 2)
        await self.set("HDF1:ArraySize0", nx)
        await self.set("HDF1:ArraySize1", ny)

    def pv(self, name: str) -> Any:
        """The PV instance named ``name`` (relative to the prefix)."""
        return getattr(self, _attr(name))

    def get(self, name: str) -> Any:
        """The current value of PV ``name``."""
        return self.pv(name).value

    async def set(self, name: str, value: Any) -> None:
        """Write PV ``name`` from the server side."""
        await self.pv(name).write(value, verify_value=False)

    async def on_put(self, name: str, instance: Any, value: Any) -> Any:
        """A client put to ``name``: act, then echo to ``name_RBV`` if there is one."""
        handler = {
            "cam1:Acquire": self._put_acquire,
            "HDF1:Capture": self._put_capture,
            "HDF1:WriteFile": self._put_write_file,
            "HDF1:FilePath": self._put_file_path,
            "HDF1:FlushNow": self._put_flush,
            "cam1:SizeX": self._put_size_x,
            "cam1:SizeY": self._put_size_y,
        }.get(name)
        if handler is not None:
            value = await handler(instance, value)
        rbv = _attr(name + "_RBV")
        if hasattr(self, rbv) and name not in ("cam1:Acquire", "HDF1:Capture"):
            await getattr(self, rbv).write(value, verify_value=False)
        return value

    # -- driver ----------------------------------------------------------------------------
    async def _put_size_x(self, instance: Any, value: int) -> int:
        return max(1, min(int(value), self.camera.width))

    async def _put_size_y(self, instance: Any, value: int) -> int:
        return max(1, min(int(value), self.camera.height))

    async def _put_acquire(self, instance: Any, value: Any) -> Any:
        if value in (0, "Done"):
            self._stop.set()
            return value
        if self._acquiring.locked():
            return value
        self._stop.clear()
        async with self._acquiring:
            await instance.write(value, verify_value=False)
            await self.set("cam1:Acquire_RBV", "Acquire")
            await self._acquire()
            await self.set("cam1:Acquire_RBV", "Done")
        return "Done"

    def external_trigger(self, t: float) -> None:
        """An external trigger edge at simulated time ``t`` (from the trigger box or a PV)."""
        self._triggers.put_nowait(t)

    async def _acquire(self) -> None:
        clock = self.model.clock
        mode = self.get("cam1:ImageMode")
        n = {"Single": 1, "Multiple": max(int(self.get("cam1:NumImages")), 1)}.get(mode, math.inf)
        external = self.get("cam1:TriggerMode") == "External"
        while not self._triggers.empty():
            self._triggers.get_nowait()
        await self.set("cam1:NumImagesCounter_RBV", 0)
        done = 0
        aborted = False
        while done < n:
            exposure = max(float(self.get("cam1:AcquireTime")), 0.0)
            period = max(float(self.get("cam1:AcquirePeriod")), exposure)
            t0 = clock.now()
            if external:
                await self.set("cam1:DetectorState_RBV", "Waiting")
                trigger = asyncio.ensure_future(self._triggers.get())
                stop = asyncio.ensure_future(self._stop.wait())
                await asyncio.wait({trigger, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not trigger.done():
                    trigger.cancel()
                    stop.cancel()
                    aborted = True
                    break
                stop.cancel()
                # the exposure starts at the trigger edge, however late the IOC gets to it
                t0 = min(trigger.result(), clock.now())
            await self.set("cam1:DetectorState_RBV", "Acquire")
            if await self._sleep(t0 + exposure - clock.now()):
                aborted = True
                break
            await self._deliver(self._image(t0, exposure), t0 + exposure)
            done += 1
            await self.set("cam1:NumImagesCounter_RBV", done)
            if not external and done < n and await self._sleep(period - exposure):
                aborted = True
                break
        # stopping a Continuous acquisition is its normal end; stopping a counted one aborts it
        await self.set("cam1:DetectorState_RBV", "Aborted" if aborted and n != math.inf else "Idle")

    async def _sleep(self, sim_seconds: float) -> bool:
        """Wait ``sim_seconds`` of simulated time; True if Acquire was stopped meanwhile."""
        clock = self.model.clock
        end = clock.now() + sim_seconds
        clock.advance_to(end)  # a stepped clock jumps to the end
        while True:
            remaining = clock.wall_duration(end - clock.now())
            if remaining <= 0:
                return False
            if await wait_wall(self._stop, min(remaining, 0.05)):
                return True

    def _image(self, t0: float, exposure: float) -> np.ndarray:
        beam = self.model.beam(t0 + exposure / 2).beam
        sx, sy = int(self.get("cam1:SizeX")), int(self.get("cam1:SizeY"))
        gain = float(self.get("cam1:Gain"))
        cam = self.camera
        if cam.behind_sample:
            beam = self.model.transmitted_beam(t0 + exposure / 2)
        if gain != 1.0:
            cam = replace(cam, efficiency=cam.efficiency * gain, background=cam.background * gain)
        return cam.frame(beam, exposure, sx, sy, self.model.seed, self.channel, t0 + exposure)

    async def _deliver(self, image: np.ndarray, t: float) -> None:
        """The driver produced ``image``: count it and pass it to the plugins (unless dropped)."""
        ny, nx = image.shape
        counter = int(self.get("cam1:ArrayCounter_RBV")) + 1
        if (nx, ny) != self._geometry:  # 17 PV writes: only when the size changes
            await self._publish_geometry(nx, ny)
        await self.set("cam1:ArrayCounter", counter)
        await self.set("cam1:ArrayCounter_RBV", counter)
        await self.set("cam1:UniqueId_RBV", counter)
        if self.drop_next > 0:
            self.drop_next -= 1
            for p in ("image1:", "HDF1:"):
                dropped = int(self.get(f"{p}DroppedArrays_RBV")) + 1
                await self.set(f"{p}DroppedArrays", dropped)
                await self.set(f"{p}DroppedArrays_RBV", dropped)
            return
        self._last = image
        if self.get("image1:EnableCallbacks") == "Enable":
            flat = np.zeros(self.camera.width * self.camera.height, dtype=np.int16)
            flat[: nx * ny] = image.ravel().astype(np.int16)
            await self.set("image1:ArrayData", flat)
            n = int(self.get("image1:ArrayCounter_RBV")) + 1
            await self.set("image1:ArrayCounter_RBV", n)
            await self.set("image1:UniqueId_RBV", counter)
        if self.get("HDF1:EnableCallbacks") == "Enable" and self.get("HDF1:Capture_RBV") == "Capture":
            await self._store(image)
            n = int(self.get("HDF1:ArrayCounter_RBV")) + 1
            await self.set("HDF1:ArrayCounter_RBV", n)
            await self.set("HDF1:UniqueId_RBV", counter)

    # -- HDF5 file plugin --------------------------------------------------------------------
    def _full_name(self) -> str:
        template = str(self.get("HDF1:FileTemplate")) or "%s%s_%6.6d.h5"
        args: tuple[Any, ...] = (str(self.get("HDF1:FilePath")), str(self.get("HDF1:FileName")),
                                 int(self.get("HDF1:FileNumber")))
        n = len(re.findall(r"%[^%]", template))
        return template % args[:n]

    async def _put_file_path(self, instance: Any, value: str) -> str:
        path = Path(str(value))
        depth = int(self.get("HDF1:CreateDirectory"))
        if depth != 0 and not path.exists():
            path.mkdir(parents=True, exist_ok=True)
        await self.set("HDF1:FilePathExists_RBV", "Yes" if path.is_dir() and os.access(path, os.W_OK) else "No")
        return value

    async def _open(self) -> h5py.File:
        full = self._full_name()
        await self.set("HDF1:FullFileName_RBV", full)
        f = h5py.File(full, "w", libver="latest")
        return f

    def _dataset(self, f: h5py.File, image: np.ndarray) -> h5py.Dataset:
        if "/entry/data/data" not in f:
            ny, nx = image.shape
            chunks = max(int(self.get("HDF1:NumFramesChunks")), 1)
            ds = f.create_dataset("/entry/data/data", shape=(0, ny, nx), maxshape=(None, ny, nx),
                                  chunks=(chunks, ny, nx), dtype=np.uint16)
            f["/entry"].attrs["NX_class"] = "NXentry"
            f["/entry/data"].attrs["NX_class"] = "NXdata"
            f["/entry/data"].attrs["signal"] = "data"
            if self.get("HDF1:SWMRMode") == "On":
                f.swmr_mode = True
            return ds
        return f["/entry/data/data"]  # type: ignore[return-value]

    async def _store(self, image: np.ndarray) -> None:
        mode = self.get("HDF1:FileWriteMode")
        if mode == "Stream":
            if self._file is None:
                self._file = await self._open()
            ds = self._dataset(self._file, image)
            ds.resize(ds.shape[0] + 1, axis=0)
            ds[-1] = image
            self._file.flush()
        else:
            self._frames.append(image)
        captured = int(self.get("HDF1:NumCaptured_RBV")) + 1
        await self.set("HDF1:NumCaptured_RBV", captured)
        want = int(self.get("HDF1:NumCapture"))
        if 0 < want <= captured:
            await self._close()

    async def _close(self) -> None:
        """End a capture: write buffered frames (Capture mode), close, auto-increment."""
        if self.get("HDF1:Capture_RBV") != "Capture":
            return
        wrote = False
        if self.get("HDF1:FileWriteMode") == "Capture" and self._frames:
            f = await self._open()
            ds = self._dataset(f, self._frames[0])
            ds.resize(len(self._frames), axis=0)
            ds[:] = np.stack(self._frames)
            f.close()
            wrote = True
        if self._file is not None:
            self._file.close()
            self._file = None
            wrote = True
        self._frames = []
        if wrote and self.get("HDF1:AutoIncrement") == "Yes":
            number = int(self.get("HDF1:FileNumber")) + 1
            await self.set("HDF1:FileNumber", number)
            await self.set("HDF1:FileNumber_RBV", number)
        await self.set("HDF1:Capture_RBV", "Done")
        await self.set("HDF1:Capture", "Done")
        self._capture_done.set()

    async def _put_capture(self, instance: Any, value: Any) -> Any:
        if value in (0, "Done"):
            await self._close()
            return value
        if self.get("HDF1:Capture_RBV") == "Capture":
            return value
        if self.get("HDF1:FilePathExists_RBV") != "Yes":
            await self.set("HDF1:WriteStatus", "Write error")
            await self.set("HDF1:WriteMessage", f"file path {self.get('HDF1:FilePath')!r} does not exist")
            raise ValueError(f"HDF1: file path {self.get('HDF1:FilePath')!r} does not exist")
        await self.set("HDF1:WriteStatus", "Write OK")
        await self.set("HDF1:WriteMessage", "")
        await self.set("HDF1:NumCaptured_RBV", 0)
        self._frames = []
        self._capture_done.clear()
        await instance.write(value, verify_value=False)
        await self.set("HDF1:Capture_RBV", "Capture")
        if self.get("HDF1:FileWriteMode") == "Stream" and self.get("HDF1:LazyOpen") != "Yes":
            self._file = await self._open()
        await self._capture_done.wait()
        return "Done"

    async def _put_write_file(self, instance: Any, value: Any) -> Any:
        if value in (1, "Write") and self._last is not None:
            f = await self._open()
            ds = self._dataset(f, self._last)
            ds.resize(1, axis=0)
            ds[0] = self._last
            f.close()
            if self.get("HDF1:AutoIncrement") == "Yes":
                number = int(self.get("HDF1:FileNumber")) + 1
                await self.set("HDF1:FileNumber", number)
                await self.set("HDF1:FileNumber_RBV", number)
        return "Done"

    async def _put_flush(self, instance: Any, value: Any) -> Any:
        if self._file is not None:
            self._file.flush()
        return "Done"


class CameraTwin(PVGroup):
    """Twin-only camera controls: ``Trigger-Cmd`` (an external trigger edge), ``DropFrames-Cmd`` (fault:
    the next N frames never reach the plugins)."""

    trigger = pvproperty(name="Trigger-Cmd", value=0, dtype=ChannelType.LONG, doc="put: one external trigger")
    drop = pvproperty(name="DropFrames-Cmd", value=0, dtype=ChannelType.LONG,
                      doc="fault: the next N frames are dropped before the plugins")

    def __init__(self, *args: Any, camera: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.camera = camera

    @trigger.putter
    async def trigger(self, instance: Any, value: int) -> int:
        """An external trigger edge now."""
        self.camera.external_trigger(self.camera.model.clock.now())
        return value

    @drop.putter
    async def drop(self, instance: Any, value: int) -> int:
        """Drop the next ``value`` frames."""
        self.camera.drop_next = max(int(value), 0)
        return value
