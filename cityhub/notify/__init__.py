"""Notifications (ETSI GS CIM 009 v1.8.1 clause 5.8.6; data type 5.3.1; HTTP binding 7.2).

Never lost (DESIGN.md decision 4): ``cityhub.store.sqlite.outbox`` runs inside every entity
write transaction, asks :mod:`cityhub.notify.matcher` which subscriptions the change triggers and
inserts one outbox row per notification in that same transaction. :mod:`cityhub.notify.dispatcher`
claims due rows, renders them with the subscription's @context, delivers them (HTTP now; MQTT
not yet) and deletes them once delivered, retrying with exponential backoff, so a crash or a
receiver that is down loses nothing (at-least-once).

q is kept as sent in the subscription and read with the subscription's own @context: the
matcher takes term maps from a synchronous :class:`~cityhub.notify.matcher.TermMaps` cache that
the dispatcher fills through ``ContextService`` (at start and whenever subscriptions change);
a context with no remote documents is built on the spot, and one never resolved yet falls back
to the core context (logged).
"""
