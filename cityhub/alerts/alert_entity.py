"""Alert actions as Smart Data Models ``Alert`` entities (dataModel.Alert 0.0.3, DOMAIN.md §2.2),
in the store's internal form. Pure.

An episode is one entity: ``open`` creates it (``category``, ``subCategory``, ``severity``,
``alertSource`` (a Relationship to the source entity), ``dateIssued``, ``validFrom``, a
``description`` LanguageProperty in Korean and English with the advice for sensitive groups
where the rule has some, ``data`` with the rule, value and threshold, and the source's
``location``); ``update`` rewrites the value, peak and description while it holds; ``close``
sets ``validTo``. Open alerts are those without ``validTo`` (``q=!validTo``).

The names are expanded with the NGSI-LD core @context (``location``, ``description`` and
``data`` are core terms, the others fall to its default vocabulary), so a client using the core
@context (as the demo does) reads them by their Smart Data Models short names.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from cityhub.alerts.episode import Action, is_number
from cityhub.alerts.observe import display_name, instance
from cityhub.alerts.rules import Rule
from cityhub.ngsild.context import TermMap, build_term_map
from cityhub.ngsild.datetime import format_datetime
from cityhub.ngsild.ops import new_entity

Entity = dict[str, Any]
_CORE: list[TermMap] = []
_UNITS = {"GQ": "µg/m³", "GP": "mg/m³", "59": "ppm", "61": "ppb", "CEL": "°C", "C62": "", "P1": "%"}


def iri(name: str) -> str:
    """A name as the core @context expands it."""
    if not _CORE:
        _CORE.append(build_term_map(None, {}))
    return _CORE[0].expand(name)


ALERT_TYPE = iri("Alert")


def iso(seconds: float) -> str:
    return format_datetime(datetime.fromtimestamp(seconds, UTC))


def _date_time(seconds: float) -> dict[str, Any]:
    return {"type": "Property", "value": {"@type": "DateTime", "@value": iso(seconds)}}


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _when(seconds: float, zone: tzinfo) -> str:
    """A time as the city reads it: ``2027-01-15 17:00 KST`` in Asia/Seoul."""
    return datetime.fromtimestamp(seconds, zone).strftime("%Y-%m-%d %H:%M %Z")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g}"


def _shown(value: Any, unit: str) -> str:
    if is_number(value):
        text = f"{float(value):.4g}"
    else:
        text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return f"{text} {unit}".rstrip()


def description(
    action: Action, source: Mapping[str, Any] | None, zone: tzinfo = UTC
) -> dict[str, str]:
    """The alert's text in Korean and English: what, where, the value against the rule,
    since when (and until when once closed), then the advice for sensitive groups; the times
    in ``zone``, the city's time zone."""
    rule = action.rule
    names = display_name(source)
    where_ko = names.get("ko") or names.get("en") or action.source
    where_en = names.get("en") or names.get("ko") or action.source
    title_ko = rule.title.get("ko") or rule.title.get("en", "")
    title_en = rule.title.get("en") or rule.title.get("ko", "")
    unit = ""
    if rule.attribute is not None and source is not None:
        inst = instance(source, rule.attribute)
        unit = _UNITS.get(str((inst or {}).get("unitCode")), "")
    since = _when(action.valid_from, zone)
    if rule.kind == "deviceOffline":
        last = _when(float(action.value), zone) if is_number(action.value) else "?"
        ko = f"{title_ko}: {where_ko}, {last} 이후 보고 없음 ({since}부터)."
        en = f"{title_en}: {where_en} has not reported since {last} (offline from {since})."
    else:
        measured = f"{rule.attribute} {_shown(action.value, unit)}"
        if rule.kind == "window":
            measured = f"{rule.attribute} ({rule.aggregate}, {_hours(rule.window)} h) "
            measured += _shown(action.value, unit)
        criterion = _criterion(rule)
        ko = f"{title_ko}: {where_ko}, {measured} ({criterion}), {since}부터."
        en = f"{title_en}: {where_en}, {measured} ({criterion}), since {since}."
        if action.peak is not None and not _equal(action.peak, action.value):
            ko += f" 최고 {_shown(action.peak, unit)}."
            en += f" Peak {_shown(action.peak, unit)}."
    if action.valid_to is not None:
        ko += f" {_when(action.valid_to, zone)} 해제."
        en += f" Cleared at {_when(action.valid_to, zone)}."
    if rule.advice:
        ko += " 민감군: " + rule.advice.get("ko", rule.advice.get("en", ""))
        en += " Sensitive groups: " + rule.advice.get("en", rule.advice.get("ko", ""))
    return {"ko": ko, "en": en}


