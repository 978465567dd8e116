"""URL parameters of the entity routes → store queries and render projections (clause 6.4.3)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cityhub.errors import BadRequestData, InvalidRequest, TooManyResults
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.names import check_name, check_uri
from cityhub.ngsild.query import ast as qast
from cityhub.ngsild.query.q import parse_q
from cityhub.ngsild.query.scope import parse_scope_q
from cityhub.ngsild.query.types import parse_type_query
from cityhub.ngsild.render import Projection
from cityhub.settings import Settings
from cityhub.store.base import EntityQuery

FORMATS = {"normalized", "concise", "keyValues", "simplified"}
_OPTIONS = FORMATS | {"sysAttrs", "noOverwrite", "update", "replace", "count"}


def split_list(raw: str | None) -> list[str]:
    if raw is None:
        return []
    items = [i.strip() for i in raw.split(",")]
    if any(not i for i in items):
        raise BadRequestData(f"the list {raw!r} has an empty element")
    return items


def options_of(params: Mapping[str, str]) -> set[str]:
    opts = set(split_list(params.get("options"))) if params.get("options") else set()
    unknown = opts - _OPTIONS
    if unknown:
        raise BadRequestData(
            f"unknown options {', '.join(sorted(unknown))}; known: " + ", ".join(sorted(_OPTIONS))
        )
    return opts


def projection_of(
    params: Mapping[str, str], terms: TermMap, *, attrs: list[str] | None = None
) -> Projection:
    """``format``/``options``, ``lang``, and ``attrs``/``pick``/``omit`` (clause 4.21)."""
    opts = options_of(params)
    fmt = params.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise BadRequestData(
            f"format must be one of normalized, concise, keyValues, simplified; got {fmt!r}"
        )
    formats = ({fmt} if fmt else set()) | (opts & FORMATS)
    if len({"keyValues" if f == "simplified" else f for f in formats}) > 1:
        raise BadRequestData("ask for one representation only (normalized, concise or keyValues)")
    chosen = next(iter(formats), "normalized")
    chosen = "keyValues" if chosen == "simplified" else chosen
    pick_raw, omit_raw = params.get("pick"), params.get("omit")
    if pick_raw is not None and omit_raw is not None:
        raise BadRequestData("pick and omit cannot be used together")
    pick: set[str] | None = None
    if pick_raw is not None:
        pick = {_expand_member(n, terms) for n in split_list(pick_raw)}
    if attrs is not None:
        keep = set(attrs) | {"id", "type", "scope"}
        pick = keep if pick is None else pick & keep | ({"id", "type"} & pick)
    omit = {_expand_member(n, terms) for n in split_list(omit_raw)} if omit_raw else set()
    lang = params.get("lang")
    if lang is not None and not re.match(r"^[A-Za-z0-9\-*,;=. ]+$", lang):
        raise BadRequestData(f"lang must be a language tag such as en or ko, got {lang!r}")
    return Projection(format=chosen, sys_attrs="sysAttrs" in opts, lang=lang, pick=pick, omit=omit)


def _expand_member(name: str, terms: TermMap) -> str:
    if name in ("id", "type", "scope"):
        return name
    return terms.expand(check_name(name, "attribute name"))


def attrs_of(params: Mapping[str, str], terms: TermMap) -> list[str] | None:
    raw = params.get("attrs")
    if raw is None:
        return None
    return [terms.expand(check_name(a, "attribute name in attrs")) for a in split_list(raw)]


def _int(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,9}", raw):
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
        try:
            re.compile(id_pattern)
        except re.error as exc:
            raise BadRequestData(f"idPattern is not a valid regular expression: {exc}") from exc
    types, type_query = type_selection(params.get("type"), terms)
    attrs = attrs_of(params, terms) or []
    q = params.get("q")
    scope_q = params.get("scopeQ")
    geo = params.get("georel") or params.get("geometry") or params.get("coordinates")
    if require_filter and not (
        ids
        or id_pattern
        or types
        or type_query
        or attrs
        or q
        or scope_q
        or geo
        or params.get("local") == "true"
    ):
        raise BadRequestData(
            "a query needs at least one of id, idPattern, type, attrs, q, scopeQ or a geo-query"
        )
    if geo:
        raise InvalidRequest("geo-queries are not available yet in this version of cityhub")
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
    )
