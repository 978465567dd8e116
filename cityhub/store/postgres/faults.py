"""PostgreSQL errors that mean "the store cannot serve now", as
:class:`~cityhub.store.availability.Fault`: by SQLSTATE (53100 disk full, 25006 read-only
transaction, class 08 connection exception, 53300 too many connections, 57P0x shutting down
or starting up), and the client-side failures to connect (refused, unknown host, time-out) or
to use a connection the server ended.

:data:`ERRORS` is what the store catches to ask :func:`fault_of` (anything else is not a
fault and goes on as it is)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import asyncpg

from cityhub.store.availability import Fault, client_detail

#: the exception classes that may be faults
ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)

_RETRY_AFTER = {"disk_full": 30, "read_only": 30, "unreachable": 5, "busy": 2}


def where(url: str) -> str:
    """``host:port/database`` of a store URL, for messages (never the password)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "PostgreSQL"
    return f"PostgreSQL at {host}:{port}{parts.path or '/'}"


def _kind(exc: BaseException) -> str | None:
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        if state == "53100":
            return "disk_full"
        if state == "25006":
            return "read_only"
        if state in ("53300", "53400", "53200"):  # connections, configured limit, memory
            return "busy"
        if state.startswith("08") or state in ("57P01", "57P02", "57P03", "57P04"):
            return "unreachable"
        return None
    if isinstance(exc, asyncpg.InterfaceError):
        text = str(exc)
        return "unreachable" if "connection" in text and "closed" in text else None
    if isinstance(exc, asyncpg.InternalClientError):
        # seen when the server ended a pooled connection while it was idle: asyncpg is still
        # consuming the server's farewell when the next query comes ("cannot switch to state
        # ...; another operation is in progress"); the pool replaces the connection
        return "unreachable"
    if isinstance(exc, (OSError, asyncio.TimeoutError)):
        return "unreachable"  # refused, unknown host, network down, connect or query time-out
    return None


_WHAT = {
    "disk_full": "the disk of {where} is full",
    "read_only": "{where} accepts no writes (a read-only transaction: a standby, or "
    "default_transaction_read_only)",
    "busy": "{where} refuses more work now (too many connections or out of memory)",
    "unreachable": "{where} cannot be reached, is shutting down or ended the connection",
}


def fault_of(exc: BaseException, url: str) -> Fault | None:
    """The fault ``exc`` reports, None when it is not one.

    Args:
        exc: an exception from asyncpg (or the OS, when connecting).
        url: the store's URL, named in the operator's reason without its password.
    """
    kind = _kind(exc)
    if kind is None:
        return None
    what = _WHAT[kind].format(where=where(url))
    state = getattr(exc, "sqlstate", None)
    code = f"SQLSTATE {state}: " if state else f"{type(exc).__name__}: "
    return Fault(kind, f"{what} ({code}{exc})", client_detail(kind), _RETRY_AFTER[kind])


def cannot_open(exc: BaseException, url: str) -> str:
    """One sentence for an error that stops the store from starting, for the operator."""
    fault = fault_of(exc, url)
    if fault is not None:
        return f"cannot open the store: {fault.reason}"
    return f"cannot open the store at {where(url)}: {type(exc).__name__}: {exc}"


__all__ = ["ERRORS", "cannot_open", "fault_of", "where"]
