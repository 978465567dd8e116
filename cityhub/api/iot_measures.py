"""The IoT agent's HTTP transport (iotagent-ul / iotagent-json "HTTP binding"):

- ``POST /iot/d?k=<apikey>&i=<device>`` with an UltraLight 2.0 body (``t|15|h|70``, groups
  separated by ``#``), and ``GET /iot/d?k=&i=&d=<payload>``;
- ``POST /iot/json?k=&i=`` with a JSON object of measures, or an array of them (several
  groups of measures);
- an optional ``t=<ISO 8601>`` is the measures' timestamp;
- ``getCmd=1`` (with measures, or alone on a GET): the answer carries the commands waiting
  for the device (a polling device, ``cityhub.iot.commands``).

200 with an empty body once the measures are committed; a refused message (unknown apikey,
unknown device without autoprovision, malformed payload, a value of the wrong type, a body
over ``max_body_bytes``) gets its error, is counted per device, and writes nothing.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cityhub.api.routing import Route
from cityhub.errors import CityhubError, PayloadTooLarge
from cityhub.iot.agent import MALFORMED, TOO_LARGE, IotAgent, Measures
from cityhub.iot.commands import is_command_result, parse_results
from cityhub.iot.errors import MissingConfigParams, WrongSyntax
from cityhub.iot.expressions import to_text
from cityhub.iot.json_measures import parse_json_measures
from cityhub.iot.provisioning import check_id
from cityhub.iot.ultralight import MeasureGroup, parse_ultralight
from cityhub.ngsild.json_limits import check_depth


def _agent(request: Request) -> IotAgent:
    agent: IotAgent = request.app.state.iot
    return agent


def _device(request: Request) -> tuple[str, str]:
    apikey = request.query_params.get("k")
    device_id = request.query_params.get("i")
    if not apikey or not device_id:
        raise MissingConfigParams(
            "a measure names its group and device in the URL: ?k=<apikey>&i=<device id>"
        )
    return check_id(apikey, "apikey (k)"), check_id(device_id, "device id (i)")


async def _body(request: Request, apikey: str, device_id: str) -> bytes:
    limit: int = request.app.state.settings.max_body_bytes
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            detail = f"the measure payload is over {limit} bytes (setting max_body_bytes)"
            await _agent(request).count_refused(apikey, device_id, TOO_LARGE, detail)
            raise PayloadTooLarge(detail)
    return raw


def _resource(request: Request) -> str:
    """The path the message came to (``/iot/json``, ``/iot/d``: a group's ``resource``), read
    from the scope: ``request.url`` would build the whole URL for every measure."""
    path: str = request.scope["path"]
    return path


def _stamp(groups: list[MeasureGroup], request: Request) -> list[MeasureGroup]:
    stamp = request.query_params.get("t")
    if stamp:
        for group in groups:
            group.timestamp = group.timestamp or stamp
    return groups


async def _send(
    request: Request, apikey: str, device_id: str, groups: list[MeasureGroup], *, text: bool
) -> Response:
    await _agent(request).measure(
        Measures(apikey, device_id, _stamp(groups, request), text=text, resource=_resource(request))
    )
    return await _answer(request, apikey, device_id, text=text)


async def _answer(request: Request, apikey: str, device_id: str, *, text: bool) -> Response:
    """200, with the commands waiting for the device when it asks (``getCmd=1``: a polling
    device; UltraLight ``<device>@<cmd>|<value>`` separated by ``#``, or a JSON object)."""
    if request.query_params.get("getCmd") != "1":
        return Response(status_code=200)
    waiting = await _agent(request).poll_commands(apikey, device_id, _resource(request))
    if not text:
        return Response(orjson.dumps(dict(waiting)), media_type="application/json")
    lines = "#".join(f"{device_id}@{name}|{to_text(value)}" for name, value in waiting)
    return Response(lines, media_type="text/plain")


async def _refused(request: Request, apikey: str, device_id: str, exc: WrongSyntax) -> WrongSyntax:
    await _agent(request).count_refused(apikey, device_id, MALFORMED, exc.detail)
    return exc


async def ultralight(request: Request) -> Response:
    apikey, device_id = _device(request)
    if request.method == "GET":
        payload = request.query_params.get("d", "")
        if not payload and request.query_params.get("getCmd") == "1":
            return await _answer(request, apikey, device_id, text=True)  # only polling
    else:
        raw = await _body(request, apikey, device_id)
        try:
            payload = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise await _refused(
                request, apikey, device_id, WrongSyntax("the UltraLight payload is not UTF-8 text")
            ) from None
    if is_command_result(payload):
        await _agent(request).command_results(apikey, device_id, parse_results(payload.encode()))
        return Response(status_code=200)
    try:
        groups = parse_ultralight(payload)
    except WrongSyntax as exc:
        raise await _refused(request, apikey, device_id, exc) from None
    return await _send(request, apikey, device_id, groups, text=True)


async def command_results(request: Request) -> Response:
    """``POST /iot/json/commands?k=&i=`` (and ``/iot/d/commands``): a device's answers to
    commands, ``{"<cmd>": <result>}`` or ``<device>@<cmd>|<result>``."""
    apikey, device_id = _device(request)
    raw = await _body(request, apikey, device_id)
    results = parse_results(raw)
    if not results:
        raise await _refused(
            request,
            apikey,
            device_id,
            WrongSyntax('a command result is {"<cmd>": <result>} or <device>@<cmd>|<result>'),
        )
    await _agent(request).command_results(apikey, device_id, results)
    return Response(status_code=200)


async def json_measures(request: Request) -> Response:
    apikey, device_id = _device(request)
    if request.method == "GET":
        if request.query_params.get("getCmd") != "1":
            raise WrongSyntax("GET /iot/json only polls for commands: add getCmd=1")
        return await _answer(request, apikey, device_id, text=False)
    raw = await _body(request, apikey, device_id)
    try:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise WrongSyntax(f"the measure payload is not valid JSON: {exc}") from None
        try:
            check_depth(body, "the measure payload")
        except CityhubError as exc:
            raise WrongSyntax(exc.detail) from None
        groups = parse_json_measures(body)
    except WrongSyntax as exc:
        raise await _refused(request, apikey, device_id, exc) from None
    return await _send(request, apikey, device_id, groups, text=False)


routes = [
    Route("/iot/d", ultralight, methods=["GET", "POST"]),
    Route("/iot/json", json_measures, methods=["GET", "POST"]),
    Route("/iot/json/commands", command_results, methods=["POST"]),
    Route("/iot/d/commands", command_results, methods=["POST"]),
]

__all__ = ["routes"]
