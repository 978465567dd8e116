"""Where the open data publishing rules are kept (issue 19): per tenant and entity type, what
is public (``cityhub.opendata.rules`` validates and reads a rule's document). The protocol
each backend implements (``store/sqlite/publishing.py``, ``store/postgres/publishing.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

Document = dict[str, Any]


@dataclass(frozen=True)
class PublishingRecord:
    """One publishing rule as stored.

    Attributes:
        tenant: the tenant ("" the default tenant).
        type: the entity type's IRI.
        doc: the rule's document (attributes, licence, attribution, history, title...).
        created_at: ISO 8601 UTC.
        modified_at: ISO 8601 UTC.
    """

    tenant: str
    type: str
    doc: Document
    created_at: str
    modified_at: str


class PublishingStore(Protocol):
    """The publishing rules of one database."""

    async def rules(self, tenant: str | None) -> list[PublishingRecord]:
        """The rules of one tenant (None: of every tenant), by tenant and type."""

    async def put_rule(self, record: PublishingRecord) -> bool:
        """Create or replace the rule of ``(tenant, type)`` (a replacement keeps its
        ``created_at``); True when it was created."""

    async def delete_rule(self, tenant: str, type_iri: str) -> bool:
        """Remove a rule; False when there was none."""


__all__ = ["PublishingRecord", "PublishingStore"]
