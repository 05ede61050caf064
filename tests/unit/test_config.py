"""Configuration: defaults, pyproject values, environment overrides, one clear error."""

import textwrap
from pathlib import Path

import pytest

from orchestrator.config import (
    KEYS,
    RECIPE_SERVICES,
    env_name,
    find_project_root,
    load_config,
    worker_settings_module,
)
from orchestrator.errors import ConfigError


def project(tmp_path: Path, table: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(table))
    return tmp_path


def test_defaults_without_a_table(tmp_path):
    config = load_config(project(tmp_path, "[project]\nname = 'x'\n"), environ={})

    assert config["image_mode"] == "registry"
    assert config["worker.queues"] == ["celery"]
    # Nothing names the reference app: a project's own layout is the default.
    assert config["worker.source"] == "."
    assert config["worker.app"] == config["worker.settings"] == ""
    assert config["worker.requirements"] == config["worker.constraints"] == ""
    assert all(not config[f"recipes.{service}"] for service in RECIPE_SERVICES)


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
        ("imagemode = 'build'", "unknown key 'imagemode' (did you mean 'image_mode'?); known keys"),
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


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            "[tool.orchestrator.worker]\nsource = 'nowhere'\n",
            r"worker\.source = 'nowhere': no such directory",
        ),
        (
            "[tool.orchestrator.worker]\nrequirements = 'req.txt'\n",
            r"worker\.requirements = 'req\.txt': no such file",
        ),
        (
            "[tool.orchestrator.recipes]\nredis = 'mine'\n",
            r"recipes\.redis = 'mine': no such directory",
        ),
        (
            "[tool.orchestrator]\nstate_dir = 'pyproject.toml'\n",
            r"state_dir = 'pyproject\.toml': exists and is not",
        ),
    ],
)
def test_a_path_that_does_not_exist_is_one_error_and_nothing_is_created(tmp_path, table, message):
    root = project(tmp_path, table)
    before = sorted(tmp_path.rglob("*"))

    with pytest.raises(ConfigError, match=message) as raised:
        load_config(root, environ={})

    assert "orchestrator init" in str(raised.value)
    assert "\n" not in str(raised.value)
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_timeout_must_be_finite(tmp_path, value):
    with pytest.raises(ConfigError, match="finite"):
        load_config(project(tmp_path, ""), environ={"ORCHESTRATOR_STARTUP_TIMEOUT": value})


def test_the_worker_runs_the_tests_settings_unless_told_otherwise(tmp_path):
    root = project(
        tmp_path,
        """
        [tool.pytest.ini_options]
        DJANGO_SETTINGS_MODULE = "shop.settings.test"
        """,
    )
    config = load_config(root, environ={})

    assert worker_settings_module(config, environ={}) == "shop.settings.test"
    environ = {"DJANGO_SETTINGS_MODULE": "shop.settings.ci"}
    assert worker_settings_module(config, environ=environ) == "shop.settings.ci"
    (tmp_path / "pyproject.toml").write_text("[tool.orchestrator.worker]\nsettings = 'w.s'\n")
    assert worker_settings_module(load_config(root, environ={}), environ=environ) == "w.s"


def test_the_worker_settings_from_a_pytest_ini(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nDJANGO_SETTINGS_MODULE = cfg.settings\n")

    config = load_config(project(tmp_path, ""), environ={})

    assert worker_settings_module(config, environ={}) == "cfg.settings"
    (tmp_path / "pytest.ini").unlink()
    with pytest.raises(ConfigError, match="DJANGO_SETTINGS_MODULE"):
        worker_settings_module(config, environ={})


@pytest.mark.parametrize(
    "table",
    ["[tool.orchestrator]\nimage_mod = 'x'\n", "[tool.orchestrator.worker]\nsource = 'no'\n"],
)
def test_a_config_errors_frames_hold_no_environment(tmp_path, monkeypatch, table):
    # pytest prints the arguments of every frame of a raw traceback: no secret from the
    # environment may sit in them.
    monkeypatch.setenv("CI_DEPLOY_TOKEN", "topsecret-value")
    monkeypatch.setenv("ORCHESTRATOR_IMAGE_MODE", "build")

    with pytest.raises(ConfigError) as raised:
        load_config(project(tmp_path, table))

    tb = raised.value.__traceback__.tb_next  # past this test's own frame
    assert tb is not None
    while tb is not None:
        assert "topsecret-value" not in repr(tb.tb_frame.f_locals)
        tb = tb.tb_next
