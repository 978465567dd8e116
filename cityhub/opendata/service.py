"""The publishing rules as a service (issue 19): reading, creating, replacing and removing a
tenant's rules (``cityhub.opendata.rules`` says what a rule is), each change followed by the
tenant's DCAT-AP entities (``cityhub.opendata.harvest``)."""

from __future__ import annotations

from typing import Any

from cityhub.errors import ResourceNotFound
from cityhub.ngsild.datetime import now_iso
from cityhub.opendata.harvest import sync_harvest_entities
from cityhub.opendata.rules import Publication, check_rule, publication_of, type_iri
from cityhub.store.base import Store
from cityhub.store.publishing import PublishingRecord, PublishingStore


class Publishing:
    """The publishing rules of a hub (see the module's docstring).

    Args:
        store: where the rules are kept.
        entities: the entity store, where each change of a tenant's rules rewrites its
            DCAT-AP entities (``cityhub.opendata.harvest``); None: not kept.
        base_url: where clients reach the hub (the entities' links).
    """

    def __init__(
        self, store: PublishingStore, entities: Store | None = None, base_url: str = ""
    ) -> None:
        self.store = store
        self.entities = entities
        self.base_url = base_url

    async def _changed(self, tenant: str) -> None:
        if self.entities is not None:
            await sync_harvest_entities(
                self.entities, tenant, self.base_url, await self.published(tenant)
            )

    async def published(self, tenant: str) -> list[Publication]:
        """The tenant's published types, by collection id."""
        found = [publication_of(r) for r in await self.store.rules(tenant)]
        return sorted(found, key=lambda p: p.name)

    async def every_tenant(self) -> list[Publication]:
        return [publication_of(r) for r in await self.store.rules(None)]

    async def publication(self, tenant: str, name: str) -> Publication:
        """The published type whose collection id (or IRI) is ``name``.

        Raises:
            ResourceNotFound: nothing of that name is published (whether such entities exist
                is not told).
        """
        for publication in await self.published(tenant):
            if name in (publication.name, publication.type):
                return publication
        raise ResourceNotFound(f"there is no published collection {name!r}")

    async def put(self, tenant: str, type_name: str, body: Any) -> tuple[Publication, bool]:
        """Create or replace the rule of a type; True when it was created."""
        iri = type_iri(type_name)
        now = now_iso()
        record = PublishingRecord(tenant, iri, check_rule(body), now, now)
        created = await self.store.put_rule(record)
        await self._changed(tenant)
        for found in await self.published(tenant):
            if found.type == iri:
                return found, created
        raise ResourceNotFound(f"the rule of {type_name!r} was removed meanwhile")

    async def delete(self, tenant: str, type_name: str) -> None:
        if not await self.store.delete_rule(tenant, type_iri(type_name)):
            raise ResourceNotFound(f"there is no publishing rule for {type_name!r}")
        await self._changed(tenant)


__all__ = ["Publishing"]
