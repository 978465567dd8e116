"""The ``cityhub`` command: ``serve`` (default), and ``--get`` smoke tests without a server."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import click

from cityhub import __version__
from cityhub.access_cli import keys, tenants
from cityhub.settings import SETTINGS, Settings, load_settings, redact_url

if TYPE_CHECKING:
    from starlette.applications import Starlette


@click.group(invoke_without_command=True)
@click.version_option(__version__, prog_name="cityhub")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """cityhub: an NGSI-LD context broker and data hub for smart cities."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve)


@cli.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 1026).")
@click.option("--store", "store", default=None, help="Store URL (default sqlite:///./cityhub.db).")
@click.option("--db", default=None, help="Shorthand for --store sqlite:///PATH.")
@click.option(
    "--config", default=None, type=click.Path(dir_okay=False), help="A cityhub.toml config file."
)
@click.option(
    "--get",
    "get_path",
    default=None,
    help="Don't serve: GET this path in-process, print the body, exit. Reads the store the "
    "options name, else ./cityhub.db if it exists, else an empty in-memory store (it creates "
    "no file).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    help="Worker processes sharing the port (more than 1 needs a PostgreSQL store).",
)
def serve(
    host: str | None,
    port: int | None,
    store: str | None,
    db: str | None,
    config: str | None,
    get_path: str | None,
    workers: int,
) -> None:
    """Start the hub (NGSI-LD API under /ngsi-ld/v1)."""
    settings = _hub_settings(host, port, store, db, config)
    if workers > 1 and get_path is None:
        from cityhub.store.open import is_postgres_url
        from cityhub.workers import run_workers

        if not is_postgres_url(settings.store):
            raise click.UsageError(
                "--workers above 1 needs a shared PostgreSQL store (--store postgresql://...): "
                "SQLite serves one process"
            )
        click.echo(
            f"cityhub {__version__}: {workers} workers, NGSI-LD API at http://{settings.host}:"
            f"{settings.port}/ngsi-ld/v1",
            err=True,
        )
        from cityhub.serving import BindError

        try:
            code = run_workers(settings, workers)
        except BindError as exc:
            raise click.ClickException(str(exc)) from exc
        sys.exit(code)
    if get_path is not None:
        if (
            not (store or db)
            and settings.store == _DEFAULT_STORE
            and not Path(_DEFAULT_DB).exists()
        ):
            settings = dataclasses.replace(settings, store="sqlite:///:memory:")
        # in-process: no address is served, whatever host says
        settings = dataclasses.replace(settings, host="127.0.0.1")
        sys.exit(asyncio.run(_get(_hub_app(settings), get_path)))

    from cityhub import serving

    app = _hub_app(settings)
    click.echo(
        f"cityhub {__version__}: NGSI-LD API at http://{settings.host}:{settings.port}"
        f"/ngsi-ld/v1 (store {redact_url(settings.store)})",
        err=True,
    )
    # a store that cannot open is logged by uvicorn as one sentence (api/front.py), exit 3
    try:
        serving.run(app, settings)
    except serving.BindError as exc:
        raise click.ClickException(str(exc)) from exc


_DEFAULT_STORE = Settings().store
_DEFAULT_DB = _DEFAULT_STORE.removeprefix("sqlite:///")


def _bind(settings: Settings) -> socket.socket:
    from cityhub.serving import BindError, bind

    try:
        return bind(settings.host, settings.port)
    except BindError as exc:
        raise click.ClickException(str(exc)) from exc


async def _get(app: object, path: str) -> int:
    import httpx

    from cityhub.errors import CityhubError

    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    try:
        async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
            async with httpx.AsyncClient(transport=transport, base_url="http://cityhub") as client:
                response = await client.get(path)
    except CityhubError as exc:  # e.g. a store that cannot be opened: one sentence
        raise click.ClickException(exc.detail) from exc
    click.echo(response.text)
    return 0 if response.status_code < 400 else 1


@cli.command()
@click.option("--store", "store", default=None, help="Store URL (default: the store setting).")
@click.option(
    "--config", default=None, type=click.Path(dir_okay=False), help="A cityhub.toml config file."
)
def migrate(store: str | None, config: str | None) -> None:
    """Bring the store's schema up to date (the hub also does this when it starts)."""
    try:
        settings = load_settings({"store": store}, config_file=config)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    from cityhub.store.open import migrate_store

    try:
        applied, current = asyncio.run(migrate_store(settings.store))
    except ValueError as exc:  # a store URL this version cannot open
        raise click.UsageError(str(exc)) from exc
    except Exception as exc:  # unreachable database, missing rights, newer schema
        detail = _without_url(exc, settings.store)
        raise click.ClickException(f"migration failed: {detail}") from exc
    for migration in applied:
        click.echo(f"applied {migration.version:04d} {migration.name}")
    click.echo(f"schema version {current}" + ("" if applied else " (already current)"))


