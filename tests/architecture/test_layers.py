"""The layers, read from the source: dialects (api) reach the engine only through the service, the store
knows nothing above it, and neither the worker nor the executors know about HTTP dialects."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "runyard"

# (importing package or module, imported package or module) pairs that must not exist
FORBIDDEN = [
    ("runyard.api", "runyard.store"),
    ("runyard.store", "runyard.service"),
    ("runyard.store", "runyard.api"),
    ("runyard.worker", "runyard.api"),
    ("runyard.worker_process", "runyard.api"),
    ("runyard.executors", "runyard.api"),
]


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _modules() -> dict[str, ast.AST]:
    return {_module(p): ast.parse(p.read_text(), str(p)) for p in sorted(SRC.rglob("*.py"))}


def violations(modules: dict[str, ast.AST]) -> list[str]:
    found = []
    for name, tree in modules.items():
        for imported in sorted(_imports(tree)):
            for source, target in FORBIDDEN:
                if _within(name, source) and _within(imported, target):
                    found.append(f"{name} imports {imported} ({source} -> {target})")
        if _within(name, "runyard.api"):
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr == "store":
                    found.append(f"{name}:{node.lineno} reads .store (dialects go through the service)")
    return found


def test_no_forbidden_import_or_store_access() -> None:
    modules = _modules()
    assert "runyard.api.trigger_dev" in modules and "runyard.store.sqlite" in modules
    assert violations(modules) == []


def test_the_check_catches_each_kind_of_violation() -> None:
    modules = {
        "runyard.api.bad": ast.parse("from runyard.store.base import Store\n"),
        "runyard.api.sneaky": ast.parse("async def f(s):\n    return await s.store.get_run('x')\n"),
        "runyard.store.up": ast.parse("import runyard.service\n"),
        "runyard.worker": ast.parse("from runyard.api import common\n"),
        "runyard.executors.x": ast.parse("from runyard.api.common import json_response\n"),
        "runyard.api.fine": ast.parse("from runyard.service import Service\n"),
    }
    offenders = {f.split(" ", 1)[0].split(":")[0] for f in violations(modules)}
    assert offenders == {"runyard.api.bad", "runyard.api.sneaky", "runyard.store.up", "runyard.worker",
                         "runyard.executors.x"}  # fmt: skip
