"""Imports point down only (DESIGN.md): ngsild has no I/O, store knows no HTTP, only
settings.py reads the environment."""

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
    for f in _files("ngsild"):
        bad = {i for i in _imports(f) if any(i == b or i.startswith(b + ".") for b in banned)}
        assert not bad, f"{f.relative_to(PKG)} imports {bad}"


def test_store_knows_no_http() -> None:
    for f in _files("store"):
        bad = {
            i
            for i in _imports(f)
            if i.split(".")[0] in {"starlette", "httpx"} or i.startswith("cityhub.api")
        }
        assert not bad, f"{f.relative_to(PKG)} imports {bad}"


def test_only_settings_reads_the_environment() -> None:
    for f in PKG.rglob("*.py"):
        if f.name == "settings.py":
            continue
        text = f.read_text()
        assert "os.environ" not in text and "getenv" not in text, f
