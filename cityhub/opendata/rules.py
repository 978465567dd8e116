"""Publishing rules (issue 19): per tenant and entity type, what is public.

Nothing is public unless a rule says so. A rule names an entity type and may narrow it to some
attributes; it carries the licence (default CC-BY-4.0) and attribution the open views show, and
whether the type's history is public. Rules are kept by ``PublishingStore`` and read on every
open data request (a handful of rows), so a rule removed on one worker is gone on every worker
at once.

A rule's document (``PUT /admin/publishing/{type}``)::

    {"attributes": ["pm25", "pm10", "name", "location"],   # absent: every attribute
     "license": "CC-BY-4.0",                                # an SPDX id or an http(s) URL
     "attribution": "Seongnam City",
     "history": true,
     "title": "Air quality", "description": "...", "keywords": ["air"],
     "datetimeAttribute": "dateObserved"}                   # what OGC API's datetime filters
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cityhub.errors import BadRequestData
from cityhub.ngsild.context import TermMap, build_term_map
from cityhub.ngsild.names import check_name
from cityhub.store.publishing import PublishingRecord

DEFAULT_LICENSE = "CC-BY-4.0"
#: the licences known by SPDX id, with the URL the catalogue and the pages link
LICENSES = {
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "ODbL-1.0": "https://opendatacommons.org/licenses/odbl/1-0/",
    "KOGL-1": "https://www.kogl.or.kr/info/licenseType1.do",
}
DEFAULT_DATETIME = "dateObserved"
LOCATION = "location"
_MEMBERS = frozenset(
    {"attributes", "license", "attribution", "history", "title", "description", "keywords",
     "datetimeAttribute"}
)  # fmt: skip
_URL = re.compile(r"https?://[^\s<>\"{}|\\^`]{1,2000}")
_MAX_TEXT = 2000


@functools.cache
def core_terms() -> TermMap:
    """The NGSI-LD core @context's terms (no I/O): how open data reads and shows names."""
    return build_term_map(None, {})


@functools.lru_cache(maxsize=4096)
def term_of(iri: str) -> str:
    """An IRI's term in the core @context (cached: the open views name every attribute of
    every feature)."""
    return core_terms().compact(iri)


def collection_id(type_iri: str) -> str:
    """The name a type goes by in the open views: its core-context term (``AirQualityObserved``),
    else the last segment of its IRI."""
    name = core_terms().compact(type_iri)
    if "/" in name or "#" in name:
        name = re.split(r"[/#]", name.rstrip("/#"))[-1] or name
    return name


@dataclass(frozen=True)
class Publication:
    """A type as published (a rule read with the core @context).

    Attributes:
        tenant: the tenant ("" the default tenant).
        type: the entity type's IRI.
        name: its collection id (``AirQualityObserved``).
        attributes: the public attributes' IRIs, None for every attribute.
        license: the licence's SPDX id or URL as given.
        license_url: where the licence is read.
        attribution: who to credit ("" none given).
        history: whether the type's history is public.
        title, description, keywords: what catalogues show.
        datetime_attribute: the IRI of the attribute OGC API's ``datetime`` filters.
        created_at, modified_at: ISO 8601 UTC.
    """

    tenant: str
    type: str
    name: str
    attributes: frozenset[str] | None
    license: str
    license_url: str
    attribution: str
    history: bool
    title: str
    description: str
    keywords: tuple[str, ...]
    datetime_attribute: str
    created_at: str
    modified_at: str

    def is_public(self, attribute_iri: str) -> bool:
        return self.attributes is None or attribute_iri in self.attributes

    @functools.cached_property
    def geometry_attribute(self) -> str | None:
        """The GeoProperty the open views map (``location``), None when it is not public."""
        iri = core_terms().expand(LOCATION)
        return iri if self.is_public(iri) else None

    def document(self) -> dict[str, Any]:
        """The rule as the admin API shows it (names compacted)."""
        terms = core_terms()
        doc: dict[str, Any] = {"type": self.name, "typeIri": self.type, "tenant": self.tenant}
        if self.attributes is not None:
            doc["attributes"] = sorted(terms.compact(a) for a in self.attributes)
        doc.update(
            license=self.license,
            licenseUrl=self.license_url,
            attribution=self.attribution,
            history=self.history,
            title=self.title,
            description=self.description,
            keywords=list(self.keywords),
            datetimeAttribute=terms.compact(self.datetime_attribute),
            createdAt=self.created_at,
            modifiedAt=self.modified_at,
        )
        return doc


