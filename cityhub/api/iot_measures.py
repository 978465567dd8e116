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
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

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


async def _too_large(agent: IotAgent, apikey: str, device_id: str, limit: int) -> PayloadTooLarge:
    detail = f"the measure payload is over {limit} bytes (setting max_body_bytes)"
    await agent.count_refused(apikey, device_id, TOO_LARGE, detail)
    return PayloadTooLarge(detail)


async def _body(request: Request, apikey: str, device_id: str) -> bytes:
    limit: int = request.app.state.settings.max_body_bytes
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise await _too_large(_agent(request), apikey, device_id, limit)
    return raw


def _resource(request: Request) -> str:
    """The path the message came to (``/iot/json``, ``/iot/d``: a group's ``resource``), read
    from the scope: ``request.url`` would build the whole URL for every measure."""
    path: str = request.scope["path"]
    return path


async def _send(
    agent: IotAgent,
    apikey: str,
    device_id: str,
    groups: list[MeasureGroup],
    *,
    text: bool,
    stamp: str | None,
    resource: str,
) -> None:
    """Commit the measures (an optional ``t=`` stamping the groups without a time of their
    own); returns once they are committed."""
    if stamp:
        for group in groups:
            group.timestamp = group.timestamp or stamp
    await agent.measure(Measures(apikey, device_id, groups, text=text, resource=resource))


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


async def _refused(agent: IotAgent, apikey: str, device_id: str, exc: WrongSyntax) -> WrongSyntax:
    await agent.count_refused(apikey, device_id, MALFORMED, exc.detail)
    return exc


async def _ultralight_groups(
    agent: IotAgent, apikey: str, device_id: str, payload: str
) -> list[MeasureGroup] | None:
    """The groups of measures of an UltraLight payload; None when it was a device's answers
    to commands (``<device>@<cmd>|<result>``), taken here."""
    if is_command_result(payload):
        await agent.command_results(apikey, device_id, parse_results(payload.encode()))
        return None
    try:
        return parse_ultralight(payload)
    except WrongSyntax as exc:
        raise await _refused(agent, apikey, device_id, exc) from None


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WrongSyntax("the UltraLight payload is not UTF-8 text") from None


async def _json_groups(
    agent: IotAgent, apikey: str, device_id: str, raw: bytes
) -> list[MeasureGroup]:
    try:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise WrongSyntax(f"the measure payload is not valid JSON: {exc}") from None
        try:
            check_depth(body, "the measure payload")
        except CityhubError as exc:
            raise WrongSyntax(exc.detail) from None
        return parse_json_measures(body)
    except WrongSyntax as exc:
        raise await _refused(agent, apikey, device_id, exc) from None


async def ultralight(request: Request) -> Response:
    apikey, device_id = _device(request)
    agent = _agent(request)
    if request.method == "GET":
        payload = request.query_params.get("d", "")
        if not payload and request.query_params.get("getCmd") == "1":
            return await _answer(request, apikey, device_id, text=True)  # only polling
    else:
        raw = await _body(request, apikey, device_id)
        try:
            payload = _utf8(raw)
        except WrongSyntax as exc:
            raise await _refused(agent, apikey, device_id, exc) from None
    groups = await _ultralight_groups(agent, apikey, device_id, payload)
    if groups is None:
        return Response(status_code=200)
    stamp = request.query_params.get("t")
    await _send(
        agent, apikey, device_id, groups, text=True, stamp=stamp, resource=_resource(request)
    )
    return await _answer(request, apikey, device_id, text=True)


async def command_results(request: Request) -> Response:
    """``POST /iot/json/commands?k=&i=`` (and ``/iot/d/commands``): a device's answers to
    commands, ``{"<cmd>": <result>}`` or ``<device>@<cmd>|<result>``."""
    apikey, device_id = _device(request)
    raw = await _body(request, apikey, device_id)
    results = parse_results(raw)
    if not results:
        raise await _refused(
            _agent(request),
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
    agent = _agent(request)
    raw = await _body(request, apikey, device_id)
    groups = await _json_groups(agent, apikey, device_id, raw)
    stamp = request.query_params.get("t")
    await _send(
        agent, apikey, device_id, groups, text=False, stamp=stamp, resource=_resource(request)
    )
    return await _answer(request, apikey, device_id, text=False)


# ---- the short road of a measure ----------------------------------------------------------

#: the parameters a measure's short road reads (the device's group and id, the time)
_SHORT_PARAMETERS = frozenset(("k", "i", "t"))
_OK_START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-length", b"0")],
}
_OK_BODY: Message = {"type": "http.response.body", "body": b""}


def _plain_query(raw: bytes) -> dict[str, str] | None:
    """``k``, ``i`` and ``t`` of a query string with nothing else, each once, no escapes;
    None for any other (the route reads it, and refuses what it refuses)."""
    if not raw.isascii() or b"%" in raw or b"+" in raw:
        return None
    out: dict[str, str] = {}
    for pair in raw.decode("ascii").split("&"):
        name, _, value = pair.partition("=")
        if name not in _SHORT_PARAMETERS or name in out:
            return None
        out[name] = value
    return out


async def _read(receive: Receive, limit: int, agent: IotAgent, apikey: str, device: str) -> bytes:
    """The request's body, as ``Request.stream`` reads it (a client that leaves raises
    ``ClientDisconnect``), refused past ``limit`` bytes."""
    raw = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        raw += chunk
        if len(raw) > limit:
            raise await _too_large(agent, apikey, device, limit)
        if not message.get("more_body", False):
            return raw


async def measure_shortcut(scope: Scope, receive: Receive, send: Send) -> bool:
    """``POST /iot/json`` and ``POST /iot/d`` of measures (``?k=&i=`` and an optional ``t=``)
    without Starlette's request, router and response: a device's every message comes this
    way, and passing through them took a fifth of the event loop's samples in the bench
    (docs/iot.md "Speed", session 32). The same checks, refusals, counts and answer as the
    routes above; any other request (GET, ``getCmd``, another parameter, an escape) goes to
    them (:data:`cityhub.api.front.Shortcut`)."""
    if scope["method"] != "POST":
        return False
    query = _plain_query(scope.get("query_string", b""))
    if query is None or not query.get("k") or not query.get("i"):
        return False
    state = scope["app"].state
    agent: IotAgent = state.iot
    apikey, device_id = check_id(query["k"], "apikey (k)"), check_id(query["i"], "device id (i)")
    raw = await _read(receive, state.settings.max_body_bytes, agent, apikey, device_id)
    resource: str = scope["path"]
    if resource == "/iot/d":
        try:
            payload = _utf8(raw)
        except WrongSyntax as exc:
            raise await _refused(agent, apikey, device_id, exc) from None
        groups = await _ultralight_groups(agent, apikey, device_id, payload)
        text = True
    else:
        groups = await _json_groups(agent, apikey, device_id, raw)
        text = False
    if groups is not None:
        stamp = query.get("t")
        await _send(agent, apikey, device_id, groups, text=text, stamp=stamp, resource=resource)
    await send(_OK_START)
    await send(_OK_BODY)
    return True


#: the short roads of ``cityhub.api.front.Hub``, by path
shortcuts = {"/iot/json": measure_shortcut, "/iot/d": measure_shortcut}

routes = [
    Route("/iot/d", ultralight, methods=["GET", "POST"]),
    Route("/iot/json", json_measures, methods=["GET", "POST"]),
    Route("/iot/json/commands", command_results, methods=["POST"]),
    Route("/iot/d/commands", command_results, methods=["POST"]),
]

__all__ = ["measure_shortcut", "routes", "shortcuts"]
