"""JSON-LD @context handling for NGSI-LD names, without a general JSON-LD processor.

Inside the hub every attribute name and entity type is a full IRI. A request's @context is
resolved once into a :class:`TermMap`; expanding a name (``temperature`` →
``https://example.org/temperature``) or compacting an IRI back is then a dict lookup.

The rules (ETSI GS CIM 009 v1.8.1 clause 5.5.7, JSON-LD 1.1 context processing):

- The NGSI-LD core context is always in force and comes LAST, after the user's context. Its
  terms are ``@protected``: a user context that redefines one is silently overridden (no error).
- Names no context defines expand with the core's ``@vocab``
  (``https://uri.etsi.org/ngsi-ld/default-context/``). Because the core comes last, its
  ``@vocab`` also wins over a user ``@vocab`` for such names, as a JSON-LD 1.1 processor does
  with ``[user, core]``; a user ``@vocab`` still applies inside the user's own context
  (term definitions without ``@id``, vocabulary-relative ``@id`` values).
- CURIEs (``ex:temp``) expand through prefix terms: string definitions whose IRI ends in one of
  ``:/?#[]@``, or object definitions with ``"@prefix": true`` (JSON-LD 1.1). The core's terms
  and prefixes (``ngsi-ld:``, ``DateTime``) are usable inside user contexts too, although the
  core is processed after them: it is always in force.
- A term defined as ``null`` loses its earlier definition and falls back to the default
  expansion; the hub never drops an attribute because of its name.

This module does no I/O. Remote documents are passed in by the caller
(``cityhub.contexts.ContextService`` fetches them), which asks :func:`remote_urls` what is still
missing, fetches that, and asks again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final
from urllib.parse import urljoin

from cityhub.errors import BadRequestData, LdContextNotAvailable

CORE_CONTEXT_URL: Final = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
DEFAULT_VOCAB: Final = "https://uri.etsi.org/ngsi-ld/default-context/"

#: Remote contexts may include further remote contexts; past this depth we stop.
MAX_CONTEXT_DEPTH: Final = 16
#: Most remote documents one context value may pull in (all levels together).
MAX_REMOTE_CONTEXTS: Final = 64
# Per-TermMap caches stop growing here (names from requests are attacker-controlled).
_CACHE_LIMIT: Final = 20_000

_CORE_PATH = "uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context"
_CORE_FILES: Final[dict[str, str]] = {
    "": "ngsi-ld-core-context-v1.8.jsonld",
    "-v1.3": "ngsi-ld-core-context-v1.3.jsonld",
    "-v1.6": "ngsi-ld-core-context-v1.7.jsonld",  # no published 1.6 file of ours; 1.7 extends it
    "-v1.7": "ngsi-ld-core-context-v1.7.jsonld",
    "-v1.8": "ngsi-ld-core-context-v1.8.jsonld",
    "-v1.9": "ngsi-ld-core-context-v1.9.jsonld",
}
_CORE_URLS: Final[dict[str, str]] = {
    f"{scheme}://{_CORE_PATH}{suffix}.jsonld": filename
    for scheme in ("https", "http")
    for suffix, filename in _CORE_FILES.items()
}
_GEN_DELIMS = (":", "/", "?", "#", "[", "]", "@")
_KEYWORDS = frozenset(
    {
        "@base",
        "@container",
        "@context",
        "@direction",
        "@graph",
        "@id",
        "@import",
        "@included",
        "@index",
        "@json",
        "@language",
        "@list",
        "@nest",
        "@none",
        "@prefix",
        "@propagate",
        "@protected",
        "@reverse",
        "@set",
        "@type",
        "@value",
        "@version",
        "@vocab",
    }
)
_TERM_KEYS = frozenset(
    {
        "@id",
        "@type",
        "@container",
        "@context",
        "@language",
        "@direction",
        "@prefix",
        "@protected",
        "@nest",
        "@reverse",
        "@index",
    }
)
_LOADED: dict[str, dict[str, Any]] = {}  # built-in core documents, parsed once on first use


def is_core_context_url(url: str) -> bool:
    """True for a URL of an NGSI-LD core context the hub has built in (https or http)."""
    return url in _CORE_URLS


def core_context_document(url: str) -> dict[str, Any] | None:
    """The built-in copy of a core context document (``{"@context": {...}}``), or None.

    The caller must not modify the returned document.
    """
    filename = _CORE_URLS.get(url)
    if filename is None:
        return None
    doc = _LOADED.get(filename)
    if doc is None:
        text = resources.files("cityhub.ngsild").joinpath("contexts", filename).read_text("utf-8")
        doc = json.loads(text)
        _LOADED[filename] = doc
    return doc


@dataclass(frozen=True, slots=True)
class _Definition:
    iri: str
    type: str | None = None
    container: tuple[str, ...] = ()
    prefix: bool = False


class TermMap:
    """The resolved form of one @context value: expansion and compaction of names.

    Build it with :func:`build_term_map`. Its meaning never changes; it only memoizes answers,
    so after the first call for a name, :meth:`expand` and :meth:`compact` are one dict lookup.
    """

    __slots__ = (
        "_coercions",
        "_compacted",
        "_context_value",
        "_defs",
        "_expanded",
        "_prefixes",
        "_sources",
        "_vocab",
    )

    def __init__(
        self,
        context_value: Any,
        definitions: Mapping[str, _Definition],
        core_terms: frozenset[str],
        vocab: str | None,
        sources: tuple[str, ...],
    ) -> None:
        self._context_value = context_value
        self._defs = dict(definitions)
        self._vocab = vocab
        self._sources = sources
        self._prefixes = sorted(
            ((term, d.iri) for term, d in self._defs.items() if d.prefix),
            key=lambda item: (len(item[0]), item[0]),
        )
        self._expanded: dict[str, str] = {t: d.iri for t, d in self._defs.items()}
        inverse: dict[str, str] = {}
        # Core terms first: they own their IRIs. Then the shortest (then least) user term.
        ordered = sorted(
            self._defs.items(), key=lambda item: (item[0] not in core_terms, len(item[0]), item[0])
        )
        for term, d in ordered:
            if not d.iri.startswith("@") and d.iri not in inverse:
                inverse[d.iri] = term
        self._compacted = inverse
        self._coercions: dict[str, str | None] = {}

    @property
    def context_value(self) -> Any:
        """The @context to echo back (Link header or ``@context`` member), as the client sent it."""
        return self._context_value

    @property
    def vocab(self) -> str | None:
        """The ``@vocab`` in force for names no term defines."""
        return self._vocab

    @property
    def sources(self) -> tuple[str, ...]:
        """Every context URL this map was built from, nested ones included, in first-use order."""
        return self._sources

    def expand(self, term: str) -> str:
        """The IRI of an attribute name or entity type (a term, CURIE or IRI)."""
        iri = self._expanded.get(term)
        if iri is None:
            iri = self._expand(term)
            if len(self._expanded) < _CACHE_LIMIT:
                self._expanded[term] = iri
        return iri

    def compact(self, iri: str) -> str:
        """The shortest name that expands back to ``iri``: a term, a vocabulary-relative name,
        a CURIE, or else the IRI itself."""
        term = self._compacted.get(iri)
        if term is None:
            term = self._compact(iri)
            if len(self._compacted) < _CACHE_LIMIT:
                self._compacted[iri] = term
        return term

    def coercion(self, iri: str) -> str | None:
        """The ``@type`` of the term ``iri`` compacts to: ``@vocab``, ``@id``, ``@json``, an
        expanded datatype IRI (``https://uri.etsi.org/ngsi-ld/DateTime``), or None."""
        try:
            return self._coercions[iri]
        except KeyError:
            d = self._defs.get(self.compact(iri))
            kind = d.type if d is not None and d.iri == iri else None
            if len(self._coercions) < _CACHE_LIMIT:
                self._coercions[iri] = kind
            return kind

    def _expand(self, term: str) -> str:
        prefix, colon, suffix = term.partition(":")
        if colon:
            if prefix == "_" or suffix.startswith("//"):
                return term
            d = self._defs.get(prefix)
            if d is not None and d.prefix:
                return d.iri + suffix
            return term  # an absolute IRI such as urn:x:y or http://…
        if self._vocab is None:
            return term
        return self._vocab + term

    def _compact(self, iri: str) -> str:
        vocab = self._vocab
        if vocab and iri.startswith(vocab) and len(iri) > len(vocab):
            suffix = iri[len(vocab) :]
            if self.expand(suffix) == iri:
                return suffix
        best: str | None = None
        for term, prefix_iri in self._prefixes:
            if iri.startswith(prefix_iri) and len(iri) > len(prefix_iri):
                candidate = f"{term}:{iri[len(prefix_iri) :]}"
                if (
                    best is None or (len(candidate), candidate) < (len(best), best)
                ) and self.expand(candidate) == iri:
                    best = candidate
        return best if best is not None else iri


def remote_urls(
    context_value: Any, documents: Mapping[str, Any], base: str | None = None
) -> list[str]:
    """The remote context URLs ``context_value`` still needs that ``documents`` lacks.

    Built-in core URLs never count. Call again after fetching: fetched documents may name
    further URLs.

    Args:
        context_value: a @context as found in a request (URL, object, array, or null).
        documents: parsed remote documents by absolute URL.
        base: the URL relative references resolve against (the request URL, in effect).

    Raises:
        BadRequestData: the context value has a shape JSON-LD does not allow.
    """
    missing: list[str] = []
    seen: set[str] = set()

    def visit(value: Any, base_url: str | None, depth: int) -> None:
        if isinstance(value, list):
            for item in value:
                visit(item, base_url, depth)
        elif isinstance(value, str):
            url = _absolute(value, base_url)
            if url in seen or is_core_context_url(url):
                return
            seen.add(url)
            if depth >= MAX_CONTEXT_DEPTH:
                return  # build_term_map reports the depth problem
            doc = documents.get(url)
            if doc is None:
                missing.append(url)
            elif isinstance(doc, dict) and "@context" in doc:
                visit(doc["@context"], url, depth + 1)
        elif isinstance(value, dict):
            imported = value.get("@import")
            if isinstance(imported, str):
                visit(imported, base_url, depth)
        elif value is not None:
            raise BadRequestData(_shape_error(value))

    visit(context_value, base, 0)
    return missing


def build_term_map(
    context_value: Any, documents: Mapping[str, Any], base: str | None = None
) -> TermMap:
    """Resolve a @context value into a :class:`TermMap`, the core context appended last.

    Args:
        context_value: a @context as found in a request (URL, object, array, or null for
            "the core context only").
        documents: parsed remote documents by absolute URL; every URL that
            :func:`remote_urls` lists must be present.
        base: the URL relative references resolve against.

    Raises:
        BadRequestData: a malformed context, a cycle of remote contexts, or one nested too
            deep; the detail says where.
        LdContextNotAvailable: a remote document the caller did not supply.
    """
    builder = _Builder(documents, _core_definitions())
    builder.process(context_value, base, ())
    core_defs, core_vocab = _core_definitions()
    definitions = {t: d for t, d in builder.terms.items() if d is not None}
    definitions.update(core_defs)
    return TermMap(
        CORE_CONTEXT_URL if context_value is None else context_value,
        definitions,
        frozenset(core_defs),
        core_vocab,
        tuple(builder.sources),
    )


_CORE_CACHE: dict[str, tuple[dict[str, _Definition], str | None]] = {}


def _core_definitions() -> tuple[dict[str, _Definition], str | None]:
    cached = _CORE_CACHE.get(CORE_CONTEXT_URL)
    if cached is None:
        builder = _Builder({}, ({}, DEFAULT_VOCAB))
        builder.process(CORE_CONTEXT_URL, None, ())
        defs = {t: d for t, d in builder.terms.items() if d is not None}
        cached = (defs, builder.vocab)
        _CORE_CACHE[CORE_CONTEXT_URL] = cached
    return cached


def _absolute(url: str, base: str | None) -> str:
    if not url or len(url) > 2048 or any(c.isspace() or c in '<>"{}|\\^`' for c in url):
        raise BadRequestData(
            f"{url!r} is not a @context URL; use an http(s) URL, an object of "
            "term definitions, or an array of those"
        )
    if base is None or ":" in url.split("/", 1)[0]:
        return url
    return urljoin(base, url)


def _shape_error(value: Any) -> str:
    return (
        "a @context must be a URL string, an object of term definitions, null, or an array "
        f"of those; got {type(value).__name__} {json.dumps(value)[:80]}"
    )


class _Builder:
    """JSON-LD 1.1 context processing, reduced to what names need (no scoped contexts)."""

    def __init__(
        self, documents: Mapping[str, Any], core: tuple[dict[str, _Definition], str | None]
    ) -> None:
        self.documents = documents
        self.core_defs, core_vocab = core
        self.fallback_vocab = core_vocab or DEFAULT_VOCAB
        self.terms: dict[str, _Definition | None] = {}
        self.vocab: str | None = None
        self.sources: list[str] = []

    def process(self, value: Any, base: str | None, stack: tuple[str, ...]) -> None:
        if isinstance(value, list):
            for item in value:
                self.process(item, base, stack)
        elif value is None:
            self.terms.clear()
            self.vocab = None
        elif isinstance(value, str):
            url = _absolute(value, base)
            doc = self._load(url, stack)
            self.process(doc["@context"], url, (*stack, url))
        elif isinstance(value, dict):
            self._process_local(value, base, stack)
        else:
            raise BadRequestData(_shape_error(value))

    def _load(self, url: str, stack: tuple[str, ...]) -> dict[str, Any]:
        if url in stack:
            chain = " → ".join((*stack[stack.index(url) :], url))
            raise BadRequestData(f"the remote @contexts include each other in a cycle: {chain}")
        if len(stack) >= MAX_CONTEXT_DEPTH:
            raise BadRequestData(
                f"remote @contexts are nested more than {MAX_CONTEXT_DEPTH} levels deep (at {url})"
            )
        if url not in self.sources:
            if len(self.sources) >= MAX_REMOTE_CONTEXTS:
                raise BadRequestData(
                    f"the @context uses more than {MAX_REMOTE_CONTEXTS} remote contexts"
                )
            self.sources.append(url)
        doc = core_context_document(url)
        if doc is None:
            doc = self.documents.get(url)
        if doc is None:
            raise LdContextNotAvailable(f"the @context {url} has not been retrieved")
        if not isinstance(doc, dict) or "@context" not in doc:
            raise BadRequestData(
                f"the document at {url} is not a JSON-LD context: it must be "
                'a JSON object with an "@context" member'
            )
        return doc

    def _process_local(
        self, local: dict[str, Any], base: str | None, stack: tuple[str, ...]
    ) -> None:
        imported = local.get("@import")
        if imported is not None:
            if not isinstance(imported, str):
                raise BadRequestData(f"@import must be a URL string, got {imported!r}")
            url = _absolute(imported, base)
            inner = self._load(url, stack)["@context"]
            if not isinstance(inner, dict) or "@import" in inner:
                raise BadRequestData(
                    f"the @context imported from {url} must be a single "
                    "object without its own @import"
                )
            local = {**inner, **{k: v for k, v in local.items() if k != "@import"}}
        version = local.get("@version")
        if version is not None and version != 1.1:
            raise BadRequestData(f"@version must be the number 1.1, got {version!r}")
        if "@vocab" in local:
            self.vocab = self._vocab_of(local["@vocab"])
        defined: dict[str, bool] = {}
        for term in local:
            if not term.startswith("@"):
                self._define(term, local, defined)

    def _vocab_of(self, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise BadRequestData(f"@vocab must be an IRI string or null, got {value!r}")
        if ":" in value:
            return self._expand_iri(value, {}, {})
        if self.vocab is not None:  # JSON-LD 1.1: a relative @vocab extends the current one
            return self.vocab + value
        raise BadRequestData(f"@vocab must be an absolute IRI, got {value!r}")

    def _define(self, term: str, local: Mapping[str, Any], defined: dict[str, bool]) -> None:
        state = defined.get(term)
        if state:
            return
        if state is False:
            raise BadRequestData(
                f"the @context term {term!r} is defined through itself (a cyclic IRI mapping)"
            )
        defined[term] = False
        value = local[term]
        if value is None:
            self.terms[term] = None
        elif isinstance(value, str):
            self.terms[term] = self._simple(term, value, local, defined)
        elif isinstance(value, dict):
            self.terms[term] = self._expanded(term, value, local, defined)
        else:
            raise BadRequestData(
                f"the @context term {term!r} must be defined by a string, an "
                f"object or null, got {json.dumps(value)[:80]}"
            )
        defined[term] = True

    def _simple(
        self, term: str, value: str, local: Mapping[str, Any], defined: dict[str, bool]
    ) -> _Definition | None:
        iri = self._iri_for(term, value, local, defined)
        if iri is None:
            return None
        prefix = ":" not in term and (iri.endswith(_GEN_DELIMS) or iri.startswith("_:"))
        return _Definition(iri, prefix=prefix)

    def _expanded(
        self, term: str, value: dict[str, Any], local: Mapping[str, Any], defined: dict[str, bool]
    ) -> _Definition | None:
        unknown = [k for k in value if k not in _TERM_KEYS]
        if unknown:
            raise BadRequestData(
                f"the definition of @context term {term!r} has members JSON-LD "
                f"does not allow: {', '.join(sorted(unknown))}"
            )
        target = value.get("@id", value.get("@reverse", term))
        if "@id" in value and value["@id"] is None:
            return None
        if not isinstance(target, str):
            raise BadRequestData(
                f"the @id of @context term {term!r} must be a string, got {target!r}"
            )
        iri = self._iri_for(term, target, local, defined)
        if iri is None:
            return None
        kind = value.get("@type")
        if kind is not None:
            if not isinstance(kind, str):
                raise BadRequestData(
                    f"the @type of @context term {term!r} must be a string, got {kind!r}"
                )
            if not kind.startswith("@"):
                kind = self._expand_iri(kind, local, defined)
        container = value.get("@container")
        containers = (
            tuple(container)
            if isinstance(container, list)
            else (() if container is None else (container,))
        )
        if not all(isinstance(c, str) and c.startswith("@") for c in containers):
            raise BadRequestData(
                f"the @container of @context term {term!r} must be a keyword "
                f"such as @list or @set, got {container!r}"
            )
        prefix = value.get("@prefix", False)
        if not isinstance(prefix, bool):
            raise BadRequestData(f"@prefix of @context term {term!r} must be true or false")
        return _Definition(iri, kind, containers, prefix)

    def _iri_for(
        self, term: str, target: str, local: Mapping[str, Any], defined: dict[str, bool]
    ) -> str | None:
        if target.startswith("@"):
            # keyword aliases ("id": "@id") stay keywords; other @-forms are ignored, as in JSON-LD
            return target if target in _KEYWORDS else None
        if target == term:
            # "attributeCount": "attributeCount" (core 1.8) means: the term itself, expanded
            # without this very definition.
            return self._expand_iri(term, local, defined, skip=term)
        return self._expand_iri(target, local, defined)

    def _expand_iri(
        self,
        value: str,
        local: Mapping[str, Any],
        defined: dict[str, bool],
        skip: str | None = None,
    ) -> str:
        """IRI expansion while processing a context (vocabulary-relative)."""
        if value != skip:
            if value in local and not defined.get(value):
                self._define(value, local, defined)
            d = self.terms.get(value)
            if d is None and value not in self.terms:
                d = self.core_defs.get(value)  # the core context is always in force
            if d is not None:
                return d.iri
        prefix, colon, suffix = value.partition(":")
        if colon:
            if prefix == "_" or suffix.startswith("//"):
                return value
            if prefix in local and prefix != skip and not defined.get(prefix):
                self._define(prefix, local, defined)
            d = self.terms.get(prefix)
            if d is None and prefix not in self.terms:
                d = self.core_defs.get(prefix)  # the core context is always in force
            if d is not None and d.prefix:
                return d.iri + suffix
            return value
        return (self.vocab or self.fallback_vocab) + value


__all__ = [
    "CORE_CONTEXT_URL",
    "DEFAULT_VOCAB",
    "MAX_CONTEXT_DEPTH",
    "MAX_REMOTE_CONTEXTS",
    "TermMap",
    "build_term_map",
    "core_context_document",
    "is_core_context_url",
    "remote_urls",
]
