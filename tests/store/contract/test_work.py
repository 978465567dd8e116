"""The city services' work queue (``cityhub.store.work``: ``Transaction.enqueue_work`` and
``WorkQueue``), the same on every backend: items commit and roll back with their write,
unclaimed items of one key coalesce, claims lease, done/retry act under the claim's token."""

from __future__ import annotations

import uuid

from cityhub.store.base import Transaction
from tests.store.contract.conftest import Backend

T = "work-tenant"
NOW = 1_700_000_000.0


def _enqueue(b: Backend, *items: tuple[str, str | None, float], tenant: str = T) -> None:
    def fn(tx: Transaction) -> None:
        for service, key, due in items:
            tx.enqueue_work(service, key, {"key": key, "due": due}, due)

    b.run(b.store.write(tenant, fn))


def test_items_commit_with_the_write_and_roll_back_with_it(backend: Backend) -> None:
    b = backend
    _enqueue(b, ("aq", "e1", NOW))

    def failing(tx: Transaction) -> None:
        tx.enqueue_work("aq", "e2", {}, NOW)
        raise RuntimeError("the write fails")

    try:
        b.run(b.store.write(T, failing))
    except RuntimeError:
        pass
    items = b.run(b.backend.work.claim("aq", NOW, 10, lease=30))
    assert [(i.key, i.tenant, i.service, i.payload, i.attempts) for i in items] == [
        ("e1", T, "aq", {"key": "e1", "due": NOW}, 0)
    ]
    assert items[0].enqueued_at > NOW  # wall clock of the enqueue


def test_unclaimed_items_of_one_key_coalesce_per_service_and_tenant(backend: Backend) -> None:
    b = backend
    _enqueue(b, ("aq", "e1", NOW + 5), ("aq", "e1", NOW), ("aq", "e2", NOW), ("alerts", "e1", NOW))
    _enqueue(b, ("aq", "e1", NOW + 9), tenant="other")
    _enqueue(b, ("aq", None, NOW), ("aq", None, NOW))  # no key: never merged
    assert b.run(b.backend.work.pending("aq")) == 5
    items = b.run(b.backend.work.claim("aq", NOW, 10, lease=30))
    by_key = sorted((i.tenant, i.key or "", i.payload["due"]) for i in items)
    # the later payload, the earlier due time
    assert by_key == [(T, "", NOW), (T, "", NOW), (T, "e1", NOW), (T, "e2", NOW)]
    assert b.run(b.backend.work.next_due("aq")) == NOW + 9  # the other tenant's, not due yet
    assert b.run(b.backend.work.pending("alerts")) == 1


def test_the_queue_counts_what_it_merged_into_an_item(backend: Backend) -> None:
    """``WorkItem.merged``: how many requests of its key were merged into an item before it
    was claimed, in one transaction or across several (0: it stands for one write alone), so
    a service decides by it, not by comparing the clocks of the hubs that queued them."""
    b = backend
    work = b.backend.work
    _enqueue(b, ("aq", "alone", NOW))
    _enqueue(b, ("aq", "twice", NOW), ("aq", "twice", NOW))  # one transaction
    _enqueue(b, ("aq", "thrice", NOW))
    _enqueue(b, ("aq", "thrice", NOW), ("aq", "thrice", NOW))  # one merged, then into it
    _enqueue(b, ("aq", None, NOW), ("aq", None, NOW))  # no key: never merged
    items = b.run(work.claim("aq", NOW, 10, lease=30))
    assert sorted((i.key or "", i.merged) for i in items) == [
        ("", 0),
        ("", 0),
        ("alone", 0),
        ("thrice", 2),
        ("twice", 1),
    ]
    # a request after the claim is an item of its own, merged with nothing
    _enqueue(b, ("aq", "twice", NOW + 1))
    b.run(work.done(items))
    (fresh,) = b.run(work.claim("aq", NOW + 1, 10, lease=30))
    assert (fresh.key, fresh.merged) == ("twice", 0)


