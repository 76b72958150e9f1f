"""Run the queue server: the manager, the API on uvicorn, the ready file once the API answers.

``serve(...)`` is what ``beamtwin queue serve`` calls after the ``scenarios`` layer has
started (or found) the twin and put its Channel Access settings into ``worker_env``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn

from qserver.app import HOT, build_app
from qserver.fastlane import fast_lane_protocol
from qserver.manager import QueueManager

LOOPBACK = "127.0.0.1"


@contextlib.contextmanager
def fast_event_loop() -> Iterator[None]:
    """Within the block, ``asyncio.run`` uses uvloop (when installed): fewer µs per request and per message."""
    try:
        import uvloop
    except ImportError:
        yield
        return
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(previous)


class _Server(uvicorn.Server):
    """uvicorn without its own signal capture (it re-raises SIGTERM after serving, skipping our cleanup)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _wait_until_answering(url: str, key: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            try:
                r = await client.get(f"{url}/api/status", headers={"Authorization": f"Bearer {key}"})
                if r.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the API at {url} did not answer within {timeout} s")
            await asyncio.sleep(0.02)


async def serve_async(state_dir: Path, port: int, *, ready_file: Path | None = None, profile: str = "default",
                      data_dir: Path | None = None, worker_env: dict[str, str] | None = None,
                      host: str = LOOPBACK, open_environment: bool = True, suspend_settle: float = 1.0) -> None:
    """Serve until SIGTERM/SIGINT. The environment is opened (or re-attached) before F is written."""
    manager = QueueManager(state_dir, profile=profile, data_dir=data_dir, worker_env=worker_env,
                           suspend_settle=suspend_settle)
    if manager.admin_key:
        print(f"queue server: admin key written to {state_dir / 'admin.key'} (owner-only)", flush=True)
    key = (state_dir / "admin.key").read_text().strip()
    app = build_app(manager)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2, http=fast_lane_protocol(app.state.answer, HOT), loop="none")
    server = _Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    task = asyncio.ensure_future(server.serve())
    url = f"http://{host}:{port}"
    await _wait_until_answering(url, key)
    running = manager.running is not None
    if open_environment or running:
        try:
            await manager.open_environment()
        except RuntimeError as exc:
            print(f"queue server: {exc}", flush=True)
    if manager.env != "open" and manager.running is not None:
        manager._interrupt("interrupted", "the server restarted and found the worker dead")
    if ready_file is not None:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(f"{url}\n")
        os.replace(tmp, ready_file)
    print(f"queue server: {url} (dashboard at {url}/), state in {state_dir}, bound to {host}", flush=True)
    await task
    await manager.shutdown(close_worker=True)
