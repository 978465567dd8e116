"""Whether anything committed to an SQLite database since the last look, for the price of
one small read: access control asks on every request whether its copy of the keys and
permissions may be stale (``cityhub.access.control``), and a query of the version row, the
other way to know, costs ten times more.

In WAL mode every connection of every process shares the WAL-index, the ``-shm`` file next
to the database. Its header (SQLite's file format, "WAL-Index Format": the first 48 bytes,
a change counter incremented with each transaction, the last valid frame, the salts and
checksums) is rewritten by every commit and every reset of the WAL after a checkpoint, so
while it reads the same as last time, nothing was committed in between. A read of it that
meets a header being written differs too, and only costs the real read.

The file is read with ``pread``, not mapped: a mapping of a file that another process
truncates (SQLite resets the ``-shm`` when the first connection opens it) would crash the
process; a read merely comes back short. A file that was deleted (SQLite deletes it when the
last connection closes) is let go, and the next look opens the new one.
"""

from __future__ import annotations

import os
import time

#: the first copy of the WAL-index header
_HEADER = 48
#: after the file could not be opened, try again at most this often, and see whether the
#: open one was deleted at most this often (seconds)
_RETRY = 1.0


class CommitWatch:
    """The WAL-index header of one database file (see the module's docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path + "-shm"
        self._fd: int | None = None
        self._retry_at = 0.0
        self._check_at = 0.0

    def marker(self) -> bytes | None:
        """Bytes that differ after any commit by any connection, or None when they cannot be
        read (no ``-shm`` yet, not in WAL mode): then the caller reads what it needs."""
        fd = self._fd
        if fd is None:
            now = time.monotonic()
            if now < self._retry_at:
                return None
            try:
                fd = self._fd = os.open(self.path, os.O_RDONLY)
            except OSError:
                self._retry_at = now + _RETRY
                return None
        try:
            header = os.pread(fd, _HEADER, 0)
            now = time.monotonic()
            if now >= self._check_at:
                self._check_at = now + _RETRY
                if os.fstat(fd).st_nlink == 0:
                    # deleted, after every connection had closed (while the store runs, its
                    # own stay open: belt and braces): this file no longer moves
                    self.close()
                    return None
        except OSError:
            return None
        return header if len(header) == _HEADER else None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


__all__ = ["CommitWatch"]
