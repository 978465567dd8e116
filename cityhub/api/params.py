"""URL parameters of the entity routes → store queries and render projections (clause 6.4.3)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from starlette.datastructures import QueryParams

from cityhub.errors import BadRequestData, InvalidRequest, TooManyResults
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.entity import expand_name
from cityhub.ngsild.names import check_expanded, check_name, check_uri
from cityhub.ngsild.projection import expand_tree, parse_projection
from cityhub.ngsild.query import ast as qast
from cityhub.ngsild.query.geo import GeoQuery, expand_geo, parse_geo_query
from cityhub.ngsild.query.q import parse_q
from cityhub.ngsild.query.scope import parse_scope_q
from cityhub.ngsild.query.types import parse_type_query
from cityhub.ngsild.regex import compile_pattern
from cityhub.ngsild.render import Projection
from cityhub.settings import Settings
from cityhub.store.base import EntityQuery, OrderItem

FORMATS = {"normalized", "concise", "keyValues", "simplified"}
_OPTIONS = FORMATS | {"sysAttrs", "noOverwrite", "update", "replace", "count"}
_MEMBERS = {"createdAt", "modifiedAt", "observedAt", "unitCode", "datasetId", "value", "object"}


class FastQueryParams(QueryParams):
    """Starlette's ``QueryParams`` with ``get`` and ``in`` answered by the dict it keeps
    anyway (the last value of a name wins, as in ``QueryParams.__getitem__``). Starlette's
    inherit them from ``collections.abc.Mapping``, which raises and catches ``KeyError`` for
    every absent name, and a retrieve asks for a dozen it does not carry.

    Built from a raw query string, the pairs are those Starlette gives (``parse_qsl`` with
    blank values kept), but a name or value without ``%`` or ``+`` is taken as it is instead
    of going through ``unquote``: a geo-query's five parameters were 14 µs of parsing.

    Unlike Starlette's, it refuses what would silently change the request's meaning, with an
    InvalidRequest that names the parameter: a ``%`` not followed by two hex digits and
    escapes that are not UTF-8 (RFC 3986 clause 2.1; ``unquote`` keeps the first as text and
    turns the second into U+FFFD, so ``type=%ZZ`` matched nothing and answered 200 []), and a
    parameter given twice (NGSI-LD has one value per parameter, lists comma-separated in it:
    ``type=A,B``, clause 6.4.3.2; Starlette keeps the last and drops the other unseen).
    Raw non-ASCII bytes are read as UTF-8, as browsers send them (latin-1 made Korean in
    ``q`` or ``id`` mojibake)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) == 1 and not kwargs and isinstance(args[0], bytes | str):
            raw = args[0]
            items = _query_pairs(_query_text(raw) if isinstance(raw, bytes) else raw)
            self._list = items
            self._dict = dict(items)
            if len(self._dict) != len(items):
                _refuse_repeated(items)
        else:
            super().__init__(*args, **kwargs)

    def get(self, key: Any, default: Any = None) -> Any:
        return self._dict.get(key, default)

    def __contains__(self, key: Any) -> bool:
        return key in self._dict


def _query_text(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            "the query string is not UTF-8; percent-encode its text as UTF-8 (RFC 3986)"
        ) from exc


def _query_pairs(text: str) -> list[tuple[str, str]]:
    """``urllib.parse.parse_qsl(text, keep_blank_values=True)``, unquoting only what needs it;
    a malformed escape is an InvalidRequest (see :class:`FastQueryParams`)."""
    pairs = []
    for field in text.split("&") if text else ():
        if not field:
            continue
        name, _, value = field.partition("=")
        if "%" in name or "+" in name:
            name = _unquoted(name, "a URL parameter name")
        if "%" in value or "+" in value:
            value = _unquoted(value, f"URL parameter {name}")
        pairs.append((name, value))
    return pairs


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _unquoted(text: str, what: str) -> str:
    if "%" in text and _BAD_ESCAPE.search(text):
        raise InvalidRequest(
            f"{what} has a malformed percent-escape in {_excerpt(text)}: % must be followed "
            "by two hex digits (RFC 3986 clause 2.1); write a literal % as %25"
        )
    try:
        return unquote(text.replace("+", " "), errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"{what} has percent-escapes that are not UTF-8 in {_excerpt(text)}; encode text "
            "as UTF-8 before percent-encoding it"
        ) from exc


def _excerpt(text: str) -> str:
    return repr(text) if len(text) <= 80 else repr(text[:80]) + " (cut)"


def _refuse_repeated(items: list[tuple[str, str]]) -> None:
    counts = Counter(name for name, _ in items)
    repeated = sorted(name for name, n in counts.items() if n > 1)
    raise InvalidRequest(
        f"URL parameter {', '.join(repeated)} is given more than once; give each parameter "
        "once, with a list as one comma-separated value (type=A,B; clause 6.4.3.2)"
    )