def test_a_claimed_item_is_leased_and_never_merged_into(backend: Backend) -> None:
    b = backend
    work = b.backend.work
    _enqueue(b, ("aq", "e1", NOW))
    (held,) = b.run(work.claim("aq", NOW, 10, lease=30))
    assert b.run(work.claim("aq", NOW + 1, 10, lease=30)) == []  # leased: no second claimer
    _enqueue(b, ("aq", "e1", NOW + 1))  # a write during the computation asks for another
    assert b.run(work.pending("aq")) == 2
    assert b.run(work.claim("aq", NOW + 1, 10, lease=30)) == []  # after the held one
    b.run(work.done([held]))
    (fresh,) = b.run(work.claim("aq", NOW + 1, 10, lease=30))
    assert fresh.id != held.id
    b.run(work.done([fresh]))
    assert b.run(work.pending("aq")) == 0


def test_one_keys_items_run_in_order_even_past_a_dead_workers_lease(backend: Backend) -> None:
    """A worker claims item 1 of e1 and dies: item 2 of e1 (a later write) waits until item
    1's lease ends and item 1 has run again; other keys go on meanwhile. (Before, item 2 was
    claimed at once, ran first, and item 1 ran afterwards on the state item 2 had left: an
    alert episode the newer reading closed was reopened by the older one.)"""
    b = backend
    work = b.backend.work
    _enqueue(b, ("aq", "e1", NOW))
    (first,) = b.run(work.claim("aq", NOW, 10, lease=60))  # ... and the worker dies
    _enqueue(b, ("aq", "e1", NOW + 1), ("aq", "e2", NOW + 1))
    assert b.run(work.next_due("aq")) == NOW + 1  # e2's; e1's second waits for the first
    got = b.run(work.claim("aq", NOW + 2, 10, lease=60))
    assert [i.key for i in got] == ["e2"]  # other keys proceed
    b.run(work.done(got))
    assert b.run(work.next_due("aq")) == NOW + 60  # the dead worker's lease, not before
    for at in (NOW + 2, NOW + 30, NOW + 59):
        assert b.run(work.claim("aq", at, 10, lease=60)) == [], at
    # the lease ends: item 1 runs again, alone, and only then item 2
    (again,) = b.run(work.claim("aq", NOW + 60, 10, lease=60))
    assert again.id == first.id and again.payload["due"] == NOW
    assert b.run(work.claim("aq", NOW + 61, 10, lease=60)) == []
    b.run(work.done([again]))
    (second,) = b.run(work.claim("aq", NOW + 61, 10, lease=60))
    assert second.key == "e1" and second.payload["due"] == NOW + 1 and second.id > first.id
    b.run(work.done([second]))
    assert b.run(work.pending("aq")) == 0


def test_a_retried_item_holds_back_its_keys_newer_items(backend: Backend) -> None:
    b = backend
    work = b.backend.work
    _enqueue(b, ("aq", "e1", NOW))
    (first,) = b.run(work.claim("aq", NOW, 10, lease=60))
    _enqueue(b, ("aq", "e1", NOW + 1))
    b.run(work.retry(first, "boom", NOW + 20))  # backs off; the newer one must not overtake
    assert b.run(work.claim("aq", NOW + 5, 10, lease=60)) == []
    (again,) = b.run(work.claim("aq", NOW + 20, 10, lease=60))
    assert again.id == first.id and again.attempts == 1
    b.run(work.done([again]))
    (second,) = b.run(work.claim("aq", NOW + 20, 10, lease=60))
    assert second.payload["due"] == NOW + 1


def test_a_lease_that_ran_out_is_claimed_again_and_the_old_token_is_void(
    backend: Backend,
) -> None:
    b = backend
    work = b.backend.work
    _enqueue(b, ("aq", "e1", NOW))
    (first,) = b.run(work.claim("aq", NOW, 10, lease=30))
    (second,) = b.run(work.claim("aq", NOW + 31, 10, lease=30))  # the first worker died
    assert second.id == first.id and second.token != first.token
    b.run(work.done([first]))  # the dead worker wakes up: its lease is gone
    b.run(work.retry(first, "late", NOW))
    assert b.run(work.pending("aq")) == 1
    assert b.run(work.claim("aq", NOW + 32, 10, lease=30)) == []
    b.run(work.done([second]))
    assert b.run(work.pending("aq")) == 0


