"""The editable plan queue: HTTP/stream API, a worker process that owns the engine and the devices,
SQLite persistence, access control, and the client (``from qserver import Client``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qserver.client import Client, QueueError

__all__ = ["Client", "QueueError"]


def __getattr__(name: str) -> Any:
    """``Client`` and ``QueueError`` on first use, so the worker starts without the HTTP client."""
    if name in __all__:
        from qserver import client

        return getattr(client, name)
    raise AttributeError(f"module 'qserver' has no attribute {name!r}")