@lru_cache(maxsize=256)
def _parsed(raw: bytes) -> FastQueryParams:
    return FastQueryParams(raw)


def parsed_query(raw: bytes) -> FastQueryParams:
    """The parameters of a query string, parsed once per distinct long text.

    A district's polygon in ``coordinates`` is a kilobyte of percent-escapes, and a dashboard
    asks for the same districts again and again: unescaping it was a tenth of such a request.
    QueryParams are immutable, so requests can share them. Short query strings are parsed
    each time (they are cheap, and would only push the long ones out of the cache)."""
    return _parsed(raw) if len(raw) >= 256 else FastQueryParams(raw)


def split_list(raw: str | None) -> list[str]:
    if raw is None:
        return []
    items = [i.strip() for i in raw.split(",")]
    if any(not i for i in items):
        raise BadRequestData(f"the list {raw!r} has an empty element")
    return items


def options_of(params: Mapping[str, str]) -> set[str]:
    raw = params.get("options")
    if raw is None or raw == "":
        return set()
    opts = {o.strip() for o in raw.split(",")}
    unknown = opts - _OPTIONS
    if unknown:
        raise InvalidRequest(
            f"unknown options {', '.join(sorted(unknown))}; known: " + ", ".join(sorted(_OPTIONS))
        )
    return opts


def projection_of(
    params: Mapping[str, str], terms: TermMap, *, attrs: list[str] | None = None
) -> Projection:
    """``format``/``options``, ``lang``, ``datasetId``, ``attrs``/``pick``/``omit`` (4.21)."""
    opts = options_of(params)
    fmt = params.get("format")
    if fmt is not None and fmt != "" and fmt not in FORMATS:
        raise InvalidRequest(
            f"format must be one of normalized, concise, keyValues, simplified; got {fmt!r}"
        )
    if fmt:  # clause 6.3.7: format wins over the representation named in options
        chosen = fmt
    else:
        named = {"keyValues" if f == "simplified" else f for f in opts & FORMATS}
        if len(named) > 1:
            raise BadRequestData(
                "ask for one representation only (normalized, concise or keyValues)"
            )
        chosen = next(iter(named), "normalized")
    chosen = "keyValues" if chosen == "simplified" else chosen
    pick_raw, omit_raw = params.get("pick"), params.get("omit")
    if pick_raw is not None and omit_raw is not None:
        raise BadRequestData("pick and omit cannot be used together")
    if attrs is not None and (pick_raw is not None or omit_raw is not None):
        raise BadRequestData("attrs cannot be combined with pick or omit; use pick alone")
    pick = (
        expand_tree(parse_projection(pick_raw, "pick"), terms.expand)
        if pick_raw is not None
        else None
    )
    omit = (
        expand_tree(parse_projection(omit_raw, "omit"), terms.expand)
        if omit_raw is not None
        else {}
    )
    lang = params.get("lang")
    if lang is not None and not re.match(r"^[A-Za-z0-9\-*,;=. ]+$", lang):
        raise BadRequestData(f"lang must be a language tag such as en or ko, got {lang!r}")
    dataset_ids: set[str | None] | None = None
    if params.get("datasetId") is not None:
        dataset_ids = {
            None if d == "@none" else check_uri(d, "datasetId")
            for d in split_list(params.get("datasetId"))
        }
    return Projection(
        format=chosen,
        sys_attrs="sysAttrs" in opts,
        lang=lang,
        pick=pick,
        omit=omit,
        attrs=set(attrs) if attrs is not None else None,
        dataset_ids=dataset_ids,
    )


def attrs_of(params: Mapping[str, str], terms: TermMap) -> list[str] | None:
    raw = params.get("attrs")
    if raw is None:
        return None
    return [expand_attribute_name(a, terms, "attribute name in attrs") for a in split_list(raw)]


def expand_attribute_name(name: str, terms: TermMap, what: str = "attribute name") -> str:
    """A client's attribute name as an IRI; ``id``, ``type`` and other keywords are refused."""
    return expand_name(name, terms, what)


_DIGITS = re.compile(r"[0-9]{1,9}")


def _int(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw):  # ASCII only: int() also reads "１" and "١"
        raise BadRequestData(f"{name} must be a non-negative integer, got {raw!r}")
    return int(raw)


def paging_of(params: Mapping[str, str], settings: Settings) -> tuple[int, int, bool]:
    limit = _int(params, "limit", settings.default_limit)
    offset = _int(params, "offset", 0)
    count_raw = params.get("count")
    if count_raw not in (None, "true", "false"):
        raise BadRequestData(f"count must be true or false, got {count_raw!r}")
    count = count_raw == "true" or "count" in options_of(params)
    if limit > settings.max_limit:
        raise TooManyResults(
            f"limit {limit} is above the maximum of {settings.max_limit} "
            "(setting max_limit); page with limit and offset"
        )
    if limit == 0 and not count:
        raise BadRequestData("limit=0 is only meaningful with count=true")
    return limit, offset, count


