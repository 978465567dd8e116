"""Settings: one table that is also the documentation. The only module that reads the environment.

Precedence: CLI flag, then ``CITYHUB_<NAME>`` environment variable, then the config file
(``cityhub.toml`` in the working directory, or the file named by ``CITYHUB_CONFIG``), then default.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str

    @property
    def env(self) -> str:
        return "CITYHUB_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "127.0.0.1", "Address the HTTP server binds to."),
    Setting("port", 1026, "TCP port of the HTTP server (1026 is the NGSI-LD convention)."),
    Setting(
        "store",
        "sqlite:///./cityhub.db",
        "Store URL: sqlite:///PATH, sqlite:///:memory:, or postgresql://USER:PASSWORD@HOST:PORT/DB"
        " (PostGIS; several workers and machines may share it).",
    ),
    Setting("max_body_bytes", 1_048_576, "Largest request body accepted; larger gets 413."),
    Setting("default_limit", 20, "Entities per page when a query gives no limit."),
    Setting("max_limit", 1000, "Largest limit a query may ask for; more gets 403 TooManyResults."),
    Setting("batch_max_entities", 1000, "Most entities one batch operation may carry."),
    Setting("context_fetch_timeout", 5.0, "Seconds to wait for a remote @context."),
    Setting("context_max_bytes", 1_048_576, "Largest remote @context document accepted."),
    Setting(
        "federation_allowed_hosts",
        "127.0.0.1,::1,localhost",
        "Hosts context source registrations may send the hub to (distributed operations, "
        "docs/federation.md): comma-separated names, addresses and networks (10.20.0.0/16), "
        "or * for any. By default loopback only, so a registration cannot make the hub call "
        "into the city's network; empty: no source is ever asked.",
    ),
    Setting(
        "federation_timeout",
        5.0,
        "Seconds a context source has to answer a forwarded request; after it the hub answers "
        "without it, with an NGSILD-Warning.",
    ),
    Setting("federation_max_concurrency", 32, "Forwarded requests out at once, per worker."),
    Setting("federation_max_bytes", 16_777_216, "Largest answer accepted from a context source."),
    Setting(
        "federation_max_sources",
        100,
        "Context sources one read asks at most (the oldest matching registrations); when more "
        "match, the answer says so in an NGSILD-Warning. Writes go to every registration that "
        "takes them.",
    ),
    Setting(
        "federation_breaker_failures",
        5,
        "Failures in a row (no answer in time, no connection, a 5xx) after which a context "
        "source is skipped for federation_breaker_cooldown seconds, with an NGSILD-Warning; "
        "0: never skipped.",
    ),
    Setting(
        "federation_breaker_cooldown",
        30.0,
        "Seconds a context source that keeps failing is skipped before one request tries it again.",
    ),
    Setting(
        "federation_id",
        "",
        "This hub's name in the Via header of forwarded requests (loop detection); empty: a "
        "random name per worker. Give all workers of one hub one name.",
    ),
    Setting(
        "federation_split_entities",
        False,
        "Whether a distributed query whose request does not say (splitEntities) treats an "
        "entity as split across context sources: its filters (q, geo-query, scopeQ, attrs) are "
        "then not forwarded but applied to the merged entities (docs/federation.md).",
    ),
    Setting(
        "reader_threads",
        4,
        "SQLite reader threads for reads that may be long (scans, aggregations); lookups by id "
        "and index walks that stop at a page always run on the event loop. 0 runs every read "
        "there (a long query then holds up other requests).",
    ),
    Setting(
        "sqlite_mmap_mb",
        128,
        "MiB of the SQLite file that the event loop's connection (lookups by id, index walks) "
        "reads through a memory map instead of read calls (faster random reads; mapped pages "
        "count in RSS as shared, reclaimable file memory). 0 turns it off.",
    ),
    Setting(
        "temporal_instance_limit",
        1000,
        "Most attribute instances one temporal response carries (then 206 + Content-Range).",
    ),
    Setting("history", True, "Record attribute instances of every entity change (temporal API)."),
    Setting("history_retention_days", 0, "Days of history kept per tenant; 0 keeps everything."),
    Setting(
        "history_retention_by_tenant",
        "",
        "Per-tenant retention overriding history_retention_days: 'city1=30, city2=0'.",
    ),
    Setting("history_prune_interval", 3600.0, "Seconds between two history retention runs."),
    Setting(
        "notification_max_attempts",
        10,
        "Deliveries tried per notification (exponential backoff) before it is given up.",
    ),
    Setting(
        "notification_retry_max_delay",
        60.0,
        "Longest wait in seconds between two attempts of a notification (backoff 1, 2, 4 ... s).",
    ),
    Setting("public_url", "", "Base URL clients reach the hub at (for hosted @context URLs)."),
    Setting(
        "cors_origins",
        "",
        "Web origins whose pages may call the API from a browser (CORS), comma-separated "
        "scheme://host[:port], or * for any; empty (the default) turns CORS off.",
    ),
    Setting(
        "alerts_service",
        True,
        "The alert engine (issue 16): AlertRule entities and the default rules evaluated on "
        "every change, each episode an Alert entity. false switches it off.",
    ),
    Setting(
        "alerts_offline_interval",
        60.0,
        "Seconds between two checks for devices that stopped reporting (deviceOffline rules).",
    ),
    Setting("log_level", "info", "Log level: debug, info, warning, error."),
    Setting(
        "iot_mqtt_url",
        "",
        "MQTT broker the IoT agent subscribes to for device measures (mqtt://[user:password@]"
        "host[:port], or mqtts:// for TLS); empty (the default) leaves the MQTT transport off "
        "(HTTP /iot/d and /iot/json always answer).",
    ),
    Setting(
        "iot_mqtt_client_id",
        "cityhub-iot",
        "MQTT client id of the IoT agent: its persistent session (QoS 1 messages published "
        "while the hub was down are delivered when it reconnects) is kept under this id.",
    ),
    Setting(
        "iot_mqtt_subscribe",
        True,
        "Whether this process subscribes to the device topics (false: it only publishes "
        "commands). With --workers only the first worker subscribes; hubs on several machines "
        "sharing one database: let one subscribe, or give each its own iot_mqtt_client_id.",
    ),
    Setting(
        "iot_jsonld_context",
        "",
        "The @context (a URL) the IoT agent expands device attribute names and entity types "
        "with, as FIWARE's IOTA_JSON_LD_CONTEXT; empty (the default): the core context.",
    ),
    Setting(
        "iot_batch_max",
        500,
        "Most device messages the IoT agent commits in one transaction (they batch while the "
        "previous commit runs).",
    ),
    Setting(
        "iot_cache_seconds",
        1.0,
        "How often, in seconds, the IoT agent reads the store's provisioning version: its "
        "cache of config groups and devices holds until a change, and a change made through "
        "another worker is seen by the first message after such a read.",
    ),
    Setting(
        "iot_command_timeout",
        60.0,
        "Seconds a device has to answer a command before its <command>_status becomes EXPIRED.",
    ),
    Setting(
        "iot_lazy_timeout",
        3.0,
        "Seconds a device has to answer a read of its lazy attributes (then the entity is "
        "answered without them, with an NGSILD-Warning); keep it under federation_timeout.",
    ),
    Setting(
        "iot_device_refresh",
        60.0,
        "Seconds between two writes of a device's Device entity (dateLastValueReported); "
        "its first measure always writes it.",
    ),
    Setting("dashboard", True, "Serve the control tower (the city's dashboard) at /."),
    Setting(
        "time_zone",
        "Asia/Seoul",
        "The city's IANA time zone: the dashboard shows every time in it.",
    ),
    Setting(
        "dashboard_language", "ko", "The dashboard's language until a person picks one: ko, en."
    ),
    Setting(
        "dashboard_base_map_url",
        "",
        "Tile URL template of a base map under the dashboard's districts, such as "
        "https://tiles.city.example/{z}/{x}/{y}.png; empty (the default): no base map, the "
        "dashboard needs no tile server and no internet.",
    ),
    Setting(
        "dashboard_base_map_attribution",
        "",
        "The attribution the base map's licence asks for, shown in the map's corner.",
    ),
    Setting(
        "dashboard_max_streams",
        200,
        "Most live feeds (open dashboard screens) one hub process serves at once; more get 503.",
    ),
    Setting(
        "airquality_service",
        True,
        "Compute the Korean CAI (with the WHO 2021 comparison and health advice) of every "
        "AirQualityObserved entity of every tenant and write it back to the entity; false "
        "switches the service off.",
    ),
    Setting(
        "airquality_multi_pollutant",
        True,
        "Add AirKorea's multi-pollutant points to the CAI when two or more pollutants are "
        "unhealthy or worse.",
    ),
    Setting(
        "airquality_multi_pollutant_two",
        50,
        "Points added when exactly two pollutants are unhealthy or worse.",
    ),
    Setting(
        "airquality_multi_pollutant_three",
        75,
        "Points added when three or more pollutants are unhealthy or worse.",
    ),
    Setting(
        "indicators_service",
        True,
        "Compute district indicators (issue 16: PM2.5 exposure hours, CAI grades, congestion, "
        "parking, waste, streetlights, shelters, monitoring coverage) hourly and daily per "
        "AdministrativeArea as KeyPerformanceIndicator entities; false switches it off.",
    ),
    Setting(
        "holidays_country",
        "KR",
        "The country (ISO 3166-1, optionally -subdivision) whose public holidays are not "
        "working days: the indicators' weekday peaks skip them (Chuseok, election days, "
        "substitute holidays); empty: weekends only.",
    ),
    Setting(
        "indicators_lookback_hours",
        72,
        "Most hours of history the indicators compute back from the latest hour the readings "
        "closed (the first time, or after the hub was down).",
    ),
    Setting(
        "allow_open",
        False,
        "Serve without authentication on an address other than loopback (by default the hub "
        "refuses to start there until an API key exists or oidc_issuer is set).",
    ),
    Setting(
        "oidc_issuer",
        "",
        "OAuth2/OIDC issuer whose bearer JWTs identify callers (its iss claim), for tenants "
        "that name none of their own; empty: no tokens accepted.",
    ),
    Setting("oidc_jwks_url", "", "URL of that issuer's JSON Web Key Set (its jwks_uri)."),
    Setting("oidc_audience", "", "The aud a token must carry; empty: aud is not checked."),
    Setting(
        "access_cache_seconds",
        0.0,
        "Seconds a worker trusts its copy of keys and permissions before it rereads their "
        "version (one row); 0, the default, rereads it on every request, so a revocation holds "
        "at once on every worker.",
    ),
    Setting(
        "rate_limit",
        0.0,
        "Requests per second one API key or token subject may make (a token bucket per "
        "worker; over it 429 with Retry-After); 0 turns it off. Tenants may set their own.",
    ),
    Setting("rate_burst", 20, "Requests a caller may make at once above rate_limit."),
    Setting(
        "daily_quota",
        0,
        "Requests one API key or token subject may make per UTC day (per worker); 0 turns it "
        "off. Tenants may set their own.",
    ),
    Setting(
        "audit_retention_days",
        0,
        "Days of audit log kept; 0 keeps every line. Older lines are deleted every "
        "history_prune_interval seconds.",
    ),
    Setting(
        "caller_max_request_bytes",
        0,
        "Largest request body an API key, token subject or the public may send while access "
        "control is on (413 over it); 0: max_body_bytes only. Tenants may set their own.",
    ),
    Setting(
        "caller_max_response_bytes",
        0,
        "Largest answer such a caller may receive (403 TooManyResults over it: ask for a "
        "smaller page); 0 turns it off. Tenants may set their own.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """Typed, frozen settings. Build with :func:`load_settings`, or directly in tests."""

    host: str = "127.0.0.1"
    port: int = 1026
    #: may carry a password: left out of the repr; print ``redact_url(settings.store)``
    store: str = field(default="sqlite:///./cityhub.db", repr=False)
    max_body_bytes: int = 1_048_576
    default_limit: int = 20
    max_limit: int = 1000
    batch_max_entities: int = 1000
    context_fetch_timeout: float = 5.0
    context_max_bytes: int = 1_048_576
    federation_allowed_hosts: str = "127.0.0.1,::1,localhost"
    federation_timeout: float = 5.0
    federation_max_concurrency: int = 32
    federation_max_bytes: int = 16_777_216
    federation_max_sources: int = 100
    federation_breaker_failures: int = 5
    federation_breaker_cooldown: float = 30.0
    federation_id: str = ""
    federation_split_entities: bool = False
    reader_threads: int = 4
    sqlite_mmap_mb: int = 128
    temporal_instance_limit: int = 1000
    history: bool = True
    history_retention_days: int = 0
    history_retention_by_tenant: str = ""
    history_prune_interval: float = 3600.0
    notification_max_attempts: int = 10
    notification_retry_max_delay: float = 60.0
    public_url: str = ""
    cors_origins: str = ""
    alerts_service: bool = True
    alerts_offline_interval: float = 60.0
    log_level: str = "info"
    #: may carry a password: left out of the repr; print ``redact_url(settings.iot_mqtt_url)``
    iot_mqtt_url: str = field(default="", repr=False)
    iot_mqtt_client_id: str = "cityhub-iot"
    iot_mqtt_subscribe: bool = True
    iot_jsonld_context: str = ""
    iot_batch_max: int = 500
    iot_cache_seconds: float = 1.0
    iot_command_timeout: float = 60.0
    iot_lazy_timeout: float = 3.0
    iot_device_refresh: float = 60.0
    dashboard: bool = True
    time_zone: str = "Asia/Seoul"
    dashboard_language: str = "ko"
    dashboard_base_map_url: str = ""
    dashboard_base_map_attribution: str = ""
    dashboard_max_streams: int = 200
    airquality_service: bool = True
    airquality_multi_pollutant: bool = True
    airquality_multi_pollutant_two: int = 50
    airquality_multi_pollutant_three: int = 75
    indicators_service: bool = True
    holidays_country: str = "KR"
    indicators_lookback_hours: int = 72
    allow_open: bool = False
    oidc_issuer: str = ""
    oidc_jwks_url: str = ""
    oidc_audience: str = ""
    access_cache_seconds: float = 0.0
    rate_limit: float = 0.0
    rate_burst: int = 20
    daily_quota: int = 0
    audit_retention_days: int = 0
    caller_max_request_bytes: int = 0
    caller_max_response_bytes: int = 0

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"


_PASSWORD_PARAMETER = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` as it may be printed or logged: the password of its user information
    (``scheme://user:password@host``) and a ``password`` query parameter (libpq accepts one)
    become ``***``. Errs on the side of hiding: in a URL it cannot take apart, everything
    between ``://`` and the last ``@`` but the user name is hidden."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if not rest.startswith("/"):  # an authority: [user[:password]@]host[:port]
        userinfo, at, tail = rest.rpartition("@")
        if at and ":" in userinfo:
            rest = f"{userinfo.split(':', 1)[0]}:***@{tail}"
    return scheme + "://" + _PASSWORD_PARAMETER.sub(r"\1***", rest)


def _cast(setting: Setting, raw: Any) -> Any:
    kind = type(setting.default)
    try:
        if kind is bool and isinstance(raw, str):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"setting {setting.name}: cannot read {raw!r} as {kind.__name__}") from exc


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> Settings:
    """Settings from overrides (CLI flags), environment, config file and defaults, in that order.

    Raises:
        ValueError: an unknown setting in the config file or overrides, or a value of the
            wrong type.
    """
    env = os.environ if environ is None else environ
    path = config_file or env.get("CITYHUB_CONFIG")
    file_values: dict[str, Any] = {}
    candidate = Path(path) if path else Path("cityhub.toml")
    if candidate.is_file():
        with candidate.open("rb") as fh:
            data = tomllib.load(fh)
        file_values = dict(data.get("cityhub", data))
    elif path:
        raise ValueError(f"config file {path} does not exist")
    values: dict[str, Any] = {}
    for name, raw in file_values.items():
        if name not in _BY_NAME:
            raise ValueError(f"unknown setting {name!r} in {candidate}")
        values[name] = _cast(_BY_NAME[name], raw)
    for s in SETTINGS:
        if s.env in env:
            values[s.name] = _cast(s, env[s.env])
    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        if name not in _BY_NAME:
            raise ValueError(f"unknown setting {name!r}")
        values[name] = _cast(_BY_NAME[name], raw)
    return dataclasses.replace(Settings(), **values)


def time_zone_of(name: str) -> zoneinfo.ZoneInfo:
    """The city's time zone from the setting ``time_zone`` (an IANA name such as Asia/Seoul).

    Raises:
        ValueError: a name this machine's time zone database does not know.
    """
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"setting time_zone: {name!r} is not an IANA time zone (such as Asia/Seoul)"
        ) from None
