"""The Python client of the queue server, used by scripts, agents and the CLI.

``Client()`` reads ``BEAMTWIN_QUEUE_URL`` and ``BEAMTWIN_QUEUE_KEY``. Every method is one
HTTP request; errors raise ``QueueError`` with the server's message (and, for a stale
edit, ``.state`` holding the queue as it is now).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx

URL_ENV = "BEAMTWIN_QUEUE_URL"
KEY_ENV = "BEAMTWIN_QUEUE_KEY"


class QueueError(RuntimeError):
    """The server refused a request; ``status`` is the HTTP status, ``state`` any current state it sent."""

    def __init__(self, status: int, message: str, state: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.state = state or {}


def _where(pos: Any, before: str | None, after: str | None) -> dict[str, Any]:
    return {k: v for k, v in (("pos", pos), ("before_uid", before), ("after_uid", after)) if v is not None}


class Client:
    """``Client(url, key)``; both default to the environment variables."""

    def __init__(self, url: str | None = None, key: str | None = None, timeout: float = 30.0) -> None:
        self.url = (url or os.environ.get(URL_ENV) or "").rstrip("/")
        self.key = key or os.environ.get(KEY_ENV) or ""
        if not self.url:
            raise ValueError(f"no queue server URL: pass url= or set {URL_ENV}")
        self._http = httpx.Client(base_url=self.url, timeout=timeout,
                                  headers={"Authorization": f"Bearer {self.key}"} if self.key else {})

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None,
                 params: dict[str, Any] | None = None) -> Any:
        try:
            r = self._http.request(method, path, content=json.dumps(body) if body is not None else None,
                                   params=params, headers={"Content-Type": "application/json"})
        except httpx.TransportError as exc:
            raise QueueError(0, f"cannot reach the queue server at {self.url}: {exc}") from None
        data = r.json() if r.content else {}
        if r.status_code >= 400:
            raise QueueError(r.status_code, data.get("error", r.text), data.get("state"))
        return data

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._request("POST", path, body or {})

    # -- reads ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The server's state."""
        return dict(self._request("GET", "/api/status"))

    def queue(self) -> dict[str, Any]:
        """``{version, items, running}``."""
        return dict(self._request("GET", "/api/queue"))

    def items(self) -> list[dict[str, Any]]:
        """The queued items, front first."""
        return list(self.queue()["items"])

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Executed items with their run uids and exit status, oldest first."""
        return list(self._request("GET", "/api/history", params={"limit": limit} if limit else None)["items"])

    def log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The change log: who did what."""
        return list(self._request("GET", "/api/log", params={"limit": limit})["entries"])

    def plans(self) -> dict[str, Any]:
        """The plans the queue offers, with signatures."""
        return dict(self._request("GET", "/api/plans")["plans"])

    def devices(self) -> dict[str, Any]:
        """The worker's device snapshot."""
        return dict(self._request("GET", "/api/devices"))

    def whoami(self) -> dict[str, Any]:
        """This key's user, group, role and allow-lists."""
        return dict(self._request("GET", "/api/whoami"))

    # -- edits ----------------------------------------------------------------------------------
    def add(self, name: str, args: list[Any] | None = None, kwargs: dict[str, Any] | None = None, *,
            pos: int | str | None = None, before: str | None = None, after: str | None = None,
            version: int | None = None, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """Queue plan ``name``; return the item (with its uid)."""
        item: dict[str, Any] = {"name": name, "args": args or [], "kwargs": kwargs or {}}
        if meta:
            item["meta"] = meta
        body = {"item": item, **_where(pos, before, after)}
        if version is not None:
            body["version"] = version
        return dict(self._post("/api/queue/add", body)["item"])

    def add_batch(self, items: list[dict[str, Any]], *, pos: int | str | None = None,
                  version: int | None = None) -> list[dict[str, Any]]:
        """Queue every item or none."""
        body: dict[str, Any] = {"items": items}
        if pos is not None:
            body["pos"] = pos
        if version is not None:
            body["version"] = version
        return list(self._post("/api/queue/add_batch", body)["items"])

    def add_file(self, path: str, *, pos: int | str | None = None) -> list[dict[str, Any]]:
        """Queue the plans of a CSV or Excel spreadsheet (one plan a row); all or none."""
        from qserver.spreadsheet import read_items

        return self.add_batch(read_items(path), pos=pos)

    def move(self, uid: str, *, pos: int | str | None = None, before: str | None = None, after: str | None = None,
             version: int | None = None) -> dict[str, Any]:
        """Move an item."""
        return dict(self._post("/api/queue/move", {"uid": uid, "version": version, **_where(pos, before, after)}))

    def edit(self, uid: str, name: str, args: list[Any] | None = None, kwargs: dict[str, Any] | None = None, *,
             version: int | None = None) -> dict[str, Any]:
        """Replace an item's plan and arguments, keeping its uid and place."""
        item = {"name": name, "args": args or [], "kwargs": kwargs or {}}
        return dict(self._post("/api/queue/edit", {"uid": uid, "item": item, "version": version})["item"])

    def duplicate(self, uid: str, *, version: int | None = None) -> dict[str, Any]:
        """Copy an item (new uid) right after it."""
        return dict(self._post("/api/queue/duplicate", {"uid": uid, "version": version})["item"])

    def remove(self, uid: str, *, version: int | None = None) -> dict[str, Any]:
        """Remove an item."""
        return dict(self._post("/api/queue/remove", {"uid": uid, "version": version})["item"])

    def clear(self, *, version: int | None = None) -> None:
        """Empty the queue."""
        self._post("/api/queue/clear", {"version": version})

    # -- control ----------------------------------------------------------------------------------
    def start(self, keep_alive: bool = False) -> dict[str, Any]:
        """Start the queue; with ``keep_alive`` it waits for new items when it runs dry."""
        return dict(self._post("/api/queue/start", {"keep_alive": keep_alive}))

    def stop(self, cancel: bool = False) -> dict[str, Any]:
        """Stop after the current item (``cancel=True`` withdraws the request)."""
        return dict(self._post("/api/queue/stop", {"cancel": cancel}))

    def loop(self, enabled: bool = True) -> dict[str, Any]:
        """Loop mode on or off."""
        return dict(self._post("/api/queue/loop", {"enabled": enabled}))

    def execute(self, name: str, args: list[Any] | None = None, kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one plan now, ahead of the queue."""
        return dict(self._post("/api/queue/execute", {"item": {"name": name, "args": args or [],
                                                               "kwargs": kwargs or {}}}))

    def pause(self, immediate: bool = False) -> dict[str, Any]:
        """Pause the running plan at its next checkpoint (or at its next message)."""
        return dict(self._post("/api/plan/pause", {"immediate": immediate}))

    def resume(self) -> dict[str, Any]:
        """Resume a paused plan."""
        return dict(self._post("/api/plan/resume"))

    def abort(self) -> dict[str, Any]:
        """Abort the running plan and stop the queue."""
        return dict(self._post("/api/plan/abort"))

    def stop_plan(self) -> dict[str, Any]:
        """End the running plan as a success (its runs close with ``exit_status='success'``); stop the queue."""
        return dict(self._post("/api/plan/stop"))

    def halt(self) -> dict[str, Any]:
        """Stop every motor, abort the plan, stop the queue."""
        return dict(self._post("/api/plan/halt"))

    def open_environment(self) -> dict[str, Any]:
        """Start the worker (devices + engine)."""
        return dict(self._post("/api/environment/open"))

    def close_environment(self, kill: bool = False) -> dict[str, Any]:
        """Stop the worker."""
        return dict(self._post("/api/environment/close", {"kill": kill}))

    # -- accounts -----------------------------------------------------------------------------------
    def add_group(self, name: str, role: str = "user", plans: Any = "*", devices: Any = "*") -> dict[str, Any]:
        """Create a group (admin)."""
        return dict(self._post("/api/groups", {"name": name, "role": role, "plans": plans, "devices": devices}))

    def add_user(self, name: str, group: str) -> str:
        """Create a user; return its key (admin)."""
        return str(self._post("/api/users", {"name": name, "group": group})["key"])

    # -- waiting and watching -------------------------------------------------------------------------
    def wait(self, predicate: Any, timeout: float = 60.0, poll: float = 0.05) -> dict[str, Any]:
        """Poll ``status()`` until ``predicate(status)``; ``TimeoutError`` with the last status otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()
            if predicate(st):
                return st
            if time.monotonic() > deadline:
                raise TimeoutError(f"the queue did not reach the expected state in {timeout} s; it is {st}")
            time.sleep(poll)

    def wait_idle(self, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until nothing runs and the queue is stopped."""
        return self.wait(lambda s: s["running"] is None and not s["queue_running"], timeout)

    def stream(self, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Events from the server (status, queue, console, doc, started, finished) as they come."""
        with httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout or 30.0, read=timeout)) as http, \
                http.stream("GET", "/api/stream", headers={"Authorization": f"Bearer {self.key}"}) as r:
            if r.status_code >= 400:
                r.read()
                raise QueueError(r.status_code, r.json().get("error", r.text))
            for line in r.iter_lines():
                if line.startswith("data: "):
                    yield json.loads(line[6:])
