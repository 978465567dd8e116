"""NGSI-LD date-times (clause 4.6.3): ISO 8601 in UTC, validated and formatted one way."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from cityhub.errors import BadRequestData

# ASCII digits only (\d would take "２０２６" too)
_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$", re.ASCII
)


def now_iso() -> str:
    """The current time as NGSI-LD writes system times: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    # isoformat of an aware UTC time ends in +00:00 (the year is four digits: it is now)
    return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def format_datetime(value: datetime) -> str:
    """Format an aware datetime in UTC with microseconds and a ``Z``."""
    u = value.astimezone(UTC)  # fields, not strftime: several times cheaper per call
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f".{u.microsecond:06d}Z"
    )


def parse_datetime(text: object, what: str, *, zone_required: bool = False) -> datetime:
    """Parse an ISO 8601 date-time; a naive one is taken as UTC unless ``zone_required``.

    Args:
        text: the date-time.
        what: its name, for the detail of an error.
        zone_required: refuse a date-time with neither ``Z`` nor an offset. NGSI-LD
            date-times are UTC (clause 4.6.3); without a zone, ISO 8601 reads a local time of
            an unknown place, and in Seongnam (UTC+9) taking it as UTC silently moves a
            query's window by nine hours. Query parameters (``timeAt``, ``endTimeAt``) ask
            for it; stored values keep the older leniency.

    Raises:
        BadRequestData: ``text`` is not a date-time; ``what`` names it in the detail.
    """
    match = _ISO.match(text) if isinstance(text, str) else None
    if match is None:
        raise BadRequestData(
            f"{what} must be an ISO 8601 date-time such as 2024-05-01T09:00:00Z, got {text!r}"
        )
    assert isinstance(text, str)
    if zone_required and match.group(3) is None:
        raise BadRequestData(
            f"{what} {text!r} has no time zone: end it with Z for UTC or with an offset such "
            "as +09:00 (NGSI-LD date-times are UTC, clause 4.6.3)"
        )
    cleaned = text
    frac = re.search(r"\.([0-9]+)", cleaned)
    if frac and len(frac.group(1)) > 6:  # Python takes at most microseconds
        cleaned = cleaned.replace(frac.group(0), "." + frac.group(1)[:6])
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError as exc:
        raise BadRequestData(f"{what} is not a valid date-time: {text!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def check_future(text: object, what: str, now: datetime) -> str:
    """A date-time later than ``now`` (``expiresAt`` of subscriptions, clause 5.2.12, and of
    registrations, clause 5.2.9), returned unchanged.

    Raises:
        BadRequestData: not a date-time, or not in the future.
    """
    if parse_datetime(text, what) <= now:
        raise BadRequestData(f"{what} {text!r} is not in the future")
    return str(text)


def check_datetime(text: object, what: str) -> str:
    """Validate a date-time and return it unchanged (clients get back what they sent)."""
    parse_datetime(text, what)
    assert isinstance(text, str)
    return text
