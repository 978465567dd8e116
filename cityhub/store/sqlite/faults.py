"""SQLite errors that mean "the store cannot serve now" (a full disk, a read-only file, an I/O
error, a lock held elsewhere), as :class:`~cityhub.store.availability.Fault`; and the one
sentence ``cityhub serve`` prints when the store cannot open at all."""

from __future__ import annotations

import sqlite3

from cityhub.store.availability import Fault, client_detail

# primary result codes (the low byte of an extended code such as SQLITE_IOERR_WRITE)
_KINDS = {
    sqlite3.SQLITE_FULL: "disk_full",
    sqlite3.SQLITE_READONLY: "read_only",
    sqlite3.SQLITE_PERM: "read_only",
    sqlite3.SQLITE_IOERR: "io_error",
    sqlite3.SQLITE_CANTOPEN: "io_error",
    sqlite3.SQLITE_BUSY: "busy",
    sqlite3.SQLITE_LOCKED: "busy",
}
_RETRY_AFTER = {"disk_full": 30, "read_only": 30, "io_error": 30, "busy": 2}


def _code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", -1) or -1) & 0xFF


def fault_of(exc: BaseException, path: str) -> Fault | None:
    """The fault ``exc`` reports, None when it is not one (a constraint, a bad statement...).

    Args:
        exc: an exception from the sqlite3 module (others are never faults).
        path: the store's database file, for the operator's reason.
    """
    if not isinstance(exc, sqlite3.Error):
        return None
    kind = _KINDS.get(_code(exc))
    if kind is None:
        return None
    name = getattr(exc, "sqlite_errorname", "") or "SQLITE_ERROR"
    if kind == "disk_full":
        reason = f"the disk of the SQLite store {path} is full ({name}: {exc})"
    elif kind == "read_only":
        reason = (
            f"the SQLite store {path} is read-only ({name}: {exc}); the hub needs to write the "
            "file, its -wal and -shm files and their directory"
        )
    elif kind == "busy":
        reason = f"the SQLite store {path} is locked by another process ({name}: {exc})"
    else:
        reason = f"the SQLite store {path} cannot be read or written ({name}: {exc})"
    return Fault(kind, reason, client_detail(kind), _RETRY_AFTER[kind])


def cannot_open(exc: BaseException, path: str) -> str:
    """One sentence for an error that stops the store from opening, for the operator."""
    name = getattr(exc, "sqlite_errorname", "") or type(exc).__name__
    code = _code(exc) if isinstance(exc, sqlite3.Error) else -1
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM):
        hint = (
            "the file, its directory or its file system is read-only; the hub must be able "
            "to write the file and create its -wal and -shm files beside it"
        )
    elif code == sqlite3.SQLITE_CANTOPEN:
        hint = (
            "the file or its -wal and -shm files cannot be opened or created (a directory that "
            "does not exist, or a directory or file system that cannot be written)"
        )
    elif code == sqlite3.SQLITE_FULL:
        hint = "the disk is full"
    elif code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        hint = "the file is not a cityhub SQLite database, or it is damaged"
    elif code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        hint = "another process holds a lock on it"
    else:
        hint = "see the error"
    return f"cannot open the SQLite store {path}: {hint} ({name}: {exc})"


__all__ = ["cannot_open", "fault_of"]
