"""Configuration: defaults, pyproject values, environment overrides, one clear error."""

import textwrap
from pathlib import Path

import pytest

from orchestrator.config import KEYS, env_name, find_project_root, load_config
from orchestrator.errors import ConfigError


def project(tmp_path: Path, table: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(table))
    return tmp_path


def test_defaults_without_a_table(tmp_path):
    config = load_config(project(tmp_path, "[project]\nname = 'x'\n"), environ={})

    assert config["image_mode"] == "registry"
    assert config["worker.queues"] == ["celery"]
    assert config.path("dockerfiles") == tmp_path.resolve() / "docker"


def test_values_from_pyproject_and_nested_tables(tmp_path):
    root = project(
        tmp_path,
        """
        [tool.orchestrator]
        image_mode = "build"
        startup_timeout = 12
        [tool.orchestrator.worker]
        queues = ["celery", "pdf"]
        concurrency = 2
        """,
    )

    config = load_config(root, environ={})

    assert config["image_mode"] == "build"
    assert config["startup_timeout"] == 12.0
    assert config["worker.queues"] == ["celery", "pdf"]
    assert config["worker.concurrency"] == 2


def test_environment_overrides_pyproject(tmp_path):
    root = project(tmp_path, "[tool.orchestrator]\nimage_mode = 'build'\n")
    environ = {
        "ORCHESTRATOR_IMAGE_MODE": "registry",
        "ORCHESTRATOR_WORKER_QUEUES": "a, b",
        "ORCHESTRATOR_BROKER_URL": "amqp://ignored",  # an endpoint, not a key
    }

    config = load_config(root, environ=environ)

    assert config["image_mode"] == "registry"
    assert config["worker.queues"] == ["a", "b"]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("imagemode = 'build'", "unknown key 'imagemode'; known keys: base_image"),
        ("image_mode = 'bild'", "image_mode = 'bild': expected 'build' or 'registry'"),
        ("startup_timeout = 'soon'", "startup_timeout = 'soon' is not a valid float"),
        ("startup_timeout = -1", "startup_timeout = -1: expected a positive number"),
        ("[tool.orchestrator.worker]\nqueues = [1]", "worker.queues = [1] is not a valid list"),
        ("[tool.orchestrator.worker]\nconcurrency = true", "worker.concurrency = True is not"),
    ],
)
def test_bad_configuration_is_one_clear_error(tmp_path, table, expected):
    root = project(tmp_path, f"[tool.orchestrator]\n{table}\n")

    with pytest.raises(ConfigError) as error:
        load_config(root, environ={})

    assert expected in str(error.value)
    assert "\n" not in str(error.value)
    assert str(root / "pyproject.toml") in str(error.value)


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"ORCHESTRATOR_WORKER_CONCURRENCY: worker\.concurrency"):
        load_config(project(tmp_path, ""), environ={"ORCHESTRATOR_WORKER_CONCURRENCY": "many"})


def test_invalid_toml_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(project(tmp_path, "[tool.orchestrator\n"), environ={})


def test_every_key_has_an_environment_name_and_help():
    for key, spec in KEYS.items():
        assert env_name(key).startswith("ORCHESTRATOR_")
        assert spec.help


def test_project_root_is_found_from_a_subdirectory(tmp_path):
    root = project(tmp_path, "")
    nested = root / "a" / "b"
    nested.mkdir(parents=True)

    assert find_project_root(nested) == root.resolve()


def test_readme_documents_every_key_and_its_environment_variable():
    readme = (Path(__file__).parents[2] / "README.md").read_text()

    for key in KEYS:
        assert f"| `{key}` |" in readme, key
        assert f"`{env_name(key)}`" in readme, key
