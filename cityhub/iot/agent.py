"""The IoT agent: provisioning over the store (``IotStore``), and the measure path every
transport shares (find the group by apikey, the device, autoprovision, map, expand, commit).

Lookups of groups and devices are cached until the provisioning changes: a change made
through this process clears the cache at once; one made through another worker bumps the
store's provisioning version, which a message reads when the last read is older than
``cache_seconds`` (one short read for the whole cache, not one per device).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cityhub.errors import AlreadyExists, CityhubError
from cityhub.iot import provisioning as prov
from cityhub.iot.commands import Commands
from cityhub.iot.entity_measures import NGSILD, NGSIV2, entity_measures
from cityhub.iot.errors import (
    DeviceNotFound,
    DuplicateDeviceId,
    DuplicateGroup,
    GroupNotFound,
    InvalidExpression,
    WrongSyntax,
)
from cityhub.iot.expression_functions import TRANSFORMS
from cityhub.iot.expressions import Evaluator, ExpressionError, names_in, parse
from cityhub.iot.health import DeviceHealth
from cityhub.iot.ingest import Ingestor
from cityhub.iot.lazy import KEY as LAZY_KEY
from cityhub.iot.lazy import LazyAttributes, lazy_attributes, new_key
from cityhub.iot.measures import BadMeasure, Mapping, fragments, mapping_of
from cityhub.iot.ultralight import MeasureGroup
from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.entity import Entity, Terms
from cityhub.ngsild.entity_reader import EntityReader
from cityhub.ngsild.names import check_uri
from cityhub.store.base import Document
from cityhub.store.iot import IotStore, PayloadErrorCount

log = logging.getLogger("cityhub.iot")

#: how a refused payload is counted
UNKNOWN_APIKEY = "unknown_apikey"
UNKNOWN_DEVICE = "unknown_device"
MALFORMED = "malformed_payload"
WRONG_TYPE = "wrong_type"
TOO_LARGE = "too_large"
LATE = "late_or_repeated"
#: seconds refused-payload counts wait in memory before they are written together
ERROR_FLUSH_SECONDS = 1.0


@dataclass(frozen=True)
class Measures:
    """One message of a device: its groups of measures, and whether they are UltraLight
    text (values to cast) or JSON values."""

    apikey: str
    device_id: str
    groups: list[MeasureGroup]
    text: bool
    resource: str | None = None


#: the most groups a filtered listing looks through (a tenant has a few)
_MAX_GROUPS = 10_000
#: the most devices of a tenant whose lazy registrations follow a change of their group
_MAX_DEVICES = 100_000


def _entity_name(device: Document, group: Document | None) -> str:
    entity_type = device.get("entity_type") or (group or {}).get("entity_type") or "Thing"
    return f"urn:ngsi-ld:{entity_type}:{device['device_id']}"


class IotAgent:
    """Provisioning and measures of every tenant.

    Args:
        iot: where groups and devices are kept.
        ingestor: commits measures in batches.
        terms: the core @context's term map (attribute names expand with it).
        health: the ``Device`` entity each device reports through.
    """

    def __init__(
        self,
        iot: IotStore,
        ingestor: Ingestor,
        terms: Callable[[], Awaitable[Terms]],
        health: DeviceHealth,
        cache_seconds: float = 1.0,
    ) -> None:
        self.iot = iot
        self.ingestor = ingestor
        self._terms = terms
        self.health = health
        self.cache_seconds = cache_seconds
        self._groups: dict[tuple[str, str | None], tuple[str, Document] | None] = {}
        self._devices: dict[tuple[str, str, str], Document] = {}
        #: each device's mapping, with the device and group documents it was made of
        self._mappings: dict[tuple[str, str, str], tuple[Document, Document, Mapping]] = {}
        self._reader: EntityReader | None = None
        #: the agent's @context terms, as the last message that waited for them found them
        self._terms_now: Terms | None = None
        #: bumped by every clear: a lookup that started before one does not fill the cache
        self._generation = 0
        #: the store's provisioning version the cache holds, when it was read, the read now
        self._version: int | None = None
        self._version_read = -float("inf")
        self._version_check: asyncio.Future[None] | None = None
        #: sends commands and tracks their status (set by the app)
        self.commands: Commands | None = None
        #: registers and answers lazy attributes (set by the app)
        self.lazy: LazyAttributes | None = None
        self._error_counts: dict[tuple[str, str, str, str], PayloadErrorCount] = {}
        self._flush: asyncio.Future[None] | None = None

    def clear_cache(self) -> None:
        self._groups.clear()
        self._devices.clear()
        self._mappings.clear()
        self._generation += 1

    async def _check_version(self) -> None:
        """Clear the cache if the provisioning changed through another worker; reads the
        store's version at most once per ``cache_seconds`` (messages that come meanwhile
        share the read in flight)."""
        if self._version_check is not None:
            await asyncio.shield(self._version_check)
            return
        if time.monotonic() - self._version_read < self.cache_seconds:
            return
        self._version_check = asyncio.ensure_future(self._read_version())
        try:
            await asyncio.shield(self._version_check)
        finally:
            self._version_check = None

    async def _read_version(self) -> None:
        self._version_read = time.monotonic()  # a failed read too: the next in a while
        try:
            version = await self.iot.provisioning_version()
        except CityhubError as exc:  # the store is unavailable: keep what is known
            log.warning("IoT provisioning version not read: %s", exc.detail)
            return
        if version != self._version:
            self.clear_cache()
            self._version = version

    # ---- config groups -----------------------------------------------------------------------

    async def create_groups(self, tenant: str, service_path: str, body: Any, key: str) -> None:
        items = body.get(key) if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise WrongSyntax(f'the body must be {{"{key}": [...]}} with at least one group')
        docs = [prov.parse_group(item, tenant, service_path) for item in items]
        seen: set[tuple[str, str]] = set()
        for doc in docs:
            pair = (doc["apikey"], doc["resource"])
            if pair in seen:
                raise DuplicateGroup(f"the body has two groups with apikey and resource {pair}")
            seen.add(pair)
        try:
            await self.iot.create_groups(tenant, docs)
        except AlreadyExists as exc:
            raise DuplicateGroup(exc.detail) from None
        self.clear_cache()
        for doc in docs:
            if doc.get("lazy"):
                await self._group_changed(tenant, doc["apikey"])

    async def list_groups(
        self,
        tenant: str,
        service_path: str | None,
        limit: int,
        offset: int,
        *,
        resource: str | None = None,
        apikey: str | None = None,
    ) -> tuple[list[Document], int]:
        """A page of the tenant's groups and their total; with ``resource`` or ``apikey``,
        of those groups only (``GET /iot/groups?resource=``, as the tutorials read one)."""
        if resource is None and apikey is None:
            docs, total = await self.iot.list_groups(tenant, service_path, limit, offset)
            return [prov.group_view(d) for d in docs], total
        every, _ = await self.iot.list_groups(tenant, service_path, _MAX_GROUPS, 0)
        chosen = [
            d
            for d in every
            if (resource is None or d["resource"] == resource)
            and (apikey is None or d["apikey"] == apikey)
        ]
        return [prov.group_view(d) for d in chosen[offset : offset + limit]], len(chosen)

    async def update_group(self, tenant: str, apikey: str, resource: str, body: Any) -> None:
        had_lazy = False

        def change(current: Document) -> Document:
            nonlocal had_lazy
            had_lazy = bool(current.get("lazy"))
            return prov.update_group(current, body)

        found = await self.iot.update_group(tenant, apikey, resource, change)
        if found is None:
            raise GroupNotFound(
                f"there is no group with apikey {apikey!r} and resource {resource!r}"
            )
        self.clear_cache()
        if had_lazy or found.get("lazy"):
            await self._group_changed(tenant, apikey)

    async def delete_group(self, tenant: str, apikey: str, resource: str) -> None:
        before = await self.iot.get_group(tenant, apikey, resource)
        if not await self.iot.delete_group(tenant, apikey, resource):
            raise GroupNotFound(
                f"there is no group with apikey {apikey!r} and resource {resource!r}"
            )
        self.clear_cache()
        if before is not None and before.get("lazy"):
            await self._group_changed(tenant, apikey)

    async def _group_changed(self, tenant: str, apikey: str) -> None:
        """The lazy attributes of a group changed: its devices' registrations follow."""
        if self.lazy is None:
            return
        devices, _ = await self.iot.list_devices(tenant, None, _MAX_DEVICES, 0)
        for device in devices:
            if device.get("apikey") == apikey:
                await self._sync_lazy(tenant, device, None)

    # ---- devices -----------------------------------------------------------------------------

    async def _group_of(self, tenant: str, device: Document) -> Document | None:
        if device.get("apikey"):
            found = await self.iot.find_group(device["apikey"], None)
            if found is not None and found[0] == tenant:
                return found[1]
        return None

    async def create_devices(self, tenant: str, service_path: str, body: Any) -> None:
        items = body.get("devices") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise WrongSyntax('the body must be {"devices": [...]} with at least one device')
        docs = [prov.parse_device(item, tenant, service_path) for item in items]
        seen: set[tuple[str, str]] = set()
        for doc in docs:
            if not doc.get("apikey"):
                apikey = await self._service_apikey(tenant, doc)
                if apikey:
                    doc["apikey"] = apikey
            pair = (doc["device_id"], doc.get("apikey", ""))
            if pair in seen:
                raise DuplicateDeviceId(f"the body names device {pair[0]!r} twice")
            seen.add(pair)
            if "entity_name" not in doc:
                doc["entity_name"] = _entity_name(doc, await self._group_of(tenant, doc))
            doc[LAZY_KEY] = new_key()
        try:
            await self.iot.create_devices(tenant, docs)
        except AlreadyExists as exc:
            raise DuplicateDeviceId(exc.detail) from None
        self.clear_cache()
        for doc in docs:
            await self._provisioned(tenant, doc, new=True)

    async def _service_apikey(self, tenant: str, device: Document) -> str | None:
        """The apikey a device provisioned without one takes (as iotagent-node-lib does): its
        service path's config group's, the one of its entity type when there are several;
        None when that does not name one group."""
        groups, _ = await self.iot.list_groups(tenant, device["service_path"], 1000, 0)
        typed = [g for g in groups if g.get("entity_type") == device.get("entity_type")]
        for candidates in (typed, groups):
            if len(candidates) == 1:
                return str(candidates[0]["apikey"])
        return None

    async def _provisioned(self, tenant: str, device: Document, *, new: bool = False) -> None:
        group = await self._group_of(tenant, device)
        if self.commands is not None:
            if device.get("commands") or (group or {}).get("commands"):
                await self.commands.provisioned(tenant, device, group)
        if new and not lazy_attributes(device, group):
            return  # a new device without lazy attributes: no registration to make or delete
        await self._sync_lazy(tenant, device, group)

    async def resync_lazy(self) -> int:
        """Bring every device's lazy registration up to date, once at start: one written by
        an older hub names fewer operations (session 32 added ``mergeEntity`` and
        ``replaceAttrs``), and :meth:`LazyAttributes.sync` rewrites it only where it differs.
        Returns how many devices with lazy attributes were looked at."""
        if self.lazy is None:
            return 0
        groups: dict[tuple[str, str], Document | None] = {}
        seen = 0
        for tenant, device in await self.iot.all_devices():
            apikey = str(device.get("apikey") or "")
            if (tenant, apikey) not in groups:
                found = await self.iot.find_group(apikey, None) if apikey else None
                groups[(tenant, apikey)] = found[1] if found and found[0] == tenant else None
            group = groups[(tenant, apikey)]
            if lazy_attributes(device, group):
                seen += 1
                await self._sync_lazy(tenant, device, group)
        return seen

    async def _sync_lazy(self, tenant: str, device: Document, group: Document | None) -> None:
        """The device's lazy registration follows its provisioning; a failure is logged (the
        device is provisioned; its next change tries again)."""
        if self.lazy is None:
            return
        try:
            await self.lazy.sync(tenant, device, group)
        except CityhubError as exc:
            log.warning(
                "IoT lazy attributes of device %r not registered: %s",
                device.get("device_id"),
                exc.detail,
            )

    async def list_devices(
        self, tenant: str, service_path: str | None, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        docs, total = await self.iot.list_devices(tenant, service_path, limit, offset)
        return [prov.device_view(d) for d in docs], total

    async def get_device(self, tenant: str, device_id: str) -> Document:
        doc = await self.iot.get_device(tenant, device_id, None)
        if doc is None:
            raise DeviceNotFound(f"there is no device {device_id!r} in this service")
        return prov.device_view(doc)

    async def update_device(self, tenant: str, device_id: str, body: Any) -> None:
        def change(current: Document) -> Document:
            new = prov.update_device(current, body)
            if LAZY_KEY in current:  # the device's own, not a provisioning field
                new[LAZY_KEY] = current[LAZY_KEY]
            return new

        found = await self.iot.update_device(tenant, device_id, None, change)
        if found is None:
            raise DeviceNotFound(f"there is no device {device_id!r} in this service")
        self.clear_cache()
        await self._provisioned(tenant, found)

    async def delete_devices(self, tenant: str, names: list[tuple[str, str | None]]) -> None:
        """Delete each (device_id, apikey or None); DeviceNotFound, after deleting the
        others, when one was not there."""
        missing = []
        for device_id, apikey in names:
            try:
                await self.delete_device(tenant, device_id, apikey)
            except DeviceNotFound:
                missing.append(device_id)
        if missing:
            raise DeviceNotFound(f"there is no device {', '.join(map(repr, missing))} here")

    async def delete_device(self, tenant: str, device_id: str, apikey: str | None = None) -> None:
        doc = await self.iot.get_device(tenant, device_id, apikey)
        if doc is None or (apikey is not None and doc.get("apikey", "") not in (apikey, "")):
            raise DeviceNotFound(f"there is no device {device_id!r} in this service")
        if not await self.iot.delete_device(tenant, device_id, apikey):
            raise DeviceNotFound(f"there is no device {device_id!r} in this service")
        self.clear_cache()
        if self.commands is not None:
            self.commands.forget(tenant, doc.get("entity_name", ""))
        if self.lazy is not None:
            try:
                await self.lazy.forget(tenant, doc)
            except CityhubError as exc:
                log.warning("IoT lazy registration of %r not deleted: %s", device_id, exc.detail)

    # ---- measures ----------------------------------------------------------------------------

    async def _find_group(self, apikey: str, resource: str | None) -> tuple[str, Document] | None:
        """The tenant and group of an apikey (None when no group has it), from the cache."""
        await self._check_version()
        key = (apikey, resource)
        if key in self._groups:
            return self._groups[key]
        generation = self._generation
        found = await self.iot.find_group(apikey, resource)
        if found is None and resource is not None:
            found = await self.iot.find_group(apikey, None)  # a group of another resource
        if generation == self._generation:  # no provisioning change since the read
            if len(self._groups) > 10_000:
                self._groups.clear()
            self._groups[key] = found
        return found

    async def _find_device(self, tenant: str, device_id: str, apikey: str) -> Document | None:
        """The device, from the cache (a known device's messages never wait for the store);
        an unknown one is looked up each time (it may be provisioned any moment)."""
        key = (tenant, device_id, apikey)
        hit = self._devices.get(key)
        if hit is not None:
            return hit
        generation = self._generation
        doc = await self.iot.get_device(*key)
        if doc is not None and generation == self._generation:
            if len(self._devices) > 100_000:
                self._devices.clear()
            self._devices[key] = doc
        return doc

    async def count_error(
        self, tenant: str, apikey: str, device_id: str, kind: str, detail: str
    ) -> None:
        """Count a refused payload (and log it); never raises. Counts gather in memory and
        are written at most once a second (:meth:`flush_errors`), so a flood of bad payloads
        does not cost a write each."""
        self.note_error(tenant, apikey, device_id, kind, detail)

    def note_error(self, tenant: str, apikey: str, device_id: str, kind: str, detail: str) -> None:
        """:meth:`count_error` without waiting (it never waits: the counts are written later)."""
        log.warning(
            "IoT payload refused (%s) tenant=%r apikey=%r device=%r: %s",
            kind,
            tenant,
            apikey,
            device_id,
            detail,
        )
        key = (tenant, apikey, device_id, kind)
        previous = self._error_counts.get(key)
        self._error_counts[key] = PayloadErrorCount(
            tenant, apikey, device_id, kind, (previous.count if previous else 0) + 1,
            now_iso(), detail[:500],
        )  # fmt: skip
        if self._flush is None or self._flush.done():
            self._flush = asyncio.ensure_future(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(ERROR_FLUSH_SECONDS)
        await self.flush_errors()

    async def flush_errors(self) -> None:
        """Write the error counts gathered since the last flush; never raises."""
        pending, self._error_counts = self._error_counts, {}
        if not pending:
            return
        try:
            await self.iot.count_errors(list(pending.values()))
        except CityhubError:
            log.warning("%d IoT payload error counts could not be written", len(pending))

    async def close(self) -> None:
        """Write the counts still in memory (the hub is stopping)."""
        if self._flush is not None and not self._flush.done():
            self._flush.cancel()
        if self._version_check is not None:
            self._version_check.cancel()
        await self.flush_errors()

    async def error_counts(self, tenant: str | None) -> list[PayloadErrorCount]:
        """The refused payloads counted (this process's latest counts included)."""
        await self.flush_errors()
        return await self.iot.error_counts(tenant)

    async def count_refused(self, apikey: str, device_id: str, kind: str, detail: str) -> None:
        """Count a payload refused before it was mapped, under its group's tenant."""
        try:
            found = await self._find_group(apikey, None)
        except CityhubError:
            found = None
        await self.count_error(found[0] if found else "", apikey, device_id, kind, detail)

    async def resolve(
        self,
        apikey: str,
        device_id: str,
        resource: str | None,
        measures: dict[str, Any] | None = None,
    ) -> tuple[str, Document, Document]:
        """The tenant, group and device a message names; an unknown device of a group that
        allows it is provisioned (autoprovision, the default), its entity named by the
        group's ``entityNameExp`` when it has one (evaluated on the device's id, type,
        service, subservice and the message's ``measures``).

        Raises:
            GroupNotFound: no group has this apikey.
            DeviceNotFound: the device is unknown and its group has autoprovision false.
        """
        found = await self._find_group(apikey, resource)
        if found is None:
            detail = f"no config group has apikey {apikey!r}; provision one with POST /iot/groups"
            await self.count_error("", apikey, device_id, UNKNOWN_APIKEY, detail)
            raise GroupNotFound(detail)
        tenant, group = found
        device = await self._find_device(tenant, device_id, apikey)
        if device is None:
            if group.get("autoprovision") is False:
                detail = (
                    f"device {device_id!r} is not provisioned and its group does not "
                    "autoprovision; provision it with POST /iot/devices"
                )
                await self.count_error(tenant, apikey, device_id, UNKNOWN_DEVICE, detail)
                raise DeviceNotFound(detail)
            new: Document = {
                "device_id": device_id,
                "apikey": apikey,
                "service": tenant,
                "service_path": group["service_path"],
                "entity_type": group.get("entity_type") or "Thing",
                "autoprovisioned": True,
                LAZY_KEY: new_key(),
            }
            new["entity_name"] = _entity_name(new, group)
            if group.get("entityNameExp"):
                new["entity_name"] = self._named(group, new, measures or {})
            generation = self._generation
            device = await self.iot.ensure_device(tenant, new)
            if generation == self._generation:
                self._devices[(tenant, device_id, apikey)] = device
            if self.commands is not None and group.get("commands"):
                await self.commands.provisioned(tenant, device, group)
            if lazy_attributes(device, group):
                await self._sync_lazy(tenant, device, group)
        return tenant, group, device

    async def command_results(
        self, apikey: str, device_id: str, results: dict[str, Any], resource: str | None = None
    ) -> None:
        """A device's answers to commands (``cmdexe``).

        Raises:
            GroupNotFound, DeviceNotFound: as :meth:`resolve`.
            WrongSyntax: no result of a command the device takes.
        """
        tenant, _, device = await self.resolve(apikey, device_id, resource)
        if self.commands is None or not await self.commands.results(tenant, device, results):
            detail = f"device {device_id!r} takes no command named in {sorted(results)}"
            await self.count_error(tenant, apikey, device_id, MALFORMED, detail)
            raise WrongSyntax(detail)

    async def poll_commands(
        self, apikey: str, device_id: str, resource: str | None = None
    ) -> list[tuple[str, Any]]:
        """The commands waiting for a polling device, as (name, value), now ``DELIVERED``.

        Raises:
            GroupNotFound, DeviceNotFound: as :meth:`resolve`.
        """
        tenant, _, device = await self.resolve(apikey, device_id, resource)
        return await self.commands.poll(tenant, device) if self.commands is not None else []

    def _named(self, group: Document, device: Document, measures: dict[str, Any]) -> str:
        """The entity id ``entityNameExp`` gives a new device (doc/api.md "Entity Name
        expression support"); the default one when it reads a measure that did not come, or
        gives no URI."""
        context = {
            **measures,
            "id": device["device_id"],
            "type": device["entity_type"],
            "service": device["service"],
            "subservice": device["service_path"],
        }
        try:
            tree = parse(group["entityNameExp"])
            if not names_in(tree) <= set(context):  # a measure it reads did not come
                return str(device["entity_name"])
            name = Evaluator(TRANSFORMS).evaluate(tree, context)
        except (ExpressionError, CityhubError) as exc:
            log.warning("IoT entityNameExp of group %s failed: %s", group.get("apikey"), exc)
            return str(device["entity_name"])
        try:
            return check_uri(name, "the entity name entityNameExp gives")
        except CityhubError as exc:
            log.warning("IoT entityNameExp of group %s: %s", group.get("apikey"), exc.detail)
            return str(device["entity_name"])

    async def measure(self, message: Measures) -> None:
        """Map, validate and commit one message; returns once it is committed. A known
        device's message is queued at once (:meth:`submit_now`); any other (a lookup due,
        an unknown device, a refusal, which is then counted) goes through
        :meth:`submit_measure`.

        Raises:
            GroupNotFound, DeviceNotFound: as :meth:`resolve`.
            BadMeasure, BadRequestData: a value the mapping or NGSI-LD does not take; the
                message is counted and nothing of it is written.
        """
        try:
            queued = self.submit_now(message)
        except CityhubError:
            queued = None  # submit_measure maps it again, counts the refusal and raises it
        if queued is None:
            await (await self.submit_measure(message))
            return
        tenant, device, done = queued
        try:
            late = await done
        except CityhubError as exc:
            self.note_refusal(tenant, message, exc)
            raise
        self.committed_now(tenant, message, device, late)

    async def submit_measure(self, message: Measures) -> Awaitable[None]:
        """Map and validate one message and queue it for commit, behind every message queued
        before it; returns an awaitable that completes once it is committed (and raises
        what :meth:`measure` raises for a refusal the commit finds). A transport keeps a
        device's messages in order by holding their order only until this returns: later
        messages then join the same transaction instead of waiting for this one's commit.

        Raises:
            GroupNotFound, DeviceNotFound: as :meth:`resolve`.
            BadMeasure, BadRequestData: a value the mapping or NGSI-LD does not take.
        """
        tenant, group, device = await self.resolve(
            message.apikey,
            message.device_id,
            message.resource,
            message.groups[0].values if message.groups else None,
        )
        terms = self._terms_now = await self._terms()
        try:
            pending = self._enqueue(tenant, group, device, message, terms)
        except CityhubError as exc:
            self.note_refusal(tenant, message, exc)
            raise
        return self._committed(tenant, message, device, pending)

    def submit_now(self, message: Measures) -> tuple[str, Document, asyncio.Future[int]] | None:
        """:meth:`submit_measure` without waiting, when nothing has to be waited for: the
        provisioning version read not due, the group and the device in the cache, the
        @context known. Returns the tenant, the device and what completes with the commit
        (the caller then calls :meth:`committed_now` or :meth:`note_refusal`); None when
        something has to be waited for (use :meth:`submit_measure`).

        Raises:
            BadMeasure, BadRequestData: a value the mapping or NGSI-LD does not take (not
                counted: the caller counts it, or sends the message through
                :meth:`submit_measure`, which does).
        """
        terms = self._terms_now
        if (
            terms is None
            or self._version_check is not None
            or time.monotonic() - self._version_read >= self.cache_seconds
        ):
            return None
        found = self._groups.get((message.apikey, message.resource))
        if found is None:
            return None
        tenant, group = found
        device = self._devices.get((tenant, message.device_id, message.apikey))
        if device is None:
            return None
        return tenant, device, self._enqueue(tenant, group, device, message, terms)

    def _enqueue(
        self,
        tenant: str,
        group: Document,
        device: Document,
        message: Measures,
        terms: Terms,
    ) -> asyncio.Future[int]:
        """Map, validate and expand the message, and queue it for commit.

        Raises:
            BadMeasure, BadRequestData: a value the mapping or NGSI-LD does not take.
        """
        received = now_iso()
        groups = message.groups
        kind = str(device.get("payloadType", group.get("payloadType")) or "").lower()
        if not message.text and kind in (NGSIV2, NGSILD):
            groups = entity_measures(groups, kind)
        mapping = self._mapping(tenant, device, group)
        reader = self._reader
        if reader is None or reader.terms is not terms:
            reader = self._reader = EntityReader(terms)
        expanded: list[Entity] = []
        for measure_group in groups:
            for fragment in fragments(mapping, measure_group, received, text=message.text):
                expanded.append(reader.entity(fragment, received))
        expanded.extend(self.health.fragments(tenant, device, mapping.entity_id, received, terms))
        return self.ingestor.enqueue(tenant, expanded)

    def _mapping(self, tenant: str, device: Document, group: Document) -> Mapping:
        """The device's mapping, made once for the documents the cache holds (a provisioning
        change clears the cache, and the next message maps the new documents)."""
        key = (tenant, device["device_id"], device.get("apikey") or "")
        held = self._mappings.get(key)
        if held is not None and held[0] is device and held[1] is group:
            return held[2]
        mapping = mapping_of(device, group)
        if len(self._mappings) > 100_000:
            self._mappings.clear()
        self._mappings[key] = (device, group, mapping)
        return mapping

    async def _committed(
        self,
        tenant: str,
        message: Measures,
        device: dict[str, Any],
        pending: Awaitable[int],
    ) -> None:
        try:
            late = await pending
        except CityhubError as exc:
            self.note_refusal(tenant, message, exc)
            raise
        self.committed_now(tenant, message, device, late)

    def committed_now(self, tenant: str, message: Measures, device: Document, late: int) -> None:
        """A message was committed, ``late`` of its measures left out (not newer than the
        entity's): the device reported, the late ones counted."""
        self.health.reported(tenant, device)
        if late:
            self.note_error(
                tenant,
                message.apikey,
                message.device_id,
                LATE,
                f"{late} measure(s) not newer than the entity's were left out (delivered "
                "again, or sent out of order)",
            )

    def note_refusal(self, tenant: str, message: Measures, exc: CityhubError) -> None:
        """Count a message refused by the mapping or the store, under its kind."""
        if isinstance(exc, BadMeasure):
            kind, detail = exc.kind, exc.detail
        elif isinstance(exc, WrongSyntax | InvalidExpression):
            kind, detail = MALFORMED, exc.detail
        elif exc.status == 400:
            kind, detail = WRONG_TYPE, exc.detail
        else:
            return
        self.note_error(tenant, message.apikey, message.device_id, kind, detail)


__all__ = [
    "LATE",
    "MALFORMED",
    "TOO_LARGE",
    "UNKNOWN_APIKEY",
    "UNKNOWN_DEVICE",
    "WRONG_TYPE",
    "IotAgent",
    "Measures",
]
