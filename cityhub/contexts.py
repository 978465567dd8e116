"""The @context service: resolves request contexts into term maps, fetching remote ones, and keeps
the registry behind ``/ngsi-ld/v1/jsonldContexts`` (ETSI GS CIM 009 v1.8.1 clause 5.13).

Kinds of registered @contexts (clause 5.13.1):

- ``Hosted``: added by a client with POST /jsonldContexts; the hub serves it at its own URL.
- ``Cached``: a remote @context the hub downloaded (directly or nested); identified by its
  localId or by its original URL. The built-in NGSI-LD core contexts are listed as Cached too,
  but can be neither deleted nor reloaded from the network.
- ``ImplicitlyCreated``: made by the hub for a compound @context (an inline object or an array)
  it has to refer to by URL later, for example the ``jsonldContext`` of a subscription. See
  :meth:`ContextService.implicit_entry`.

The registry lives in memory and does not survive a restart (a store-backed
:class:`ContextRegistry` can replace :class:`MemoryContextRegistry` later).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Protocol
from urllib.parse import unquote

import httpx
import orjson

from cityhub.errors import BadRequestData, LdContextNotAvailable, ResourceNotFound
from cityhub.ngsild.context import (
    CORE_CONTEXT_URL,
    MAX_REMOTE_CONTEXTS,
    TermMap,
    build_term_map,
    core_context_document,
    is_core_context_url,
    remote_urls,
)
from cityhub.ngsild.datetime import format_datetime
from cityhub.ngsild.json_limits import check_document

HOSTED: Final = "Hosted"
CACHED: Final = "Cached"
IMPLICITLY_CREATED: Final = "ImplicitlyCreated"
KINDS: Final = (HOSTED, CACHED, IMPLICITLY_CREATED)

#: Where the hub serves registered contexts, below its public base URL.
CONTEXTS_PATH: Final = "/ngsi-ld/v1/jsonldContexts/"
_TERM_MAP_CACHE = 1024
_ACCEPT = "application/ld+json, application/json;q=0.9, */*;q=0.1"


@dataclass(frozen=True, slots=True)
class ContextEntry:
    """One registered @context, as the /jsonldContexts endpoint describes it.

    ``document`` is the whole JSON-LD document (``{"@context": ...}``); treat it as read-only.
    """

    local_id: str
    url: str
    kind: str
    document: dict[str, Any]
    created_at: datetime
    last_usage: datetime | None = None
    number_of_hits: int = 0
    built_in: bool = False

    def details(self) -> dict[str, Any]:
        """The detailed representation of clause 5.13.3 (``details=true``)."""
        out: dict[str, Any] = {
            "URL": self.url,
            "localId": self.local_id,
            "kind": self.kind,
            "createdAt": format_datetime(self.created_at),
            "numberOfHits": self.number_of_hits,
        }
        if self.last_usage is not None:
            out["lastUsage"] = format_datetime(self.last_usage)
        if self.built_in:
            out["extraInfo"] = {
                "builtIn": True,
                "note": "NGSI-LD core @context shipped with the hub",
            }
        return out


class ContextRegistry(Protocol):
    """Where registered @contexts live; one in-memory implementation for now."""

    def add(self, entry: ContextEntry) -> None: ...
    def get(self, local_id: str) -> ContextEntry | None: ...
    def by_url(self, url: str) -> ContextEntry | None: ...
    def replace(self, entry: ContextEntry) -> None: ...
    def remove(self, local_id: str) -> None: ...
    def record_use(self, local_id: str, when: datetime) -> None: ...
    def entries(self) -> Iterator[ContextEntry]: ...


@dataclass
class MemoryContextRegistry:
    """Registered @contexts in a dict, in creation order. Not persisted."""

    _entries: dict[str, ContextEntry] = field(default_factory=dict)
    _urls: dict[str, str] = field(default_factory=dict)
    _usage: dict[str, tuple[int, datetime]] = field(default_factory=dict)

    def add(self, entry: ContextEntry) -> None:
        self._entries[entry.local_id] = entry
        self._urls[entry.url] = entry.local_id

    def get(self, local_id: str) -> ContextEntry | None:
        entry = self._entries.get(local_id)
        usage = self._usage.get(local_id)
        if entry is None or usage is None:
            return entry
        return replace(entry, number_of_hits=usage[0], last_usage=usage[1])

    def by_url(self, url: str) -> ContextEntry | None:
        local_id = self._urls.get(url)
        return None if local_id is None else self.get(local_id)

    def replace(self, entry: ContextEntry) -> None:
        self._entries[entry.local_id] = entry

    def remove(self, local_id: str) -> None:
        entry = self._entries.pop(local_id, None)
        self._usage.pop(local_id, None)
        if entry is not None:
            self._urls.pop(entry.url, None)

    def record_use(self, local_id: str, when: datetime) -> None:
        hits = self._usage.get(local_id, (0, when))[0]
        self._usage[local_id] = (hits + 1, when)

    def entries(self) -> Iterator[ContextEntry]:
        for local_id in list(self._entries):
            entry = self.get(local_id)
            if entry is not None:
                yield entry


def _now() -> datetime:
    return datetime.now(UTC)


class ContextService:
    """Turns request @contexts into :class:`TermMap` objects and manages registered contexts.

    Each distinct context value is resolved once (cached by its canonical JSON); each remote
    URL is fetched once, and concurrent first requests for a URL share one fetch.

    Args:
        public_base: the hub's public base URL (``http://host:port``); hosted contexts are served
            at ``{public_base}/ngsi-ld/v1/jsonldContexts/{localId}``, and relative @context URLs
            in requests resolve against it.
        fetch_timeout: seconds to wait for a remote @context.
        max_bytes: the largest remote @context document accepted.
        client: the HTTP client to fetch with (tests pass one with a mock transport); the
            service closes only a client it created itself.
        registry: where registered contexts live (in memory by default).
        clock: the current time (tests pass a fixed one).
    """

    def __init__(
        self,
        public_base: str = "http://localhost:1026",
        *,
        fetch_timeout: float = 5.0,
        max_bytes: int = 1_000_000,
        client: httpx.AsyncClient | None = None,
        registry: ContextRegistry | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.public_base = public_base.rstrip("/")
        self.fetch_timeout = fetch_timeout
        self.max_bytes = max_bytes
        self._client = client
        self._owns_client = client is None
        self._registry: ContextRegistry = registry or MemoryContextRegistry()
        self._clock = clock
        self._base = self.public_base + "/ngsi-ld/v1/"
        self._implicit: dict[bytes, str] = {}  # canonical JSON of a context -> localId
        self._fetches: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._term_maps: dict[Any, tuple[TermMap, tuple[str, ...]]] = {}
        self._core_entry(CORE_CONTEXT_URL)

    async def aclose(self) -> None:
        """Close the HTTP client, if the service created it."""
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    # -- term maps -------------------------------------------------------------------------

    async def term_map(self, context_value: Any) -> TermMap:
        """The term map of a request's @context (a URL, object, array, or None for core only).

        Raises:
            BadRequestData: the @context is malformed.
            LdContextNotAvailable: a remote @context could not be retrieved (503).
        """
        key = (
            context_value
            if isinstance(context_value, str)
            else orjson.dumps(context_value, option=orjson.OPT_SORT_KEYS)
        )
        known = self._term_maps.get(key)
        if known is None:
            terms = await self._build(context_value)
            ids = tuple(
                entry.local_id
                for entry in map(self._entry_for_url, terms.sources)
                if entry is not None
            )
            if len(self._term_maps) >= _TERM_MAP_CACHE:
                del self._term_maps[next(iter(self._term_maps))]
            known = self._term_maps[key] = (terms, ids)
        terms, ids = known
        if ids:
            now = self._clock()
            for local_id in ids:
                self._registry.record_use(local_id, now)
        return terms

    async def _build(self, context_value: Any) -> TermMap:
        documents: dict[str, dict[str, Any]] = {}
        while True:
            missing = remote_urls(context_value, _Documents(self, documents), self._base)
            if not missing:
                return build_term_map(context_value, _Documents(self, documents), self._base)
            if len(documents) + len(missing) > MAX_REMOTE_CONTEXTS:
                raise BadRequestData(
                    f"the @context uses more than {MAX_REMOTE_CONTEXTS} remote contexts"
                )
            fetched = await asyncio.gather(*(self._document(url) for url in missing))
            documents.update(zip(missing, fetched, strict=True))

    def _local_document(self, url: str) -> dict[str, Any] | None:
        entry = self._entry_for_url(url)
        if entry is None:
            return None
        if entry.built_in:
            return core_context_document(entry.url)
        return entry.document

    def _entry_for_url(self, url: str) -> ContextEntry | None:
        entry = self._registry.by_url(url)
        if entry is not None:
            return entry
        if is_core_context_url(url):
            return self._core_entry(url)
        # A hosted or implicit context by any URL ending in /jsonldContexts/{localId}: the ids
        # are random URNs, so this is unambiguous, and it keeps working behind proxies that
        # change the host, or with a relative reference resolved against a guessed base.
        head, sep, tail = url.rpartition("/jsonldContexts/")
        if sep and head:
            entry = self._registry.get(unquote(tail))
            if entry is not None and entry.kind != CACHED:
                return entry
        return None

    # -- fetching --------------------------------------------------------------------------

    async def _document(self, url: str) -> dict[str, Any]:
        local = self._local_document(url)
        if local is not None:
            return local
        if url.startswith(self.public_base + CONTEXTS_PATH):
            raise LdContextNotAvailable(
                f"the @context {url} is not (or no longer) registered with this hub"
            )
        if url.startswith(self.public_base + "/"):
            # a relative reference resolved against the hub itself; only /jsonldContexts/ is ours
            raise BadRequestData(
                f"the @context {url} points at this hub, which serves @contexts only below "
                f"{self.public_base + CONTEXTS_PATH}; use an absolute http(s) URL"
            )
        pending = self._fetches.get(url)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch_and_cache(url))
            self._fetches[url] = pending
            pending.add_done_callback(lambda _: self._fetches.pop(url, None))
        return await asyncio.shield(pending)

    async def _fetch_and_cache(self, url: str) -> dict[str, Any]:
        doc = await self._fetch(url)
        if self._registry.by_url(url) is None:
            self._registry.add(ContextEntry(_new_id(), url, CACHED, doc, self._clock()))
        return doc

    async def _fetch(self, url: str) -> dict[str, Any]:
        if not url.startswith(("http://", "https://")):
            raise LdContextNotAvailable(
                f"the @context {url} cannot be retrieved: only http and "
                "https URLs can be dereferenced"
            )
        client = self._client
        if client is None:
            client = self._client = httpx.AsyncClient(follow_redirects=True)
        body = bytearray()
        try:
            async with client.stream(
                "GET", url, headers={"Accept": _ACCEPT}, timeout=self.fetch_timeout
            ) as response:
                if not 200 <= response.status_code < 300:
                    raise LdContextNotAvailable(
                        f"the @context {url} cannot be retrieved: the "
                        f"server answered HTTP {response.status_code}"
                    )
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > self.max_bytes:
                    raise self._too_large(url)
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise self._too_large(url)
        except (httpx.InvalidURL, ValueError) as exc:  # e.g. a doubled "http://a:1http://a:1/x"
            raise BadRequestData(f"the @context URL {url!r} is not a valid URL: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise LdContextNotAvailable(
                f"the @context {url} cannot be retrieved: no answer within {self.fetch_timeout:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise LdContextNotAvailable(
                f"the @context {url} cannot be retrieved: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise LdContextNotAvailable(
                f"the @context {url} cannot be used: its content is not JSON"
            ) from exc
        if not isinstance(doc, dict) or "@context" not in doc:
            raise LdContextNotAvailable(
                f"the @context {url} cannot be used: it is not a JSON "
                'object with an "@context" member'
            )
        try:
            check_document(bytes(body), doc, "it")
        except BadRequestData as exc:
            raise LdContextNotAvailable(
                f"the @context {url} cannot be used: {exc.detail}"
            ) from None
        return doc

    def _too_large(self, url: str) -> LdContextNotAvailable:
        return LdContextNotAvailable(
            f"the @context {url} cannot be used: it is larger than {self.max_bytes} bytes"
        )

    # -- registry (clause 5.13) ------------------------------------------------------------

    def url_of(self, local_id: str) -> str:
        """Where the hub serves the registered context ``local_id``."""
        return self.public_base + CONTEXTS_PATH + local_id

    async def add_hosted(self, document: Any) -> ContextEntry:
        """Register a client's @context (POST /jsonldContexts), after checking it resolves.

        Args:
            document: the request body, ``{"@context": ...}``.

        Raises:
            BadRequestData: the document is not a valid @context.
            LdContextNotAvailable: a remote context it includes cannot be retrieved.
        """
        if not isinstance(document, dict) or "@context" not in document:
            raise BadRequestData('the body must be a JSON object with an "@context" member')
        await self._build(document["@context"])
        local_id = _new_id()
        entry = ContextEntry(local_id, self.url_of(local_id), HOSTED, document, self._clock())
        self._registry.add(entry)
        return entry

    async def implicit_entry(self, context_value: Any) -> ContextEntry:
        """The ImplicitlyCreated entry for a compound @context, made on first use.

        For callers that must refer to an inline or array @context by URL later (a
        subscription's ``jsonldContext``). The same context value gives the same entry.
        """
        key = orjson.dumps(context_value, option=orjson.OPT_SORT_KEYS)
        known = self._implicit.get(key)
        existing = None if known is None else self._registry.get(known)
        if existing is not None:
            return existing
        await self._build(context_value)
        local_id = _new_id()
        self._implicit[key] = local_id
        document = {"@context": context_value}
        entry = ContextEntry(
            local_id, self.url_of(local_id), IMPLICITLY_CREATED, document, self._clock()
        )
        self._registry.add(entry)
        return entry

    def list_entries(self, details: bool = False, kind: str | None = None) -> list[Any]:
        """URLs of the registered contexts (or their details), optionally of one kind."""
        if kind is not None and kind not in KINDS:
            raise BadRequestData(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        chosen = [e for e in self._registry.entries() if kind is None or e.kind == kind]
        return [e.details() for e in chosen] if details else [e.url for e in chosen]

    def get_entry(self, context_id: str, *, count_hit: bool = False) -> ContextEntry:
        """A registered context by localId, or by URL; ``count_hit`` records this as a use
        (after taking the snapshot returned).

        Raises:
            ResourceNotFound: no such context.
        """
        entry = self._find(context_id)
        if entry is None:
            raise ResourceNotFound(f"no @context with id or URL {context_id!r} is known to the hub")
        if count_hit:
            self._registry.record_use(entry.local_id, self._clock())
        return entry

    async def delete_entry(self, context_id: str, reload: bool = False) -> None:
        """Delete a registered context, or with ``reload`` fetch a Cached one again.

        Raises:
            ResourceNotFound: no such context (without ``reload``).
            BadRequestData: the core context without ``reload``; ``reload`` on anything but a
                Cached context.
            LdContextNotAvailable: the reload failed; the old copy stays in use.
        """
        entry = self._find(context_id)
        if reload:
            if entry is None or entry.kind != CACHED:
                what = "unknown" if entry is None else f"of kind {entry.kind}"
                raise BadRequestData(
                    f"reload=true applies to Cached @contexts only; {context_id!r} is {what}"
                )
            if entry.built_in:
                return  # the built-in copy is the reference; nothing to download
            doc = await self._fetch(entry.url)
            self._registry.replace(replace(entry, document=doc))
            self._term_maps.clear()
            return
        if entry is None:
            raise ResourceNotFound(f"no @context with id or URL {context_id!r} is known to the hub")
        if entry.built_in:
            raise BadRequestData(
                f"{entry.url} is the NGSI-LD core @context; it cannot be "
                "deleted (reload=true is accepted and changes nothing)"
            )
        self._registry.remove(entry.local_id)
        self._term_maps.clear()

    def _find(self, context_id: str) -> ContextEntry | None:
        entry = self._registry.get(context_id)
        if entry is None:
            entry = self._registry.by_url(context_id)
        if entry is None and is_core_context_url(context_id):
            entry = self._core_entry(context_id)
        return entry

    def _core_entry(self, url: str) -> ContextEntry:
        entry = self._registry.by_url(url)
        if entry is None:
            doc = core_context_document(url)
            assert doc is not None
            entry = ContextEntry(_new_id(), url, CACHED, doc, self._clock(), built_in=True)
            self._registry.add(entry)
        return entry


class _Documents(Mapping[str, Any]):
    """The documents a build may use: this build's fetches, then what the service holds."""

    def __init__(self, service: ContextService, fetched: dict[str, dict[str, Any]]) -> None:
        self._service = service
        self._fetched = fetched

    def __getitem__(self, url: str) -> Any:
        doc = self._fetched.get(url)
        if doc is None:
            doc = self._service._local_document(url)
        if doc is None:
            raise KeyError(url)
        return doc

    def __iter__(self) -> Iterator[str]:
        return iter(self._fetched)

    def __len__(self) -> int:
        return len(self._fetched)


def _new_id() -> str:
    return f"urn:ngsi-ld:jsonldContext:{uuid.uuid4()}"


__all__ = [
    "CACHED",
    "CONTEXTS_PATH",
    "HOSTED",
    "IMPLICITLY_CREATED",
    "KINDS",
    "ContextEntry",
    "ContextRegistry",
    "ContextService",
    "MemoryContextRegistry",
]