def test_retry_backs_off_counts_and_gives_up(backend: Backend) -> None:
    b = backend
    work = b.backend.work
    _enqueue(b, ("aq", "e1", NOW), ("aq", "e2", NOW))
    items = {i.key: i for i in b.run(work.claim("aq", NOW, 10, lease=30))}
    b.run(work.retry(items["e1"], "boom", NOW + 10))
    b.run(work.retry(items["e2"], "boom", None))  # given up
    assert b.run(work.next_due("aq")) == NOW + 10
    assert b.run(work.claim("aq", NOW + 5, 10, lease=30)) == []
    (again,) = b.run(work.claim("aq", NOW + 10, 10, lease=30))
    assert again.key == "e1" and again.attempts == 1


def test_release_gives_back_held_items(backend: Backend) -> None:
    b = backend
    work = b.backend.work
    _enqueue(b, ("aq", "e1", NOW), ("aq", "e2", NOW))
    items = b.run(work.claim("aq", NOW, 10, lease=300))
    b.run(work.release(items[1:], NOW + 1))
    (back,) = b.run(work.claim("aq", NOW + 1, 10, lease=300))
    assert back.id == items[1].id
    # at start-up SQLite takes back every lease (one process serves the file); PostgreSQL
    # leaves other workers' leases alone
    released = b.run(work.release_leases(NOW + 2))
    assert released == (2 if b.name == "sqlite" else 0)


def test_a_transaction_finishes_a_claimed_item_with_its_result(backend: Backend) -> None:
    """``Transaction.finish_work``: the item leaves the queue in the write of the service's
    result, so the two commit together; a write that rolls back leaves it claimed (retried
    after its lease), and a stale token (the lease went to another worker) removes nothing."""
    b = backend
    work = b.backend.work
    _enqueue(b, ("aq", "e1", NOW), ("aq", "e2", NOW))
    one, two = b.run(work.claim("aq", NOW, 10, lease=30))

    def failing(tx: Transaction) -> None:
        tx.finish_work(one.id, one.token)
        raise RuntimeError("the result's write fails")

    try:
        b.run(b.store.write(T, failing))
    except RuntimeError:
        pass
    assert b.run(work.pending("aq")) == 2  # rolled back with the write

    def finishing(tx: Transaction) -> None:
        tx.finish_work(one.id, one.token)
        tx.finish_work(two.id, str(uuid.uuid4()))  # not the claim's token

    b.run(b.store.write(T, finishing))
    assert b.run(work.pending("aq")) == 1
    (again,) = b.run(work.claim("aq", NOW + 31, 10, lease=30))  # e2's lease ran out
    assert again.id == two.id and again.token != two.token


def test_items_queued_in_a_savepoint_rolled_back_are_forgotten(backend: Backend) -> None:
    """A batch writes each entity in a savepoint: a failing one's work items go with it,
    those of the others (and an earlier request of the same key) stay."""
    b = backend

    def fn(tx: Transaction) -> None:
        tx.enqueue_work("aq", "e1", {"n": 1}, NOW + 1)
        try:
            with tx.savepoint():
                tx.enqueue_work("aq", "e1", {"n": 2}, NOW)  # would coalesce with n=1
                tx.enqueue_work("aq", "e2", {"n": 2}, NOW)
                raise RuntimeError("this entity fails")
        except RuntimeError:
            pass
        with tx.savepoint():
            tx.enqueue_work("aq", "e3", {"n": 3}, NOW)

    b.run(b.store.write(T, fn))
    items = b.run(b.backend.work.claim("aq", NOW + 1, 10, lease=30))
    assert sorted((i.key, i.payload["n"]) for i in items) == [("e1", 1), ("e3", 3)]
