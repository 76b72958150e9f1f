"""The run engine: messages in, event-model documents out."""

from acq.engine.errors import (
    IllegalMessageSequence,
    RequestAbort,
    RequestStop,
    RunEngineInterrupted,
    TransitionError,
    UnknownCommand,
    WaitTimeout,
)
from acq.engine.msg import Msg
from acq.engine.run_engine import RunEngine
from acq.engine.status import Status
from acq.engine.suspenders import (
    SuspendBoolHigh,
    SuspendBoolLow,
    SuspendCeil,
    SuspendDisconnected,
    Suspender,
    SuspendFloor,
)

__all__ = ["IllegalMessageSequence", "Msg", "RequestAbort", "RequestStop", "RunEngine", "RunEngineInterrupted",
           "Status", "SuspendBoolHigh", "SuspendBoolLow", "SuspendCeil", "SuspendDisconnected", "SuspendFloor",
           "Suspender",
           "TransitionError", "UnknownCommand", "WaitTimeout"]
