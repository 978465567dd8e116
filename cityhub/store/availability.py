"""Whether the store can serve now, and why not: one typed error, one log line per change.

A backend maps its own errors (SQLite's ``SQLITE_FULL``, PostgreSQL's SQLSTATE 53100...) to a
:class:`Fault` (``store/sqlite/faults.py``, ``store/postgres/faults.py``) and hands it to its
:class:`Availability`, which raises :class:`~cityhub.errors.StoreUnavailable` (a 503 with
``Retry-After``) for the caller. Nothing above ``store/`` sees a driver's exception.

The condition is logged when it begins (a warning, with the reason an operator can act on)
and when it ends (once), not per request. It ends when an operation succeeds and none has
failed for :attr:`Availability.settle` seconds, so a store that fails every other write
(a disk with a little space, a flapping network) stays "unavailable" instead of logging a
change per request; and a condition that comes back within a minute of its end doubles that
quiet time (up to five minutes), so a store that passes the probe but fails real writes (a
PostgreSQL disk full in one tablespace: the probe writes another table) logs a few lines an
hour, not two a minute. While it lasts, :meth:`Availability.probe_due` tells the backend when to
try a small write of its own (``check()``, called by ``/health``), so that the condition
clears without client traffic: a load balancer that took the hub out of rotation sees it
come back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cityhub.errors import StoreUnavailable
from cityhub.ngsild.datetime import now_iso

log = logging.getLogger("cityhub")


@dataclass(frozen=True)
class Fault:
    """A backend error that means "the store cannot serve now", in words for each reader.

    Attributes:
        kind: ``disk_full``, ``read_only``, ``unreachable``, ``busy`` or ``io_error``.
        reason: for the operator (the log and ``/health``): what and where, for example
            "the disk of the SQLite store /var/lib/cityhub/city.db is full".
        detail: for the client (the ProblemDetails ``detail``): what happened and what was
            done with the request, without paths or host names.
        retry_after: seconds after which a retry may succeed (``Retry-After``).
    """

    kind: str
    reason: str
    detail: str
    retry_after: int


@dataclass(frozen=True)
class StoreHealth:
    """The store's condition, as ``/health`` reports it."""

    available: bool
    reason: str | None = None
    since: str | None = None
    retry_after: int | None = None


#: a condition that begins again within this many seconds of the last one's end is flapping
FLAP_WINDOW = 60.0
#: the longest quiet time a flapping condition waits for
MAX_SETTLE = 300.0

_DETAILS = {
    "disk_full": "the hub's store has no disk space left",
    "read_only": "the hub's database is read-only at the moment",
    "io_error": "the hub's store cannot read or write its files at the moment",
    "busy": "the hub's database is busy",
}


def client_detail(kind: str) -> str:
    """The ProblemDetails ``detail`` of a fault of ``kind``."""
    if kind == "unreachable":
        return (
            "the hub cannot reach its database at the moment, so this request may not have "
            "been carried out; retry later (the hub reconnects by itself)"
        )
    what = _DETAILS.get(kind, "the hub's store cannot serve at the moment")
    return (
        f"{what}, so this request was not carried out and nothing of it was written; retry "
        "later (the hub's operator is told, and the hub recovers by itself)"
    )


class Availability:
    """The condition of one store (thread-safe: SQLite's writer and checkpoint threads report
    to it too).

    Args:
        settle: seconds without a failure before a success ends the condition.
        probe_interval: least seconds between two probes while the condition lasts.
        clock: monotonic seconds (tests pass a fake one).
    """

    def __init__(
        self,
        *,
        settle: float = 5.0,
        probe_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settle = settle
        self.probe_interval = probe_interval
        self.clock = clock
        #: the current fault, None while the store serves
        self.fault: Fault | None = None
        self._quiet = settle  # the settle time of the current condition (doubles on flapping)
        self._ended: float | None = None  # when the last condition ended
        self._since: str | None = None
        self._last_failure = 0.0
        self._last_probe = float("-inf")
        self._failures = 0
        self._lock = threading.Lock()

    def failed(self, fault: Fault) -> StoreUnavailable:
        """Record a failure; returns the error to raise (``raise availability.failed(f) from
        exc``). Logs only when the condition begins or its kind changes."""
        with self._lock:
            self._last_failure = self.clock()
            self._failures += 1
            current = self.fault
            self.fault = fault
            if current is None:
                self._since = now_iso()
                self._failures = 1
                again = self._ended is not None and self._last_failure - self._ended < FLAP_WINDOW
                self._quiet = min(self._quiet * 2, MAX_SETTLE) if again else self.settle
                log.warning(
                    "store unavailable%s: %s; requests that need it answer 503 until it "
                    "recovers (after %g s without a failure)",
                    " again" if again else "",
                    fault.reason,
                    self._quiet,
                )
            elif current.kind != fault.kind:
                log.warning("store unavailable, now because %s", fault.reason)
        return StoreUnavailable(fault.detail, retry_after=fault.retry_after)

    def succeeded(self) -> None:
        """An operation succeeded: end the condition if nothing failed for ``settle`` s.
        (Callers test ``fault is not None`` first: the common case costs nothing.)"""
        if self.fault is None:
            return
        with self._lock:
            fault = self.fault
            now = self.clock()
            if fault is None or now - self._last_failure < self._quiet:
                return
            self.fault = None
            self._ended = now
            log.info(
                "store available again (%d operations failed since %s): %s no longer holds",
                self._failures,
                self._since,
                fault.reason,
            )
            self._since = None

    def probe_due(self) -> bool:
        """True (at most once per ``probe_interval``) while the condition lasts: the
        caller then tries a small write, and reports it through :meth:`failed` or
        :meth:`succeeded`."""
        if self.fault is None:
            return False
        with self._lock:
            now = self.clock()
            if now - self._last_probe < self.probe_interval:
                return False
            self._last_probe = now
            return True

    def health(self) -> StoreHealth:
        fault = self.fault
        if fault is None:
            return StoreHealth(True)
        return StoreHealth(False, fault.reason, self._since, fault.retry_after)


__all__ = ["Availability", "Fault", "StoreHealth", "client_detail"]
