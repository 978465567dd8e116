"""The isolation check of issue 20, on both backends: many tenants, keys and permission sets
drawn by a seeded random generator, random operations through every route family (entities,
batch, query with ``count=true`` and paging, temporal, subscriptions and their notifications,
the IoT agent's provisioning, the admin API), and after each one:

- no read, count or page shows an entity its caller may not read (compared with a model of
  the permissions written here, independently of ``cityhub.access``);
- no write lands where its caller may not write: the administrator's view of every tenant
  before and after the operation differs only in entities the caller may write (as they
  were, and as they are);
- no notification carries an entity its subscription's owner may not read, and a revoked
  owner is notified no more;
- nothing answers 5xx.

A failure names its seed and operation: ``ISOLATION_SEED=<seed>`` reruns one seed.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.access.helpers import bearer, key_id, make_key
from tests.notify._receivers import HttpReceiver

V1 = "/ngsi-ld/v1"
TENANTS = ("", "t1", "t2")
TYPES = ("A", "B", "C")
SCOPES = ("/x", "/y")
IDS = [f"urn:ngsi-ld:E:{n}" for n in range(10)]
OPERATIONS = 110

Snapshot = dict[str, dict[str, tuple[str, tuple[str, ...], Any]]]


@dataclass
class Caller:
    """A caller: ``kind`` admin, key or anonymous; a key acts in its own tenant only."""

    kind: str
    key: str = ""
    tenant: str = ""
    revoked: bool = False

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.key) if self.key else {}

    @property
    def name(self) -> str:
        return f"{self.kind}:{key_id(self.key) if self.key else '-'}@{self.tenant or 'default'}"


@dataclass
class Model:
    """The permissions granted, and what they allow (written here, not cityhub's code)."""

    grants: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def assigned(self, caller: Caller, assignee: Any) -> bool:
        if assignee == "public":
            return True
        if assignee == "authenticated":
            return caller.kind == "key"
        return caller.kind == "key" and assignee == {"key": key_id(caller.key)}

    def targets(self, caller: Caller, tenant: str, action: str) -> list[Any] | None:
        """None: every entity; else the targets (empty: none)."""
        if caller.kind == "admin":
            return None
        if caller.kind == "key" and (caller.revoked or caller.tenant != tenant):
            return []
        implied = {"read": ("read", "write"), "write": ("write",), "subscribe": ("subscribe",)}
        found = []
        for doc in self.grants.get(tenant, []):
            if doc["action"] in implied[action] and self.assigned(caller, doc["assignee"]):
                if "target" not in doc:
                    return None
                found.append(doc["target"])
        return found

    def covers(self, caller: Caller, tenant: str, action: str, entity: tuple[Any, ...]) -> bool:
        targets = self.targets(caller, tenant, action)
        if targets is None:
            return True
        eid, kind, scopes = entity
        for target in targets:
            ((what, value),) = target.items()
            if (
                (what == "type" and kind == value)
                or (what == "id" and eid == value)
                or (what == "idPattern" and re.search(value, eid))
                or (what == "scope" and value in scopes)
            ):
                return True
        return False


def _target(rng: random.Random) -> dict[str, str] | None:
    return rng.choice(
        [
            None,
            {"type": rng.choice(TYPES)},
            {"type": rng.choice(TYPES)},
            {"id": rng.choice(IDS)},
            {"idPattern": rng.choice(["E:[0-4]$", "E:[5-9]$", "E:[2468]$"])},
            {"scope": rng.choice(SCOPES)},
        ]
    )


def _grant(
    client: TestClient, admin: Caller, model: Model, tenant: str, doc: dict[str, Any]
) -> None:
    response = client.post(
        "/admin/permissions", json={"tenant": tenant, **doc}, headers=admin.headers
    )
    assert response.status_code == 201, response.text
    model.grants.setdefault(tenant, []).append(doc)


class Run:
    """One seed's hub, callers and checks."""

    def __init__(self, client: TestClient, rx: HttpReceiver, seed: int) -> None:
        self.client = client
        self.rx = rx
        self.seed = seed
        self.rng = random.Random(seed)
        self.model = Model()
        self.counter = 0
        self.step = "setup"
        #: the last type and scopes seen of every entity (temporal reads of deleted ones)
        self.known: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}
        #: subscription owners: the receiver's path -> (caller, tenant)
        self.owners: dict[str, tuple[Caller, str]] = {}
        self.revoked_at: dict[str, float] = {}
        rng = self.rng
        self.admin = Caller("admin", make_key(client, name="ops", admin=True))
        for tenant in TENANTS[1:]:
            response = client.post(
                "/admin/tenants", json={"name": tenant}, headers=self.admin.headers
            )
            assert response.status_code == 201, response.text
        self.callers: list[Caller] = [self.admin, Caller("anonymous")]
        for tenant in TENANTS:
            for n in range(3):
                key = make_key(client, self.admin.headers, name=f"k{n}", tenant=tenant or None)
                caller = Caller("key", key, tenant)
                self.callers.append(caller)
                for _ in range(rng.randint(0, 3)):
                    doc: dict[str, Any] = {
                        "action": rng.choice(["read", "read", "write", "write", "subscribe"]),
                        "assignee": {"key": key_id(key)},
                    }
                    target = _target(rng)
                    if target is not None:
                        doc["target"] = target
                    _grant(client, self.admin, self.model, tenant, doc)
            if rng.random() < 0.5:
                doc = {"action": "read", "assignee": rng.choice(["public", "authenticated"])}
                target = _target(rng)
                if target is not None:
                    doc["target"] = target
                _grant(client, self.admin, self.model, tenant, doc)
        # every key that may subscribe (and an administrator) subscribes to everything
        for caller in self.callers:
            if caller.kind == "anonymous":
                continue
            for tenant in TENANTS if caller.kind == "admin" else (caller.tenant,):
                if self.model.targets(caller, tenant, "subscribe") == []:
                    continue
                path = f"/notify/{len(self.owners)}"
                body = {
                    "type": "Subscription",
                    "entities": [{"type": t} for t in TYPES],
                    "notification": {"endpoint": {"uri": f"http://127.0.0.1:{rx.port}{path}"}},
                }
                response = client.post(
                    f"{V1}/subscriptions", json=body, headers=self._headers(caller, tenant)
                )
                assert response.status_code == 201, response.text
                self.owners[path] = (caller, tenant)
        self.snapshot = self.view()

    # ---- helpers -------------------------------------------------------------------------
    def where(self) -> str:
        return f"seed {self.seed}, {self.step}"

    @staticmethod
    def _headers(caller: Caller, tenant: str) -> dict[str, str]:
        headers = dict(caller.headers)
        if tenant:
            headers["NGSILD-Tenant"] = tenant
        return headers

    def call(self, caller: Caller, tenant: str, method: str, path: str, **kw: Any) -> Any:
        headers = {**self._headers(caller, tenant), **kw.pop("headers", {})}
        response = self.client.request(method, path, headers=headers, **kw)
        assert response.status_code < 500, f"{self.where()}: {response.status_code} {response.text}"
        return response

    def view(self) -> Snapshot:
        """Every entity of every tenant, as the administrator reads it."""
        out: Snapshot = {}
        for tenant in TENANTS:
            response = self.call(
                self.admin,
                tenant,
                "GET",
                f"{V1}/entities?type={','.join(TYPES)}&limit=1000&options=keyValues",
            )
            assert response.status_code == 200, response.text
            out[tenant] = {}
            for e in response.json():
                scope = e.get("scope") or ()
                scopes = (scope,) if isinstance(scope, str) else tuple(scope)
                out[tenant][e["id"]] = (e["type"], scopes, e.get("v"))
                self.known[(tenant, e["id"])] = (e["type"], scopes)
        return out

    def entity_of(self, tenant: str, eid: str) -> tuple[Any, ...] | None:
        found = self.snapshot[tenant].get(eid)
        return None if found is None else (eid, found[0], found[1])

    def payload(self, eid: str) -> dict[str, Any]:
        self.counter += 1
        body: dict[str, Any] = {
            "id": eid,
            "type": self.rng.choice(TYPES),
            "v": {"type": "Property", "value": self.counter},
        }
        if self.rng.random() < 0.5:
            body["scope"] = self.rng.choice(SCOPES)
        return body

    # ---- the checks ------------------------------------------------------------------------
    def check_writes(self, caller: Caller, tenant: str) -> None:
        """The entities that changed anywhere are the caller's to write, before and after."""
        after = self.view()
        for t in TENANTS:
            before_t, after_t = self.snapshot[t], after[t]
            for eid in set(before_t) | set(after_t):
                if before_t.get(eid) == after_t.get(eid):
                    continue
                assert t == tenant, f"{self.where()}: {caller.name} changed {eid} in tenant {t!r}"
                for state in (before_t.get(eid), after_t.get(eid)):
                    if state is not None:
                        entity = (eid, state[0], state[1])
                        assert self.model.covers(caller, t, "write", entity), (
                            f"{self.where()}: {caller.name} wrote {entity} in {t!r}"
                        )
        self.snapshot = after

    def readable(self, caller: Caller, tenant: str, types: tuple[str, ...]) -> list[str]:
        return sorted(
            eid
            for eid, (kind, scopes, _v) in self.snapshot[tenant].items()
            if kind in types and self.model.covers(caller, tenant, "read", (eid, kind, scopes))
        )

    def check_refused(self, response: Any, caller: Caller, tenant: str, action: str) -> bool:
        """True when the caller may not ``action`` anything here, after checking the
        refusal's status; False when it may (the response is then checked by the caller)."""
        if self.model.targets(caller, tenant, action) != []:
            return False
        assert response.status_code in (401, 403), f"{self.where()}: {response.text}"
        return True

    # ---- the operations ------------------------------------------------------------------
    def op_create(self, caller: Caller, tenant: str) -> None:
        self.call(caller, tenant, "POST", f"{V1}/entities", json=self.payload(self.rng.choice(IDS)))
        self.check_writes(caller, tenant)

    def op_upsert(self, caller: Caller, tenant: str) -> None:
        ids = self.rng.sample(IDS, self.rng.randint(1, 3))
        body = [self.payload(i) for i in ids]
        self.call(caller, tenant, "POST", f"{V1}/entityOperations/upsert", json=body)
        self.check_writes(caller, tenant)

    def op_patch(self, caller: Caller, tenant: str) -> None:
        self.counter += 1
        eid = self.rng.choice(IDS)
        patch = {"v": {"type": "Property", "value": self.counter}}
        response = self.call(caller, tenant, "PATCH", f"{V1}/entities/{eid}/attrs", json=patch)
        entity = self.entity_of(tenant, eid)
        if response.status_code == 204:
            assert entity is not None and self.model.covers(caller, tenant, "write", entity)
        self.check_writes(caller, tenant)

    def op_delete(self, caller: Caller, tenant: str) -> None:
        self.call(caller, tenant, "DELETE", f"{V1}/entities/{self.rng.choice(IDS)}")
        self.check_writes(caller, tenant)

    def op_batch_delete(self, caller: Caller, tenant: str) -> None:
        ids = self.rng.sample(IDS, 3)
        self.call(caller, tenant, "POST", f"{V1}/entityOperations/delete", json=ids)
        self.check_writes(caller, tenant)

    def op_purge(self, caller: Caller, tenant: str) -> None:
        self.call(caller, tenant, "DELETE", f"{V1}/entities?type={self.rng.choice(TYPES)}")
        self.check_writes(caller, tenant)

    def op_query(self, caller: Caller, tenant: str) -> None:
        types = tuple(self.rng.sample(TYPES, self.rng.randint(1, 3)))
        limit, offset = self.rng.randint(1, 4), self.rng.randint(0, 4)
        if self.rng.random() < 0.5:
            response = self.call(
                caller,
                tenant,
                "GET",
                f"{V1}/entities?type={','.join(types)}&count=true&limit={limit}&offset={offset}",
            )
        else:
            body = {"type": "Query", "entities": [{"type": t} for t in types]}
            response = self.call(
                caller,
                tenant,
                "POST",
                f"{V1}/entityOperations/query?count=true&limit={limit}&offset={offset}",
                json=body,
            )
        if self.check_refused(response, caller, tenant, "read"):
            return
        assert response.status_code == 200, f"{self.where()}: {response.text}"
        expected = self.readable(caller, tenant, types)
        got = [e["id"] for e in response.json()]
        assert set(got) <= set(expected), f"{self.where()}: {caller.name} read {got} of {expected}"
        assert response.headers["NGSILD-Results-Count"] == str(len(expected)), self.where()
        assert len(got) == max(0, min(limit, len(expected) - offset)), self.where()

    def op_retrieve(self, caller: Caller, tenant: str) -> None:
        eid = self.rng.choice(IDS)
        response = self.call(caller, tenant, "GET", f"{V1}/entities/{eid}")
        if self.check_refused(response, caller, tenant, "read"):
            return
        entity = self.entity_of(tenant, eid)
        if entity is not None and self.model.covers(caller, tenant, "read", entity):
            assert response.status_code == 200, f"{self.where()}: {response.text}"
        else:
            assert response.status_code == 404, f"{self.where()}: {caller.name} read {eid}"

    def op_temporal(self, caller: Caller, tenant: str) -> None:
        types = ",".join(TYPES)
        response = self.call(
            caller, tenant, "GET", f"{V1}/temporal/entities?type={types}&count=true&limit=100"
        )
        if self.check_refused(response, caller, tenant, "read"):
            return
        assert response.status_code in (200, 206), f"{self.where()}: {response.text}"
        got = [e["id"] for e in response.json()]
        for eid in got:
            kind, scopes = self.known[(tenant, eid)]
            assert self.model.covers(caller, tenant, "read", (eid, kind, scopes)), (
                f"{self.where()}: {caller.name} read the history of {eid}"
            )
        assert response.headers["NGSILD-Results-Count"] == str(len(got)), self.where()

    def op_types(self, caller: Caller, tenant: str) -> None:
        response = self.call(caller, tenant, "GET", f"{V1}/types")
        if self.model.targets(caller, tenant, "read") is None:
            assert response.status_code == 200, f"{self.where()}: {response.text}"
        else:
            assert response.status_code in (401, 403), f"{self.where()}: {response.text}"

    def op_subscriptions(self, caller: Caller, tenant: str) -> None:
        response = self.call(caller, tenant, "GET", f"{V1}/subscriptions?count=true")
        if self.check_refused(response, caller, tenant, "subscribe"):
            return
        mine = [p for p, (owner, t) in self.owners.items() if t == tenant and owner is caller]
        if caller.kind != "admin":
            assert response.headers["NGSILD-Results-Count"] == str(len(mine)), self.where()

    def op_iot(self, caller: Caller, tenant: str) -> None:
        headers = {"Fiware-Service": tenant} if tenant else {}
        device = {
            "devices": [
                {
                    "device_id": f"d{self.counter}",
                    "entity_name": self.rng.choice(IDS),
                    "entity_type": self.rng.choice(TYPES),
                }
            ]
        }
        self.counter += 1
        auth = caller.headers
        posted = self.client.post("/iot/devices", json=device, headers={**auth, **headers})
        listed = self.client.get("/iot/devices", headers={**auth, **headers})
        for response, action in ((posted, "write"), (listed, "read")):
            assert response.status_code < 500, f"{self.where()}: {response.text}"
            if self.model.targets(caller, tenant, action) is not None:
                assert response.status_code in (401, 403), f"{self.where()}: {response.text}"
        self.check_writes(caller, tenant)

    def op_admin(self, caller: Caller, tenant: str) -> None:
        response = self.call(caller, tenant, "GET", "/admin/keys")
        if caller.kind == "admin":
            assert response.status_code == 200
        else:
            assert response.status_code in (401, 403), f"{self.where()}: {response.text}"

    def op_revoke(self, caller: Caller, tenant: str) -> None:
        keys = [c for c in self.callers if c.kind == "key" and not c.revoked]
        victim = self.rng.choice(keys)
        response = self.call(self.admin, "", "DELETE", f"/admin/keys/{key_id(victim.key)}")
        assert response.status_code == 204, response.text
        victim.revoked = True
        self.revoked_at[victim.key] = time.time()
        after = self.call(victim, victim.tenant, "GET", f"{V1}/entities?type=A")
        assert after.status_code == 401, self.where()

    def check_notifications(self) -> int:
        """Every notification carries only what its owner may read (as the entity was sent);
        none reaches a revoked owner later than a second after the revocation."""
        received = self.rx.quiet(1.0)
        for r in received:
            owner, tenant = self.owners[r.path]
            sent = datetime.fromisoformat(r.body["notifiedAt"].replace("Z", "+00:00"))
            if owner.key in self.revoked_at:
                revoked = datetime.fromtimestamp(self.revoked_at[owner.key] + 1, UTC)
                assert sent <= revoked, f"seed {self.seed}: {owner.name} notified after revocation"
                owner = replace(owner, revoked=False)  # judged as it was when it was sent
            for e in r.body["data"]:
                scope = e.get("scope") or ()
                scope = (scope,) if isinstance(scope, str) else tuple(scope)
                entity = (e["id"], e["type"], scope)
                assert self.model.covers(owner, tenant, "read", entity), (
                    f"seed {self.seed}: {owner.name}'s subscription in {tenant!r} carried {entity}"
                )
        return len(received)

    def run(self, operations: int) -> int:
        ops = [
            (self.op_create, 3),
            (self.op_upsert, 4),
            (self.op_patch, 2),
            (self.op_delete, 1),
            (self.op_batch_delete, 1),
            (self.op_purge, 1),
            (self.op_query, 5),
            (self.op_retrieve, 3),
            (self.op_temporal, 2),
            (self.op_types, 1),
            (self.op_subscriptions, 1),
            (self.op_iot, 1),
            (self.op_admin, 1),
        ]
        functions, weights = zip(*ops, strict=True)
        for n in range(operations):
            if n == operations // 2:
                self.step = f"op {n} revoke"
                self.op_revoke(self.admin, "")
            fn = self.rng.choices(functions, weights)[0]
            caller = self.rng.choice(self.callers)
            # mostly the caller's own tenant; sometimes another (always refused for a key)
            tenant = caller.tenant if self.rng.random() < 0.8 else self.rng.choice(TENANTS)
            self.step = f"op {n} {fn.__name__} by {caller.name} in {tenant!r}"
            fn(caller, tenant)
        return self.check_notifications()


def _seeds() -> list[int]:
    if "ISOLATION_SEED" in os.environ:
        return [int(os.environ["ISOLATION_SEED"])]
    return [20, 2026]


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as rx:
        yield rx


@pytest.mark.parametrize("seed", _seeds())
def test_no_caller_sees_or_writes_beyond_its_permissions(
    client: TestClient, receiver: HttpReceiver, seed: int
) -> None:
    run = Run(client, receiver, seed)
    notified = run.run(OPERATIONS)
    assert run.snapshot != {t: {} for t in TENANTS}  # writes did land somewhere
    assert notified > 0  # and were notified: the notification check is not vacuous
