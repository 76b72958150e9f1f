"""Keys and errors for the dashboard's routes, the same rules as the queue API.

A key comes as ``Authorization: Bearer KEY``, ``X-API-Key`` or ``?key=`` (for links);
errors are ``{"error": message}`` with the API's status codes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from qserver.auth import AuthError, Principal, Users
from qserver.validate import ItemError
from qserver.wire import dumps

Handler = Callable[[Principal, Request], Awaitable[Any]]


def request_key(request: Request) -> str | None:
    """The API key a request carries, if any."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key") or request.query_params.get("key")


def error(status: int, message: str) -> Response:
    """A JSON error response."""
    return Response(dumps({"error": message}), status_code=status, media_type="application/json")


def guarded(users: Users, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint that authenticates, runs ``handler`` and maps its errors to status codes.

    A handler returns plain data (sent as JSON) or a ``Response`` (sent as it is).
    """

    async def endpoint(request: Request) -> Response:
        try:
            who = users.authenticate(request_key(request))
            result = await handler(who, request)
        except AuthError as exc:
            return error(exc.status, str(exc))
        except KeyError as exc:
            return error(404, str(exc.args[0]) if exc.args else "not found")
        except (ItemError, ValueError, TypeError) as exc:
            return error(400, str(exc))
        except (RuntimeError, TimeoutError, OSError) as exc:
            return error(503, str(exc))
        if isinstance(result, Response):
            return result
        return Response(dumps(result), media_type="application/json")

    endpoint.__name__ = handler.__name__
    return endpoint
