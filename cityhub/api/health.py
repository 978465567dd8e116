"""``/health`` (readiness: can the hub serve?) and ``/health/live`` (liveness: does it answer?).

``GET /health`` answers 200 ``{"status": "ok", ...}`` while the store serves, and 503 with
``Retry-After`` and ``{"status": "degraded", "store": {"available": false, "reason": ...,
"since": ...}}`` while it cannot (a full disk, a read-only database, a database it cannot
reach: ``cityhub/store/availability.py``). Asking while degraded makes the store try a small
write (at most once a second), so the hub reports its recovery without client traffic.
Point load balancers and Kubernetes ``readinessProbe`` at it.

``GET /health/live`` answers 200 whenever the hub's event loop answers at all, whatever the
store's condition: point a ``livenessProbe`` at it (a restart does not free a disk).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cityhub import __version__
from cityhub.api.negotiation import json_response
from cityhub.api.routing import Route


async def health(request: Request) -> Response:
    condition = await request.app.state.store.check()
    if condition.available:
        body: dict[str, Any] = {
            "status": "ok",
            "version": __version__,
            "store": {"available": True},
        }
        runner = getattr(request.app.state, "services", None)
        if runner is not None:  # what each city service did here, and its queue now
            body["services"] = await runner.report()
        return json_response(body)
    store: dict[str, Any] = {"available": False, "reason": condition.reason}
    if condition.since is not None:
        store["since"] = condition.since
    return json_response(
        {"status": "degraded", "version": __version__, "store": store},
        status=503,
        headers={"Retry-After": str(condition.retry_after or 30)},
    )


async def live(request: Request) -> Response:
    return json_response({"status": "ok", "version": __version__})


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/health/live", live, methods=["GET"]),
]

__all__ = ["health", "live", "routes"]