def _without_url(exc: BaseException, url: str) -> str:
    """The error's text, with the store URL (and its password) shown redacted if it is in it."""
    text = str(exc)
    password = urlsplit(url).password if "://" in url else None
    text = text.replace(url, redact_url(url))
    return text.replace(password, "***") if password else text


@cli.command("settings")
def show_settings() -> None:
    """List every setting with its default, environment variable and help."""
    for s in SETTINGS:
        click.echo(f"{s.name:24} {s.env:32} {s.default!r:28} {s.help}")


# ---- cityhub demo ---------------------------------------------------------------------------

_F = TypeVar("_F", bound=Callable[..., Any])


def _options_of(command: click.Command, **helps: str) -> Callable[[_F], _F]:
    """Give a command another command's options (same names, types and parsing), with the
    help text changed where ``helps`` says."""

    def apply(f: _F) -> _F:
        chosen = []
        for param in command.params:
            if param.name in helps:
                param = copy.copy(param)
                if helps[param.name] and isinstance(param, click.Option):
                    param.help = helps[param.name]
                chosen.append(param)
        # click collects decorator params last-first; keep the original order on screen
        f.__click_params__ = [*getattr(f, "__click_params__", []), *reversed(chosen)]  # type: ignore[attr-defined]
        return f

    return apply


def _hub_settings(
    host: str | None,
    port: int | None,
    store: str | None,
    db: str | None,
    config: str | None,
    **more: object,
) -> Settings:
    """Settings from the options ``serve`` and ``demo`` share (``--db`` is a store shorthand),
    and ``more`` of them (None: not given)."""
    if db and not store:
        store = f"sqlite:///{db}"
    try:
        return load_settings(
            {"host": host, "port": port, "store": store, **more}, config_file=config
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _hub_app(settings: Settings) -> Starlette:
    from cityhub.app import create_app

    try:
        return create_app(settings)
    except ValueError as exc:  # e.g. a store URL this version cannot open
        raise click.UsageError(str(exc)) from exc


@cli.command()
@_options_of(
    serve,
    host="",
    port="",
    store="Store URL (default: a fresh temporary SQLite store, removed on exit).",
    db="Shorthand for --store sqlite:///PATH (a kept store: restarts resume the city).",
    config="",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Simulated seconds per real second (60: an hour a minute).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the simulated readings."
)
@click.option(
    "--backfill-days",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Days of history written on first start.",
)
@click.option(
    "--start",
    default=None,
    help="Simulated start time, ISO 8601 (default now; without a zone, Korean time).",
)
@click.option(
    "--mqtt",
    "mqtt",
    default=None,
    metavar="URL",
    help="The sensors publish over MQTT to this broker (mqtt://host:port), and the hub "
    "subscribes to it (default: they post to the hub's /iot/json).",
)
def demo(
    host: str | None,
    port: int | None,
    store: str | None,
    db: str | None,
    config: str | None,
    speed: float,
    seed: int,
    backfill_days: float,
    start: str | None,
    mqtt: str | None,
) -> None:
    """Start the hub with the Seongnam demo city, kept alive by a simulator whose sensors send
    their readings through the hub's IoT agent."""
    import shutil
    import tempfile

    from cityhub.demo.clock import parse_start
    from cityhub.demo.runner import DemoOptions, run_demo
    from cityhub.serving import StartupFailed

    try:
        start_at = parse_start(start) if start else None
    except ValueError as exc:
        raise click.UsageError(f"--start: {exc}") from exc
    if mqtt is not None:
        from cityhub.iot.mqtt import parse_broker_url

        try:
            parse_broker_url(mqtt)
        except ValueError as exc:
            raise click.UsageError(f"--mqtt: {exc}") from exc
    fresh = None
    if not (store or db):
        fresh = tempfile.mkdtemp(prefix="cityhub-demo-")
        store = f"sqlite:///{fresh}/seongnam.db"
    # SIGTERM stops the demo as Ctrl-C does: while it serves, run_demo shuts the hub down
    # gracefully and returns; before and after, KeyboardInterrupt; either way the finally
    # below removes the temporary store
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        settings = _hub_settings(host, port, store, db, config, iot_mqtt_url=mqtt)
        options = DemoOptions(
            speed=speed, seed=seed, backfill_days=backfill_days, start=start_at, mqtt=mqtt
        )
        sock = _bind(settings)
        app = _hub_app(settings)
        asyncio.run(run_demo(app, settings, options, echo=click.echo, sock=sock))
    except KeyboardInterrupt:
        pass
    except StartupFailed as exc:  # uvicorn has logged why (e.g. a store that cannot open)
        raise click.ClickException(f"{exc}; see the error above") from exc
    finally:
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
    click.echo("cityhub demo: stopped")


cli.add_command(tenants)
cli.add_command(keys)
