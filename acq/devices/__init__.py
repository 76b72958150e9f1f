"""The device layer: signals over swappable backends, devices built from them, profiles."""

from acq.devices.areadetector import AreaDetector
from acq.devices.backends import CABackend, DerivedBackend, DisconnectedError, PutTimeout, SoftBackend
from acq.devices.device import ConnectionFailed, Device, Signal
from acq.devices.flyer import MonitorFlyer
from acq.devices.flyscan import TriggeredFlyer
from acq.devices.motor import LimitError, Motor, MoveFailed, soft_motor
from acq.devices.plain import PointDetector, Positioner
from acq.devices.profile import load_profile, make_devices
from acq.devices.scaler import Scaler
from acq.devices.soft import SoftDetector
from acq.devices.standard import BeamStatus, Mirror, MonoEnergy, MotorBundle, Shutter, Slits
from acq.devices.triggerbox import TriggerBox

__all__ = [
    "AreaDetector",
    "BeamStatus",
    "CABackend",
    "ConnectionFailed",
    "DerivedBackend",
    "Device",
    "DisconnectedError",
    "LimitError",
    "Mirror",
    "MonitorFlyer",
    "MonoEnergy",
    "Motor",
    "MotorBundle",
    "MoveFailed",
    "PointDetector",
    "Positioner",
    "PutTimeout",
    "Scaler",
    "Shutter",
    "Signal",
    "Slits",
    "SoftBackend",
    "SoftDetector",
    "TriggerBox",
    "TriggeredFlyer",
    "load_profile",
    "make_devices",
    "soft_motor",
]
