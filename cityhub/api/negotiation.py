"""Request and response plumbing shared by the routes (clause 6.3): media types, the @context
from the Link header or body, the ``NGSILD-Tenant`` header, body limits, and rendering."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cityhub.errors import (
    BadRequestData,
    InvalidRequest,
    NonexistentTenant,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from cityhub.ngsild.context import CORE_CONTEXT_URL, TermMap
from cityhub.ngsild.geojson_render import render_feature, render_feature_collection
from cityhub.ngsild.json_limits import check_document

JSON = "application/json"
JSONLD = "application/ld+json"
MERGE_PATCH = "application/merge-patch+json"
GEOJSON = "application/geo+json"
JSONLD_REL = "http://www.w3.org/ns/json-ld#context"
TENANT_HEADER = "NGSILD-Tenant"

_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_TENANT = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def link_context(request: Request) -> str | None:
    """The @context URL of a ``Link: <url>; rel="http://www.w3.org/ns/json-ld#context"``."""
    header = request.headers.get("link")
    if not header:
        return None
    for match in _LINK.finditer(header):
        params = match.group(2)
        if JSONLD_REL in params:
            url = match.group(1).strip()
            if not url:
                raise BadRequestData("the Link header's @context URL is empty")
            return url
    raise BadRequestData(f'the Link header {header!r} has no rel="{JSONLD_REL}" link')


def tenant_of(request: Request) -> str:
    value = request.headers.get(TENANT_HEADER)
    if value is None or value == "":
        return ""
    return checked_tenant(value, TENANT_HEADER)


def checked_tenant(value: str, where: str) -> str:
    """``value`` as a tenant name (``where``: the header or parameter it came in, for the
    error); "" is the default tenant.

    Raises:
        BadRequestData: not 1-64 letters, digits, '-' or '_'.
    """
    if value and not _TENANT.match(value):
        raise BadRequestData(f"{where} must be 1-64 letters, digits, '-' or '_', got {value!r}")
    return value


async def require_tenant(request: Request) -> str:
    """The request's tenant, which must exist (clause 5.5.9: reads on unknown tenants → 404)."""
    tenant = tenant_of(request)
    if tenant and not await request.app.state.store.tenant_exists(tenant):
        raise NonexistentTenant(
            f"tenant {tenant!r} does not exist; it is created by the first write that names it"
        )
    return tenant


def _media(value: str) -> str:
    return value.split(";")[0].strip().lower()


def accept_of(request: Request, allowed: tuple[str, ...] = (JSON, JSONLD)) -> str:
    """The response media type from the Accept header (clause 6.3.4); 406 when none fits."""
    header = request.headers.get("accept")
    if not header:
        return JSON
    best: tuple[float, int, str] | None = None
    for pos, part in enumerate(header.split(",")):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        quality = 1.0
        for p in pieces[1:]:
            if p.startswith("q="):
                try:
                    quality = float(p[2:])
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        if media in ("*/*", "application/*"):
            choice = JSON
        elif media in allowed:
            choice = media
        else:
            continue
        key = (quality, -pos, choice)
        if best is None or key[:2] > best[:2]:
            best = key
    if best is None:
        raise NotAcceptable(
            f"cannot answer with any of {header!r}; this resource is available "
            "as " + ", ".join(allowed)
        )
    return best[2]


async def read_json(
    request: Request, *, merge_patch: bool = False, items: bool = False
) -> tuple[Any, str]:
    """The parsed body and its media type (json or ld+json), checked per clause 6.3.5 and
    against the hub's JSON limits (``cityhub.ngsild.json_limits``: nesting depth, integer
    range). ``items``: the body is an array of documents whose depth the caller checks one
    by one (batch operations report a deep entity in their 207)."""
    ctype = request.headers.get("content-type")
    if not ctype:
        raise UnsupportedMediaType(
            "the request has no Content-Type; send application/json or application/ld+json"
        )
    media = _media(ctype)
    allowed = (JSON, JSONLD, MERGE_PATCH) if merge_patch else (JSON, JSONLD)
    if media not in allowed:
        raise UnsupportedMediaType(
            f"Content-Type {media} is not supported here; use " + " or ".join(allowed)
        )
    limit: int = request.app.state.settings.max_body_bytes
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(
            f"the body is {length} bytes; the limit is {limit} (setting max_body_bytes)"
        )
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise PayloadTooLarge(f"the body is over {limit} bytes (setting max_body_bytes)")
    if not raw.strip():
        raise InvalidRequest("the request body is empty; it must be JSON")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc
    check_document(raw, body, items=items)
    return body, (JSON if media == MERGE_PATCH else media)


