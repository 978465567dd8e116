"""What the routes of distributed reads share (``cityhub.federation``): who asks, from the
request, and the ``NGSILD-Warning`` header of an answer (clause 6.3.17)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from cityhub.api import negotiation as neg
from cityhub.api.params import local_of
from cityhub.federation import Ask
from cityhub.federation.subscriptions import SubscriptionForwarding

log = logging.getLogger("cityhub.federation")


def ask_of(request: Request, tenant: str, *, narrowed: bool) -> Ask:
    """The :class:`~cityhub.federation.Ask` of ``request``: its tenant, ``@context`` URL and
    ``Via``; ``local`` when it says ``local=true`` or its caller's access is ``narrowed`` to
    some entities (what a source answers could not be checked against it).

    Raises:
        BadRequestData: ``local`` is not true or false.
    """
    return Ask(
        tenant=tenant,
        context=neg.link_context(request),
        via=request.headers.get("via"),
        local=local_of(request.query_params) or narrowed,
        headers=request.headers,
    )


def warning_headers(warnings: Sequence[str]) -> dict[str, str]:
    """``NGSILD-Warning`` with one value per source that failed, or nothing."""
    return {"NGSILD-Warning": ", ".join(warnings)} if warnings else {}


def subscription_forwarding(request: Request) -> SubscriptionForwarding:
    """Distributed subscriptions (v1.9.1 clauses 5.8.1.4, 5.8.5.4, 5.8.6) over the app's
    federation as it is now."""
    state = request.app.state
    notifier = getattr(state, "notifier", None)
    return SubscriptionForwarding(
        state.federation,
        state.backend.remote_subscriptions,
        state.subscriptions,
        state.store,
        state.contexts.term_map,
        wake=notifier.wake if notifier is not None else lambda: None,
    )


def public_base_url(request: Request) -> str:
    """Where context sources reach this hub: setting public_url, else the address the caller
    used."""
    public: str = request.app.state.settings.public_url
    return public.rstrip("/") or str(request.base_url).rstrip("/")


def later(response: Response, work: Callable[[], Awaitable[list[str]]], what: str) -> None:
    """Run ``work`` once ``response`` is sent (forwarding a subscription's copies: a source
    never delays the caller, and may answer only after the caller has its answer); the
    warnings of the sources that failed are logged."""

    async def run() -> None:
        try:
            for text in await work():
                log.warning("%s: %s", what, text)
        except Exception:
            log.exception("%s: forwarding to context sources failed", what)

    response.background = BackgroundTask(run)
