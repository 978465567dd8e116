"""Which registration subscriptions does a registration match, and what do they receive?
(ETSI GS CIM 009 v1.8.1 clause 5.11.7; CsourceNotification clause 5.3.2.)

Pure: a stored registration subscription (``cityhub.ngsild.csource_subscription``) is prepared
once into a :class:`CsourceSelector`; :func:`matching_view` answers for one stored registration
with the registration as the subscriber sees it: only the ``RegistrationInfo`` elements relevant
to the subscription (clause 5.11.7: "instead of the original registration, implementations
should return the information relevant for the subscription"), or None when it does not match.

A registration matches when

- one of its ``RegistrationInfo`` elements covers the subscription's ``entities`` (an element
  without ``entities`` covers every entity; ``type`` must be equal; ``id`` against ``id``, an
  ``idPattern`` against the other side's ``id``, two ``idPattern`` are taken to overlap) and its
  ``watchedAttributes`` (an element without ``propertyNames``/``relationshipNames`` covers every
  attribute);
- ``q`` and ``csf`` hold on its members and CSource properties, ``scopeQ`` on its ``scope``
  (clause 4.19), ``geoQ`` on its ``location``
  (or the ``geoproperty`` named), ``temporalQ`` on its ``observationInterval`` (``observedAt``)
  or ``managementInterval`` (``createdAt``/``modifiedAt``), exactly as discovery applies them
  (:func:`cityhub.ngsild.registration_query.matches_registration`).

:func:`trigger_reason` compares the views before and after a change: ``newlyMatching``,
``updated`` or ``noLongerMatching``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cityhub.ngsild import regex
from cityhub.ngsild.query import ast as qast
from cityhub.ngsild.query.geo import expand_geo, parse_geo_query
from cityhub.ngsild.query.q import parse_q
from cityhub.ngsild.query.scope import parse_scope_q
from cityhub.ngsild.registration_query import (
    RegistrationQuery,
    matches_registration,
    registration_temporal_query,
)
from cityhub.ngsild.subscription import subscription_q, subscription_status
from cityhub.ngsild.temporal import check_temporal_q

NOTIFICATION_TYPE: Final = "ContextSourceNotification"
NEWLY_MATCHING: Final = "newlyMatching"
UPDATED: Final = "updated"
NO_LONGER_MATCHING: Final = "noLongerMatching"
#: the stored member holding the IRIs of the names q, csf and geoQ use (see :func:`query_terms`)
TERMS_MEMBER: Final = "_terms"

Document = dict[str, Any]


def query_terms(doc: Document, expand: Callable[[str], str]) -> dict[str, str]:
    """The IRIs of every name the subscription's ``q``, ``csf`` and ``geoQ.geoproperty`` use,
    with the @context of the request that set them: kept with the subscription so that matching
    needs no @context document later (a remote one may be unreachable by then)."""
    found: dict[str, str] = {}

    def record(name: str) -> str:
        iri = expand(name)
        found[name] = iri
        return iri

    for key in ("q", "csf"):
        if isinstance(doc.get(key), str):
            qast.expand_q(parse_q(subscription_q(doc[key])), record)
    geo = doc.get("geoQ")
    if isinstance(geo, dict):
        record(str(geo.get("geoproperty") or "location"))
    return found


@dataclass(frozen=True)
class CsourceSelector:
    """A registration subscription ready to be matched against registrations."""

    id: str
    doc: Document
    entities: tuple[Document, ...]
    watched: frozenset[str] | None
    query: RegistrationQuery
    throttling: float | None
    time_interval: float | None

    def active(self, now: datetime) -> bool:
        """Clause 5.11.7: notified only while ``active`` (neither paused nor expired)."""
        return subscription_status(self.doc, now) == "active"


def prepare(doc: Document, fallback: Callable[[str], str]) -> CsourceSelector:
    """A stored registration subscription → a :class:`CsourceSelector`.

    Args:
        doc: the stored subscription (names of ``entities`` and ``watchedAttributes`` are IRIs).
        fallback: expands a name of ``q``/``csf``/``geoQ`` that the stored ``_terms`` lacks
            (a subscription stored before they were kept): the core @context.
    """
    terms: dict[str, str] = doc.get(TERMS_MEMBER) or {}

    def expand(name: str) -> str:
        return terms.get(name) or fallback(name)

    q = qast.expand_q(parse_q(subscription_q(doc["q"])), expand) if doc.get("q") else None
    csf = qast.expand_q(parse_q(subscription_q(doc["csf"])), expand) if doc.get("csf") else None
    geo = None
    if isinstance(doc.get("geoQ"), dict):
        raw = doc["geoQ"]
        parsed = parse_geo_query(
            raw.get("georel"), raw.get("geometry"), raw.get("coordinates"),
            raw.get("geoproperty"),
        )  # fmt: skip
        geo = expand_geo(parsed, expand) if parsed is not None else None
    temporal = None
    if isinstance(doc.get("temporalQ"), dict):
        raw = doc["temporalQ"]
        temporal = registration_temporal_query(check_temporal_q(raw))
    scope_q = parse_scope_q(doc["scopeQ"]) if isinstance(doc.get("scopeQ"), str) else None
    watched = doc.get("watchedAttributes")
    throttling = doc.get("throttling")
    interval = doc.get("timeInterval")
    return CsourceSelector(
        id=str(doc["id"]),
        doc=doc,
        entities=tuple(doc.get("entities") or ()),
        watched=frozenset(watched) if watched else None,
        query=RegistrationQuery(q=q, csf=csf, geo=geo, temporal=temporal, scope_q=scope_q),
        throttling=float(throttling) if throttling else None,
        time_interval=float(interval) if interval else None,
    )


def _entity_overlaps(wanted: Document, held: Document) -> bool:
    """Whether a subscription's EntityInfo and a registration's can name one entity."""
    if wanted["type"] != held["type"]:
        return False
    wanted_id, held_id = wanted.get("id"), held.get("id")
    if wanted_id is not None and held_id is not None:
        return bool(wanted_id == held_id)
    if wanted_id is not None and "idPattern" in held:
        return regex.search(held["idPattern"], wanted_id)
    if held_id is not None and "idPattern" in wanted:
        return regex.search(wanted["idPattern"], held_id)
    return True


def _info_matches(info: Document, sel: CsourceSelector) -> bool:
    held = info.get("entities")
    if sel.entities and held is not None:
        if not any(_entity_overlaps(w, h) for w in sel.entities for h in held):
            return False
    if sel.watched is not None:
        names = {*info.get("propertyNames", ()), *info.get("relationshipNames", ())}
        if names and not names & sel.watched:
            return False
    return True


def matching_view(registration: Document | None, sel: CsourceSelector) -> Document | None:
    """The registration as ``sel`` sees it (only its relevant RegistrationInfo elements), or
    None when it does not match (or is None: absent)."""
    if registration is None:
        return None
    infos = [i for i in registration.get("information", ()) if _info_matches(i, sel)]
    if not infos:
        return None
    if sel.query.needs_filter and not matches_registration(registration, sel.query):
        return None
    return {**registration, "information": infos}


def trigger_reason(before: Document | None, after: Document | None) -> str | None:
    """Clause 5.11.7, from the views before and after a change: None when neither matches."""
    if after is not None:
        return UPDATED if before is not None else NEWLY_MATCHING
    return NO_LONGER_MATCHING if before is not None else None


def notification_payload(
    notification_id: str,
    subscription_id: str,
    data: list[Document],
    reason: str,
    notified_at: str,
) -> Document:
    """A CsourceNotification (clause 5.3.2) with ``data`` in the stored (expanded) form; the
    dispatcher compacts it with the subscription's @context when it delivers."""
    return {
        "id": notification_id,
        "type": NOTIFICATION_TYPE,
        "subscriptionId": subscription_id,
        "notifiedAt": notified_at,
        "data": data,
        "triggerReason": reason,
    }


__all__ = [
    "NEWLY_MATCHING",
    "NOTIFICATION_TYPE",
    "NO_LONGER_MATCHING",
    "TERMS_MEMBER",
    "UPDATED",
    "CsourceSelector",
    "matching_view",
    "notification_payload",
    "prepare",
    "query_terms",
    "trigger_reason",
]