def _text(doc: dict[str, Any], name: str, default: str = "") -> str:
    value = doc.get(name, default)
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise BadRequestData(f"{name} must be text of at most {_MAX_TEXT} characters")
    return value


def check_rule(body: Any) -> dict[str, Any]:
    """A rule's document from a client, checked, with names expanded to IRIs.

    Raises:
        BadRequestData: not an object, an unknown member, or a member of the wrong shape; the
            detail names it.
    """
    if not isinstance(body, dict):
        raise BadRequestData("a publishing rule must be a JSON object")
    unknown = sorted(set(body) - _MEMBERS)
    if unknown:
        raise BadRequestData(
            f"unknown member(s) {', '.join(unknown)}; a publishing rule has "
            f"{', '.join(sorted(_MEMBERS))}"
        )
    terms = core_terms()
    doc: dict[str, Any] = {}
    if "attributes" in body:
        names = body["attributes"]
        if not isinstance(names, list) or len(names) > 1000:
            raise BadRequestData("attributes must be an array of attribute names")
        doc["attributes"] = sorted({terms.expand(check_name(n, "attribute name")) for n in names})
    license_ = _text(body, "license", DEFAULT_LICENSE)
    if license_ not in LICENSES and _URL.fullmatch(license_) is None:
        raise BadRequestData(
            f"license must be one of {', '.join(LICENSES)} (SPDX ids) or an http(s) URL, got "
            f"{license_!r}"
        )
    doc["license"] = license_
    doc["attribution"] = _text(body, "attribution")
    history = body.get("history", False)
    if not isinstance(history, bool):
        raise BadRequestData("history must be true or false")
    doc["history"] = history
    doc["title"] = _text(body, "title")
    doc["description"] = _text(body, "description")
    keywords = body.get("keywords", [])
    if (
        not isinstance(keywords, list)
        or len(keywords) > 50
        or not all(isinstance(k, str) and 0 < len(k) <= 100 for k in keywords)
    ):
        raise BadRequestData("keywords must be an array of at most 50 words (1-100 characters)")
    doc["keywords"] = keywords
    when = _text(body, "datetimeAttribute", DEFAULT_DATETIME)
    doc["datetimeAttribute"] = terms.expand(check_name(when, "datetimeAttribute"))
    return doc


def publication_of(record: PublishingRecord) -> Publication:
    doc = record.doc
    attrs = doc.get("attributes")
    license_ = str(doc.get("license", DEFAULT_LICENSE))
    return Publication(
        tenant=record.tenant,
        type=record.type,
        name=collection_id(record.type),
        attributes=None if attrs is None else frozenset(attrs),
        license=license_,
        license_url=LICENSES.get(license_, license_),
        attribution=str(doc.get("attribution", "")),
        history=bool(doc.get("history", False)),
        title=str(doc.get("title", "")) or collection_id(record.type),
        description=str(doc.get("description", "")),
        keywords=tuple(doc.get("keywords", ())),
        datetime_attribute=str(doc.get("datetimeAttribute", core_terms().expand(DEFAULT_DATETIME))),
        created_at=record.created_at,
        modified_at=record.modified_at,
    )


def type_iri(name: str) -> str:
    """A type named by a client (a term of the core @context, or an IRI) as its IRI."""
    return core_terms().expand(check_name(name, "entity type"))


def public_attributes(publication: Publication, names: Iterable[str]) -> list[str]:
    """Those of ``names`` (attribute IRIs) the publication shows, in order."""
    return [n for n in names if publication.is_public(n)]


__all__ = [
    "DEFAULT_LICENSE",
    "LICENSES",
    "Publication",
    "check_rule",
    "collection_id",
    "core_terms",
    "public_attributes",
    "publication_of",
    "term_of",
    "type_iri",
]
