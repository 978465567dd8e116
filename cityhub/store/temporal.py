"""What a backend implements to keep history (ETSI GS CIM 009 v1.9.1 clauses 5.6.11-5.6.16,
5.7.3-5.7.4, 4.5.19), backend-neutral: the :class:`TemporalStore` protocol, its result types,
and the retention policy.

Each backend implements it in ``store/<backend>/temporal.py`` (its SQL beside it:
``history.py`` writes, ``temporal_sql.py`` reads and aggregates, ``retention.py`` prunes), and
records history on every entity change, in the change's own transaction (its ``record_change``
transaction hook, which ``open_backend`` installs unless the ``history`` setting is off).

History instances, as read methods return them, are internal instances (see
``cityhub.ngsild.entity``) plus ``instanceId``, ``createdAt``, ``modifiedAt``, ``deletedAt``
for the records of a deletion, ``_time`` (the time along the query's timeproperty), ``_seq``
(recording order) and ``_display_time``; ``cityhub.ngsild.temporal_render`` renders them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cityhub.ngsild.aggregation import AggregatedHistory, AggregationQuery
from cityhub.ngsild.entity import Entity, Instance
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.settings import Settings
from cityhub.store.base import EntityQuery

History = dict[str, list[Instance]]  # attribute IRI → instances in time order
Head = dict[str, Any]  # id, type, scope, createdAt, modifiedAt, deletedAt of an entity
TemporalEntity = tuple[Head, History]
AggregatedEntity = tuple[Head, AggregatedHistory]


@dataclass(frozen=True)
class RetentionPolicy:
    """How long history is kept: ``days`` for every tenant, ``by_tenant`` overrides; 0 keeps
    everything. An instance's age is that of its ``observedAt``, else of when it was
    recorded."""

    days: int = 0
    by_tenant: Mapping[str, int] = field(default_factory=dict)

    def days_for(self, tenant: str) -> int:
        return self.by_tenant.get(tenant, self.days)

    @property
    def active(self) -> bool:
        return self.days > 0 or any(d > 0 for d in self.by_tenant.values())


def parse_retention(days: int, by_tenant: str) -> RetentionPolicy:
    """The policy of the settings ``history_retention_days`` and ``history_retention_by_tenant``
    (``"city1=30, city2=0"``: tenant names and days, comma-separated).

    Raises:
        ValueError: a negative number of days, or an override not of the form name=days.
    """
    if days < 0:
        raise ValueError(f"history_retention_days must be 0 or more, got {days}")
    overrides: dict[str, int] = {}
    for item in (i.strip() for i in by_tenant.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value.isdigit():
            raise ValueError(
                "history_retention_by_tenant must look like 'city1=30, city2=0' "
                f"(tenant=days), got {item!r}"
            )
        overrides[name] = int(value)
    return RetentionPolicy(days, overrides)


def retention_policy(settings: Settings) -> RetentionPolicy:
    """The policy the settings ask for (``history_retention_days``, ``..._by_tenant``).

    Raises:
        ValueError: as :func:`parse_retention`.
    """
    return parse_retention(settings.history_retention_days, settings.history_retention_by_tenant)


class TemporalStore(Protocol):
    """Temporal provision and consumption. Names are expanded IRIs; times are normalized
    (``YYYY-MM-DDTHH:MM:SS.ffffffZ``). Errors are ``cityhub.errors`` types."""

    instance_limit: int

    async def start(self) -> None:
        """Schema migrations and background pruning (after the entity store started)."""

    async def stop(self) -> None: ...

    async def create_or_update(self, tenant: str, entity: Entity) -> bool:
        """5.6.11: add instances; True when the temporal entity is new."""

    async def append_attributes(
        self, tenant: str, entity_id: str, attrs: Mapping[str, list[Instance]]
    ) -> None:
        """5.6.12."""

    async def delete_attribute(
        self,
        tenant: str,
        entity_id: str,
        attr: str,
        *,
        dataset_id: str | None = None,
        delete_all: bool = False,
    ) -> None:
        """5.6.13."""

    async def modify_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, fragment: Instance
    ) -> None:
        """5.6.14."""

    async def delete_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> None:
        """5.6.15."""

    async def delete_entity(self, tenant: str, entity_id: str) -> None:
        """5.6.16."""

    async def get_entity(
        self,
        tenant: str,
        entity_id: str,
        tq: TemporalQuery,
        attrs: Sequence[str] | None = None,
        dataset_ids: Sequence[str | None] | None = None,
    ) -> tuple[Head, History, set[str]] | None:
        """5.7.3: head, history, and every attribute that has a history."""

    async def query_entities(
        self,
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        dataset_ids: Sequence[str | None] | None = None,
    ) -> tuple[list[TemporalEntity], int | None]:
        """5.7.4: a page of entities with their history, and the count when asked."""

    async def aggregate_entity(
        self,
        tenant: str,
        entity_id: str,
        tq: TemporalQuery,
        agg: AggregationQuery,
        attrs: Sequence[str] | None = None,
        dataset_ids: Sequence[str | None] | None = None,
    ) -> tuple[Head, AggregatedHistory, set[str]] | None:
        """5.7.3 with ``aggregatedValues``: periods computed by the database."""

    async def aggregate_entities(
        self,
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        agg: AggregationQuery,
        dataset_ids: Sequence[str | None] | None = None,
    ) -> tuple[list[AggregatedEntity], int | None]:
        """5.7.4 with ``aggregatedValues``."""

    async def prune(self, now: str | None = None) -> int:
        """Delete instances older than the retention policy allows, in small transactions;
        returns how many went."""
