"""Where the IoT agent keeps its provisioning (issue 18): the protocol ``cityhub.iot`` uses,
implemented once over both backends' rows in ``store/iot_rows.py``.

Config groups and devices are stored as their documents (the agent's internal form, built by
``cityhub.iot.provisioning``), one row each, with the columns they are found by:

- a group by ``(apikey, resource)``, unique over every tenant, as in FIWARE's IoT agents (a
  measure names only its apikey, which must then lead to one group, hence one tenant);
- a device by ``(tenant, device_id, apikey)``, where ``apikey`` is ``""`` for a device
  provisioned without one (it then takes its group's).

Bad payloads are counted per (tenant, apikey, device, kind), so an operator sees which device
sends what (``/iot/errors``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cityhub.store.base import Document


@dataclass(frozen=True)
class PayloadErrorCount:
    """How many payloads of one kind a device (or an unknown one) sent that were refused."""

    tenant: str
    apikey: str
    device_id: str
    kind: str
    count: int
    last_at: str
    last_detail: str


class IotStore(Protocol):
    """Config groups, devices and payload error counts, per tenant."""

    async def create_groups(self, tenant: str, docs: list[Document]) -> None:
        """Store new config groups, all or none (each has ``apikey``, ``resource``,
        ``service_path``).

        Raises:
            AlreadyExists: a group with one of these (apikey, resource) exists, in any tenant.
        """

    async def list_groups(
        self, tenant: str, service_path: str | None, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        """A page of the tenant's groups in creation order (of one service path, or every
        one when None), and their total."""

    async def get_group(self, tenant: str, apikey: str, resource: str) -> Document | None: ...

    async def find_group(self, apikey: str, resource: str | None) -> tuple[str, Document] | None:
        """The tenant and group a measure's apikey names (any tenant); with ``resource``
        None, the apikey's group of the lowest resource (a transport that has no resource,
        such as MQTT)."""

    async def update_group(
        self, tenant: str, apikey: str, resource: str, change: Callable[[Document], Document]
    ) -> Document | None:
        """Replace a group by ``change(current)`` atomically; None if there is none."""

    async def delete_group(self, tenant: str, apikey: str, resource: str) -> bool: ...

    async def create_devices(self, tenant: str, docs: list[Document]) -> None:
        """Store new devices, all or none (each has ``device_id``, ``apikey`` or ``""``,
        ``service_path``).

        Raises:
            AlreadyExists: the tenant has a device with one of these (device_id, apikey).
        """

    async def ensure_device(self, tenant: str, doc: Document) -> Document:
        """The device ``doc`` names (by device_id and apikey), created from ``doc`` if the
        tenant has none (autoprovisioning; two measures racing create it once)."""

    async def list_devices(
        self, tenant: str, service_path: str | None, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        """A page of the tenant's devices in creation order, and their total."""

    async def get_device(self, tenant: str, device_id: str, apikey: str | None) -> Document | None:
        """The device with this id and apikey, else the one with this id provisioned without
        an apikey; with ``apikey`` None, the first device of that id."""

    async def update_device(
        self,
        tenant: str,
        device_id: str,
        apikey: str | None,
        change: Callable[[Document], Document],
    ) -> Document | None:
        """Replace a device (found as :meth:`get_device` finds it) by ``change(current)``
        atomically; None if there is none."""

    async def delete_device(self, tenant: str, device_id: str, apikey: str | None) -> bool: ...

    async def all_devices(self) -> list[tuple[str, Document]]:
        """Every device of every tenant, as (tenant, document), in creation order (for the
        commands' index of entities)."""

    async def count_errors(self, errors: list[PayloadErrorCount]) -> None:
        """Add each ``count`` to its (tenant, apikey, device_id, kind) total, keeping the
        latest time and detail."""

    async def error_counts(self, tenant: str | None) -> list[PayloadErrorCount]:
        """The totals of one tenant (None: every tenant), most frequent first."""


__all__ = ["IotStore", "PayloadErrorCount"]
