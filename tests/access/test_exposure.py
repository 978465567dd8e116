"""Safe defaults (issue 20 item 6): on loopback the hub may run open; on any other address it
refuses to start until something authenticates callers (an API key, an OIDC issuer), unless
``allow_open`` says so, and says why in one sentence."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from cityhub.access.control import ExposedWithoutAuthentication, is_loopback
from tests.conftest import make_client


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("", False),
        ("::", False),
        ("192.168.1.20", False),
        ("hub.city.example", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_an_open_hub_on_every_address_refuses_to_start(tmp_path: Path) -> None:
    client = make_client(tmp_path, host="0.0.0.0")
    with pytest.raises(ExposedWithoutAuthentication) as caught:
        with client:
            pass
    detail = caught.value.detail
    assert "0.0.0.0" in detail and "allow_open" in detail and "cityhub keys create" in detail
    assert detail.count(". ") == 0  # one sentence


def test_allow_open_or_a_key_lets_it_start(tmp_path: Path) -> None:
    with make_client(tmp_path, host="0.0.0.0", allow_open=True) as client:
        assert client.get("/health").status_code == 200
        made = client.post("/admin/keys", json={"name": "ops", "admin": True})
        assert made.status_code == 201
    with make_client(tmp_path, host="0.0.0.0") as client:  # the key exists now
        assert client.get("/health").status_code == 200
        assert client.get("/ngsi-ld/v1/entities?type=X").status_code == 401


def test_serve_says_why_in_one_sentence(tmp_path: Path) -> None:
    """The real server (uvicorn) logs the sentence and exits."""
    import os
    import subprocess

    db = tmp_path / "hub.db"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")])
    run = subprocess.run(
        [sys.executable, "-m", "cityhub", "serve", "--host", "0.0.0.0", "--port", "18702"]
        + ["--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert run.returncode != 0
    assert "will not serve 0.0.0.0 without authentication" in run.stderr
    assert "Traceback" not in run.stderr


def test_get_runs_in_process_whatever_host_says(tmp_path: Path) -> None:
    from cityhub.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--get", "/health"])
    assert result.exit_code == 0, result.output


def test_loopback_stays_open(client: TestClient) -> None:
    assert client.get("/ngsi-ld/v1/entities?type=X").status_code == 200
