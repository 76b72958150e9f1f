"""The device layer: signals over swappable backends, devices built from them, profiles."""

from acq.devices.backends import CABackend, SoftBackend
from acq.devices.device import Device, Signal
from acq.devices.motor import LimitError, Motor
from acq.devices.profile import load_profile, make_devices
from acq.devices.scaler import Scaler

__all__ = ["CABackend", "Device", "LimitError", "Motor", "Scaler", "Signal", "SoftBackend",
           "load_profile", "make_devices"]
