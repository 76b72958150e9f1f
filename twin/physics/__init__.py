"""Pure, deterministic beamline models: no sockets, no asyncio, numpy/scipy only."""

from twin.physics.beamline import BeamlineModel
from twin.physics.clock import SimClock, keyed_rng
from twin.physics.motion import Axis, MoveProfile

__all__ = ["Axis", "BeamlineModel", "MoveProfile", "SimClock", "keyed_rng"]
