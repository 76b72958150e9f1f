"""``Msg``: the message a plan yields, with the same shape as Bluesky's."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

_MsgBase = namedtuple("_MsgBase", ["command", "obj", "args", "kwargs", "run"])


class Msg(_MsgBase):
    """A command for the run engine: ``Msg(command, obj=None, *args, run=None, **kwargs)``.

    Fields: ``command`` (str), ``obj`` (a device or None), ``args`` (tuple), ``kwargs``
    (dict), ``run`` (the run key, for several runs at once).
    """

    __slots__ = ()

    def __new__(cls, command: str, obj: Any = None, *args: Any, run: Any = None, **kwargs: Any) -> Msg:
        return super().__new__(cls, command, obj, args, kwargs, run)

    def __repr__(self) -> str:
        return (f"Msg({self.command!r}, obj={self.obj!r}, args={self.args}, "
                f"kwargs={self.kwargs}, run={self.run!r})")
