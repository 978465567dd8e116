"""Imports point down only (DESIGN.md): ngsild has no I/O, store knows no HTTP and no service
above it, services know no delivery layer, only settings.py reads the environment, and only
store/ knows which database runs (the seam: everything above it sees store protocols)."""

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
SERVICES = (
    "notify",
    "ingest",
    "temporal",
    "analytics",
    "export",
    "sim",
    "demo",
    "airquality",
    "iot",
    "services",
    "opendata",
)
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


def test_rules_written_once_know_no_backend() -> None:
    """store/'s own modules (the rules and the SQL written once over ``SqlConnection``, the
    protocols) see a backend only through what it hands them: no driver, no backend module;
    open.py alone picks one by the URL (issue 15: backends move rows, rules live once)."""
    once = [f for f in sorted((PKG / "store").glob("*.py")) if f.name != "open.py"]
    banned = {"sqlite3", "asyncpg", "cityhub.store.sqlite", "cityhub.store.postgres"}
    _assert_none_import(once, banned)


def test_delivery_knows_no_database_driver() -> None:
    """A driver's errors (a full disk, a read-only database, a lost connection) become
    ``StoreUnavailable`` inside store/ (store/availability.py); nothing that renders responses
    or runs the server sees sqlite3 or asyncpg."""
    delivery = [*_files("api"), *(PKG / n for n in ("cli.py", "serving.py", "errors.py"))]
    _assert_none_import(delivery, {"sqlite3", "asyncpg"})


#: the store's face: protocols and result types every backend implements or speaks
STORE_PROTOCOLS = {
    "cityhub.store.access",
    "cityhub.store.availability",
    "cityhub.store.base",
    "cityhub.store.entity_maps",
    "cityhub.store.iot",
    "cityhub.store.outbox",
    "cityhub.store.publishing",
    "cityhub.store.remote_subscriptions",
    "cityhub.store.registrations",
    "cityhub.store.subscriptions",
    "cityhub.store.temporal",
    "cityhub.store.work",
}
#: not services: the pure layer, the store, delivery, and the wiring and plumbing modules
_NOT_SERVICES = {"ngsild", "store", "api", "data", "dashboard"}
_NOT_SERVICE_MODULES = {
    "__init__.py",
    "__main__.py",
    "app.py",
    "cli.py",
    "access_cli.py",
    "workers.py",
    "serving.py",
    "settings.py",
    "errors.py",
}


def _all_service_files() -> list[Path]:
    """Every package and module of the service layer, present and future (SERVICES and
    SERVICE_MODULES name the known ones; a new one such as airquality/ is in here too)."""
    files: list[Path] = []
    for entry in sorted(PKG.iterdir()):
        if entry.is_dir() and entry.name not in _NOT_SERVICES and (entry / "__init__.py").exists():
            files += _files(entry.name)
        elif entry.suffix == ".py" and entry.name not in _NOT_SERVICE_MODULES:
            files.append(entry)
    return files


def test_only_store_imports_a_backend() -> None:
    """Nothing above store/ knows which database runs: open_backend picks it."""
    above = [f for f in PKG.rglob("*.py") if "store" not in f.relative_to(PKG).parts[:1]]
    _assert_none_import(above, {"cityhub.store.sqlite", "cityhub.store.postgres"})


def test_api_and_services_see_store_protocols_only() -> None:
    """api/, notify/ and every service import from store/ its protocols only (and the
    availability types the Store speaks): not open.py or backend.py (the app wires the
    backend), not a backend's module."""
    files = _files("api") + _all_service_files()
    assert any(f.name == "trigger.py" for f in files) and any(
        f.name == "provision.py" for f in files
    )
    for f in files:
        store = {i for i in _imports(f) if i == "cityhub.store" or i.startswith("cityhub.store.")}
        assert store <= STORE_PROTOCOLS, f"{f.relative_to(PKG)} imports {store - STORE_PROTOCOLS}"


def test_the_dashboard_is_delivery() -> None:
    """The dashboard (delivery, like api/) sees the store's protocols only, no driver; no
    service imports it, and of the rest only the wiring (app.py) does."""
    files = _files("dashboard")
    assert any(f.name == "feed.py" for f in files)
    for f in files:
        store = {i for i in _imports(f) if i == "cityhub.store" or i.startswith("cityhub.store.")}
        assert store <= STORE_PROTOCOLS, f"{f.relative_to(PKG)} imports {store - STORE_PROTOCOLS}"
    _assert_none_import(files, {"sqlite3", "asyncpg", "cityhub.app", "cityhub.cli"})
    importers = [
        f.relative_to(PKG).as_posix()
        for f in PKG.rglob("*.py")
        if "dashboard" not in f.relative_to(PKG).parts[:1] and _banned(f, {"cityhub.dashboard"})
    ]
    assert importers == ["app.py"], importers


def test_services_hold_no_sql_driver() -> None:
    """A service's in-transaction work goes through the Transaction, never a connection."""
    _assert_none_import(_all_service_files() + _files("api"), {"sqlite3", "asyncpg"})


def test_app_wires_one_backend_one_way() -> None:
    """create_app opens a Backend and hands it the services' hooks: no backend module, no
    schema, no isinstance on a store, no Any."""
    app = PKG / "app.py"
    store = {i for i in _imports(app) if i.startswith("cityhub.store")}
    assert store <= {"cityhub.store.backend", "cityhub.store.open"}, store
    text = app.read_text()
    for word in ("isinstance(", "SCHEMA", "Any"):
        assert word not in text, f"app.py holds {word!r}"
