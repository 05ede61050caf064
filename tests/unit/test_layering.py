"""The layers' boundaries: the pytest layer sees one face of the engine, the engine no pytest."""

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
# What fixtures/ may import of the engine: its face, its configuration and its errors.
ENGINE_FACE = {"orchestrator.api", "orchestrator.config", "orchestrator.errors"}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_fixtures_use_only_the_engines_face():
    for path in sorted((ROOT / "fixtures").glob("*.py")):
        engine = {name for name in _imports(path) if name.split(".")[0] == "orchestrator"}
        reached = {name for name in engine if not any(name.startswith(f) for f in ENGINE_FACE)}
        assert not reached, f"{path.name} imports {sorted(reached)}"


def test_the_engine_imports_no_pytest():
    for path in sorted((ROOT / "orchestrator").rglob("*.py")):
        assert not {"pytest", "_pytest"} & {n.split(".")[0] for n in _imports(path)}, path


def test_every_service_module_declares_a_service_and_has_a_recipe():
    from orchestrator.services import SERVICES

    modules = {p.stem for p in (ROOT / "orchestrator" / "services").glob("*.py")}
    assert set(SERVICES) == modules - {"__init__", "base"}
    for name in SERVICES:
        assert (ROOT / "docker" / name / "Dockerfile").is_file(), name
