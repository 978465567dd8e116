"""The city services framework: services that listen to the hub's change stream and write
derived data back as ordinary NGSI-LD attributes and entities (air quality, alerts,
indicators; issue 16).

How a service plugs in (``cityhub.app`` wires it; see docs/architecture.md "City services"):

1. Subclass :class:`CityService` with a stable ``name``; override ``requests(change)`` (inside
   the write transaction: what work the change asks for, as :class:`WorkRequest`) and
   ``process(item, ctx)`` (after the commit: do it, write results with ``ctx.write``).
2. Add it to the list ``create_app`` hands to :class:`ServiceRunner`, behind a setting that
   can switch it off.

What the framework guarantees: the work item is written in the change's own transaction
(``Transaction.enqueue_work``, the ``service_work`` table of each backend, through
``cityhub.store.work.WorkQueue``), so a kill between commit and computation loses nothing;
items are leased, so several workers never do one twice at once; writes to one entity before
the work runs coalesce into one item (by ``key``); a service's own write-back never queues
work for itself, nor for any service already in its cause (the loop guard); a failure is
retried with backoff, then given up and logged. Work runs at least once: ``process`` must have
the same effect when repeated.

This package may import the store protocols and ``cityhub.ngsild``; never a backend, never
``cityhub.api``.
"""

from __future__ import annotations

from cityhub.services.runner import ServiceRunner
from cityhub.services.service import (
    CityService,
    ServiceContext,
    ServiceStats,
    WorkRequest,
    current_cause,
)

__all__ = [
    "CityService",
    "ServiceContext",
    "ServiceRunner",
    "ServiceStats",
    "WorkRequest",
    "current_cause",
]
