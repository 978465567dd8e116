"""Managed tenants: their names and settings, checked (clause 4.14 multi-tenancy; the name is
what requests carry in ``NGSILD-Tenant``).

A tenant's settings document (every member optional):

- ``description``: text for people;
- ``rateLimit`` (requests per second per caller, > 0), ``burst`` (>= 1) and ``dailyQuota``
  (requests per caller per UTC day, >= 0): the tenant's own quotas, over the hub's settings;
- ``maxRequestBytes``, ``maxResponseBytes`` (>= 0; 0: none): the largest request body and
  answer each caller of the tenant may send and receive, over the hub's
  ``caller_max_request_bytes`` and ``caller_max_response_bytes``;
- ``retentionDays`` (>= 0): how long the tenant's history is meant to be kept (recorded for
  the retention service; the hub's ``history_retention_by_tenant`` setting is what prunes);
- ``oidc``: ``{"issuer": ..., "jwksUri": ..., "audience": ...}``, the OAuth2/OIDC issuer whose
  tokens identify the tenant's callers (audience optional).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from cityhub.errors import BadRequestData

#: the tenant names a request may carry (``NGSILD-Tenant``; api/negotiation.py reads them
#: the same way): nothing that could be read as a path, a pattern or a second value
TENANT_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def check_tenant_name(name: Any) -> str:
    """The name, if it is one a tenant may have.

    Raises:
        BadRequestData: it is not 1-64 letters, digits, '-' or '_'.
    """
    if not isinstance(name, str) or TENANT_NAME.fullmatch(name) is None:
        raise BadRequestData(
            f"a tenant name is 1-64 ASCII letters, digits, '-' or '_', got {name!r}"
        )
    return name


def _number(doc: dict[str, Any], name: str, *, minimum: float, integer: bool) -> None:
    value = doc.get(name)
    if value is None:
        return
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or value < minimum or value > 1e9:
        kind = "a whole number" if integer else "a number"
        raise BadRequestData(
            f"tenant setting {name} must be {kind} from {minimum:g}, got {value!r}"
        )


def _url(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequestData(f"tenant setting oidc.{name} must be a URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequestData(f"tenant setting oidc.{name} must be an http(s) URL, got {value!r}")
    return value


_MEMBERS = {
    "description",
    "rateLimit",
    "burst",
    "dailyQuota",
    "maxRequestBytes",
    "maxResponseBytes",
    "retentionDays",
    "oidc",
}


def check_tenant_settings(doc: Any) -> dict[str, Any]:
    """A tenant's settings document, checked (see the module's docstring).

    Raises:
        BadRequestData: not an object, an unknown member, or a value out of range.
    """
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise BadRequestData("tenant settings must be a JSON object")
    unknown = sorted(set(doc) - _MEMBERS)
    if unknown:
        raise BadRequestData(
            f"unknown tenant setting(s) {', '.join(unknown)}; known: {', '.join(sorted(_MEMBERS))}"
        )
    if "description" in doc and not isinstance(doc["description"], str):
        raise BadRequestData("tenant setting description must be text")
    _number(doc, "rateLimit", minimum=0.001, integer=False)
    _number(doc, "burst", minimum=1, integer=True)
    _number(doc, "dailyQuota", minimum=0, integer=True)
    _number(doc, "retentionDays", minimum=0, integer=True)
    _number(doc, "maxRequestBytes", minimum=0, integer=True)
    _number(doc, "maxResponseBytes", minimum=0, integer=True)
    if "oidc" in doc:
        oidc = doc["oidc"]
        if not isinstance(oidc, dict) or set(oidc) - {"issuer", "jwksUri", "audience"}:
            raise BadRequestData("tenant setting oidc is {issuer, jwksUri, audience?}")
        if not isinstance(oidc.get("issuer"), str) or not oidc["issuer"]:
            raise BadRequestData("tenant setting oidc.issuer must be the issuer's iss value")
        _url(oidc.get("jwksUri"), "jwksUri")
        if "audience" in oidc and not isinstance(oidc["audience"], str):
            raise BadRequestData("tenant setting oidc.audience must be text")
    return dict(doc)


__all__ = ["TENANT_NAME", "check_tenant_name", "check_tenant_settings"]