def local_of(params: Mapping[str, str]) -> bool:
    """``local``: true asks for this broker's entities only, no distributed query."""
    raw = params.get("local")
    if raw not in (None, "true", "false"):
        raise BadRequestData(f"local must be true or false, got {raw!r}")
    return raw == "true"


def type_selection(raw: str | None, terms: TermMap) -> tuple[tuple[str, ...], Any]:
    """A type parameter: a plain comma list (indexed) or a type query AST (clause 4.17)."""
    if raw is None:
        return (), None
    if not any(c in raw for c in ";|()"):
        return tuple(terms.expand(check_name(t, "entity type")) for t in split_list(raw)), None
    return (), qast.expand_types(parse_type_query(raw), terms.expand)


def entity_query_of(
    params: Mapping[str, str],
    terms: TermMap,
    settings: Settings,
    *,
    require_filter: bool = True,
    paging: bool = True,
) -> EntityQuery:
    """GET /entities parameters (clause 6.4.3.2); ``paging=False`` for purge (every match)."""
    ids = tuple(check_uri(i, "id") for i in split_list(params.get("id")))
    id_pattern = params.get("idPattern")
    if id_pattern is not None:
        compile_pattern(id_pattern, "idPattern")
    types, type_query = type_selection(params.get("type"), terms)
    attrs = attrs_of(params, terms) or []
    q = params.get("q")
    scope_q = params.get("scopeQ")
    geo = geo_query_of(
        params.get("georel"),
        params.get("geometry"),
        params.get("coordinates"),
        params.get("geoproperty"),
        terms,
    )
    local = local_of(params)
    # clause 6.4.3.2: id and idPattern alone do not make a query (ETSI 019_03_05)
    if require_filter and not (
        types or type_query or attrs or q or scope_q or geo is not None or local
    ):
        raise BadRequestData(
            "a query needs at least one of id, idPattern, type, attrs, q, scopeQ or a geo-query"
        )
    limit, offset, count = paging_of(params, settings) if paging else (0, 0, False)
    return EntityQuery(
        ids=ids,
        id_pattern=id_pattern,
        types=types,
        type_query=type_query,
        attrs=tuple(attrs),
        q=qast.expand_q(parse_q(q), terms.expand) if q else None,
        scope_q=parse_scope_q(scope_q) if scope_q else None,
        limit=limit,
        offset=offset,
        count=count,
        order_by=order_by_of(params, terms),
        geo=geo,
    )


def geo_query_of(
    georel: Any, geometry: Any, coordinates: Any, geoproperty: Any, terms: TermMap
) -> GeoQuery | None:
    """A geo-query (clause 4.10) from URL parameters or a ``geoQ`` member, names expanded."""
    parsed = parse_geo_query(georel, geometry, coordinates, geoproperty)
    if parsed is None:
        return None
    return expand_geo(parsed, lambda n: check_expanded(terms.expand(n), n, "geoproperty"))


def join_of(params: Mapping[str, str]) -> tuple[str | None, int]:
    """``join`` (inline | flat | @none) and ``joinLevel`` (clause 4.5.23)."""
    join = params.get("join")
    if join not in (None, "inline", "flat", "@none"):
        raise BadRequestData(f"join must be inline, flat or @none, got {join!r}")
    level = _int(params, "joinLevel", 1)
    if level < 1:
        raise BadRequestData("joinLevel must be at least 1")
    return (None if join == "@none" else join), min(level, 8)


def order_by_of(params: Mapping[str, str], terms: TermMap) -> tuple[OrderItem, ...]:
    """``orderBy`` (v1.9 clause 4.24): ``member[.sub...][;asc|;desc]``, comma-separated."""
    raw = params.get("orderBy")
    if raw is None:
        return ()
    items: list[OrderItem] = []
    for part in split_list(raw):
        path, _, direction = part.partition(";")
        if direction not in ("", "asc", "desc"):
            raise BadRequestData(f"orderBy direction must be asc or desc, got {direction!r}")
        names = path.split(".")
        if any(not n for n in names):
            raise BadRequestData(f"orderBy {part!r} has an empty name")
        head = names[0]
        if head not in ("id", "type", "createdAt", "modifiedAt"):
            head = terms.expand(check_name(head, "orderBy attribute"))
        rest = tuple(
            n if n in _MEMBERS else terms.expand(check_name(n, "orderBy sub-attribute"))
            for n in names[1:]
        )
        items.append(OrderItem(head, rest, direction == "desc"))
    return tuple(items)
