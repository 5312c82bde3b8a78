"""A clone alone passes: the suite reads only its own fixtures, and the declared dependencies are the used ones."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.fixtures import FIXTURES, SERIAL_FIXTURES

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["monitor", "adapters", "alerts", "dashboard", "simulators"]

#: distribution name -> the module it is imported as
IMPORT_NAMES = {
    "pyserial": "serial",
    "argon2-cffi": "argon2",
    "prometheus-client": "prometheus_client",
    "pydantic-settings": "pydantic_settings",
    "fhir.resources": "fhir",
}
#: runtime dependencies used without an import statement, and how
USED_BY_NAME = {
    "websockets": "uvicorn's WebSocket implementation (ws='websockets-sansio' in monitor/cli.py)",
    "plotly": "plotly.min.js read through importlib.resources (dashboard/review/api.py)",
}


def _imported_modules(folders: list[str]) -> set[str]:
    found: set[str] = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
    return found


def _dist_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()


def _project() -> dict[str, object]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project: dict[str, object] = data["project"]
    return project


def test_no_test_or_benchmark_reads_outside_the_repository() -> None:
    offenders = []
    for folder in ("tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == Path(__file__):
                continue
            text = path.read_text(encoding="utf-8")
            if re.search(r"IVMON_SHARED_DATA|shared_data|\.\./shared|\"shared\" / \"data\"|shared/data", text):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_every_fixture_file_has_its_sources_entry_and_every_entry_its_file() -> None:
    sources = (FIXTURES / "SOURCES.md").read_text(encoding="utf-8")
    files = [
        p
        for p in FIXTURES.rglob("*")
        if p.is_file() and p.name not in ("SOURCES.md", "__init__.py") and "__pycache__" not in p.parts
    ]
    files += [p for folder in SERIAL_FIXTURES.values() for p in folder.iterdir() if p.is_file()]
    assert len(files) >= 18 and set(SERIAL_FIXTURES) >= {"ivy", "masimo", "datex"}
    missing = [p.name for p in files if p.name not in sources]
    assert missing == []
    for folder, root in (
        ("traces/", FIXTURES / "traces"),
        ("hl7/", FIXTURES / "hl7"),
        ("serial", ROOT / "adapters/serial"),
    ):
        section = sources.split(f"## {folder}", 1)[1].split("\n## ", 1)[0]
        listed = set(re.findall(r"^\| `([^`]+)` \|", section, re.M))
        assert listed and all((root / name).is_file() for name in listed), folder


def test_runtime_dependencies_are_imported_by_the_product() -> None:
    used = _imported_modules(PACKAGES)
    deps = [_dist_name(r) for r in _project()["dependencies"]]  # type: ignore[attr-defined]
    unused = [d for d in deps if d not in USED_BY_NAME and IMPORT_NAMES.get(d, d.replace("-", "_")) not in used]
    assert unused == []


def test_test_only_libraries_are_not_runtime_dependencies() -> None:
    """python-hl7 is the independent peer of the tests and benchmarks, never a part of the product."""
    deps = [_dist_name(r) for r in _project()["dependencies"]]  # type: ignore[attr-defined]
    extras: dict[str, list[str]] = _project()["optional-dependencies"]  # type: ignore[assignment]
    assert "hl7" not in deps and "hl7" in [_dist_name(r) for r in extras["test"]]
    assert "hl7" not in _imported_modules(PACKAGES)
    assert "hl7" in _imported_modules(["tests", "bench"])


def _run_postgres_tests(require: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "IVMON_REQUIRE_SERVICES")}
    env["IVMON_TEST_PG_URL"] = "postgresql+psycopg://postgres@127.0.0.1:9/test"  # discard port: refused at once
    if require:
        env["IVMON_REQUIRE_SERVICES"] = "1"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-x",
            "-k",
            "postgres",
            "tests/monitor/test_storage.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_missing_database_skips_on_a_laptop_and_fails_under_ci() -> None:
    laptop = _run_postgres_tests(require=False)
    assert laptop.returncode == 0 and re.search(r"\d+ skipped", laptop.stdout), laptop.stdout[-3000:]
    ci = _run_postgres_tests(require=True)
    assert ci.returncode == 1 and "required under CI" in ci.stdout, ci.stdout[-3000:]
