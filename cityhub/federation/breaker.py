"""A circuit breaker per context source (issue 23: a source never stalls the hub).

A source that keeps failing (no answer in time, no connection, a 5xx answer) is not asked
again for ``federation_breaker_cooldown`` seconds once it failed
``federation_breaker_failures`` times in a row: each request meanwhile answers at once
without it, with an ``NGSILD-Warning`` saying so (clause 6.3.17), instead of waiting out its
timeout. After the cool-down one request tries it again ("half-open"): an answer closes the
breaker, a failure opens it for another cool-down.

A registration's own ``management.cooldown`` (clause 5.2.34: "Minimum period of time in
milliseconds which shall elapse before attempting to make a subsequent forwarded request to
the same endpoint after failure. If requests are received before the cooldown period has
expired, a timeout error response for the registration is automatically returned") keeps
its endpoint out after *each* failure for that long, whatever the count.

A registration created or changed for an endpoint closes its breaker (:meth:`Breakers.reset`):
the operator has (re)declared the source, so the new registration is judged on its own
answers, not on a record its endpoint earned under another registration. The ETSI suite
needs it as a city does: its mock source, one endpoint for every test, never answers the
requests it has no stub for, and without the reset the failures of earlier tests kept later
tests' stubbed sources from being asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _State:
    failures: int = 0
    open_until: float = 0.0
    probing: bool = False
    #: a registration's management.cooldown keeps the endpoint out until then
    rest_until: float = 0.0


class Breakers:
    """The breakers of one hub's sources, by endpoint.

    Args:
        threshold: failures in a row that open a breaker (0: never).
        cooldown: seconds an open breaker keeps its source out.
        clock: monotonic seconds (tests move it).
    """

    def __init__(
        self, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self._states: dict[str, _State] = {}

    def allow(self, endpoint: str) -> bool:
        """Whether ``endpoint`` may be asked now (its breaker closed, or half-open and no
        other request is trying it)."""
        state = self._states.get(endpoint)
        if state is not None and self.clock() < state.rest_until:
            return False
        if state is None or self.threshold <= 0 or state.failures < self.threshold:
            return True
        if self.clock() >= state.open_until and not state.probing:
            state.probing = True
            return True
        return False

    def succeeded(self, endpoint: str) -> None:
        self._states.pop(endpoint, None)

    def resting(self, endpoint: str) -> bool:
        """Whether ``endpoint`` is kept out by a registration's cooldown (not the breaker)."""
        state = self._states.get(endpoint)
        return state is not None and self.clock() < state.rest_until

    def failed(self, endpoint: str, cooldown: float | None = None) -> None:
        """Count a failure of ``endpoint``; ``cooldown``: seconds its registration asks to
        wait before the next request (``management.cooldown``)."""
        state = self._states.setdefault(endpoint, _State())
        state.failures += 1
        state.probing = False
        if cooldown:
            state.rest_until = max(state.rest_until, self.clock() + cooldown)
        if self.threshold > 0 and state.failures >= self.threshold:
            state.open_until = self.clock() + self.cooldown
        if len(self._states) > 10_000:  # bounded: the oldest entries go first
            del self._states[next(iter(self._states))]

    def reset(self, endpoint: str) -> None:
        """Forget ``endpoint``'s failures: a registration for it was created or changed."""
        self._states.pop(endpoint, None)

    def failures(self, endpoint: str) -> int:
        state = self._states.get(endpoint)
        return state.failures if state else 0
