"""The engine's exceptions: each names what went wrong and what to do about it."""

from __future__ import annotations


class IllegalMessageSequence(RuntimeError):
    """A plan yielded a message that makes no sense where it stands (e.g. save without create)."""


class UnknownCommand(KeyError):
    """A plan yielded a message whose command the engine does not know."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown command"


class TransitionError(RuntimeError):
    """An illegal change of state, e.g. ``RE.resume()`` while idle."""


class RunEngineInterrupted(Exception):
    """``RE(plan)`` returned because the engine paused: call resume(), abort(), stop() or halt()."""


class RequestAbort(Exception):
    """Thrown into a plan that is being aborted (its run closes with ``exit_status='abort'``)."""


class RequestStop(Exception):
    """Thrown into a plan that is being stopped (its run closes with ``exit_status='success'``)."""


class RequestHalt(Exception):
    """Raised inside the engine when a plan is halted (closed without running cleanup messages)."""


class WaitTimeout(TimeoutError):
    """A ``wait`` message ran out of time; the message names every device still pending."""
