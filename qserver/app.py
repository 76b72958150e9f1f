"""The HTTP/JSON API (FastAPI) and the server-sent-event stream of status, console lines and documents.

Every request needs a key (``Authorization: Bearer KEY``, or ``?key=`` for browsers);
errors come back as ``{"error": message}`` with 400 (bad item or garbage), 401 (no or bad
key), 403 (not allowed), 404 (no such item), 409 (stale version or wrong state: the body
then also holds the current state).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from qserver import web
from qserver.auth import AuthError, Principal
from qserver.manager import Conflict, QueueManager
from qserver.validate import ItemError, describe_plans
from qserver.wire import dumps


def _key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key") or request.query_params.get("key")


def _error(status: int, message: str, **extra: Any) -> Response:
    return Response(dumps({"error": message, **extra}), status_code=status, media_type="application/json")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ItemError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ItemError(f"the request body must be a JSON object, got {type(body).__name__}")
    return body


Endpoint = Callable[[Principal, dict[str, Any]], Awaitable[Any] | Any]


def build_app(manager: QueueManager) -> FastAPI:
    """The ASGI application serving ``manager``."""
    app = FastAPI(title="beamtwin queue server", docs_url=None, redoc_url=None, openapi_url=None)
    web.register(app, manager)  # the dashboard at / and its routes under /api/web

    async def call(request: Request, fn: Endpoint) -> Response:
        try:
            who = manager.users.authenticate(_key(request))
            body = await _body(request) if request.method == "POST" else dict(request.query_params)
            result = fn(who, body)
            if asyncio.iscoroutine(result):
                result = await result
            return Response(dumps(result), media_type="application/json")
        except AuthError as exc:
            return _error(exc.status, str(exc))
        except ItemError as exc:
            return _error(400, str(exc))
        except KeyError as exc:
            return _error(404, str(exc.args[0]) if exc.args else "not found")
        except Conflict as exc:
            return _error(409, str(exc), state=exc.state)
        except (ValueError, TypeError) as exc:
            return _error(400, str(exc))
        except RuntimeError as exc:
            return _error(503, str(exc))

    def route(path: str, method: str = "POST") -> Callable[[Endpoint], Endpoint]:
        def deco(fn: Endpoint) -> Endpoint:
            async def endpoint(request: Request) -> Response:
                return await call(request, fn)
            endpoint.__name__ = fn.__name__
            app.add_api_route(path, endpoint, methods=[method])
            return fn
        return deco

    def opt(body: dict[str, Any], *names: str) -> dict[str, Any]:
        return {n: body.get(n) for n in names}

    @route("/api/status", "GET")
    def status(who: Principal, body: dict[str, Any]) -> Any:
        return manager.status()

    @route("/api/whoami", "GET")
    def whoami(who: Principal, body: dict[str, Any]) -> Any:
        return {"user": who.user, "group": who.group, "role": who.role,
                "plans": sorted(who.plans) if who.plans is not None else "*",
                "devices": sorted(who.devices) if who.devices is not None else "*"}

    @route("/api/queue", "GET")
    def queue(who: Principal, body: dict[str, Any]) -> Any:
        return manager.queue()

    @route("/api/history", "GET")
    def history(who: Principal, body: dict[str, Any]) -> Any:
        limit = body.get("limit")
        return {"items": manager.db.history(int(limit) if limit else None)}

    @route("/api/log", "GET")
    def log(who: Principal, body: dict[str, Any]) -> Any:
        return {"entries": manager.db.changes(int(body.get("limit") or 100))}

    @route("/api/plans", "GET")
    def plans(who: Principal, body: dict[str, Any]) -> Any:
        return {"plans": describe_plans()}

    @route("/api/devices", "GET")
    def devices(who: Principal, body: dict[str, Any]) -> Any:
        return manager.validator.snapshot

    @route("/api/queue/add")
    def add(who: Principal, body: dict[str, Any]) -> Any:
        if "item" not in body:
            raise ItemError("add needs 'item': {name, args, kwargs}")
        return manager.add(who, body["item"], **opt(body, "pos", "before_uid", "after_uid", "version"))

    @route("/api/queue/add_batch")
    def add_batch(who: Principal, body: dict[str, Any]) -> Any:
        return manager.add_batch(who, body.get("items"), **opt(body, "pos", "version"))

    @route("/api/queue/move")
    def move(who: Principal, body: dict[str, Any]) -> Any:
        return manager.move(who, str(body.get("uid")), **opt(body, "pos", "before_uid", "after_uid", "version"))

    @route("/api/queue/edit")
    def edit(who: Principal, body: dict[str, Any]) -> Any:
        return manager.edit(who, str(body.get("uid")), body.get("item"), version=body.get("version"))

    @route("/api/queue/duplicate")
    def duplicate(who: Principal, body: dict[str, Any]) -> Any:
        return manager.duplicate(who, str(body.get("uid")), version=body.get("version"))

    @route("/api/queue/remove")
    def remove(who: Principal, body: dict[str, Any]) -> Any:
        return manager.remove(who, str(body.get("uid")), version=body.get("version"))

    @route("/api/queue/clear")
    def clear(who: Principal, body: dict[str, Any]) -> Any:
        return manager.clear(who, version=body.get("version"))

    @route("/api/queue/start")
    async def start(who: Principal, body: dict[str, Any]) -> Any:
        return await manager.start(who, keep_alive=bool(body.get("keep_alive")))

    @route("/api/queue/stop")
    def stop(who: Principal, body: dict[str, Any]) -> Any:
        return manager.stop(who, cancel=bool(body.get("cancel")))

    @route("/api/queue/loop")
    def loop(who: Principal, body: dict[str, Any]) -> Any:
        return manager.set_loop(who, bool(body.get("enabled", True)))

    @route("/api/queue/execute")
    def execute(who: Principal, body: dict[str, Any]) -> Any:
        return manager.execute(who, body.get("item"))

    @route("/api/plan/pause")
    def pause(who: Principal, body: dict[str, Any]) -> Any:
        return manager.control(who, "pause", immediate=bool(body.get("immediate")))

    @route("/api/plan/resume")
    def resume(who: Principal, body: dict[str, Any]) -> Any:
        return manager.control(who, "resume")

    @route("/api/plan/abort")
    def abort(who: Principal, body: dict[str, Any]) -> Any:
        return manager.control(who, "abort")

    @route("/api/plan/halt")
    def halt(who: Principal, body: dict[str, Any]) -> Any:
        return manager.control(who, "halt")

    @route("/api/environment/open")
    async def env_open(who: Principal, body: dict[str, Any]) -> Any:
        return await manager.open_environment(who)

    @route("/api/environment/close")
    async def env_close(who: Principal, body: dict[str, Any]) -> Any:
        return await manager.close_environment(who, kill=bool(body.get("kill")))

    @route("/api/history/clear")
    def history_clear(who: Principal, body: dict[str, Any]) -> Any:
        manager.clear_history(who)
        return {"ok": True}

    @route("/api/groups")
    def groups(who: Principal, body: dict[str, Any]) -> Any:
        return manager.add_group(who, str(body.get("name")), str(body.get("role", "user")),
                                 body.get("plans", "*"), body.get("devices", "*"))

    @route("/api/users")
    def users(who: Principal, body: dict[str, Any]) -> Any:
        return {"user": body.get("name"), "key": manager.add_user(who, str(body.get("name")),
                                                                   str(body.get("group")))}

    @app.get("/api/stream")
    async def stream(request: Request) -> Response:
        try:
            manager.users.authenticate(_key(request))
        except AuthError as exc:
            return JSONResponse({"error": str(exc)}, status_code=401)
        q = manager.listen()

        async def events() -> AsyncIterator[bytes]:
            try:
                while q in manager._listeners or not q.empty():
                    try:
                        event = await asyncio.wait_for(q.get(), 15)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    yield f"event: {event['type']}\ndata: {dumps(event)}\n\n".encode()
            finally:
                manager.unlisten(q)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    return app
