"""KeyValuePair (ETSI GS CIM 009 v1.8.1 clause 5.2.22): the ``{"key": ..., "value": ...}``
objects of an endpoint's ``receiverInfo`` and ``notifierInfo`` (clause 5.2.15) and of a
registration's ``contextSourceInfo`` (clause 5.2.9).

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from cityhub.errors import BadRequestData


def check_key_values(value: Any, what: str) -> list[dict[str, str]]:
    """An array of KeyValuePair: each element exactly ``key`` (a non-empty string) and
    ``value`` (a string). The array may be empty: the data types give it no minimum.

    Args:
        value: the member as the client sent it.
        what: the member's name for the error detail (``notification.endpoint.receiverInfo``).

    Returns:
        Copies of the pairs.

    Raises:
        BadRequestData: not an array, or an element is not such a pair.
    """
    if not isinstance(value, list):
        raise BadRequestData(f'{what} must be an array of {{"key": string, "value": string}}')
    for item in value:
        if (
            not isinstance(item, dict)
            or set(item) != {"key", "value"}
            or not isinstance(item["key"], str)
            or not item["key"]
            or not isinstance(item["value"], str)
        ):
            raise BadRequestData(
                f'{what} must be an array of {{"key": string, "value": string}} with a '
                f"non-empty key (clause 5.2.22), got {item!r}"
            )
    return [dict(item) for item in value]
