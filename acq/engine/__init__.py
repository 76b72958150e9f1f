"""The run engine: messages in, event-model documents out."""

from acq.engine.msg import Msg
from acq.engine.run_engine import IllegalMessageSequence, RunEngine, UnknownCommand
from acq.engine.status import Status

__all__ = ["IllegalMessageSequence", "Msg", "RunEngine", "Status", "UnknownCommand"]
