"""Pure, deterministic beamline models: no sockets, no asyncio, numpy/scipy only."""

from twin.physics.beamline import BeamlineModel, BeamState
from twin.physics.clock import SimClock, keyed_rng
from twin.physics.detectors import Detector
from twin.physics.motion import Axis, MoveProfile
from twin.physics.optics import DCM, Mirror, UndulatorSource, bragg_angle, bragg_energy, slit_transmission
from twin.physics.ring import StorageRing
from twin.physics.samples import GaussianPeak, Map2D, XafsEdge

__all__ = ["DCM", "Axis", "BeamState", "BeamlineModel", "Detector", "GaussianPeak", "Map2D", "Mirror", "MoveProfile",
           "SimClock", "StorageRing", "UndulatorSource", "XafsEdge", "bragg_angle", "bragg_energy", "keyed_rng",
           "slit_transmission"]
