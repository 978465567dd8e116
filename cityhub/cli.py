"""The ``cityhub`` command: ``serve`` (default), and ``--get`` smoke tests without a server."""

from __future__ import annotations

import asyncio
import sys

import click

from cityhub import __version__
from cityhub.settings import SETTINGS, load_settings


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
    help="Don't serve: GET this path in-process, print the body, exit.",
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
    if db and not store:
        store = f"sqlite:///{db}"
    try:
        settings = load_settings({"host": host, "port": port, "store": store}, config_file=config)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
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
        sys.exit(run_workers(settings, workers))
    from cityhub.app import create_app

    try:
        app = create_app(settings)
    except ValueError as exc:  # e.g. a store URL this version cannot open
        raise click.UsageError(str(exc)) from exc
    if get_path is not None:
        sys.exit(asyncio.run(_get(app, get_path)))
    import uvicorn

    click.echo(
        f"cityhub {__version__}: NGSI-LD API at http://{settings.host}:{settings.port}"
        f"/ngsi-ld/v1 (store {settings.store})",
        err=True,
    )
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False
    )


async def _get(app: object, path: str) -> int:
    import httpx

    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
        async with httpx.AsyncClient(transport=transport, base_url="http://cityhub") as client:
            response = await client.get(path)
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
    from cityhub.store.open import is_postgres_url

    if not is_postgres_url(settings.store):
        raise click.UsageError(
            "migrate is for PostgreSQL stores; a SQLite store creates its schema when it opens"
        )
    from cityhub.store.postgres.migrate import run_migrations

    try:
        applied, current = asyncio.run(run_migrations(settings.store))
    except Exception as exc:  # unreachable database, missing rights, newer schema
        raise click.ClickException(f"migration failed: {exc}") from exc
    for migration in applied:
        click.echo(f"applied {migration.version:04d} {migration.name}")
    click.echo(f"schema version {current}" + ("" if applied else " (already current)"))


@cli.command("settings")
def show_settings() -> None:
    """List every setting with its default, environment variable and help."""
    for s in SETTINGS:
        click.echo(f"{s.name:24} {s.env:32} {s.default!r:28} {s.help}")
