"""``create_app``: wiring only. Nothing happens at import time; tests build as many apps as
they like."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from cityhub.access.control import AccessControl
from cityhub.airquality.cai import MultiPollutantRule
from cityhub.airquality.service import AirQualityService
from cityhub.alerts.rulebook import validate_rule_change
from cityhub.alerts.service import AlertService
from cityhub.api import (
    admin,
    batch,
    catalog,
    entities,
    entity_maps,
    exports,
    govkr,
    health,
    home,
    indicators,
    iot,
    iot_measures,
    jsonld_contexts,
    landing,
    ogcapi,
    openapi,
    publishing,
    registrations,
    subscriptions,
    temporal,
    types,
)
from cityhub.api.cors import parse_origins
from cityhub.api.front import Hub
from cityhub.api.problem import (
    handle_cityhub_error,
    handle_http_exception,
)
from cityhub.api.routing import IndexedRouter
from cityhub.contexts import ContextService
from cityhub.dashboard import Dashboard
from cityhub.errors import CityhubError
from cityhub.federation import Federation
from cityhub.federation.http11 import StreamTransport
from cityhub.indicators.service import IndicatorService
from cityhub.indicators.workdays import public_holidays
from cityhub.indicators.zones import validate_zone_mapping_change
from cityhub.iot.agent import IotAgent
from cityhub.iot.commands import Commands
from cityhub.iot.health import DeviceHealth
from cityhub.iot.ingest import Ingestor
from cityhub.iot.lazy import LAZY_HOST, LazyAttributes, LazyTransport
from cityhub.iot.mqtt import MqttTransport
from cityhub.ngsild.context import CORE_CONTEXT_URL
from cityhub.ngsild.entity import Terms
from cityhub.notify.csource import CsourceNotifier
from cityhub.notify.dispatcher import Dispatcher
from cityhub.notify.matcher import TermMaps
from cityhub.notify.periodic import PeriodicNotifier
from cityhub.notify.trigger import NotificationTrigger
from cityhub.opendata.service import Publishing
from cityhub.services import CityService, ServiceRunner
from cityhub.settings import Settings, time_zone_of
from cityhub.store.backend import Backend
from cityhub.store.open import open_backend


def city_services(settings: Settings) -> list[CityService]:
    """The city services the settings switch on (issue 16), each one line: a service that is
    off is not built, so it costs a write nothing."""
    services: list[CityService] = []
    if settings.airquality_service:
        services.append(
            AirQualityService(
                MultiPollutantRule(
                    settings.airquality_multi_pollutant,
                    settings.airquality_multi_pollutant_two,
                    settings.airquality_multi_pollutant_three,
                )
            )
        )
    if settings.alerts_service:
        services.append(
            AlertService(
                interval=settings.alerts_offline_interval,
                zone=time_zone_of(settings.time_zone),
            )
        )
    if settings.indicators_service:
        services.append(
            IndicatorService(
                settings.time_zone,
                settings.indicators_lookback_hours,
                public_holidays(settings.holidays_country),
            )
        )
    return services


def create_app(
    settings: Settings | None = None,
    backend: Backend | None = None,
    contexts: ContextService | None = None,
) -> Starlette:
    """The cityhub ASGI application.

    Args:
        settings: the hub's settings (defaults when None).
        backend: a backend to use instead of opening ``settings.store`` (not started: the
            app's lifespan starts and closes it).
        contexts: a @context service to use instead of a new one (tests inject fetchers).
    """
    settings = settings or Settings()
    the_backend = backend if backend is not None else open_backend(settings.store, settings)
    # notifications are queued in the transaction of the change that causes them
    the_term_maps = TermMaps()
    the_access = AccessControl(the_backend.access, settings, shared_quotas=the_backend.shared)
    the_backend.add_tx_hook(NotificationTrigger(the_term_maps, owners=the_access).hook)
    the_backend.set_registration_hooks(CsourceNotifier())
    # city services queue their work in the transaction of the change that asks for it
    the_services = city_services(settings)
    the_runner = (
        ServiceRunner(the_backend.store, the_backend.temporal, the_backend.work, the_services)
        if the_services
        else None
    )
    if the_runner is not None:
        the_backend.add_tx_hook(the_runner.hook)
    if (
        settings.alerts_service
    ):  # an AlertRule that is not a valid rule is refused by its write (400)
        the_backend.add_tx_hook(validate_rule_change)
    # a zone mapping of the gap that is not one is refused by its write (400)
    the_backend.add_tx_hook(validate_zone_mapping_change)
    the_contexts = contexts or ContextService(
        public_base=settings.base_url,
        fetch_timeout=settings.context_fetch_timeout,
        max_bytes=settings.context_max_bytes,
    )
    the_store = the_backend.store
    the_dispatcher = Dispatcher(
        the_store,
        the_backend.subscriptions,
        the_contexts,
        the_term_maps,
        max_attempts=settings.notification_max_attempts,
        max_delay=settings.notification_retry_max_delay,
        queue=the_backend.outbox,
        registrations=the_backend.registrations,
        periodic=PeriodicNotifier(
            the_store,
            the_backend.subscriptions,
            the_term_maps,
            the_backend.schedule,
            owners=the_access,
        ),
        owners=the_access,
    )
    # lazy attributes of devices: registrations whose endpoint the agent answers in-process,
    # through the federation's own forwarding (cityhub/iot/lazy.py)
    the_lazy = LazyAttributes(
        the_backend.iot,
        the_backend.registrations,
        the_contexts.term_map,
        settings.iot_jsonld_context or None,
        timeout=settings.iot_lazy_timeout,
    )
    the_federation = Federation(
        the_backend.registrations,
        settings,
        contexts=the_contexts.term_map,
        transport=LazyTransport(
            the_lazy, StreamTransport(max(1, settings.federation_max_concurrency))
        ),
    )
    the_federation.allowed = dataclasses.replace(
        the_federation.allowed, names=the_federation.allowed.names | {LAZY_HOST}
    )
    the_lazy.registered = the_federation.breakers.reset

    the_ingestor = Ingestor(the_store, max_batch=settings.iot_batch_max)

    async def core_terms() -> Terms:
        # device attribute names expand with the agent's @context (FIWARE's IOTA_JSON_LD_CONTEXT)
        return await the_contexts.term_map(settings.iot_jsonld_context or CORE_CONTEXT_URL)

    the_iot = IotAgent(
        the_backend.iot,
        the_ingestor,
        core_terms,
        DeviceHealth(settings.iot_device_refresh),
        cache_seconds=settings.iot_cache_seconds,
    )

    the_commands = Commands(
        the_backend.iot, the_ingestor, core_terms, timeout=settings.iot_command_timeout
    )
    the_iot.commands = the_commands
    the_iot.lazy = the_lazy
    the_store.add_listener(the_commands.on_commit)
    the_mqtt = (
        MqttTransport(
            the_iot,
            settings.iot_mqtt_url,
            settings.iot_mqtt_client_id,
            subscribe=settings.iot_mqtt_subscribe,
            max_bytes=settings.max_body_bytes,
        )
        if settings.iot_mqtt_url
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await the_backend.start()
        try:
            await the_access.check_exposure()
        except BaseException:
            await the_backend.close()
            raise
        await the_dispatcher.start()
        the_access.start()
        await the_ingestor.start()
        await the_commands.start()
        await the_iot.resync_lazy()
        if the_mqtt is not None:
            the_commands.publish = the_mqtt.publish
            the_lazy.publish = the_mqtt.publish
            await the_mqtt.start()
        if the_runner is not None:
            await the_runner.start()
        try:
            yield
        finally:
            if the_runner is not None:
                await the_runner.stop()
            if the_mqtt is not None:
                await the_mqtt.stop()
            await the_commands.stop()
            await the_ingestor.stop()
            await the_iot.close()
            await the_dispatcher.stop()
            await the_access.stop()
            await the_backend.close()
            await the_contexts.aclose()
            await the_federation.aclose()
            await the_lazy.aclose()

    # the control tower: its live feed hears the commits of every process sharing the store
    dashboard = Dashboard.build(settings) if settings.dashboard else None
    if dashboard is not None:
        the_store.add_shared_listener(dashboard.feed.on_shared)

    routes = [
        # first: paths outside /ngsi-ld/v1/ are matched in order (api/routing.py), and device
        # messages are the most frequent of them
        *iot_measures.routes,
        # open data (anyone's reads: outside /ngsi-ld/v1/, so matched in order, early)
        *ogcapi.routes,
        *exports.routes,
        *catalog.routes,
        *govkr.routes,
        *landing.routes,
        *(dashboard.routes() if dashboard is not None else []),
        *health.routes,
        *entities.routes,
        *batch.routes,
        *types.routes,
        *jsonld_contexts.routes,
        *subscriptions.routes,
        *registrations.routes,
        *entity_maps.routes,
        *temporal.routes,
        *home.routes,
        *indicators.routes,
        *iot.routes,
        *admin.routes,
        *publishing.routes,
        *openapi.routes,
    ]
    app = Hub(
        routes=routes,
        lifespan=lifespan,
        cors_origins=parse_origins(settings.cors_origins),
        access=the_access,
        shortcuts=iot_measures.shortcuts,
        exception_handlers={
            CityhubError: handle_cityhub_error,
            HTTPException: handle_http_exception,
        },
    )
    # the same routes, tried by method and first segment (api/routing.py)
    app.router = IndexedRouter(routes, prefix="/ngsi-ld/v1/", lifespan=lifespan)
    app.state.settings = settings
    app.state.backend = the_backend
    app.state.store = the_store
    app.state.temporal = the_backend.temporal
    app.state.subscriptions = the_backend.subscriptions
    app.state.registrations = the_backend.registrations
    app.state.federation = the_federation
    app.state.notifier = the_dispatcher
    app.state.services = the_runner
    app.state.contexts = the_contexts
    app.state.iot = the_iot
    app.state.iot_mqtt = the_mqtt
    app.state.dashboard = dashboard
    # what the server calls before it waits for open responses to end (serving.HubServer):
    # the dashboard's live feeds would otherwise keep it waiting forever
    app.state.before_shutdown = [dashboard.feed.close] if dashboard is not None else []
    app.state.access = the_access
    app.state.publishing = Publishing(the_backend.publishing, the_store, settings.base_url)
    logging.getLogger("cityhub").setLevel(settings.log_level.upper())
    return app
