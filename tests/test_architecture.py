"""The parts import only what ARCHITECTURE.md allows them to (read from the source with Python's ast)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("monitor", "adapters", "alerts", "dashboard", "simulators")

#: The wiring: modules that build the service and may import every package.
WIRING = ("monitor.service", "monitor.cli", "monitor.demo", "monitor.roles")
#: What each package may import besides itself (the table in ARCHITECTURE.md).
ALLOWED: dict[str, tuple[str, ...]] = {
    "monitor": (),
    "adapters": ("monitor",),
    "alerts": ("monitor",),
    "dashboard": ("monitor", "alerts"),
    "simulators": ("monitor", "adapters"),
}
#: Single modules allowed one more package.
EXCEPTIONS = {"adapters.sim": ("simulators",)}  # the sim:// source runs the simulators in-process
#: Layers of the core that a lower layer must never reach back into.
ABOVE_STORE = (
    "monitor.pipeline",
    "monitor.sessions",
    "monitor.live",
    "monitor.bus",
    "monitor.bus_pg",
    "monitor.mirror",
    "monitor.outage",
    "monitor.commands",
    "monitor.command_channel",
    "monitor.local_commands",
    "monitor.devices",
    *WIRING,
)
SERVER = ("monitor.pipeline", "monitor.store", "monitor.service", "monitor.roles", "monitor.bus_pg")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, source: str, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """Every module a source imports (also inside functions), relative imports resolved."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield node.lineno, name


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """The imports of one module that the architecture forbids, as ``module:line -> target`` lines."""
    own = module.split(".")[0]
    found = []
    for line, target in imports_of(module, source, is_package):
        top = target.split(".")[0]
        if top not in PACKAGES:
            continue
        why = None
        if top != own and not _within(module, WIRING):
            allowed = ALLOWED[own] + EXCEPTIONS.get(module, ())
            if top not in allowed:
                why = f"{own} may not import {top}"
        if why is None and _within(module, ("monitor.store",)) and _within(target, ABOVE_STORE):
            why = "the store may not import the layers above it"
        if why is None and own == "simulators" and _within(target, SERVER):
            why = "simulators may not import the server"
        if why:
            found.append(f"{module}:{line} -> {target} ({why})")
    return found


def _sources() -> Iterator[tuple[str, str, bool]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield _module_name(path), path.read_text(encoding="utf-8"), path.name == "__init__.py"


def test_every_import_follows_the_architecture() -> None:
    found = [v for module, source, pkg in _sources() for v in violations(module, source, pkg)]
    assert found == []


def test_the_sources_are_all_read() -> None:
    modules = {m for m, _, _ in _sources()}
    assert {"monitor.pipeline", "alerts.engine", "dashboard.app", "adapters.sim", "simulators.cli"} <= modules


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("alerts.engine", "from dashboard.hub import Hub"),
        ("alerts.rules", "def f():\n    import dashboard.app\n"),  # a lazy import counts too
        ("monitor.pipeline", "from alerts.engine import AlarmEngine"),
        ("monitor.model", "from adapters.base import IngestSink"),
        ("adapters.hl7.listener", "from simulators.live import LivePatient"),
        ("dashboard.hub", "import simulators"),
        ("simulators.live", "from monitor.pipeline import Pipeline"),
        ("monitor.store.alarms", "from monitor.sessions import SessionManager"),
        ("monitor.store.alarms", "from ..pipeline import Pipeline"),
    ],
)
def test_a_forbidden_import_is_caught(module: str, source: str) -> None:
    assert violations(module, source) != []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("dashboard.hub", "from alerts.engine import AlarmEngine"),
        ("monitor.service", "from dashboard.app import create_app"),
        ("adapters.sim", "from simulators.live import LivePatient"),
        ("simulators.emit.serial_target", "from adapters.serial.emulator import make_emulator"),
        ("monitor.store.writer", "from monitor.model import Reading"),
        ("monitor.store.writer", "from .transaction import run"),
    ],
)
def test_an_allowed_import_passes(module: str, source: str) -> None:
    assert violations(module, source) == []


#: What code outside ``monitor/store`` may take from SQLAlchemy: the types it passes along, and errors.
SQL_TYPES_ALLOWED = {"Engine", "Connection"}
#: Modules outside monitor/store that still query tables, each moved by its owner (must only shrink).
SQL_PENDING: set[str] = set()


def sql_uses(module: str, source: str) -> list[str]:
    """Where a module outside ``monitor/store`` touches SQL: query builders, the tables, statements."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = {a.name for a in node.names}
            if node.module == "sqlalchemy" and names - SQL_TYPES_ALLOWED:
                found.append(f"{module}:{node.lineno} imports {sorted(names - SQL_TYPES_ALLOWED)} from sqlalchemy")
            elif node.module.startswith("sqlalchemy.") and node.module != "sqlalchemy.exc":
                found.append(f"{module}:{node.lineno} imports {node.module}")
            elif (node.module == "monitor.store" and "schema" in names) or node.module == "monitor.store.schema":
                found.append(f"{module}:{node.lineno} imports the tables")
        elif isinstance(node, ast.Import):
            found += [f"{module}:{node.lineno} imports {a.name}" for a in node.names if a.name.startswith("sqlalchemy")]
        elif isinstance(node, ast.Attribute) and node.attr in ("execute", "scalar", "scalars"):
            found.append(f"{module}:{node.lineno} runs a statement (.{node.attr})")
    return found


def test_sql_lives_only_in_monitor_store() -> None:
    touching = {}
    for module, source, _ in _sources():
        if module.startswith("monitor.store"):
            continue
        uses = sql_uses(module, source)
        if uses:
            touching[module] = uses
    assert set(touching) <= SQL_PENDING, {m: u for m, u in touching.items() if m not in SQL_PENDING}


@pytest.mark.parametrize(
    "source",
    [
        "from sqlalchemy import Engine, select",
        "from monitor.store import schema",
        "import sqlalchemy as sa",
        "def f(engine):\n    with engine.connect() as conn:\n        conn.execute(q)\n",
    ],
)
def test_sql_outside_the_store_is_caught(source: str) -> None:
    assert sql_uses("dashboard.x", source) != []


def test_passing_an_engine_along_is_not_sql() -> None:
    assert sql_uses("dashboard.x", "from sqlalchemy import Engine\nfrom sqlalchemy.exc import DataError\n") == []