async def body_terms(request: Request, body: Any, media: str) -> TermMap:
    """The term map of a request with a body: Link header for JSON, ``@context`` for JSON-LD."""
    link = link_context(request)
    if media == JSONLD:
        if link is not None:
            raise BadRequestData(
                "an application/ld+json request carries its @context in the "
                "body and must not have a Link header"
            )
        items = body if isinstance(body, list) else [body]
        contexts = [i.get("@context") for i in items if isinstance(i, dict)]
        if not contexts or any(c is None for c in contexts):
            raise BadRequestData("an application/ld+json body must carry an @context member")
        return await terms_for(request, contexts[0])
    items = body if isinstance(body, list) else [body]
    if any(isinstance(i, dict) and "@context" in i for i in items):
        raise BadRequestData(
            "an application/json body must not carry @context; send it in a "
            'Link header with rel="http://www.w3.org/ns/json-ld#context", or '
            "use Content-Type application/ld+json"
        )
    return await terms_for(request, link)


async def terms_for(request: Request, context: Any) -> TermMap:
    service = request.app.state.contexts
    term_map: TermMap = await service.term_map(context if context is not None else CORE_CONTEXT_URL)
    return term_map


async def query_terms(request: Request) -> TermMap:
    return await terms_for(request, link_context(request))


def context_headers(terms: TermMap, media: str) -> dict[str, str]:
    """The Link header a JSON response carries (clause 6.3.6)."""
    if media == JSONLD:
        return {}
    value = terms.context_value
    url = value if isinstance(value, str) else CORE_CONTEXT_URL
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        url = value[0]
    return {"Link": f'<{url}>; rel="{JSONLD_REL}"; type="application/ld+json"'}


def with_context(doc: dict[str, Any], terms: TermMap, media: str) -> dict[str, Any]:
    if media == JSONLD:
        doc["@context"] = terms.context_value
    return doc


def json_response(
    content: Any, *, status: int = 200, media: str = JSON, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type=media, headers=headers)


def flag_options(request: Request) -> set[str]:
    raw = request.query_params.get("options", "")
    return {o.strip() for o in raw.split(",") if o.strip()}


def documents_response(
    docs: list[dict[str, Any]],
    terms: TermMap,
    media: str,
    *,
    single: bool = False,
    geometry_property: str | None = None,
    geometries: list[dict[str, Any] | None] | None = None,
    headers: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """Rendered entities in the negotiated media type: JSON (Link header), JSON-LD (inline
    @context per entity) or GeoJSON (clause 6.3.15: a Feature / FeatureCollection, @context in
    the body; ``geometries``, one per document, as ``cityhub.api.linking.render_documents``
    gives them, else each read from its document)."""
    extra = dict(headers or {})
    if media == GEOJSON:
        context = terms.context_value
        if single and geometries is not None:
            body: Any = render_feature(docs[0], geometry_property, context, geometries[0])
        elif single:
            body = render_feature(docs[0], geometry_property, context=context)
        else:
            body = render_feature_collection(docs, geometry_property, context, geometries)
        return json_response(body, media=GEOJSON, status=status, headers=extra)
    extra.update(context_headers(terms, media))
    if media == JSONLD:
        docs = [with_context(d, terms, media) for d in docs]
    return json_response(docs[0] if single else docs, media=media, status=status, headers=extra)
