"""Imports point down only (DESIGN.md): ngsild has no I/O, store knows no HTTP and no service
above it, services know no delivery layer, only settings.py reads the environment."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).parent.parent / "cityhub"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _files(sub: str) -> list[Path]:
    return sorted((PKG / sub).rglob("*.py"))


def _banned(f: Path, banned: set[str]) -> set[str]:
    return {i for i in _imports(f) if any(i == b or i.startswith(b + ".") for b in banned)}


def _assert_none_import(files: list[Path], banned: set[str]) -> None:
    for f in files:
        bad = _banned(f, banned)
        assert not bad, f"{f.relative_to(PKG)} imports {bad}"


def test_ngsild_is_pure() -> None:
    banned = {
        "httpx",
        "sqlite3",
        "asyncio",
        "starlette",
        "socket",
        "cityhub.store",
        "cityhub.api",
        "cityhub.app",
        "urllib.request",
    }
    _assert_none_import(_files("ngsild"), banned)


def test_store_knows_no_http() -> None:
    for f in _files("store"):
        bad = {
            i
            for i in _imports(f)
            if i.split(".")[0] in {"starlette", "httpx"} or i.startswith("cityhub.api")
        }
        assert not bad, f"{f.relative_to(PKG)} imports {bad}"


#: the service layer (DESIGN.md "Layers"): above the store, below delivery
SERVICES = ("notify", "ingest", "temporal", "analytics", "export", "sim", "demo", "airquality")
SERVICE_MODULES = ("subscriptions.py", "provision.py", "contexts.py", "linked.py")


def _service_files() -> list[Path]:
    files = [f for sub in SERVICES if (PKG / sub).is_dir() for f in _files(sub)]
    return files + [PKG / name for name in SERVICE_MODULES if (PKG / name).exists()]


def test_store_imports_no_service_or_delivery() -> None:
    """The store is below the services: what a service must do inside a store transaction it
    registers as a hook (``tx_hooks``), the store never calls up by import."""
    banned = {
        "cityhub.notify",
        "cityhub.linked",
        "cityhub.subscriptions",
        "cityhub.provision",
        "cityhub.api",
        "cityhub.app",
        "cityhub.cli",
    }
    _assert_none_import(_files("store"), banned)


def test_services_import_no_delivery() -> None:
    assert any(f.parent.name == "notify" for f in _service_files())
    _assert_none_import(_service_files(), {"cityhub.api", "cityhub.app", "cityhub.cli"})


def test_linked_entity_retrieval_is_written_once() -> None:
    """Retrieval (``join``) and notifications (``notification.join``) share one traversal."""
    defining = [f for f in PKG.rglob("*.py") if "def fetch_linked(" in f.read_text()]
    assert len(defining) == 1, [str(f.relative_to(PKG)) for f in defining]


def test_only_settings_reads_the_environment() -> None:
    for f in PKG.rglob("*.py"):
        if f.name == "settings.py":
            continue
        text = f.read_text()
        assert "os.environ" not in text and "getenv" not in text, f


def test_backends_do_not_import_each_other() -> None:
    """What both backends share lives beside them: protocols, OutboxRow and Change in
    store/base.py, the history rules in store/instances.py."""
    _assert_none_import(_files("store/postgres"), {"cityhub.store.sqlite"})
    _assert_none_import(_files("store/sqlite"), {"cityhub.store.postgres"})


def test_delivery_knows_no_database_driver() -> None:
    """A driver's errors (a full disk, a read-only database, a lost connection) become
    ``StoreUnavailable`` inside store/ (store/availability.py); nothing that renders responses
    or runs the server sees sqlite3 or asyncpg."""
    delivery = [*_files("api"), *(PKG / n for n in ("cli.py", "serving.py", "errors.py"))]
    _assert_none_import(delivery, {"sqlite3", "asyncpg"})
