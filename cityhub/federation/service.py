"""Forwarding reads to context sources and merging what they answer (ETSI GS CIM 009 v1.8.1
clauses 4.3.6.2, 5.7.1.4 Retrieve Entity and 5.7.2.4 Query Entities, distributed).

:class:`Federation` finds the registrations a read matches (the registration store's
discovery), sends the read to their endpoints in parallel with ``httpx`` and merges the
answers with the local entities (``cityhub.ngsild.federation``). What keeps a source from
stalling the hub or being abused:

- each source gets ``federation_timeout`` seconds for the whole exchange (waiting for a free
  slot included), at most ``federation_max_concurrency`` requests are out at once, and an
  answer larger than ``federation_max_bytes`` is dropped: a source that fails, times out or
  answers what is not NGSI-LD becomes an ``NGSILD-Warning`` (clause 6.3.17), never an error;
- a forwarded request carries none of the caller's headers but its ``@context`` (``Link``):
  never its ``Authorization`` or API key; the registration's ``contextSourceInfo`` and
  ``tenant`` become headers (clause 4.3.6.5), and redirects are not followed;
- only endpoints on ``federation_allowed_hosts`` are asked (by default loopback only), so a
  registration cannot make the hub call into the city's network (server-side request
  forgery); a registration elsewhere is skipped with a warning;
- ``Via`` carries this broker's identity; a request that already went through it, or made
  :data:`~cityhub.ngsild.federation.MAX_HOPS` hops, is answered locally (loop detection).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, urlencode

import httpx
import orjson

from cityhub.errors import CityhubError
from cityhub.federation.breaker import Breakers
from cityhub.federation.http11 import StreamTransport
from cityhub.federation.reader import SourceReader
from cityhub.ngsild.context import CORE_CONTEXT_URL, TermMap
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.entity_map import LOCAL
from cityhub.ngsild.federation import (
    ADDITIVE,
    MAX_HOPS,
    MISC_WARNING,
    PERSISTENT_WARNING,
    REVALIDATION_FAILED,
    AllowedHosts,
    forwards_to,
    is_loop,
    local_only,
    merge_lists,
    rank,
    source_cooldown,
    source_timeout,
    via_value,
    warning,
)
from cityhub.ngsild.recompact import Recompact
from cityhub.ngsild.registration_query import RegistrationQuery, parse_registration_q
from cityhub.ngsild.split import (
    FILTER_PARAMETERS,
    entity_filter,
    split_entities_of,
    without_filters,
)
from cityhub.settings import Settings
from cityhub.store.base import EntityQuery, QueryResult, Store
from cityhub.store.registrations import RegistrationStore

_JSONLD_REL: Final = "http://www.w3.org/ns/json-ld#context"
_TOKEN: Final = re.compile(r"[A-Za-z0-9._:-]{1,100}")
#: A contextSourceInfo value meaning "the triggering request's value of this key" (4.3.6.5).
FROM_REQUEST: Final = "urn:ngsi-ld:request"
#: Registrations read per page when a write asks for every matching one.
_PAGE: Final = 500
#: Parameters of the caller's request that are not forwarded: paging is redone here (the
#: merged list is paged), the representation is chosen here (a source answers normalized
#: entities, which merge), and ``local`` is what the source is not asked.
_NOT_FORWARDED: Final = frozenset(
    """local limit offset format options pick omit join joinLevel lang geometryProperty
    containedBy entityMap entityMapLifetime""".split()
)
#: Parameters of a temporal read that are not forwarded: the representation is the caller's
#: (the merge reads the same format), only ``local`` and the EntityMap's are this hub's.
_NOT_FORWARDED_TEMPORAL: Final = frozenset("local entityMap entityMapLifetime".split())
#: Headers a registration's contextSourceInfo may not set: the forwarding sets these.
_OWN_HEADERS: Final = frozenset(
    """accept link via ngsild-tenant content-type content-length host transfer-encoding
    connection""".split()
)
#: contextSourceInfo keys with a meaning of their own (clause 4.3.6.6), never sent as headers.
_SPECIAL_KEYS: Final = frozenset({"jsonldcontext", "accept", "contenttype", "ngsildconformance"})
_JSON: Final = "application/json"
_JSONLD: Final = "application/ld+json"


@dataclass(frozen=True)
class Ask:
    """Who asks: the tenant, the caller's ``@context`` URL (from its ``Link`` header; None
    for the core context), the ``Via`` header the request came with, and ``local``: no
    source is asked (``local=true``, clause 6.3.18; or a caller whose access is narrowed
    to some entities, whose reads stay with what this broker can check)."""

    tenant: str
    context: str | None = None
    via: str | None = None
    local: bool = False
    #: the caller's headers, of which only those a registration's contextSourceInfo asks
    #: for with the value ``urn:ngsi-ld:request`` are ever forwarded (clause 4.3.6.5)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Federated:
    """A distributed read's answer: the merged entities, the count when asked, and one
    ``NGSILD-Warning`` value per source that failed."""

    entities: list[Entity]
    count: int | None = None
    warnings: list[str] = field(default_factory=list)
    #: which sources hold each entity of the window the sources were asked for, in the merged
    #: order (a registration id, or ``"@none"`` for this broker: an EntityMap, clause 5.2.39)
    sources: dict[str, list[str]] = field(default_factory=dict)
    #: the registrations whose source did not answer (or not with NGSI-LD)
    failed: set[str] = field(default_factory=set)
    #: whether matching entities follow the page (a ``next`` link, clause 5.5.9)
    more: bool = False


@dataclass
class Exchange:
    """What a source answered (``status`` 0 when it did not: then ``warning`` says why)."""

    status: int = 0
    headers: httpx.Headers | None = None
    data: bytes = b""
    warning: str | None = None
    timed_out: bool = False
    #: the terms the answer is written in when they are the registration's ``jsonldContext``
    #: (clause 4.3.6.6), not the caller's
    terms: TermMap | None = None


@dataclass
class _Reply:
    status: int = 0
    body: Any = None
    count: int | None = None
    warning: str | None = None
    terms: TermMap | None = None


def source_info(doc: dict[str, Any]) -> dict[str, str]:
    """The contextSourceInfo keys of clause 4.3.6.6 (lower-cased) that registration ``doc``
    sets, with their values."""
    out = {}
    for pair in doc.get("contextSourceInfo") or ():
        key = str(pair.get("key", "")).lower()
        if key in _SPECIAL_KEYS and isinstance(pair.get("value"), str):
            out[key] = pair["value"]
    return out


def _without_context(body: Any) -> Any:
    if isinstance(body, list):
        return [_without_context(b) for b in body]
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k != "@context"}
    return body


def _one_url(body: Any) -> str | None:
    """The @context every item of ``body`` (an object or a list of them) carries inline,
    when it is one URL (a string or a list of one string): it can go in a ``Link``."""
    items = body if isinstance(body, list) else [body]
    found = {orjson.dumps(i.get("@context")) for i in items if isinstance(i, dict)}
    if len(found) != 1 or not all(isinstance(i, dict) and "@context" in i for i in items):
        return None
    value = orjson.loads(found.pop())
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, str) else None


def _with_context(body: Any, context: Any) -> Any:
    if isinstance(body, list):
        return [_with_context(b, context) for b in body]
    if isinstance(body, dict):
        return {**body, "@context": context}
    return body


def _forwarded_params(params: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for key, value in params:
        if key == "options":
            if "sysAttrs" in value.split(","):
                out.append(("options", "sysAttrs"))
        elif key not in _NOT_FORWARDED:
            out.append((key, value))
    return out


def _query_string(params: Sequence[tuple[str, str]]) -> str:
    """``?k=v&...`` in the caller's order, ``:`` and ``,`` left as they are (RFC 3986 allows
    them in a query; ids are URNs), so a source sees the query its caller would write."""
    if not params:
        return ""
    return "?" + urlencode(list(params), quote_via=quote, safe=":,")


def _detail(got: Exchange) -> str:
    """``: <detail>`` of a source's ProblemDetails answer (clause 5.5.3), so the warning says
    why it failed; "" when it sent none."""
    try:
        body = orjson.loads(got.data) if got.data else None
    except orjson.JSONDecodeError:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    return f": {detail[:300]}" if isinstance(detail, str) and detail else ""


def registered_names(doc: dict[str, Any]) -> frozenset[str] | None:
    """The attribute names registration ``doc`` offers, or None when one of its
    RegistrationInfo offers whole entities (no propertyNames or relationshipNames)."""
    names: set[str] = set()
    for info in doc.get("information", ()):
        found = {*info.get("propertyNames", ()), *info.get("relationshipNames", ())}
        if not found:
            return None
        names |= found
    return frozenset(names)


def registered_ids(doc: dict[str, Any]) -> list[str] | None:
    """The entity ids registration ``doc`` names, or None when one of its RegistrationInfo
    offers entities by idPattern, by type or without entities."""
    ids: list[str] = []
    for info in doc.get("information", ()):
        entities = info.get("entities")
        if not entities or any("id" not in e for e in entities):
            return None
        ids.extend(e["id"] for e in entities if e["id"] not in ids)
    return ids


def _within(
    params: Sequence[tuple[str, str]],
    doc: dict[str, Any],
    terms: TermMap,
    *,
    entity_ids: bool = True,
) -> list[tuple[str, str]]:
    """A read's parameters narrowed to what registration ``doc`` offers (clause 4.3.6.1: "all
    constraints specified in the registration shall be respected", entity ids and attribute
    names among them): when it names entities by id, ``id`` asks for those of them the caller
    wants, or all of them (``entity_ids``: a query, not a retrieve by id); when it registers
    attribute names only, ``attrs`` asks for those of them the caller wants, or all of them."""
    out = list(params)
    ids = registered_ids(doc) if entity_ids else None
    if ids is not None:
        asked = [i for k, v in params if k == "id" for i in v.split(",") if i]
        keep = [i for i in asked if i in ids] if asked else ids
        if keep:
            value = ",".join(keep)
            if asked:
                out = [(k, value if k == "id" else v) for k, v in out]
            else:
                at = next((n for n, (k, _) in enumerate(out) if k == "attrs"), len(out))
                out.insert(at, ("id", value))
    names = registered_names(doc)
    if names is None:
        return out
    asked = [terms.expand(a) for k, v in params if k == "attrs" for a in v.split(",") if a]
    keep = [n for n in asked if n in names] if asked else sorted(names)
    if not keep:
        return out
    out = [(k, v) for k, v in out if k != "attrs"]
    out.append(("attrs", ",".join(terms.compact(n) for n in keep)))
    return out


def _url(endpoint: str, path: str) -> str:
    """``path`` (``/entities...``) under the NGSI-LD API of ``endpoint`` (the source's base
    URL, as in the examples of clause 5.2.9, or its ``.../ngsi-ld/v1``)."""
    base = endpoint.rstrip("/")
    if not base.endswith("/ngsi-ld/v1"):
        base += "/ngsi-ld/v1"
    return base + path


class Federation:
    """Distributed reads over a registration store (one per app).

    Args:
        registrations: where the registrations a read may match are.
        settings: ``federation_*``.
        transport: an ``httpx`` transport (tests); None for the network.
        contexts: resolves a @context value to its terms (the contexts service); without
            it a registration's ``jsonldContext`` only names the forwarded ``Link``.
    """

    def __init__(
        self,
        registrations: RegistrationStore,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        contexts: Callable[[Any], Awaitable[TermMap]] | None = None,
    ) -> None:
        self._registrations = registrations
        #: resolves a @context (a registration's jsonldContext, clause 4.3.6.6) to its terms
        self._contexts = contexts
        self._timeout = settings.federation_timeout
        self._max_bytes = settings.federation_max_bytes
        #: sources one read asks at most (the oldest matching registrations)
        self.max_sources = max(1, settings.federation_max_sources)
        self._concurrency = max(1, settings.federation_max_concurrency)
        self.max_window = settings.max_limit
        #: whether a query whose request does not say treats entities as split across
        #: sources (v1.9.1 splitEntities, clause 5.7.2.4)
        self.split_entities = settings.federation_split_entities
        self.allowed = AllowedHosts.parse(settings.federation_allowed_hosts)
        #: this broker in ``Via`` (a random name unless ``federation_id`` names it)
        self.identity = settings.federation_id or f"cityhub-{secrets.token_hex(6)}"
        if not _TOKEN.fullmatch(self.identity):
            raise ValueError(
                f"setting federation_id: {settings.federation_id!r} is not one word of letters, "
                "digits and . _ - : (it names this hub in the Via header)"
            )
        self._transport = transport
        #: one circuit breaker per source endpoint
        self.breakers = Breakers(
            settings.federation_breaker_failures, settings.federation_breaker_cooldown
        )
        self._client: httpx.AsyncClient | None = None
        #: what sends the requests: the transport itself, not the client (the client's
        #: layers, redirects, auth and cookie jar, cost a third of an exchange's CPU and are
        #: not wanted: no redirect is followed, no cookie is kept between sources); by
        #: default the federation's own HTTP/1.1 transport (``http11.StreamTransport``)
        self._sender: httpx.AsyncBaseTransport | None = None
        self._gate: asyncio.Semaphore | None = None
        #: when this hub started (monotonic seconds: its uptime, clause 5.2.40)
        self.started = time.monotonic()

    def _http(self) -> tuple[httpx.AsyncClient, httpx.AsyncBaseTransport, asyncio.Semaphore]:
        if self._client is None or self._sender is None or self._gate is None:
            self._sender = self._transport or StreamTransport(self._concurrency)
            # the client builds the requests (default headers) and closes the transport
            self._client = httpx.AsyncClient(
                transport=self._sender,
                follow_redirects=False,
                trust_env=False,
                timeout=None,  # the whole exchange is bounded below
            )
            self._gate = asyncio.Semaphore(self._concurrency)
        return self._client, self._sender, self._gate

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = self._sender = None

    async def registration(self, tenant: str, registration_id: str) -> dict[str, Any] | None:
        """One registration of ``tenant`` as it is stored, None when there is none."""
        return await self._registrations.get_registration(tenant, registration_id)

    async def matching(self, ask: Ask, query: RegistrationQuery) -> list[dict[str, Any]]:
        """Every registration of ``ask``'s tenant matching ``query`` (clause 5.12), none for
        a request answered locally (``local=true``, a loop). Writes use it: a write goes where
        every registration says (an exclusive or redirect one takes it from this broker)."""
        if ask.local or is_loop(ask.via, self.identity):
            return []
        found: list[dict[str, Any]] = []
        while True:
            docs, _ = await self._registrations.query_registrations(
                ask.tenant, query, limit=_PAGE, offset=len(found)
            )
            found.extend(docs)
            if len(docs) < _PAGE:
                return found

    async def _sources(
        self, ask: Ask, operation: str, query: RegistrationQuery
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The sources a read asks: the oldest ``max_sources`` registrations matching
        ``query`` that take ``operation``, and a warning when more matched (an answer that
        leaves sources out says so, it does not pass for the whole)."""
        if ask.local:
            return [], []
        looped = is_loop(ask.via, self.identity)
        docs, _ = await self._registrations.query_registrations(
            ask.tenant, query, limit=self.max_sources + 1, offset=0
        )
        if looped:
            # the matching registrations are not asked (Table 6.3.18-2); the answer says so
            # with 199, "a registration loop has been detected" (Table 6.3.17-1)
            skipped = sum(forwards_to(d, operation) for d in docs)
            text = (
                f"this request already went through this broker ({self.identity} is in its "
                f"Via header, or it made {MAX_HOPS} hops): {skipped} matching context source "
                "registration(s) were not asked, to end a registration loop"
            )
            return [], [warning(MISC_WARNING, "-", text)] if skipped else []
        sources = [d for d in docs[: self.max_sources] if forwards_to(d, operation)]
        if len(docs) <= self.max_sources:
            return sources, []
        _, total = await self._registrations.query_registrations(
            ask.tenant, query, limit=1, offset=0, count=True
        )
        text = (
            f"{total} context source registrations match this request; the {self.max_sources} "
            "oldest were asked (setting federation_max_sources): narrow it by id, type or "
            "attrs to reach the others"
        )
        return sources, [warning(PERSISTENT_WARNING, "-", text)]

    async def exchange(
        self,
        doc: dict[str, Any],
        ask: Ask,
        method: str,
        path: str,
        params: Sequence[tuple[str, str]],
        body: Any = None,
    ) -> Exchange:
        """One request to the source of registration ``doc``: its status, headers and body,
        or a warning when it was not asked, could not be asked, did not answer in time or
        answered too much."""
        endpoint = doc["endpoint"]
        name = f"context source {doc['id']}"
        if not self.allowed.allow(endpoint):
            return Exchange(
                warning=warning(
                    PERSISTENT_WARNING,
                    endpoint,
                    f"{name} was not asked: its endpoint is not on federation_allowed_hosts",
                )
            )
        if self.breakers.resting(endpoint):
            # 5.2.34 cooldown: "a timeout error response for the registration is
            # automatically returned"
            return Exchange(
                timed_out=True,
                warning=warning(
                    MISC_WARNING,
                    endpoint,
                    f"{name} was not asked: it failed less than its registration's "
                    "management.cooldown ago",
                ),
            )
        if not self.breakers.allow(endpoint):
            return Exchange(
                warning=warning(
                    MISC_WARNING,
                    endpoint,
                    f"{name} was not asked: it failed {self.breakers.failures(endpoint)} times "
                    f"in a row; it is asked again {self.breakers.cooldown:g} s after the last",
                )
            )
        got = await self._exchange(doc, ask, method, path, params, body)
        if got.status == 0 or got.status >= 500:
            self.breakers.failed(endpoint, source_cooldown(doc))
        else:
            self.breakers.succeeded(endpoint)
        return got

    async def _exchange(
        self,
        doc: dict[str, Any],
        ask: Ask,
        method: str,
        path: str,
        params: Sequence[tuple[str, str]],
        body: Any,
    ) -> Exchange:
        endpoint = doc["endpoint"]
        name = f"context source {doc['id']}"
        info = source_info(doc)
        accept = info.get("accept", _JSON)
        if accept not in (_JSON, _JSONLD):
            accept = _JSON
        headers = {"Accept": accept, "Via": via_value(ask.via, self.identity)}
        for pair in doc.get("contextSourceInfo") or ():
            key, value = pair["key"], pair["value"]
            if key.lower() in _OWN_HEADERS or key.lower() in _SPECIAL_KEYS:
                continue
            if value == FROM_REQUEST:  # the registration asks for the caller's value
                value = ask.headers.get(key.lower()) or ask.headers.get(key)
                if not value:
                    continue
            headers[key] = value
        if doc.get("tenant"):
            headers["NGSILD-Tenant"] = doc["tenant"]
        context = ask.context
        terms = None
        own = info.get("jsonldcontext")
        if own:  # clause 4.3.6.6: recompacted with the registration's @context, sent with it
            inline = body.get("@context") if isinstance(body, dict) else None
            if self._contexts is not None and (inline is not None or own != ask.context):
                try:
                    source = await self._contexts(inline or ask.context or CORE_CONTEXT_URL)
                    terms = await self._contexts(own)
                except CityhubError as exc:
                    return Exchange(
                        warning=warning(
                            PERSISTENT_WARNING,
                            endpoint,
                            f"{name} was not asked: its jsonldContext {own} could not be "
                            f"used ({exc.detail})",
                        )
                    )
                recompact = Recompact(source, terms)
                params = recompact.params(params)
                body = recompact.body(body)
            context, body = own, _without_context(body)
        content_type = info.get("contenttype")
        content = None
        if body is not None:
            items = body if isinstance(body, list) else [body]
            json_ld = (
                content_type == _JSONLD
                if content_type in (_JSON, _JSONLD)
                else any(isinstance(i, dict) and "@context" in i for i in items)
            )
            if content_type == _JSONLD:  # the @context goes inline (clause 4.3.6.6)
                body = _with_context(_without_context(body), context or CORE_CONTEXT_URL)
            elif content_type == _JSON or (content_type is None and not own):
                # a @context that is one URL travels in Link: the source gets plain JSON
                # (6.3.5), one batch whatever each entity wrote; another stays inline
                url = _one_url(body)
                if url is not None:
                    context, body, json_ld = url, _without_context(body), False
                elif content_type == _JSON:
                    body = _without_context(body)
            content = orjson.dumps(body)
            headers["Content-Type"] = _JSONLD if json_ld else _JSON
            if not json_ld and context:
                headers["Link"] = f'<{context}>; rel="{_JSONLD_REL}"'
        elif context:
            headers["Link"] = f'<{context}>; rel="{_JSONLD_REL}"'
        if local_only(doc) and not any(key == "local" for key, _ in params):
            params = [*params, ("local", "true")]  # clause 5.2.34 localOnly, 6.3.18 local
        timeout = source_timeout(doc, self._timeout)
        client, sender, gate = self._http()
        try:
            async with asyncio.timeout(timeout):
                async with gate:
                    request = client.build_request(
                        method,
                        _url(endpoint, path) + _query_string(params),
                        headers=headers,
                        content=content,
                    )
                    response = await sender.handle_async_request(request)
                    try:
                        data = bytearray()
                        async for chunk in response.aiter_bytes():
                            data += chunk
                            if len(data) > self._max_bytes:
                                return Exchange(
                                    warning=warning(
                                        REVALIDATION_FAILED,
                                        endpoint,
                                        f"{name} answered more than {self._max_bytes} bytes",
                                    )
                                )
                    finally:
                        await response.aclose()
        except TimeoutError:
            return Exchange(
                timed_out=True,
                warning=warning(
                    MISC_WARNING, endpoint, f"{name} did not answer within {timeout:g} s"
                ),
            )
        except httpx.HTTPError as exc:
            return Exchange(
                warning=warning(
                    MISC_WARNING, endpoint, f"{name} could not be asked ({type(exc).__name__})"
                )
            )
        return Exchange(
            status=response.status_code, headers=response.headers, data=bytes(data), terms=terms
        )

    async def _send(
        self,
        doc: dict[str, Any],
        ask: Ask,
        method: str,
        path: str,
        params: Sequence[tuple[str, str]],
        body: Any = None,
    ) -> _Reply:
        """A read: 200 with a JSON body, 404 (nothing there), or a warning."""
        got = await self.exchange(doc, ask, method, path, params, body)
        if got.warning is not None:
            return _Reply(warning=got.warning)
        endpoint = doc["endpoint"]
        name = f"context source {doc['id']}"
        reply = _Reply(status=got.status, terms=got.terms)
        if got.status == 404:
            return reply
        if got.status != 200:
            reply.warning = warning(
                PERSISTENT_WARNING, endpoint, f"{name} answered HTTP {got.status}{_detail(got)}"
            )
            return reply
        try:
            reply.body = orjson.loads(got.data)
        except orjson.JSONDecodeError:
            reply.warning = warning(REVALIDATION_FAILED, endpoint, f"{name} answered no JSON")
        raw_count = got.headers.get("NGSILD-Results-Count", "") if got.headers else ""
        reply.count = int(raw_count) if raw_count.isdigit() else None
        return reply

    def _entities(
        self, doc: dict[str, Any], reply: _Reply, terms: TermMap, many: bool
    ) -> tuple[list[Entity], str | None]:
        """The entities of a source's answer, or a warning when it is not NGSI-LD."""
        body = reply.body
        items = body if many and isinstance(body, list) else [body] if not many else None
        problem = None
        out: list[Entity] = []
        if items is None:
            problem = "answered no array of entities"
        else:
            reader = SourceReader(reply.terms or terms)
            for item in items:
                try:
                    if not isinstance(item, dict):
                        raise TypeError
                    out.append(reader.entity(item))
                except (CityhubError, TypeError, ValueError, KeyError, AttributeError):
                    problem = "answered an entity that is not valid NGSI-LD"
        if problem is None:
            return out, None
        return out, warning(
            REVALIDATION_FAILED, doc["endpoint"], f"context source {doc['id']} {problem}"
        )

    async def retrieve_entity(
        self,
        ask: Ask,
        entity_id: str,
        local: Entity | None,
        params: Sequence[tuple[str, str]],
        terms: TermMap,
        attrs: Sequence[str] = (),
    ) -> Federated:
        """Clause 5.7.1.4: the entity as this broker and the sources of the matching
        registrations hold it (every mode, clause 4.3.6) (``entities`` holds one entity or
        none)."""
        sources, left_out = await self._sources(
            ask, "retrieveEntity", RegistrationQuery(ids=(entity_id,), attrs=tuple(attrs))
        )
        if not sources:
            return Federated([local] if local is not None else [], warnings=left_out)
        forwarded = _forwarded_params(params)
        path = "/entities/" + quote(entity_id, safe=":")
        replies = await asyncio.gather(
            *(self._send(doc, ask, "GET", path, forwarded) for doc in sources)
        )
        lists: list[tuple[list[Entity], int]] = [([local], ADDITIVE)] if local is not None else []
        warnings = list(left_out)
        for doc, reply in zip(sources, replies, strict=True):
            if reply.warning is not None:
                warnings.append(reply.warning)
                continue
            if reply.status != 200:
                continue
            found, problem = self._entities(doc, reply, terms, many=False)
            if problem is None and found and found[0]["id"] != entity_id:
                problem = warning(
                    REVALIDATION_FAILED,
                    doc["endpoint"],
                    f"context source {doc['id']} answered another entity",
                )
            if problem is not None:
                warnings.append(problem)
                continue
            lists.append((found, rank(doc)))
        return Federated(merge_lists(lists), warnings=warnings)

    async def query_entities(
        self,
        store: Store,
        ask: Ask,
        query: EntityQuery,
        terms: TermMap,
        *,
        operation: str = "queryEntity",
        params: Sequence[tuple[str, str]] = (),
        body: Any = None,
    ) -> Federated:
        """Clause 5.7.2.4: the query answered by this broker and the sources of the matching
        registrations (every mode), merged, then paged.

        A source is asked for the first ``offset + limit`` entities (at most ``max_limit``)
        and the merged list is paged here, so a page holds each entity once. ``operation`` is
        ``queryEntity`` (GET, ``params`` forwarded) or ``queryBatch`` (POST, ``body``, the
        caller's Query, forwarded).

        With split entities (``splitEntities``, v1.9.1 clause 5.7.2.4) the sources are asked
        without the query's filters (q, geo-query, scopeQ, attrs), this broker's part of each
        entity they answer is read by id, and the filters are applied to the merged entities.
        """
        split = split_entities_of(
            next((v for k, v in params if k == "splitEntities"), None), self.split_entities
        )
        # a q the stores would refuse is refused before any source is asked
        keep = entity_filter(query.q, query.scope_q, query.geo, query.attrs) if split else None
        csf = next((v for k, v in params if k == "csf"), None)
        discovery = RegistrationQuery(
            ids=query.ids,
            types=query.types,
            id_pattern=query.id_pattern,
            attrs=query.attrs,
            # the Context Source filter (clause 4.9) narrows the registrations asked
            csf=parse_registration_q(csf, terms.expand) if csf else None,
        )
        window = min(query.offset + query.limit, self.max_window)
        end = query.offset + query.limit
        first: QueryResult | None = None
        # one entity more than the page tells whether another page follows (clause 5.5.9)
        peek = dataclasses.replace(query, limit=query.limit + 1) if query.limit else query
        if query.offset == 0 and window == query.limit:  # the first page is the window
            (sources, left_out), first = await asyncio.gather(
                self._sources(ask, operation, discovery), store.query_entities(ask.tenant, peek)
            )
        else:
            sources, left_out = await self._sources(ask, operation, discovery)
        if not sources:
            result = first or await store.query_entities(ask.tenant, peek)
            entities = result.entities[: query.limit]
            more = len(result.entities) > query.limit or (
                result.count is not None and result.count > end
            )
            alone = {e["id"]: [LOCAL] for e in entities}
            return Federated(entities, result.count, left_out, sources=alone, more=more)
        local_more = False
        if first is not None:
            local_more = len(first.entities) > query.limit
            first = dataclasses.replace(first, entities=first.entities[: query.limit])
        forwarded = _forwarded_params(params)
        if split:
            forwarded = [(k, v) for k, v in forwarded if k not in FILTER_PARAMETERS]
            body = without_filters(body)
        if any(key in ("limit", "offset") for key, _ in params):
            forwarded.append(("limit", str(window)))  # else the source's default page
        local_query = dataclasses.replace(query, offset=0, limit=window)
        if operation == "queryBatch":
            sends = [
                self._send(doc, ask, "POST", "/entityOperations/query", forwarded, body)
                for doc in sources
            ]
        else:
            sends = [
                self._send(doc, ask, "GET", "/entities", _within(forwarded, doc, terms))
                for doc in sources
            ]
        if first is not None:
            local, replies = first, await asyncio.gather(*sends)
        else:
            local, replies = await asyncio.gather(
                store.query_entities(ask.tenant, local_query), asyncio.gather(*sends)
            )
        lists: list[tuple[list[Entity], int]] = [(local.entities, ADDITIVE)]
        warnings = list(left_out)
        count = local.count
        held: dict[str, list[str]] = {e["id"]: [LOCAL] for e in local.entities}
        failed: set[str] = set()
        for doc, reply in zip(sources, replies, strict=True):
            if reply.warning is not None:
                warnings.append(reply.warning)
                failed.add(doc["id"])
                continue
            if reply.status != 200:
                continue
            found, problem = self._entities(doc, reply, terms, many=True)
            if problem is not None:
                # 6.3.17: "invalid non-NGSI-LD payloads shall be rejected and not
                # incorporated into the overall response" (the whole answer: 111)
                warnings.append(problem)
                failed.add(doc["id"])
                continue
            lists.append((found, rank(doc)))
            for entity in found:
                held.setdefault(entity["id"], []).append(doc["id"])
            if count is not None:
                count += reply.count if reply.count is not None else len(found)
        if keep is not None:
            # this broker's part of the entities the sources answered, which its own
            # (filtered) query may have left out: a part need not match alone
            parts = [i for i in held if LOCAL not in held[i]]
            if parts:
                own = await store.query_entities(
                    ask.tenant, EntityQuery(ids=tuple(parts), limit=len(parts))
                )
                lists[0] = (local.entities + own.entities, ADDITIVE)
                for entity in own.entities:
                    held[entity["id"]].insert(0, LOCAL)
            merged = [e for e in merge_lists(lists) if keep is None or keep(e)]
            if count is not None:
                # the sources' counts are of unfiltered entities: the merged matches, and the
                # local matches beyond the window
                count = len(merged) + max(0, (local.count or 0) - len(local.entities))
        else:
            merged = merge_lists(lists)
        if count is not None and not split:
            # an entity more than one source holds is counted once (as far as the pages show)
            count -= sum(len(found) for found, _ in lists) - len(merged)
        in_order = {e["id"]: held[e["id"]] for e in merged if e["id"] in held}
        page = merged[query.offset : end]
        # more than the page, or a list that filled its window (it may hold more)
        more = (
            len(merged) > end
            or (count is not None and count > end)
            or local_more
            or any(len(found) >= window for found, _ in lists[1:])
            or (first is None and len(local.entities) >= window)
        )
        return Federated(page, count, warnings, in_order, failed, more=bool(query.limit) and more)

    async def temporal(
        self,
        ask: Ask,
        operation: str,
        discovery: RegistrationQuery,
        path: str,
        params: Sequence[tuple[str, str]],
        many: bool,
    ) -> tuple[list[tuple[Any, int, str]], list[str]]:
        """Clauses 5.7.3.4 and 5.7.4.4: a temporal read (``GET path``) sent to the sources of
        the registrations matching ``discovery`` that take ``operation`` (``retrieveTemporal``
        or ``queryTemporal``: no operation group holds them, a source lists them); what each
        answered (a temporal entity, or a list of them when ``many``) with its registration's
        rank and id, and one warning per source that failed or answered what is not that."""
        sources, left_out = await self._sources(ask, operation, discovery)
        if not sources:
            return [], left_out
        forwarded = [(k, v) for k, v in params if k not in _NOT_FORWARDED_TEMPORAL]
        replies = await asyncio.gather(
            *(self._send(doc, ask, "GET", path, forwarded) for doc in sources)
        )
        found: list[tuple[Any, int, str]] = []
        warnings = list(left_out)
        for doc, reply in zip(sources, replies, strict=True):
            if reply.warning is not None:
                warnings.append(reply.warning)
                continue
            if reply.status != 200:
                continue
            body = reply.body
            fits = (
                isinstance(body, list) and all(isinstance(d, dict) and "id" in d for d in body)
                if many
                else isinstance(body, dict) and isinstance(body.get("id"), str)
            )
            if not fits:
                warnings.append(
                    warning(
                        REVALIDATION_FAILED,
                        doc["endpoint"],
                        f"context source {doc['id']} answered no temporal "
                        + ("entities" if many else "entity"),
                    )
                )
                continue
            found.append((body, rank(doc), doc["id"]))
        return found, warnings
