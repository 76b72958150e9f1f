"""The editable plan queue: HTTP/stream API, a worker process that owns the engine and the devices,
SQLite persistence, access control, and the client (``from qserver import Client``)."""

from qserver.client import Client, QueueError

__all__ = ["Client", "QueueError"]
