"""A stand-in for a component the PostgreSQL store does not have yet: every call is answered
with OperationNotSupported (422, a ProblemDetails body), never a 500."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from cityhub.errors import OperationNotSupported


class NotOnPostgres:
    """Any ``await component.method(...)`` raises OperationNotSupported naming ``feature``."""

    def __init__(self, feature: str) -> None:
        self.feature = feature

    def __getattr__(self, name: str) -> Callable[..., Coroutine[Any, Any, NoReturn]]:
        if name.startswith("__"):
            raise AttributeError(name)

        async def refuse(*args: Any, **kwargs: Any) -> NoReturn:
            raise OperationNotSupported(
                f"{self.feature} is not available on the PostgreSQL store of this version "
                "of cityhub; it works on the SQLite store (store = sqlite:///PATH)"
            )

        return refuse


__all__ = ["NotOnPostgres"]
