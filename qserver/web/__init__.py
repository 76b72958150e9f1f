"""The browser dashboard served by the queue server: static page + the routes it needs beyond the queue API.

``register(app, manager)`` serves the page at ``/`` (login first: it holds no data), its
files at ``/static/``, and, under ``/api/web/``, plan forms trimmed to the caller's group,
run search and run data with netCDF and CSV downloads, the live run so far and its newest camera frame, the beamline
readbacks and the twin's fault buttons, and agent campaigns. Every ``/api`` route needs a
key, exactly as the queue API. The API answers cross-origin requests (keys travel in a
header, never in cookies), so a page served elsewhere can steer this server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from qserver.auth import Principal
from qserver.manager import QueueManager
from qserver.web import agents, forms, runs
from qserver.web.access import guarded
from qserver.web.beamline import BeamlinePanel
from qserver.web.live import LiveRecorder
from store import Catalog

HERE = Path(__file__).parent
STATIC = HERE / "static"


def register(app: FastAPI, manager: QueueManager) -> None:
    """Add the dashboard and its routes to the queue server's ``app``."""
    live = LiveRecorder(manager)
    panel = BeamlinePanel(manager.profile)
    live.ensure_started()

    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"],
                       allow_headers=["Authorization", "Content-Type", "X-API-Key"],
                       expose_headers=["Content-Disposition"])
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        live.ensure_started()
        return FileResponse(HERE / "index.html", headers={"Cache-Control": "no-cache"})

    def route(path: str, method: str = "GET") -> Any:
        def deco(fn: Any) -> Any:
            async def handler(who: Principal, request: Request) -> Any:
                live.ensure_started()
                return await fn(who, request)
            handler.__name__ = fn.__name__
            app.add_api_route(path, guarded(manager.users, handler), methods=[method])
            return fn
        return deco

    def catalog() -> Catalog:
        return Catalog(manager.data_dir)

    @route("/api/web/plans")
    async def plans(who: Principal, request: Request) -> Any:
        return forms.plans_for(who, manager.validator.snapshot)

    @route("/api/web/runs")
    async def search(who: Principal, request: Request) -> Any:
        params = {k: v for k, v in request.query_params.items() if k != "key"}
        return runs.search(catalog(), params, limit=int(params.pop("limit", None) or 200))

    @route("/api/web/runs/{uid}")
    async def run(who: Principal, request: Request) -> Any:
        return runs.detail(catalog(), request.path_params["uid"])

    @route("/api/web/runs/{uid}/netcdf")
    async def netcdf(who: Principal, request: Request) -> Any:
        found = catalog()[request.path_params["uid"]]
        return FileResponse(found.path, media_type="application/x-netcdf", filename=found.path.name)

    @route("/api/web/runs/{uid}/csv")
    async def csv(who: Principal, request: Request) -> Any:
        text, name = runs.to_csv(catalog(), request.path_params["uid"], request.query_params.get("stream", "primary"))
        return Response(text, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @route("/api/web/live")
    async def live_run(who: Principal, request: Request) -> Any:
        return live.snapshot()

    @route("/api/web/live/frame")
    async def live_frame(who: Principal, request: Request) -> Any:
        frame = manager.frame
        if frame is None:
            raise KeyError("no camera frame yet (no run with a camera since the server started)")
        return {k: v for k, v in frame.items() if k != "t"}

    @route("/api/web/beamline")
    async def beamline(who: Principal, request: Request) -> Any:
        return await panel.state()

    @route("/api/web/faults", "POST")
    async def fault(who: Principal, request: Request) -> Any:
        who.require("user")
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("fault"), str):
            raise ValueError("give {\"fault\": NAME}")
        result = await panel.trigger(body["fault"])
        manager.db.log(who.user, "twin_fault", result)
        live.note("fault", f"{who.user} triggered twin fault {body['fault']}")
        return result

    @route("/api/web/agents")
    async def agent_campaigns(who: Principal, request: Request) -> Any:
        return agents.campaigns(catalog(), manager.db.items, manager.db.history(200))
