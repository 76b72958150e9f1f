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


def _error_body(message: str, **extra: Any) -> bytes:
    return dumps({"error": message, **extra}).encode()


def _parse(raw: bytes) -> dict[str, Any]:
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
# Requests that clients and dashboards send most: answered in uvicorn's parser callback (qserver.fastlane).
HOT = frozenset({("GET", "/api/status"), ("GET", "/api/queue"), ("POST", "/api/queue/add")})


def _failure(exc: Exception) -> tuple[int, bytes]:
    """The status and body for an endpoint's error (re-raised when it is not one of ours)."""
    if isinstance(exc, AuthError):
        return exc.status, _error_body(str(exc))
    if isinstance(exc, ItemError):
        return 400, _error_body(str(exc))
    if isinstance(exc, KeyError):
        return 404, _error_body(str(exc.args[0]) if exc.args else "not found")
    if isinstance(exc, Conflict):
        return 409, _error_body(str(exc), state=exc.state)
    if isinstance(exc, ValueError | TypeError):
        return 400, _error_body(str(exc))
    if isinstance(exc, RuntimeError):
        return 503, _error_body(str(exc))
    raise exc


def _encode(result: Any) -> bytes:
    return result if isinstance(result, bytes) else dumps(result).encode()


def build_app(manager: QueueManager) -> FastAPI:
    """The ASGI application serving ``manager``; ``app.state.answer`` answers the ``HOT`` requests
    synchronously (``answer(method, path, key, body) -> (status, bytes)``) for the fast lane."""
    app = FastAPI(title="beamtwin queue server", docs_url=None, redoc_url=None, openapi_url=None)
    web.register(app, manager)  # the dashboard at / and its routes under /api/web
    routes: dict[tuple[str, str], Endpoint] = {}

    def invoke(fn: Endpoint, key: str | None, method: str, raw: bytes, query: dict[str, Any]) -> Any:
        who = manager.users.authenticate(key)
        return fn(who, _parse(raw) if method == "POST" else query)

    async def handle(fn: Endpoint, key: str | None, method: str, raw: bytes,
                     query: dict[str, Any]) -> tuple[int, bytes]:
        try:
            result = invoke(fn, key, method, raw, query)
            if asyncio.iscoroutine(result):
                result = await result
            return 200, _encode(result)
        except Exception as exc:
            return _failure(exc)

    def answer(method: str, path: str, key: str | None, raw: bytes) -> tuple[int, bytes]:
        try:
            return 200, _encode(invoke(routes[(method, path)], key, method, raw, {}))
        except Exception as exc:
            return _failure(exc)

    app.state.answer = answer

    def route(path: str, method: str = "POST") -> Callable[[Endpoint], Endpoint]:
        def deco(fn: Endpoint) -> Endpoint:
            async def endpoint(request: Request) -> Response:
                raw = await request.body() if method == "POST" else b""
                status, payload = await handle(fn, _key(request), method, raw, dict(request.query_params))
                return Response(payload, status_code=status, media_type="application/json")
            endpoint.__name__ = fn.__name__
            app.add_api_route(path, endpoint, methods=[method])
            routes[(method, path)] = fn
            return fn
        return deco

    def opt(body: dict[str, Any], *names: str) -> dict[str, Any]:
        return {n: body.get(n) for n in names}

    @route("/api/status", "GET")
    def status(who: Principal, body: dict[str, Any]) -> Any:
        return manager.status_body()

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
        result = manager.add(who, body["item"], **opt(body, "pos", "before_uid", "after_uid", "version"))
        return b'{"version": %d, "item": %s}' % (result["version"], manager.db.last_json[0].encode())

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

    @route("/api/plan/stop")
    def plan_stop(who: Principal, body: dict[str, Any]) -> Any:
        return manager.control(who, "stop")

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
