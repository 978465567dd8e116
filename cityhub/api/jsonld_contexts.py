"""``/ngsi-ld/v1/jsonldContexts``: @context management (ETSI GS CIM 009 v1.8.1 clause 5.13,
HTTP binding 6.31-6.32): add a hosted context, list, serve, delete or reload."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cityhub.api.location import created
from cityhub.api.negotiation import accept_of
from cityhub.api.routing import Route
from cityhub.contexts import CONTEXTS_PATH, ContextService
from cityhub.errors import BadRequestData, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from cityhub.ngsild.json_limits import check_document

JSON = "application/json"
JSONLD = "application/ld+json"


def _service(request: Request) -> ContextService:
    service: ContextService = request.app.state.contexts
    return service


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "" or raw == "false":
        return False
    if raw == "true":
        return True
    raise BadRequestData(f"{name} must be true or false, got {raw!r}")


def _send(content: Any, media: str, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type=media)


async def add_context(request: Request) -> Response:
    """POST: host a client's @context; 201 with Location, empty body (clause 5.13.2)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in (JSON, JSONLD):
        raise UnsupportedMediaType(
            f"send the @context as {JSON} or {JSONLD}, not {media or 'a body without Content-Type'}"
        )
    service = _service(request)
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > service.max_bytes:
            raise PayloadTooLarge(f"a @context may be at most {service.max_bytes} bytes")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc
    check_document(raw, body, "the @context document")
    if not isinstance(body, dict) or "@context" not in body:
        raise InvalidRequest(
            'the body must be a JSON object with an "@context" member, such '
            'as {"@context": {"temperature": "https://example.org/temperature"}}'
        )
    if not isinstance(body["@context"], dict | list | str):
        raise InvalidRequest("@context must be an object, an array or a URL string")
    entry = await service.add_hosted(body)
    return created(CONTEXTS_PATH, entry.local_id)


async def list_contexts(request: Request) -> Response:
    """GET: URLs (or details) of the registered @contexts, by kind (clause 5.13.3)."""
    media = accept_of(request, (JSON, JSONLD))
    details = _flag(request, "details")
    kind = request.query_params.get("kind") or None
    return _send(_service(request).list_entries(details=details, kind=kind), media)


async def serve_context(request: Request) -> Response:
    """GET by localId or URL: the @context itself, or its details (clause 5.13.4)."""
    media = accept_of(request, (JSON, JSONLD))
    details = _flag(request, "details")
    entry = _service(request).get_entry(request.path_params["context_id"], count_hit=True)
    return _send(entry.details() if details else entry.document, media)


async def delete_context(request: Request) -> Response:
    """DELETE by localId or URL; reload=true downloads a Cached one again (clause 5.13.5)."""
    reload = _flag(request, "reload")
    await _service(request).delete_entry(request.path_params["context_id"], reload=reload)
    return Response(status_code=204)


routes: list[Route] = [
    Route("/ngsi-ld/v1/jsonldContexts", add_context, methods=["POST"]),
    Route("/ngsi-ld/v1/jsonldContexts", list_contexts, methods=["GET"]),
    Route("/ngsi-ld/v1/jsonldContexts/{context_id:path}", serve_context, methods=["GET"]),
    Route("/ngsi-ld/v1/jsonldContexts/{context_id:path}", delete_context, methods=["DELETE"]),
]

__all__ = ["routes"]
