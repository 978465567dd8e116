"""Passwords in store URLs are never printed or logged (STYLE.md "a Secret type keeps values out
of reprs and logs"): ``cityhub serve`` shows the store URL redacted, errors that name the URL
redact it, and a hub started on a PostgreSQL URL with a password logs no trace of it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from cityhub import serving
from cityhub.app import create_app
from cityhub.cli import cli
from cityhub.settings import Settings, redact_url

PASSWORD = "s3cret-Pa55"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://hub:s3cret-Pa55@db:5432/city", "postgresql://hub:***@db:5432/city"),
        ("postgres://:s3cret-Pa55@db/city", "postgres://:***@db/city"),
        ("postgresql://hub@db/city", "postgresql://hub@db/city"),
        (
            "postgresql://db/city?user=hub&password=s3cret-Pa55",
            "postgresql://db/city?user=hub&password=***",
        ),
        # an unencoded @ or / in the password: hide up to the last @ rather than leak a part
        ("postgresql://hub:s3c@ret/Pa55@db/city", "postgresql://hub:***@db/city"),
        ("sqlite:///./cityhub.db", "sqlite:///./cityhub.db"),
        ("sqlite:///data/a:b@c.db", "sqlite:///data/a:b@c.db"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_settings_repr_leaves_the_store_out() -> None:
    assert PASSWORD not in repr(Settings(store=f"postgresql://hub:{PASSWORD}@db/city"))


def test_serve_prints_the_store_url_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[object] = []
    monkeypatch.setattr(serving, "run", lambda app, settings: ran.append(app))
    url = f"postgresql://hub:{PASSWORD}@127.0.0.1:1/city"
    result = CliRunner().invoke(cli, ["serve", "--store", url])
    assert result.exit_code == 0, result.output
    assert ran, "serving.run was not reached"
    assert "(store postgresql://hub:***@127.0.0.1:1/city)" in result.output
    assert PASSWORD not in result.output


def test_errors_that_name_the_url_redact_it(tmp_path: Path) -> None:
    unsupported = CliRunner().invoke(
        cli, ["serve", "--store", f"mysql://root:{PASSWORD}@localhost/x", "--get", "/"]
    )
    assert unsupported.exit_code == 2
    assert "unsupported store URL 'mysql://root:***@localhost/x'" in unsupported.output
    assert PASSWORD not in unsupported.output
    unreachable = CliRunner().invoke(
        cli, ["migrate", "--store", f"postgresql://hub:{PASSWORD}@127.0.0.1:1/city"]
    )
    assert unreachable.exit_code == 1
    assert "migration failed" in unreachable.output
    assert PASSWORD not in unreachable.output


def test_a_hub_on_postgresql_logs_no_password(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The test cluster trusts every local connection, so any password opens it."""
    scheme, rest = postgres_url.split("://", 1)
    user, host = rest.split("@", 1)
    url = f"{scheme}://{user}:{PASSWORD}@{host}"
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(Settings(store=url, log_level="debug"))) as client:
        assert client.get("/ngsi-ld/v1/types").status_code == 200
    assert caplog.records, "nothing was logged: the test would prove nothing"
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()


def test_api_keys_and_tokens_are_never_logged_listed_or_echoed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 20: a key's secret is in the answer to its creation and nowhere else: not in the
    hub's log (at debug), not in listings, not in an error about it, not in the CLI's lists;
    a refused bearer token is not echoed either."""
    caplog.set_level(logging.DEBUG)
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    with TestClient(create_app(Settings(store=store, log_level="debug"))) as client:
        made = client.post("/admin/keys", json={"name": "ops", "admin": True})
        key = made.json()["key"]
        secret = key.split("_", 2)[2]
        auth = {"Authorization": f"Bearer {key}"}
        other = client.post("/admin/keys", json={"name": "app"}, headers=auth).json()["key"]
        seen = [
            client.get("/admin/keys", headers=auth).text,
            client.get(f"/admin/keys/{made.json()['keyId']}", headers=auth).text,
            client.get("/ngsi-ld/v1/entities?type=X", headers={"Authorization": key[:-1]}).text,
            client.get(
                "/ngsi-ld/v1/entities?type=X", headers={"Authorization": f"Bearer {key}x"}
            ).text,
            client.get(
                "/ngsi-ld/v1/entities?type=X", headers={"Authorization": "Bearer ey.J.x"}
            ).text,
            client.delete(f"/admin/keys/{other.split('_')[1]}", headers=auth).text,
        ]
    listed = CliRunner().invoke(cli, ["keys", "list", "--store", store]).output
    for text in [*seen, listed, *(r.getMessage() for r in caplog.records)]:
        assert secret not in text
        assert other.split("_", 2)[2] not in text
    assert "ey.J.x" not in seen[4]
    assert caplog.records, "nothing was logged: the test would prove nothing"
