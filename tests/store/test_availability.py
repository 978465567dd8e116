"""store/availability.py: a store fault is one typed error, logged when it begins and when it
ends (not per request), ended only after ``settle`` quiet seconds, probed at most once per
``probe_interval``; and each backend's mapping of its driver's errors."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from cityhub.errors import StoreUnavailable
from cityhub.store.availability import Availability, Fault
from cityhub.store.sqlite import faults as sqlite_faults

FULL = Fault("disk_full", "the disk of X is full", "no space; nothing written", 30)
READ_ONLY = Fault("read_only", "X is read-only", "read-only; nothing written", 30)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _store_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "cityhub"]


def test_a_fault_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    availability = Availability(settle=5, clock=clock)
    caplog.set_level(logging.INFO, logger="cityhub")
    for _ in range(100):  # a hundred failed requests
        err = availability.failed(FULL)
        assert isinstance(err, StoreUnavailable)
        assert err.status == 503 and err.retry_after == 30 and err.detail == FULL.detail
        clock.now += 0.01
    lines = _store_lines(caplog)
    assert len(lines) == 1 and "the disk of X is full" in lines[0]
    health = availability.health()
    assert not health.available and health.reason == FULL.reason and health.since
    clock.now += 5
    availability.succeeded()
    availability.succeeded()
    lines = _store_lines(caplog)
    assert len(lines) == 2 and "available again" in lines[1] and "100 operations" in lines[1]
    assert availability.health().available and availability.fault is None


def test_a_success_soon_after_a_failure_does_not_end_it(caplog: pytest.LogCaptureFixture) -> None:
    """A disk with a little space left fails every other write: one condition, not a log
    line per request."""
    clock = Clock()
    availability = Availability(settle=5, clock=clock)
    caplog.set_level(logging.INFO, logger="cityhub")
    for _ in range(50):
        availability.failed(FULL)
        clock.now += 1
        availability.succeeded()
        clock.now += 1
    assert availability.fault is FULL
    assert len(_store_lines(caplog)) == 1
    clock.now += 5
    availability.succeeded()
    assert availability.fault is None
    assert len(_store_lines(caplog)) == 2


def test_another_kind_of_fault_is_logged_once_more(caplog: pytest.LogCaptureFixture) -> None:
    availability = Availability(clock=Clock())
    caplog.set_level(logging.INFO, logger="cityhub")
    availability.failed(FULL)
    availability.failed(READ_ONLY)
    availability.failed(READ_ONLY)
    lines = _store_lines(caplog)
    assert len(lines) == 2 and "read-only" in lines[1]
    assert availability.health().reason == READ_ONLY.reason


def test_probes_are_due_only_while_unavailable_and_not_more_than_once_a_second() -> None:
    clock = Clock()
    availability = Availability(probe_interval=1.0, clock=clock)
    assert not availability.probe_due()
    availability.failed(FULL)
    assert availability.probe_due()
    assert not availability.probe_due()  # a second /health at the same time: no second probe
    clock.now += 0.5
    assert not availability.probe_due()
    clock.now += 0.5
    assert availability.probe_due()


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (sqlite3.SQLITE_FULL, "disk_full"),
        (sqlite3.SQLITE_READONLY, "read_only"),
        (sqlite3.SQLITE_READONLY_DBMOVED, "read_only"),
        (sqlite3.SQLITE_IOERR_WRITE, "io_error"),
        (sqlite3.SQLITE_CANTOPEN, "io_error"),
        (sqlite3.SQLITE_BUSY, "busy"),
    ],
)
def test_sqlite_faults_by_result_code(code: int, kind: str) -> None:
    exc = sqlite3.OperationalError("boom")
    exc.sqlite_errorcode = code  # type: ignore[attr-defined]
    fault = sqlite_faults.fault_of(exc, "/data/city.db")
    assert fault is not None and fault.kind == kind
    assert "/data/city.db" in fault.reason  # the operator's words name the file
    assert "/data/city.db" not in fault.detail  # the client's do not


def test_other_sqlite_errors_are_not_faults() -> None:
    exc = sqlite3.IntegrityError("UNIQUE constraint failed")
    exc.sqlite_errorcode = sqlite3.SQLITE_CONSTRAINT_UNIQUE  # type: ignore[attr-defined]
    assert sqlite_faults.fault_of(exc, "x.db") is None
    assert sqlite_faults.fault_of(ValueError("x"), "x.db") is None


def test_postgres_faults_by_sqlstate() -> None:
    asyncpg = pytest.importorskip("asyncpg")
    from cityhub.store.postgres import faults as pg_faults

    url = "postgresql://hub:s3cret@db.example:5433/city"
    cases = {
        asyncpg.exceptions.DiskFullError: "disk_full",  # 53100
        asyncpg.exceptions.ReadOnlySQLTransactionError: "read_only",  # 25006
        asyncpg.exceptions.TooManyConnectionsError: "busy",  # 53300
        asyncpg.exceptions.ConnectionDoesNotExistError: "unreachable",  # 08003
        asyncpg.exceptions.ConnectionFailureError: "unreachable",  # 08006
        asyncpg.exceptions.CannotConnectNowError: "unreachable",  # 57P03
        asyncpg.exceptions.AdminShutdownError: "unreachable",  # 57P01
    }
    for cls, kind in cases.items():
        fault = pg_faults.fault_of(cls("boom"), url)
        assert fault is not None and fault.kind == kind, cls
        assert "db.example:5433/city" in fault.reason and "s3cret" not in fault.reason
        assert "db.example" not in fault.detail
    refused = pg_faults.fault_of(ConnectionRefusedError(111, "Connection refused"), url)
    assert refused is not None and refused.kind == "unreachable"
    assert pg_faults.fault_of(asyncpg.exceptions.UniqueViolationError("dup"), url) is None
    assert pg_faults.fault_of(asyncpg.exceptions.SyntaxOrAccessError("x"), url) is None


def test_a_condition_that_comes_back_soon_waits_longer_each_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A probe that passes while real writes fail (PostgreSQL: the probe's table is not in the
    full tablespace) must not make the hub log two lines a minute forever."""
    clock = Clock()
    availability = Availability(settle=5, clock=clock)
    caplog.set_level(logging.INFO, logger="cityhub")
    quiet = []
    for _ in range(8):
        availability.failed(FULL)
        start = clock.now
        while availability.fault is not None:  # probes pass every second
            clock.now += 1
            availability.succeeded()
        quiet.append(clock.now - start)
        clock.now += 1  # and the next real write fails again
    assert quiet == [5, 10, 20, 40, 80, 160, 300, 300]
    assert "again" in _store_lines(caplog)[2]
    clock.now += 3600  # a condition long after the last one starts with the short wait
    availability.failed(FULL)
    clock.now += 5
    availability.succeeded()
    assert availability.fault is None
