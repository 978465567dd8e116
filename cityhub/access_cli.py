"""``cityhub tenants ...`` and ``cityhub keys ...``: the admin API from the command line, on
the store the settings name (the hub may be running: every worker sees the change on its next
request). A key's text is printed once, by ``keys create``; nothing else prints a secret."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click
import orjson

from cityhub.errors import CityhubError
from cityhub.settings import Settings, load_settings
from cityhub.store.access import ApiKeyRecord, TenantRecord

if TYPE_CHECKING:
    from cityhub.access.control import AccessControl

T = TypeVar("T")

_store_option = click.option(
    "--store", "store", default=None, help="Store URL (default: the store setting)."
)
_config_option = click.option(
    "--config", default=None, type=click.Path(dir_okay=False), help="A cityhub.toml config file."
)


def _settings(store: str | None, config: str | None) -> Settings:
    try:
        return load_settings({"store": store}, config_file=config)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _run(settings: Settings, job: Callable[[AccessControl], Awaitable[T]]) -> T:
    """``job`` with the access control of the settings' store, opened and closed around it."""
    from cityhub.access.control import AccessControl
    from cityhub.store.open import open_backend

    async def main() -> T:
        backend = open_backend(settings.store, settings)
        await backend.store.start()
        try:
            return await job(AccessControl(backend.access, settings))
        finally:
            await backend.store.close()

    try:
        return asyncio.run(main())
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except CityhubError as exc:
        raise click.ClickException(exc.detail) from exc


def _tenant_line(record: TenantRecord) -> str:
    settings = orjson.dumps(record.settings).decode() if record.settings else "{}"
    return f"{record.name:24} {record.created_at:28} {settings}"


def _key_line(record: ApiKeyRecord) -> str:
    state = "revoked " + record.revoked_at if record.revoked_at else "active"
    if record.expires_at and not record.revoked_at:
        state += f" until {record.expires_at}"
    tenant = record.tenant or "(default)"
    role = "admin" if record.admin else "-"
    return f"chk_{record.key_id}_…  {tenant:16} {role:6} {record.name:20} {state}"


@click.group()
def tenants() -> None:
    """Create, list, describe and delete managed tenants."""


@tenants.command("create")
@click.argument("name")
@click.option("--settings", "settings_json", default=None, help="The tenant's settings, JSON.")
@_store_option
@_config_option
def tenants_create(
    name: str, settings_json: str | None, store: str | None, config: str | None
) -> None:
    """Create tenant NAME (requests naming other tenants then get NonexistentTenant)."""
    doc: Any = None
    if settings_json is not None:
        try:
            doc = orjson.loads(settings_json)
        except orjson.JSONDecodeError as exc:
            raise click.UsageError(f"--settings is not JSON: {exc}") from exc
    record = _run(_settings(store, config), lambda c: c.create_tenant(name, doc))
    click.echo(f"created tenant {record.name}")


@tenants.command("list")
@_store_option
@_config_option
def tenants_list(store: str | None, config: str | None) -> None:
    """List the managed tenants."""
    for record in _run(_settings(store, config), lambda c: c.tenants()):
        click.echo(_tenant_line(record))


@tenants.command("describe")
@click.argument("name")
@_store_option
@_config_option
def tenants_describe(name: str, store: str | None, config: str | None) -> None:
    """Show tenant NAME: its settings, keys and permissions."""

    async def job(c: AccessControl) -> tuple[TenantRecord, list[ApiKeyRecord], int]:
        return await c.tenant(name), await c.keys(name), len(await c.permissions(name))

    record, keys, permissions = _run(_settings(store, config), job)
    click.echo(f"tenant      {record.name}")
    click.echo(f"created     {record.created_at}")
    click.echo(f"settings    {orjson.dumps(record.settings).decode()}")
    click.echo(f"permissions {permissions}")
    click.echo(f"keys        {len(keys)}")
    for key in keys:
        click.echo("  " + _key_line(key))


@tenants.command("delete")
@click.argument("name")
@_store_option
@_config_option
def tenants_delete(name: str, store: str | None, config: str | None) -> None:
    """Delete tenant NAME with its keys and permissions (its entities stay in the store, out
    of reach until a tenant of that name is created again)."""
    _run(_settings(store, config), lambda c: c.delete_tenant(name))
    click.echo(f"deleted tenant {name}")


@click.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--name", required=True, help="What the key is for (shown in listings).")
@click.option("--tenant", default="", help="The tenant the key acts in (default tenant: none).")
@click.option("--admin", is_flag=True, help="A hub administrator's key (every tenant, /admin).")
@click.option("--expires", default=None, help="When the key stops working, UTC ISO 8601.")
@_store_option
@_config_option
def keys_create(
    name: str, tenant: str, admin: bool, expires: str | None, store: str | None, config: str | None
) -> None:
    """Create an API key and print it, once: it is stored hashed and cannot be shown again."""
    text, record = _run(
        _settings(store, config),
        lambda c: c.create_key(tenant, name, admin=admin, expires_at=expires),
    )
    click.echo(f"key id {record.key_id}; keep this key, it is shown only now:", err=True)
    click.echo(text)


@keys.command("list")
@click.option("--tenant", default=None, help="Only this tenant's keys.")
@_store_option
@_config_option
def keys_list(tenant: str | None, store: str | None, config: str | None) -> None:
    """List API keys by their visible prefix (never their secrets)."""
    for record in _run(_settings(store, config), lambda c: c.keys(tenant)):
        click.echo(_key_line(record))


@keys.command("revoke")
@click.argument("key_id")
@_store_option
@_config_option
def keys_revoke(key_id: str, store: str | None, config: str | None) -> None:
    """Revoke the key KEY_ID (refused by every worker from its next request)."""
    key_id = key_id.removeprefix("chk_").split("_")[0]
    _run(_settings(store, config), lambda c: c.revoke_key(key_id))
    click.echo(f"revoked key {key_id}")


__all__ = ["keys", "tenants"]