def _equal(a: Any, b: Any) -> bool:
    return is_number(a) and is_number(b) and float(a) == float(b)


def _criterion(rule: Rule) -> str:
    if rule.kind == "outOfRange":
        return f"range {_bound(rule.minimum)}..{_bound(rule.maximum)}"
    if rule.kind == "stuckValue":
        return f"{rule.repeat_count} identical readings"
    threshold = rule.threshold_attribute or _shown(rule.threshold, "")
    text = f"{rule.operator} {threshold}"
    if rule.kind == "rateOfChange":
        text = f"change per hour {text}"
    if rule.kind == "window":
        text = f"{rule.aggregate} of {_hours(rule.window)} h {text}"
    if rule.kind == "ratio":
        text += f", {rule.ratio_attribute}/{rule.attribute} < {rule.ratio_below:g}"
    if rule.enter_after:
        text += f", {_minutes(rule.enter_after)} min"
    return text


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g}"


def _bound(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _data(action: Action) -> dict[str, Any]:
    rule = action.rule
    data: dict[str, Any] = {"rule": rule.id, "ruleKind": rule.kind}
    if rule.attribute is not None:
        data["attribute"] = rule.attribute
    if rule.kind == "window":
        data["aggregate"], data["windowSeconds"] = rule.aggregate, rule.window
    if action.value is not None and rule.kind != "deviceOffline":
        data["value"] = action.value if is_number(action.value) else str(action.value)
    if action.peak is not None:
        data["peak"] = action.peak
    if rule.kind == "deviceOffline" and is_number(action.value):
        data["lastReport"] = iso(float(action.value))
    elif rule.threshold is not None:
        data["threshold"] = rule.threshold
    return data


def new_alert(
    action: Action, source: Mapping[str, Any] | None, now: str, zone: tzinfo = UTC
) -> Entity:
    """The Alert entity an ``open`` action creates (stamped with ``now``; its description's
    times in ``zone``)."""
    rule = action.rule
    attrs: dict[str, list[dict[str, Any]]] = {
        iri("category"): [_prop(rule.category)],
        iri("subCategory"): [_prop(rule.sub_category)],
        iri("severity"): [_prop(rule.severity)],
        iri("alertSource"): [{"type": "Relationship", "object": action.source}],
        iri("dateIssued"): [_date_time(action.at)],
        iri("validFrom"): [_date_time(action.valid_from)],
        iri("description"): [
            {"type": "LanguageProperty", "languageMap": description(action, source, zone)}
        ],
        iri("data"): [_prop(_data(action))],
    }
    if source is not None:
        location = instance(source, "location")
        if location is not None and location.get("type") == "GeoProperty":
            attrs[iri("location")] = [{"type": "GeoProperty", "value": location["value"]}]
    return new_entity({"id": action.alert_id, "type": [ALERT_TYPE], "attrs": attrs}, now)


def changed_alert(
    current: Entity,
    action: Action,
    source: Mapping[str, Any] | None,
    now: str,
    zone: tzinfo = UTC,
) -> Entity:
    """The Alert entity after an ``update`` or ``close`` action (a copy; ``current`` is left
    as it was)."""
    entity = copy.deepcopy(current)
    attrs = entity["attrs"]
    updates: dict[str, dict[str, Any]] = {
        iri("description"): {
            "type": "LanguageProperty",
            "languageMap": description(action, source, zone),
        },
        iri("data"): _prop(_data(action)),
    }
    if action.valid_to is not None:
        updates[iri("validTo")] = _date_time(action.valid_to)
    for name, inst in updates.items():
        old = attrs.get(name) or [{}]
        inst["createdAt"] = old[0].get("createdAt", now)
        inst["modifiedAt"] = now
        attrs[name] = [inst]
    entity["modifiedAt"] = now
    return entity


def is_open(alert: Mapping[str, Any]) -> bool:
    """Whether the Alert has no ``validTo`` yet."""
    return iri("validTo") not in alert.get("attrs", {})


__all__ = ["ALERT_TYPE", "changed_alert", "description", "is_open", "iri", "iso", "new_alert"]
