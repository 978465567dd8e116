"""Linked entities for notifications (``notification.join`` inline | flat, ``joinLevel``;
clause 4.5.23): the same traversal as retrieval's, :func:`cityhub.linked.fetch_linked`, which
the dispatcher uses through this name."""

from __future__ import annotations

from cityhub.linked import fetch_linked

__all__ = ["fetch_linked"]
