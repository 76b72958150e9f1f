"""The server↔worker link: JSON lines over a loopback TCP socket, opened with a shared token.

The worker writes ``D/worker.json`` (owner-only) with its pid, port and token, so that a
restarted server can find it and re-attach.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from pathlib import Path
from typing import Any

WORKER_FILE = "worker.json"
LINE_LIMIT = 1 << 24  # the longest message line (a camera frame is ~100 kB; asyncio's default is 64 kB)


def _default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return repr(obj)


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def dumps(msg: Any) -> str:
    """One message as a line of JSON (numpy values made plain, NaN as null)."""
    try:
        return json.dumps(msg, default=_default, allow_nan=False)
    except ValueError:
        return json.dumps(_clean(json.loads(json.dumps(msg, default=_default))))


async def send(writer: asyncio.StreamWriter, msg: dict[str, Any]) -> None:
    """Write one message and drain."""
    writer.write(dumps(msg).encode() + b"\n")
    await writer.drain()


async def receive(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None at end of stream."""
    line = await reader.readline()
    if not line:
        return None
    msg: dict[str, Any] = json.loads(line)
    return msg


def read_worker_file(state_dir: Path) -> dict[str, Any] | None:
    """The running worker's pid/port/token, or None."""
    path = state_dir / WORKER_FILE
    try:
        info: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return info


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
