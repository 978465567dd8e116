"""The outbox (``OutboxQueue``: claim, lease, ack, fail; clause 5.8.6's at-least-once delivery),
subscriptions (``SubscriptionStore``, clause 5.8) and registrations (``RegistrationStore``,
clauses 5.9-5.11), the same on every backend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cityhub.errors import AlreadyExists, ResourceNotFound
from cityhub.ngsild.registration_query import RegistrationQuery
from cityhub.store.base import Transaction
from tests.store.contract.conftest import Backend

EX = "https://ex.org/"
T = "q"
NOW = 1_700_000_000.0


def _queue(b: Backend, *items: tuple[str, float]) -> None:
    def fn(tx: Transaction) -> None:
        for sub_id, due in items:
            b.enqueue(tx, sub_id, {"id": f"n-{sub_id}", "data": [1]}, due)

    b.run(b.store.write(T, fn))


def test_claim_leases_due_rows_oldest_first(backend: Backend) -> None:
    b = backend
    _queue(b, ("s2", NOW - 1), ("s1", NOW - 5), ("later", NOW + 60))
    assert b.run(b.outbox.next_due()) == NOW - 5
    rows = b.run(b.outbox.claim(NOW, 10, lease=30))
    assert [(r.subscription_id, r.tenant, r.attempts) for r in rows] == [
        ("s1", T, 0),
        ("s2", T, 0),
    ]
    assert rows[0].payload == {"id": "n-s1", "data": [1]}
    assert b.run(b.outbox.claim(NOW + 1, 10, lease=30)) == []  # leased: no second claimer
    # the lease runs out: due again, with the later row
    again = b.run(b.outbox.claim(NOW + 61, 10, lease=30))
    assert sorted(r.subscription_id for r in again) == ["later", "s1", "s2"]
    assert b.run(b.outbox.claim(NOW + 61, 10, lease=30)) == []


def test_ack_removes_and_fail_retries_or_gives_up(backend: Backend) -> None:
    b = backend
    _queue(b, ("a", NOW), ("b", NOW), ("c", NOW))
    rows = {r.subscription_id: r for r in b.run(b.outbox.claim(NOW, 10, lease=30))}
    b.run(b.outbox.ack(rows["a"].id))
    b.run(b.outbox.fail(rows["b"].id, "connection refused", NOW + 10))
    b.run(b.outbox.fail(rows["c"].id, "HTTP 410", None))  # given up
    assert b.run(b.outbox.next_due()) == NOW + 10
    assert b.run(b.outbox.claim(NOW + 5, 10, lease=30)) == []
    (retry,) = b.run(b.outbox.claim(NOW + 10, 10, lease=30))
    assert retry.subscription_id == "b" and retry.attempts == 1
    b.run(b.outbox.ack(retry.id))
    assert b.run(b.outbox.next_due()) is None


def test_release_leases_makes_leased_rows_due(backend: Backend) -> None:
    b = backend
    _queue(b, ("a", NOW), ("b", NOW + 100))
    b.run(b.outbox.claim(NOW, 10, lease=300))
    assert b.run(b.outbox.release_leases(NOW + 1)) == 1
    assert [r.subscription_id for r in b.run(b.outbox.claim(NOW + 1, 10, lease=30))] == ["a"]


def test_rows_queued_in_a_rolled_back_write_are_not_queued(backend: Backend) -> None:
    b = backend

    def fn(tx: Transaction) -> None:
        b.enqueue(tx, "gone", {"id": "n"}, NOW)
        raise AlreadyExists("rolled back")

    with pytest.raises(AlreadyExists):
        b.run(b.store.write(T, fn))
    assert b.run(b.outbox.claim(NOW, 10, lease=30)) == []


def _subscription(n: int) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Subscription:{n}",
        "type": "Subscription",
        "entities": [{"type": EX + "Sensor"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:18901/n"}, "status": "ok"},
        "isActive": True,
    }


def test_subscriptions(backend: Backend) -> None:
    subs = backend.subscriptions
    run = backend.run
    version = run(backend.outbox.subscriptions_version())
    for n in range(1, 6):
        run(subs.create(T, _subscription(n)))
    assert run(backend.outbox.subscriptions_version()) > version
    with pytest.raises(AlreadyExists):
        run(subs.create(T, _subscription(1)))
    run(subs.create("other", _subscription(1)))  # ids are per tenant
    assert run(subs.get(T, "urn:ngsi-ld:Subscription:3")) == _subscription(3)
    assert run(subs.get("nobody", "urn:ngsi-ld:Subscription:3")) is None
    page, count = run(subs.query(T, limit=2, offset=1, count=True))
    assert count == 5
    assert [d["id"] for d in page] == ["urn:ngsi-ld:Subscription:2", "urn:ngsi-ld:Subscription:3"]
    updated = run(subs.update(T, "urn:ngsi-ld:Subscription:2", lambda d: {**d, "isActive": False}))
    assert updated is not None and updated["isActive"] is False
    assert run(subs.get(T, "urn:ngsi-ld:Subscription:2"))["isActive"] is False
    assert run(subs.update(T, "urn:nope", lambda d: d)) is None
    run(
        subs.update_status(
            T,
            "urn:ngsi-ld:Subscription:2",
            lambda status: {**status, "timesSent": status.get("timesSent", 0) + 3},
        )
    )
    run(subs.update_status(T, "urn:ngsi-ld:Subscription:2", lambda s: {**s, "lastSuccess": "x"}))
    run(subs.update_status(T, "urn:nope", lambda s: {"timesSent": 1}))  # nothing, no error
    notification = run(subs.get(T, "urn:ngsi-ld:Subscription:2"))["notification"]
    assert notification["timesSent"] == 3 and notification["lastSuccess"] == "x"
    assert run(subs.delete(T, "urn:ngsi-ld:Subscription:2")) is True
    assert run(subs.delete(T, "urn:ngsi-ld:Subscription:2")) is False
    every = sorted((t, d["id"]) for t, d in run(subs.all()))
    assert every == sorted(
        [(T, f"urn:ngsi-ld:Subscription:{n}") for n in (1, 3, 4, 5)]
        + [("other", "urn:ngsi-ld:Subscription:1")]
    )


def test_status_of_a_subscription_deleted_meanwhile(backend: Backend) -> None:
    """A delivery records its status members while the subscription is deleted (on
    PostgreSQL on two connections at once): whichever comes first, neither fails, and no
    status is left behind."""
    subs = backend.subscriptions

    async def race(n: int) -> None:
        sid = f"urn:ngsi-ld:Subscription:{n}"
        await subs.create(T, _subscription(n))
        await asyncio.gather(
            subs.update_status(T, sid, lambda s: {**s, "timesSent": 1}), subs.delete(T, sid)
        )
        await subs.update_status(T, sid, lambda s: {**s, "timesSent": 2})  # gone: nothing

    for n in range(20):
        backend.run(race(n))
    assert backend.run(subs.all()) == []
    backend.run(subs.create(T, _subscription(1)))  # a new one starts without a status
    assert "timesSent" not in backend.run(subs.get(T, "urn:ngsi-ld:Subscription:1"))["notification"]


def _registration(n: int, info: dict[str, Any], **members: Any) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:ContextSourceRegistration:{n}",
        "type": "ContextSourceRegistration",
        "information": [info],
        "endpoint": "http://127.0.0.1:18902",
        **members,
    }


def _reg_ids(b: Backend, query: RegistrationQuery, **page: Any) -> list[int]:
    found, _ = b.run(
        b.registrations.query_registrations(
            T, query, limit=page.get("limit", 100), offset=page.get("offset", 0)
        )
    )
    return [int(d["id"].rsplit(":", 1)[1]) for d in found]


def test_registrations(backend: Backend) -> None:
    b = backend
    regs = b.registrations
    docs = [
        _registration(1, {"entities": [{"type": EX + "Sensor"}], "propertyNames": [EX + "t"]}),
        _registration(2, {"entities": [{"type": EX + "Sensor", "id": "urn:S:1"}]}),
        _registration(3, {"entities": [{"type": EX + "Road", "idPattern": "^urn:R:"}]}),
        _registration(4, {"propertyNames": [EX + "t"]}),
        _registration(5, {"entities": [{"type": EX + "Sensor"}]}, expiresAt="2000-01-01T00:00:00Z"),
    ]
    for doc in docs:
        b.run(regs.create_registration(T, doc))
    with pytest.raises(AlreadyExists):
        b.run(regs.create_registration(T, docs[0]))
    got = b.run(regs.get_registration(T, docs[1]["id"]))
    assert got is not None and got["information"] == docs[1]["information"]
    assert "createdAt" in got and "modifiedAt" in got
    # discovery (clause 5.10.2): expired registrations left out, oldest first; a
    # RegistrationInfo without entities answers for any entity (4)
    assert _reg_ids(b, RegistrationQuery(types=(EX + "Sensor",))) == [1, 2, 4]
    assert _reg_ids(b, RegistrationQuery(types=(EX + "Sensor",), ids=("urn:S:2",))) == [1, 4]
    assert _reg_ids(b, RegistrationQuery(types=(EX + "Road",), ids=("urn:R:9",))) == [3, 4]
    # and one without attribute names for any attribute (2, 3)
    assert _reg_ids(b, RegistrationQuery(attrs=(EX + "t",))) == [1, 2, 3, 4]
    assert _reg_ids(b, RegistrationQuery(types=(EX + "Sensor",)), limit=1, offset=1) == [2]
    assert _reg_ids(b, RegistrationQuery(types=(EX + "Sensor",), attrs=(EX + "u",))) == [2]
    found, count = b.run(
        regs.query_registrations(T, RegistrationQuery(), limit=1, offset=0, count=True)
    )
    assert count == 4 and len(found) == 1

    def rename(doc: dict[str, Any], now: str) -> dict[str, Any]:
        return {**doc, "information": [{"entities": [{"type": EX + "Road"}]}], "modifiedAt": now}

    b.run(regs.update_registration(T, docs[0]["id"], rename))
    assert _reg_ids(b, RegistrationQuery(types=(EX + "Sensor",))) == [2, 4]
    assert _reg_ids(b, RegistrationQuery(types=(EX + "Road",))) == [1, 3, 4]
    with pytest.raises(ResourceNotFound):
        b.run(regs.update_registration(T, "urn:nope", rename))
    assert b.run(regs.delete_registration(T, docs[1]["id"])) is True
    assert b.run(regs.delete_registration(T, docs[1]["id"])) is False
    assert _reg_ids(b, RegistrationQuery(types=(EX + "Sensor",))) == [4]


def test_registration_subscriptions(backend: Backend) -> None:
    regs = backend.registrations
    run = backend.run
    docs = [
        {**_subscription(n), "type": "Subscription", "id": f"urn:ngsi-ld:CsrSub:{n}"}
        for n in (1, 2, 3)
    ]
    for doc in docs:
        run(regs.create_subscription(T, doc))
    with pytest.raises(AlreadyExists):
        run(regs.create_subscription(T, docs[0]))
    assert run(regs.get_subscription(T, docs[2]["id"]))["id"] == docs[2]["id"]
    page, count = run(regs.query_subscriptions(T, limit=2, offset=1, count=True))
    assert count == 3 and [d["id"] for d in page] == [docs[1]["id"], docs[2]["id"]]
    run(regs.update_subscription(T, docs[0]["id"], lambda d, now: {**d, "isActive": False}))
    assert run(regs.get_subscription(T, docs[0]["id"]))["isActive"] is False
    with pytest.raises(ResourceNotFound):
        run(regs.update_subscription(T, "urn:nope", lambda d, now: d))
    assert run(regs.delete_subscription(T, docs[0]["id"])) is True
    assert run(regs.delete_subscription(T, docs[0]["id"])) is False
    assert run(regs.get_subscription(T, docs[0]["id"])) is None


# clause 4.3.6.3: an exclusive registration owns the attributes it registers for its entity
def test_exclusive_registrations(backend: Backend) -> None:
    regs = backend.registrations
    run = backend.run
    info = {"entities": [{"type": EX + "Sensor", "id": "urn:S:1"}], "propertyNames": [EX + "t"]}
    run(regs.create_registration(T, _registration(1, info, mode="exclusive")))
    for mode in ("exclusive", "redirect"):
        with pytest.raises(AlreadyExists, match="4.3.6.3"):
            run(regs.create_registration(T, _registration(2, info, mode=mode)))
    assert run(regs.get_registration(T, "urn:ngsi-ld:ContextSourceRegistration:2")) is None
    run(regs.create_registration(T, _registration(2, info, mode="inclusive")))
    with pytest.raises(AlreadyExists):
        run(regs.update_registration(T, _registration(2, info)["id"], _mode("redirect")))
    other = {**info, "propertyNames": [EX + "u"]}
    run(regs.create_registration(T, _registration(3, other, mode="exclusive")))
    run(regs.create_registration("other", _registration(4, info, mode="exclusive")))
    # an expired exclusive registration holds nothing
    run(regs.update_registration(T, _registration(1, info)["id"], _expired))
    run(regs.update_registration(T, _registration(2, info)["id"], _mode("exclusive")))
    assert run(regs.get_registration(T, _registration(2, info)["id"]))["mode"] == "exclusive"


def _mode(mode: str) -> Any:
    return lambda doc, now: {**doc, "mode": mode, "modifiedAt": now}


def _expired(doc: dict[str, Any], now: str) -> dict[str, Any]:
    return {**doc, "expiresAt": "2000-01-01T00:00:00Z", "modifiedAt": now}


class _Rounds:
    """CsourceHooks that record the periodic rounds (clause 5.11.7, timeInterval)."""

    def __init__(self) -> None:
        self.rounds: list[tuple[str, bool]] = []

    def registration_changed(self, tx: Transaction, before: Any, after: Any) -> None:
        pass

    def subscription_changed(self, tx: Transaction, before: Any, after: Any) -> None:
        pass

    def periodic_round(self, tx: Transaction, subscription: dict[str, Any], first: bool) -> None:
        self.rounds.append((subscription["id"], first))


def test_periodic_rounds_of_registration_subscriptions(backend: Backend) -> None:
    regs = backend.registrations
    run = backend.run
    assert run(regs.run_periodic(NOW)) is None  # no hooks: nothing to run
    hooks = regs.hooks = _Rounds()
    sub = {**_subscription(1), "type": "Subscription", "id": "urn:ngsi-ld:CsrSub:1"}
    run(regs.create_subscription(T, {**sub, "timeInterval": 60}))
    run(regs.create_subscription("other", {**sub, "timeInterval": 90}))
    run(regs.create_subscription(T, {**sub, "id": "urn:ngsi-ld:CsrSub:2"}))  # not periodic
    assert run(regs.run_periodic(NOW)) == NOW + 60
    assert hooks.rounds == [(sub["id"], True), (sub["id"], True)]
    assert run(regs.run_periodic(NOW + 30)) == NOW + 60  # nothing due
    assert run(regs.run_periodic(NOW + 60)) == NOW + 90
    assert hooks.rounds[2:] == [(sub["id"], False)]
    assert run(regs.run_periodic(NOW + 95)) == NOW + 120
    assert len(hooks.rounds) == 4
    run(regs.delete_subscription(T, sub["id"]))
    run(regs.delete_subscription("other", sub["id"]))
    assert run(regs.run_periodic(NOW + 200)) is None


def test_a_transaction_reads_the_subscriptions_version_once(backend: Backend) -> None:
    """The notification trigger asks the version for every change: a batch reads it once
    (on PostgreSQL a read is a round trip), and the next transaction sees a subscription
    created in between."""
    reads: list[int] = []

    def versions(tx: Transaction) -> list[int]:
        read = tx._read_subscriptions_version  # type: ignore[attr-defined]

        def counted() -> int:
            reads.append(1)
            return int(read())

        tx._read_subscriptions_version = counted  # type: ignore[attr-defined]
        return [tx.subscriptions_version() for _ in range(3)]

    first = backend.run(backend.store.write(T, versions))
    assert len(set(first)) == 1 and len(reads) == 1
    backend.run(backend.subscriptions.create(T, _subscription(9)))
    second = backend.run(backend.store.write(T, versions))
    assert second[0] > first[0] and len(set(second)) == 1 and len(reads) == 2
