"""Notifications (ETSI GS CIM 009 v1.8.1 clause 5.8.6; data type 5.3.1; bindings 7.2 HTTP and
7.3 MQTT). May import ``cityhub.ngsild``, the store protocols (``cityhub.store.base``,
``.outbox``, ``.subscriptions``, ``.registrations``; never a backend) and ``cityhub.contexts``.

Never lost (DESIGN.md decision 4): :mod:`~cityhub.notify.trigger` is registered by the app as a
store tx hook; inside every entity write transaction, on either backend, it looks up the
subscriptions the change may concern (:mod:`~cityhub.notify.index`), asks
:mod:`~cityhub.notify.matcher` which it triggers and queues one outbox row per notification
through that same transaction (``cityhub.store.base.Transaction``: no SQL here, no backend
imported).
:mod:`~cityhub.notify.dispatcher` claims due rows, renders them (:mod:`~cityhub.notify.payload`,
linked entities from :mod:`~cityhub.linked`), delivers them through
:mod:`~cityhub.notify.senders` (HTTP POST, MQTT publish) and deletes them once delivered,
retrying with exponential backoff, so a crash or a receiver that is down loses nothing
(at-least-once). :mod:`~cityhub.notify.periodic` queues the rounds of ``timeInterval``
subscriptions. :mod:`~cityhub.notify.csource` does the same for registration subscriptions
(clause 5.11.7): the registration store calls it inside its transactions, and the dispatcher
delivers the ContextSourceNotifications it queues.

q is kept as sent in the subscription and read with the subscription's own @context: the
matcher takes term maps from a synchronous :class:`~cityhub.notify.matcher.TermMaps` cache that
the dispatcher fills through ``ContextService`` (at start and whenever subscriptions change);
a context with no remote documents is built on the spot, and one never resolved yet falls back
to the core context (logged).
"""
