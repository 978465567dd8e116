"""Access control as the request path sees it: who calls, in which tenant, and what they may
do there (:class:`Access`), decided from a worker's copy of the tenants, keys and permissions
that is checked against the store's version number (:class:`AccessControl`).

When it applies:

- *enforced* once any API key exists (revoked ones count: revoking the last key must not open
  the hub), any permission exists, or an OIDC issuer is configured (the ``oidc_issuer``
  setting or a tenant's ``oidc``); until then every request is allowed, as before access
  control existed (the demo, the conformance suites);
- *managed tenants*: once an operator has created a tenant, a request naming a tenant that is
  not managed is a ``NonexistentTenant`` error (ETSI GS CIM 009 table 6.3.2-1); the default
  tenant always exists.

The copy is reread when the store's version moves. The version is read on every request
while anything is configured (``access_cache_seconds`` may stretch that), so a revoked key is
refused at once by every worker; while nothing is, at most once a second, so the open hub
pays no store round trip per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cityhub.access import keys as api_keys
from cityhub.access.permissions import (
    Identity,
    Target,
    check_permission,
    permitted_selectors,
    targets_for,
)
from cityhub.access.quotas import Quotas
from cityhub.access.tenants import check_tenant_name, check_tenant_settings
from cityhub.access.tokens import Issuer, TokenVerifier
from cityhub.errors import (
    BadRequestData,
    Forbidden,
    InternalError,
    NonexistentTenant,
    ResourceNotFound,
    Unauthorized,
)
from cityhub.ngsild.datetime import format_datetime, now_iso, parse_datetime
from cityhub.settings import Settings
from cityhub.store.access import (
    AccessSnapshot,
    AccessStore,
    ApiKeyRecord,
    AuditRecord,
    PermissionRecord,
    TenantRecord,
)
from cityhub.store.base import EntityQuery

log = logging.getLogger("cityhub")

#: while nothing is configured, the version is read at most this often
IDLE_RECHECK_SECONDS = 1.0
#: keys remembered as verified per copy at most
MAX_VERIFIED = 10_000


class ExposedWithoutAuthentication(InternalError):
    """The hub would serve an address other than loopback with no authentication configured
    (raised at start-up, never for a request)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address only this machine reaches (127.0.0.0/8, ::1,
    localhost); "" and 0.0.0.0 listen on every interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    """What one request may do.

    Attributes:
        who: the caller (anonymous when no credentials were sent).
        tenant: the request's tenant.
        enforced: False while access control is off (everything allowed).
        admin: a hub administrator's key (everything allowed).
        permissions: the tenant's permission documents.
        settings: the tenant's settings (quotas), empty for an unmanaged tenant.
    """

    who: Identity = field(default_factory=Identity)
    tenant: str = ""
    enforced: bool = False
    admin: bool = False
    permissions: tuple[Mapping[str, Any], ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: targets and conditions compiled, by action: shared by the requests of one caller in
    #: one tenant while the copy of the permissions stays (AccessControl.authorize keeps the
    #: Access itself)
    compiled: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def targets(self, action: str) -> tuple[Target, ...] | None:
        """What ``action`` may touch: None for every entity, else the targets (empty: none)."""
        if not self.enforced or self.admin:
            return None
        try:
            found: tuple[Target, ...] | None = self.compiled[action]
        except KeyError:
            found = self.compiled[action] = targets_for(self.permissions, self.who, action)
        return found

    def permitted(self, action: str) -> tuple[EntityQuery, ...] | None:
        """``action``'s targets as an ``EntityQuery.permitted`` condition."""
        key = "permitted " + action
        try:
            found: tuple[EntityQuery, ...] | None = self.compiled[key]
        except KeyError:
            found = self.compiled[key] = permitted_selectors(self.targets(action))
        return found

    def covers(
        self, action: str, entity_id: str, types: Iterable[str], scopes: Iterable[str]
    ) -> bool:
        """Whether ``action`` is allowed on an entity given by its id, types and scopes (a
        payload about to be written)."""
        targets = self.targets(action)
        if targets is None:
            return True
        types, scopes = tuple(types), tuple(scopes)
        return any(t.covers(entity_id, types, scopes) for t in targets)

    def reads(self, entity: Mapping[str, Any]) -> bool:
        """Whether the caller may read a stored entity (internal form)."""
        types = entity.get("type") or ()
        scopes = entity.get("scope") or ()
        return self.covers(
            "read",
            str(entity.get("id", "")),
            [types] if isinstance(types, str) else types,
            [scopes] if isinstance(scopes, str) else scopes,
        )

    def may(self, action: str) -> bool:
        """Whether ``action`` is allowed on at least some entities."""
        return self.targets(action) != ()

    def require(self, action: str, what: str) -> None:
        """Raise unless ``action`` is allowed on some entities.

        Raises:
            Unauthorized: an anonymous caller (credentials might help).
            Forbidden: a known caller without the permission.
        """
        if self.may(action):
            return
        self.refuse(action, what)

    def require_all(self, action: str, what: str) -> None:
        """Raise unless ``action`` is allowed on every entity of the tenant (operations that
        cannot be narrowed to the permitted entities)."""
        if self.targets(action) is None:
            return
        self.refuse(action, what, every=True)

    def refuse(self, action: str, what: str, *, every: bool = False) -> None:
        scope = " on every entity" if every else ""
        tenant = f"tenant {self.tenant!r}" if self.tenant else "the default tenant"
        if not self.who.authenticated:
            raise Unauthorized(
                f"{what} needs the {action} permission{scope} in {tenant}: send an API key or "
                "a bearer token (Authorization: Bearer ...)"
            )
        raise Forbidden(f"{self.who.name} has no {action} permission{scope} for {what} in {tenant}")


OPEN = Access()
_ANONYMOUS = Identity()


def owner_of(access: Access) -> dict[str, Any] | None:
    """Who a subscription made with ``access`` belongs to, to remember with it (None while
    access control is off: its notifications are then not narrowed). A token's claims are
    kept for the permissions that name a claim."""
    if not access.enforced:
        return None
    who = access.who
    if who.key_id is not None:
        return {"key": who.key_id}
    if who.subject is not None:
        claims = {k: v for k, v in (who.claims or {}).items() if k not in _PASSING_CLAIMS}
        return {"subject": who.subject, "claims": claims}
    return {"anonymous": True}


def same_owner(owner: Any, other: Mapping[str, Any] | None) -> bool:
    """Whether two remembered owners are the same caller (a key, a subject, the public)."""
    if not isinstance(owner, Mapping) or other is None:
        return False
    return all(owner.get(k) == other.get(k) for k in ("key", "subject", "anonymous"))


#: claims that only date a token: not remembered with a subscription
_PASSING_CLAIMS = frozenset({"exp", "iat", "nbf", "auth_time", "jti", "at_hash", "nonce"})


@dataclass(frozen=True)
class _State:
    version: int
    tenants: Mapping[str, TenantRecord]
    keys: Mapping[str, ApiKeyRecord]
    permissions: Mapping[str, tuple[Mapping[str, Any], ...]]
    records: tuple[PermissionRecord, ...]
    enforced: bool
    verified: dict[str, ApiKeyRecord] = field(default_factory=dict)
    #: each caller's access by tenant and Authorization header, with the end of its
    #: credentials' validity (epoch seconds, None: none); Access.compiled keeps what its
    #: permissions compile to
    accesses: dict[tuple[str, str | None], tuple[Access, float | None]] = field(
        default_factory=dict
    )


def _issuer_of(settings: Settings, tenant: TenantRecord | None) -> Issuer | None:
    if tenant is not None and "oidc" in tenant.settings:
        oidc = tenant.settings["oidc"]
        return Issuer(oidc["issuer"], oidc["jwksUri"], oidc.get("audience", ""))
    if settings.oidc_issuer and settings.oidc_jwks_url:
        return Issuer(settings.oidc_issuer, settings.oidc_jwks_url, settings.oidc_audience)
    return None


class AccessControl:
    """A worker's access control (see the module's docstring).

    Args:
        store: where tenants, keys and permissions are kept.
        settings: the hub's settings (OIDC issuer, cache).
        verifier: checks bearer tokens (tests give one that reads a local key set).
        clock: monotonic seconds (tests move it).
        wall: the time of day, epoch seconds (keys' and tokens' ends; tests move it).
        shared_quotas: keep the quotas' counters in the store (several processes share it),
            not in this worker's memory.
    """

    def __init__(
        self,
        store: AccessStore,
        settings: Settings,
        verifier: TokenVerifier | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        *,
        shared_quotas: bool = False,
    ) -> None:
        self.store = store
        self.settings = settings
        self.verifier = verifier or TokenVerifier()
        self.clock = clock
        self.wall = wall
        self._state: _State | None = None
        self._next_check = 0.0
        self._marker: bytes | None = None
        self._lock = asyncio.Lock()
        self.quotas = Quotas(settings, shared=store if shared_quotas else None)
        self._pruning: asyncio.Task[None] | None = None

    # ---- the copy ----------------------------------------------------------------------
    def _build(self, snap: AccessSnapshot) -> _State:
        permissions: dict[str, list[Mapping[str, Any]]] = {}
        for p in snap.permissions:
            permissions.setdefault(p.tenant, []).append(p.doc)
        tenants = {t.name: t for t in snap.tenants}
        issuers = bool(self.settings.oidc_issuer) or any("oidc" in t.settings for t in snap.tenants)
        return _State(
            version=snap.version,
            tenants=tenants,
            keys={k.key_id: k for k in snap.keys},
            permissions={t: tuple(docs) for t, docs in permissions.items()},
            records=snap.permissions,
            enforced=bool(snap.keys) or bool(snap.permissions) or issuers,
        )

    async def _load(self) -> _State:
        async with self._lock:
            state = self._build(await self.store.snapshot())
            self._state = state
            return state

    def _interval(self, state: _State) -> float:
        if state.enforced or state.tenants:
            return self.settings.access_cache_seconds
        return max(IDLE_RECHECK_SECONDS, self.settings.access_cache_seconds)

    async def state(self) -> _State:
        """The current copy, reread when the store's version moved. The version is not read
        while the store's commit marker stays as it was when the version was last read
        (SQLite: nothing was committed since, by any process)."""
        state = self._state
        now = self.clock()
        if state is None or now >= self._next_check:
            marker = self.store.change_marker()  # before the version: a commit in between
            if state is None:  # moves it again, and the next request reads the version
                state = await self._load()
            elif marker is None or marker != self._marker:
                if await self.store.version() != state.version:
                    state = await self._load()
            self._marker = marker
        self._next_check = now + self._interval(state)
        return state

    async def check_exposure(self) -> None:
        """Refuse to serve a non-loopback address open (issue 20 "safe defaults").

        Raises:
            ExposedWithoutAuthentication: ``host`` is not loopback, nothing authenticates
                callers and ``allow_open`` is off; the detail is one sentence saying why.
        """
        if is_loopback(self.settings.host) or self.settings.allow_open:
            return
        state = await self.state()
        if state.enforced:
            return
        raise ExposedWithoutAuthentication(
            f"cityhub will not serve {self.settings.host or 'every address'} without "
            "authentication, since anyone who reaches the port could read and change "
            "everything: create an API key (cityhub keys create --admin --name ops), set "
            "oidc_issuer, bind to 127.0.0.1 behind a proxy, or set allow_open = true to "
            "serve open on purpose"
        )

    # ---- the owners of subscriptions (notifications) ---------------------------------
    def _owner_access(self, state: _State, tenant: str, owner: Mapping[str, Any]) -> Access:
        """What the owner of a subscription of ``tenant`` may do now: nothing once its key
        is revoked, expired or gone, or its tenant deleted."""
        if not state.enforced:
            return OPEN
        if state.tenants and tenant and tenant not in state.tenants:
            return Access(tenant=tenant, enforced=True)
        permissions = state.permissions.get(tenant, ())
        if "key" in owner:
            record = state.keys.get(str(owner["key"]))
            if (
                record is None
                or record.revoked_at is not None
                or (record.expires_at is not None and record.expires_at <= now_iso())
                or (not record.admin and record.tenant != tenant)
            ):
                return Access(tenant=tenant, enforced=True)
            return Access(Identity(key_id=record.key_id), tenant, True, record.admin, permissions)
        if "subject" in owner:
            claims = owner.get("claims")
            who = Identity(
                subject=str(owner["subject"]),
                claims=claims if isinstance(claims, Mapping) else {},
            )
            return Access(who, tenant, True, False, permissions)
        return Access(Identity(), tenant, True, False, permissions)

    async def owner_access(self, tenant: str, owner: Mapping[str, Any]) -> Access:
        """What a subscription's owner may do, from the current copy (delivery time)."""
        return self._owner_access(await self.state(), tenant, owner)

    def owner_access_cached(self, tenant: str, owner: Mapping[str, Any]) -> Access | None:
        """The same from the copy this worker holds, without a store round trip (inside a
        write transaction); None before the first copy was read."""
        state = self._state
        return None if state is None else self._owner_access(state, tenant, owner)

    def invalidate(self) -> None:
        """Reread the copy on the next request (after a change this worker made)."""
        self._next_check = 0.0
        self._marker = None

    # ---- the request path --------------------------------------------------------------
    async def authorize(self, tenant: str, authorization: str | None) -> Access:
        """What a request of ``tenant`` with this ``Authorization`` header may do.

        Raises:
            NonexistentTenant: tenants are managed and this one is not.
            Unauthorized: credentials were sent and do not hold.
            Forbidden: a key of another tenant.
        """
        state = await self.state()
        if state.tenants and tenant and tenant not in state.tenants:
            raise NonexistentTenant(
                f"tenant {tenant!r} does not exist; an operator creates tenants "
                "(POST /admin/tenants or cityhub tenants create)"
            )
        if not state.enforced:
            return OPEN
        # one caller's access in one tenant is worked out once per copy, and kept until its
        # credentials expire: the copy goes with any change of tenants, keys or permissions
        # (a revoked key), and the credentials' text names the caller (a token's, its claims)
        known = state.accesses.get((tenant, authorization))
        if known is not None and (known[1] is None or self.wall() < known[1]):
            return known[0]
        who, admin, until = _ANONYMOUS, False, None
        if authorization:
            who, admin, until = await self._identify(state, tenant, authorization)
        record = state.tenants.get(tenant)
        access = Access(
            who,
            tenant,
            True,
            admin,
            state.permissions.get(tenant, ()),
            record.settings if record is not None else {},
        )
        if len(state.accesses) < MAX_VERIFIED:
            state.accesses[(tenant, authorization)] = (access, until)
        return access

    async def _identify(
        self, state: _State, tenant: str, header: str
    ) -> tuple[Identity, bool, float | None]:
        """Who the credentials name, whether a hub administrator, and until when (epoch
        seconds; None: no end) the answer holds."""
        scheme, _, credentials = header.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() not in ("bearer", "apikey") or not credentials:
            raise Unauthorized(
                "the Authorization header must be 'Bearer <token or API key>' or 'ApiKey <API key>'"
            )
        if api_keys.looks_like_key(credentials) or scheme.lower() == "apikey":
            return self._key(state, tenant, credentials)
        issuer = _issuer_of(self.settings, state.tenants.get(tenant))
        if issuer is None:
            raise Unauthorized(
                "this hub accepts no bearer tokens for this tenant (no OIDC issuer is "
                "configured); send an API key"
            )
        claims, until = await self.verifier.verified(credentials, issuer)
        return Identity(subject=claims["sub"], claims=claims), False, until

    def _key(self, state: _State, tenant: str, text: str) -> tuple[Identity, bool, float | None]:
        record = state.verified.get(text)
        if record is None:
            parsed = api_keys.parse_key(text)
            record = state.keys.get(parsed[0]) if parsed else None
            if parsed is None or record is None or not api_keys.verify(record, parsed[1]):
                raise Unauthorized("the API key is not valid")
            if len(state.verified) < MAX_VERIFIED:
                # this copy's keys whose digest matched, by the text sent: the next request
                # with it costs a lookup (a new copy, after any change, starts empty)
                state.verified[text] = record
        if record.revoked_at is not None:
            raise Unauthorized(f"the API key {record.key_id} was revoked")
        until = None
        if record.expires_at is not None:
            until = parse_datetime(record.expires_at, "expiresAt").timestamp()
            if until <= self.wall():
                raise Unauthorized(f"the API key {record.key_id} expired at {record.expires_at}")
        if not record.admin and record.tenant != tenant:
            where = f"tenant {record.tenant!r}" if record.tenant else "the default tenant"
            raise Forbidden(f"the API key {record.key_id} acts in {where} only")
        return Identity(key_id=record.key_id), record.admin, until

    # ---- management (admin API and CLI) ------------------------------------------------
    async def _changed(self) -> _State:
        self.invalidate()
        return await self._load()

    async def create_tenant(self, name: Any, settings: Any) -> TenantRecord:
        record = TenantRecord(check_tenant_name(name), check_tenant_settings(settings), now_iso())
        await self.store.create_tenant(record)
        await self._changed()
        return record

    async def tenants(self) -> list[TenantRecord]:
        state = await self._load()
        return list(state.tenants.values())

    async def tenant(self, name: str) -> TenantRecord:
        state = await self._load()
        record = state.tenants.get(name)
        if record is None:
            raise ResourceNotFound(f"there is no managed tenant {name!r}")
        return record

    async def update_tenant(self, name: str, settings: Any) -> TenantRecord:
        checked = check_tenant_settings(settings)
        if not await self.store.update_tenant(name, checked):
            raise ResourceNotFound(f"there is no managed tenant {name!r}")
        await self._changed()
        return await self.tenant(name)

    async def delete_tenant(self, name: str) -> None:
        if not await self.store.delete_tenant(name):
            raise ResourceNotFound(f"there is no managed tenant {name!r}")
        await self._changed()

    async def create_key(
        self, tenant: Any, name: Any, *, admin: bool = False, expires_at: Any = None
    ) -> tuple[str, ApiKeyRecord]:
        """A new key: its text (to hand over once, never stored) and its record."""
        tenant = "" if tenant in (None, "") else check_tenant_name(tenant)
        if not isinstance(name, str) or not name or len(name) > 200:
            raise BadRequestData("a key's name is text of 1-200 characters")
        if expires_at is not None:
            expires_at = format_datetime(
                parse_datetime(expires_at, "expiresAt", zone_required=True)
            )
        state = await self._load()
        if tenant and state.tenants and tenant not in state.tenants:
            raise NonexistentTenant(f"tenant {tenant!r} does not exist; create it first")
        text, record = api_keys.new_key(
            tenant, name, admin=admin, created_at=now_iso(), expires_at=expires_at
        )
        await self.store.create_key(record)
        await self._changed()
        return text, record

    async def keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        state = await self._load()
        return [k for k in state.keys.values() if tenant is None or k.tenant == tenant]

    async def key(self, key_id: str) -> ApiKeyRecord:
        record = await self.store.get_key(key_id)
        if record is None:
            raise ResourceNotFound(f"there is no API key {key_id!r}")
        return record

    async def revoke_key(self, key_id: str) -> None:
        if not await self.store.revoke_key(key_id, now_iso()):
            await self.key(key_id)  # ResourceNotFound when there is none
            raise BadRequestData(f"the API key {key_id} was revoked already")
        await self._changed()

    async def add_permission(self, tenant: str, doc: Any) -> PermissionRecord:
        record = PermissionRecord(
            f"urn:cityhub:Permission:{secrets.token_hex(8)}",
            tenant,
            check_permission(doc),
            now_iso(),
        )
        await self.store.create_permission(record)
        await self._changed()
        return record

    async def audit(
        self, tenant: str, actor: str, action: str, target: str, ids: tuple[str, ...], status: int
    ) -> None:
        """Append a line to the audit log (now, UTC)."""
        await self.store.append_audit(now_iso(), tenant, actor, action, target, ids, status)

    async def prune(self, now: datetime | None = None) -> int:
        """Delete the audit lines older than ``audit_retention_days`` (none when 0) and the
        shared quota counters of past days; returns how many audit lines went."""
        now = now or datetime.now(UTC)
        gone = 0
        if self.settings.audit_retention_days > 0:
            cutoff = now - timedelta(days=self.settings.audit_retention_days)
            gone = await self.store.prune_audit(format_datetime(cutoff))
        if self.quotas.shared is not None:
            await self.store.forget_quotas(now.strftime("%Y-%m-%d"))
        return gone

    def start(self) -> None:
        """Prune in the background, at once and then every ``history_prune_interval``."""
        if self._pruning is None and (
            self.settings.audit_retention_days > 0 or self.quotas.shared is not None
        ):
            self._pruning = asyncio.create_task(self._prune_forever(), name="cityhub-audit-pruner")

    async def stop(self) -> None:
        task, self._pruning = self._pruning, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _prune_forever(self) -> None:
        while True:
            try:
                gone = await self.prune()
                if gone:
                    log.info("audit retention: %d lines deleted", gone)
            except Exception:  # retried at the next interval
                log.exception("audit retention run failed")
            await asyncio.sleep(self.settings.history_prune_interval)

    async def audit_lines(
        self, tenant: str | None, after: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        return await self.store.query_audit(tenant, after, limit)

    async def permissions(self, tenant: str) -> list[PermissionRecord]:
        state = await self._load()
        return [p for p in state.records if p.tenant == tenant]

    async def delete_permission(self, tenant: str, permission_id: str) -> None:
        if not await self.store.delete_permission(tenant, permission_id):
            raise ResourceNotFound(f"there is no permission {permission_id!r} in this tenant")
        await self._changed()


__all__ = [
    "OPEN",
    "Access",
    "AccessControl",
    "ExposedWithoutAuthentication",
    "is_loopback",
    "owner_of",
    "same_owner",
]
