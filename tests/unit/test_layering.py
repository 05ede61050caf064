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


# pytest-celery's and pytest-docker-tools' plugins import docker-py themselves; the inner
# session's conftest hides pytest-celery from stackyard's plugin too.
NO_DOCKER_PLUGINS = ("-p", "no:celery", "-p", "no:docker_tools", "-p", "no:cacheprovider")


def test_the_fast_layer_never_imports_docker_py(pytester, monkeypatch):
    # docker-py, with requests and paramiko, is most of the plugin's import time (0.24 s
    # against 0.08 s without): a run that deselects the integration tests (make
    # test-fast), which needs no engine, does not pay it.
    (pytester.path / "pyproject.toml").write_text("[tool.orchestrator]\n")
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)  # a project without Django
    pytester.makeconftest(
        """
        import sys
        import pytest

        sys.modules["pytest_celery"] = None  # as in a project without pytest-celery

        @pytest.hookimpl(trylast=True)
        def pytest_unconfigure(config):
            loaded = sorted(m for m in ("docker", "requests", "paramiko") if m in sys.modules)
            (config.rootpath / "loaded.txt").write_text(" ".join(loaded) or "none")
        """
    )
    pytester.makepyfile(
        """
        import sys

        def test_runs_without_the_engine():
            assert "docker" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-m", "not integration", *NO_DOCKER_PLUGINS)
    result.assert_outcomes(passed=1)
    assert (pytester.path / "loaded.txt").read_text() == "none"
