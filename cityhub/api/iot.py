"""The IoT agent's provisioning API, compatible with FIWARE's (iotagent-node-lib doc/api.md "API
Routes"): ``/iot/groups`` (and ``/iot/services``, its older name), ``/iot/devices``,
``/iot/about``, ``/iot/op/delete``, plus ``/iot/errors`` (the refused payloads counted per device).

``Fiware-Service`` names the NGSI-LD tenant (absent: the default tenant);
``Fiware-ServicePath`` is kept with each group and device (absent: ``/``; ``/*`` or ``/#`` on a
GET: every path). Status codes as FIWARE's agents answer (201 ``{}`` on create, 204 on update
and delete); errors are ProblemDetails that also carry FIWARE's ``name`` and ``message``.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cityhub import __version__
from cityhub.api import negotiation as neg
from cityhub.api.routing import Route
from cityhub.iot.agent import IotAgent
from cityhub.iot.errors import MissingConfigParams, WrongSyntax

SERVICE_HEADER = "fiware-service"
PATH_HEADER = "fiware-servicepath"
_SERVICE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_PATH = re.compile(r"^/[A-Za-z0-9_\-/]{0,255}$")


def service_of(request: Request) -> str:
    """The tenant the ``Fiware-Service`` header names ('' when absent)."""
    value = request.headers.get(SERVICE_HEADER)
    if value is None or value == "":
        return ""
    if not _SERVICE.match(value):
        raise WrongSyntax(f"Fiware-Service must be 1-64 letters, digits, '_' or '-', got {value!r}")
    return str(value)


def service_path_of(request: Request, *, listing: bool = False) -> str | None:
    """The ``Fiware-ServicePath`` ('/' when absent; None for every path on a listing)."""
    value = request.headers.get(PATH_HEADER)
    if value is None or value == "":
        return None if listing else "/"
    if listing and value in ("/*", "/#"):
        return None
    if not _PATH.match(value):
        raise WrongSyntax(
            f"Fiware-ServicePath must be a path such as /Seongnam/Bundang, got {value!r}"
        )
    return str(value)


def _agent(request: Request) -> IotAgent:
    agent: IotAgent = request.app.state.iot
    return agent


def _page(request: Request) -> tuple[int, int]:
    params = request.query_params
    limit_max: int = request.app.state.settings.max_limit
    try:
        limit = int(params.get("limit", limit_max))
        offset = int(params.get("offset", 0))
    except ValueError:
        raise WrongSyntax("limit and offset must be whole numbers") from None
    if not 0 <= limit <= limit_max or offset < 0:
        raise WrongSyntax(f"limit must be 0 to {limit_max} and offset 0 or more")
    return limit, offset


def _group_key(request: Request) -> tuple[str, str]:
    apikey = request.query_params.get("apikey")
    resource = request.query_params.get("resource")
    missing = [n for n, v in (("resource", resource), ("apikey", apikey)) if v is None]
    if missing:
        raise MissingConfigParams(
            "the URL must name the group with ?resource=...&apikey=...; missing: "
            + ", ".join(missing)
        )
    assert apikey is not None and resource is not None
    return apikey, resource


def _key(request: Request) -> str:
    return "services" if request.url.path.rstrip("/").endswith("/services") else "groups"


async def create_groups(request: Request) -> Response:
    body, _ = await neg.read_json(request)
    await _agent(request).create_groups(
        service_of(request), service_path_of(request) or "/", body, _key(request)
    )
    return neg.json_response({}, status=201)


async def list_groups(request: Request) -> Response:
    limit, offset = _page(request)
    groups, total = await _agent(request).list_groups(
        service_of(request),
        service_path_of(request, listing=True),
        limit,
        offset,
        resource=request.query_params.get("resource"),
        apikey=request.query_params.get("apikey"),
    )
    return neg.json_response({"count": total, _key(request): groups})


async def update_group(request: Request) -> Response:
    apikey, resource = _group_key(request)
    body, _ = await neg.read_json(request)
    await _agent(request).update_group(service_of(request), apikey, resource, body)
    return Response(status_code=204)


async def delete_group(request: Request) -> Response:
    apikey, resource = _group_key(request)
    await _agent(request).delete_group(service_of(request), apikey, resource)
    return Response(status_code=204)


async def create_devices(request: Request) -> Response:
    body, _ = await neg.read_json(request)
    await _agent(request).create_devices(service_of(request), service_path_of(request) or "/", body)
    return neg.json_response({}, status=201)


async def list_devices(request: Request) -> Response:
    limit, offset = _page(request)
    devices, total = await _agent(request).list_devices(
        service_of(request), service_path_of(request, listing=True), limit, offset
    )
    return neg.json_response({"count": total, "devices": devices})


async def get_device(request: Request) -> Response:
    device = await _agent(request).get_device(service_of(request), request.path_params["device_id"])
    return neg.json_response(device)


async def update_device(request: Request) -> Response:
    body, _ = await neg.read_json(request)
    await _agent(request).update_device(service_of(request), request.path_params["device_id"], body)
    return Response(status_code=204)


async def delete_device(request: Request) -> Response:
    await _agent(request).delete_device(service_of(request), request.path_params["device_id"])
    return Response(status_code=204)


async def delete_devices(request: Request) -> Response:
    """``POST /iot/op/delete`` ``{"devices": [{"deviceId": ..., "apikey": ...}]}``: every
    device named is deleted; 404 when one was not there (the others are deleted all the same,
    as doc/api.md says)."""
    body, _ = await neg.read_json(request)
    items = body.get("devices") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise WrongSyntax('the body must be {"devices": [{"deviceId": ..., "apikey": ...}]}')
    names = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("deviceId"), str):
            raise WrongSyntax(f"each device to delete needs a deviceId, got {item!r}")
        apikey = item.get("apikey")
        names.append((item["deviceId"], apikey if isinstance(apikey, str) else None))
    await _agent(request).delete_devices(service_of(request), names)
    return Response(status_code=204)


async def about(request: Request) -> Response:
    settings = request.app.state.settings
    info: dict[str, Any] = {
        "libVersion": f"cityhub {__version__}",
        "version": __version__,
        "port": str(settings.port),
        "baseRoot": "/",
        "measures": {
            "committed": _agent(request).ingestor.committed,
            "transactions": _agent(request).ingestor.transactions,
        },
    }
    mqtt = request.app.state.iot_mqtt
    info["connections"] = {
        "mqtt": {
            "configured": mqtt is not None,
            "ok": bool(mqtt is not None and mqtt.connected.is_set()),
            "subscribed": bool(mqtt is not None and mqtt.subscribe),
        }
    }
    return neg.json_response(info)


async def payload_errors(request: Request) -> Response:
    """The refused payloads of the service's devices (and of unknown apikeys, under the
    default service), counted by device and kind."""
    counts = await _agent(request).error_counts(service_of(request))
    rows = [
        {
            "apikey": c.apikey,
            "device_id": c.device_id,
            "kind": c.kind,
            "count": c.count,
            "lastAt": c.last_at,
            "lastDetail": c.last_detail,
        }
        for c in counts
    ]
    return neg.json_response({"count": len(rows), "errors": rows})


routes = [
    Route("/iot/about", about, methods=["GET"]),
    Route("/iot/errors", payload_errors, methods=["GET"]),
    *(
        r
        for base in ("/iot/groups", "/iot/services")
        for r in (
            Route(base, list_groups, methods=["GET"]),
            Route(base, create_groups, methods=["POST"]),
            Route(base, update_group, methods=["PUT"]),
            Route(base, delete_group, methods=["DELETE"]),
        )
    ),
    Route("/iot/devices", list_devices, methods=["GET"]),
    Route("/iot/devices", create_devices, methods=["POST"]),
    Route("/iot/devices/{device_id}", get_device, methods=["GET"]),
    Route("/iot/devices/{device_id}", update_device, methods=["PUT"]),
    Route("/iot/devices/{device_id}", delete_device, methods=["DELETE"]),
    Route("/iot/op/delete", delete_devices, methods=["POST"]),
]

__all__ = ["routes", "service_of", "service_path_of"]
