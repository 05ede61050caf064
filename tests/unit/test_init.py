"""``orchestrator init``: inference on small fake projects, and what it writes (and never does)."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import main

CELERY_MODULE = """
    import os

    from celery import Celery

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    app = Celery("mysite")
    app.config_from_object("django.conf:settings", namespace="CELERY")
"""

FLAT = {
    "manage.py": """
        import os
        import sys

        if __name__ == "__main__":
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    """,
    "mysite/__init__.py": "from .celery import app as celery_app\n",
    "mysite/settings.py": "INSTALLED_APPS = ['django.contrib.auth', 'channels']\n",
    "mysite/test_settings.py": "from mysite.settings import *\n",
    "mysite/celery.py": CELERY_MODULE,
    "requirements.txt": "django>=5.2\nchannels\ncelery[redis]\n",
}

SRC = {
    "manage.py": """
        import os
        import sys

        sys.path.insert(0, "src")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    """,
    "src/config/__init__.py": "",
    "src/config/settings/__init__.py": "",
    "src/config/settings/base.py": """
        INSTALLED_APPS = ["django.contrib.auth", "shop"]
        CELERY_TASK_ROUTES = {"shop.tasks.render_pdf": {"queue": "pdf"}}
    """,
    "src/config/settings/test.py": """
        from .base import *  # noqa: F403

        import debug_toolbar
    """,
    "src/config/tasks_app.py": """
        import celery

        app = celery.Celery("config")
    """,
    "src/shop/__init__.py": "",
    "src/shop/tasks.py": """
        from celery import shared_task

        @shared_task(queue="emails")
        def send_receipt(order_id):
            return order_id

        @shared_task
        def render_pdf(order_id):
            return order_id
    """,
    "requirements/base.txt": "django>=5.2\ncelery[redis]\n",
    "requirements/test.txt": "-r base.txt\npytest-django\ndjango-debug-toolbar\n",
    "constraints.txt": "# pins\ndjango==5.2.1\ncelery==5.5.0\n",
}


def make_project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def init(root: Path, *options: str) -> int:
    return main(["init", "--project", str(root), *options])


def pyproject(root: Path) -> dict[str, Any]:
    return tomllib.loads((root / "pyproject.toml").read_text())


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_flat_layout_is_written_to_a_new_pyproject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(tmp_path, FLAT)

    assert init(root) == 0

    document = pyproject(root)
    assert set(document) == {"tool"}
    assert document["tool"]["orchestrator"]["worker"] == {
        "source": ".",
        "app": "mysite.celery:app",
        "requirements": "requirements.txt",
        "queues": ["celery"],
    }
    assert document["tool"]["pytest"]["ini_options"] == {
        "DJANGO_SETTINGS_MODULE": "mysite.test_settings",
        "orchestrator_celery_app": "mysite.celery:app",
    }
    out = capsys.readouterr().out
    assert "its test sibling is mysite.test_settings" in out
    assert "imported by mysite/__init__.py" in out


@pytest.mark.parametrize(
    ("app_file", "package_init", "expected"),
    [
        ("src/config/tasks_app.py", "from .tasks_app import app as celery_app\n", "config"),
        ("src/workers/app.py", "", "workers"),
    ],
)
def test_src_layout_with_a_settings_package(
    tmp_path: Path, app_file: str, package_init: str, expected: str
) -> None:
    files = {**SRC, "src/config/__init__.py": package_init}
    files[app_file] = files.pop("src/config/tasks_app.py")
    root = make_project(tmp_path, files)

    assert init(root) == 0

    document = pyproject(root)
    worker = document["tool"]["orchestrator"]["worker"]
    module = app_file.removeprefix("src/").removesuffix(".py").replace("/", ".")
    assert module.startswith(expected)
    assert worker == {
        "source": "src",
        "app": f"{module}:app",
        "requirements": "requirements/base.txt",
        "constraints": "constraints.txt",
        "queues": ["celery", "emails", "pdf"],
    }
    assert document["tool"]["pytest"]["ini_options"] == {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "pythonpath": ["src"],
        "orchestrator_celery_app": f"{module}:app",
    }


def test_default_queue_and_routes_in_the_celery_module(tmp_path: Path) -> None:
    celery_module = """
        from celery import Celery

        app = Celery("config")
        app.conf.update(task_default_queue="main", task_routes=[("a.*", {"queue": "bulk"})])
    """
    root = make_project(tmp_path, {**SRC, "src/config/tasks_app.py": celery_module})

    assert init(root) == 0

    assert pyproject(root)["tool"]["orchestrator"]["worker"]["queues"] == [
        "main",
        "bulk",
        "emails",
        "pdf",
    ]


def test_a_settings_import_only_a_dev_file_lists_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(tmp_path, SRC)

    init(root, "--dry-run")

    out = capsys.readouterr().out
    assert "use debug_toolbar, which only requirements/test.txt lists" in out


def test_several_celery_apps_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(
        tmp_path, {**SRC, "src/workers/app.py": "import celery\napp = celery.Celery()\n"}
    )

    init(root, "--dry-run")

    assert "several Celery apps: took config.tasks_app:app, not workers.app:app" in (
        capsys.readouterr().out
    )


def test_pytest_ini_gets_the_pytest_keys_and_keeps_its_own(tmp_path: Path) -> None:
    pytest_ini = (
        "[pytest]\n# pytest-django's settings\nDJANGO_SETTINGS_MODULE = mysite.settings\n"
        "addopts = -ra\n\n# end\n"
    )
    root = make_project(tmp_path, {**FLAT, "pytest.ini": pytest_ini})

    assert init(root) == 0

    assert (root / "pytest.ini").read_text() == pytest_ini.replace(
        "addopts = -ra\n", "addopts = -ra\norchestrator_celery_app = mysite.celery:app\n"
    )
    assert list(pyproject(root)["tool"]) == ["orchestrator"]


def test_setup_cfg_section_is_edited_in_place(tmp_path: Path) -> None:
    setup_cfg = (
        "[metadata]\nname = shop\n\n[tool:pytest]\naddopts = -ra\n\n"
        "[flake8]\nmax-line-length = 100\n"
    )
    root = make_project(tmp_path, {**SRC, "setup.cfg": setup_cfg})

    assert init(root) == 0

    text = (root / "setup.cfg").read_text()
    assert text.startswith("[metadata]\nname = shop\n\n[tool:pytest]\naddopts = -ra\n")
    assert "DJANGO_SETTINGS_MODULE = config.settings.test\npythonpath = src\n" in text
    assert text.endswith("\n\n[flake8]\nmax-line-length = 100\n")


def test_project_dependencies_without_a_requirements_file(tmp_path: Path) -> None:
    files = {name: text for name, text in FLAT.items() if name != "requirements.txt"}
    files["pyproject.toml"] = """
        # The shop.
        [project]
        name = "shop"
        dependencies = ["django>=5.2", "celery"]  # runtime

        [tool.ruff]
        line-length = 100
    """
    root = make_project(tmp_path, files)
    before = (root / "pyproject.toml").read_text()

    assert init(root) == 0

    after = (root / "pyproject.toml").read_text()
    assert after.startswith(before)
    assert pyproject(root)["tool"]["orchestrator"]["worker"]["requirements"] == "pyproject.toml"


def test_poetry_lock_is_reported_with_its_export_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {name: text for name, text in FLAT.items() if name != "requirements.txt"}
    files["pyproject.toml"] = '[tool.poetry.dependencies]\npython = "^3.11"\ndjango = "^5.2"\n'
    files["poetry.lock"] = "# poetry lock\n"
    root = make_project(tmp_path, files)

    assert init(root) == 0

    out = capsys.readouterr().out
    assert "poetry export --without-hashes --only main -o requirements.txt" in out
    assert "unset    worker.requirements" in out
    assert "requirements" not in pyproject(root)["tool"]["orchestrator"]["worker"]


def test_second_run_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path, SRC)
    init(root)
    written = snapshot(root)
    capsys.readouterr()

    assert init(root) == 0

    assert snapshot(root) == written
    assert "nothing to change" in capsys.readouterr().out


def test_dry_run_prints_a_diff_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(tmp_path, FLAT)
    before = snapshot(root)

    assert init(root, "--dry-run") == 0

    assert snapshot(root) == before
    out = capsys.readouterr().out
    assert "--- /dev/null\n+++ b/pyproject.toml\n" in out
    assert '+app = "mysite.celery:app"\n' in out
    assert "nothing written" in out


def test_user_values_and_comments_are_kept_and_invalid_ones_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = """
        [tool.orchestrator]
        # Our CI has no registry.
        image_mode = "build"

        [tool.orchestrator.worker]
        queues = ["celery", "emails", "pdf", "reports"]  # reports: a nightly job
        source = "backend"
    """
    root = make_project(tmp_path, {**SRC, "pyproject.toml": table})

    assert init(root) == 0

    text = (root / "pyproject.toml").read_text()
    assert "# Our CI has no registry.\n" in text
    assert '"reports"]  # reports: a nightly job\n' in text
    worker = pyproject(root)["tool"]["orchestrator"]
    assert worker["image_mode"] == "build"
    assert worker["worker"]["queues"] == ["celery", "emails", "pdf", "reports"]
    assert worker["worker"]["source"] == "src"
    assert 'replaced worker.source = "src"  (was "backend": no such directory' in (
        capsys.readouterr().out
    )


def test_a_directory_without_django_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(tmp_path, {"script.py": "print('hello')\n"})

    assert init(root) == 2

    captured = capsys.readouterr()
    assert captured.err.startswith("orchestrator: no Django settings found in ")
    assert captured.err.count("\n") == 1
    assert sorted(path.name for path in root.iterdir()) == ["script.py"]


def test_project_option_before_the_command(tmp_path: Path) -> None:
    root = make_project(tmp_path, FLAT)

    assert main(["--project", str(root), "init", "--dry-run"]) == 0


def test_routes_given_by_a_router_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = "CELERY_TASK_ROUTES = ['shop.routers.route_task']\n"
    root = make_project(tmp_path, {**SRC, "src/config/settings/base.py": settings})

    init(root, "--dry-run")

    out = capsys.readouterr().out
    assert "CELERY_TASK_ROUTES in src/config/settings/base.py: routes that are not literal" in out


def test_native_pytest_table_of_pyproject_is_used(tmp_path: Path) -> None:
    table = '[tool.pytest]\nminversion = "9.0"\n'
    root = make_project(tmp_path, {**SRC, "pyproject.toml": table})

    assert init(root) == 0

    assert pyproject(root)["tool"]["pytest"] == {
        "minversion": "9.0",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "pythonpath": ["src"],
        "orchestrator_celery_app": "config.tasks_app:app",
    }


def test_invalid_pyproject_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path, {**FLAT, "pyproject.toml": "[tool.orchestrator\n"})

    assert init(root) == 2

    assert capsys.readouterr().err.startswith("orchestrator: pyproject.toml is not valid TOML")


def test_a_virtualenv_inside_the_project_is_not_searched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    venv_app = "from celery import Celery\napp = Celery()\n"
    files = {**FLAT, "mysite/__init__.py": "", "env/pyvenv.cfg": "", "env/lib/a/app.py": venv_app}
    root = make_project(tmp_path, files)

    assert init(root) == 0

    assert pyproject(root)["tool"]["orchestrator"]["worker"]["app"] == "mysite.celery:app"
    assert "several Celery apps" not in capsys.readouterr().out


POSTGRES_SETTINGS = (
    "INSTALLED_APPS = ['django.contrib.auth', 'channels']\n"
    "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'shop'}}\n"
)


def roles(root: Path) -> dict[str, Any]:
    table = pyproject(root)["tool"]["orchestrator"]
    return {key: value for key, value in table.items() if key != "worker"}


@pytest.mark.parametrize(
    "engine", ["django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis"]
)
def test_postgresql_settings_write_the_database_role(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    settings = POSTGRES_SETTINGS.replace("django.db.backends.postgresql", engine)
    requirements = "django>=5.2\ncelery\npsycopg[binary]\n"
    files = {**FLAT, "mysite/settings.py": settings, "requirements.txt": requirements}
    root = make_project(tmp_path, files)

    assert init(root) == 0

    assert roles(root) == {"database": "postgres"}
    out = capsys.readouterr().out
    assert f'set      database = "postgres"  (ENGINE "{engine}" in mysite/settings.py)' in out
    assert "check:" not in out


def test_postgresql_without_a_driver_is_a_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(tmp_path, {**FLAT, "mysite/settings.py": POSTGRES_SETTINGS})

    assert init(root) == 0

    assert roles(root) == {"database": "postgres"}
    assert (
        'database = "postgres": no PostgreSQL driver (psycopg, psycopg2) among the dependencies; '
        "the worker image and the tests need one: add psycopg[binary] to requirements.txt"
    ) in capsys.readouterr().out


def test_a_driver_only_a_dev_file_lists_is_a_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {**FLAT, "mysite/settings.py": POSTGRES_SETTINGS}
    root = make_project(tmp_path, {**files, "requirements-dev.txt": "psycopg2-binary\n"})

    init(root, "--dry-run")

    assert "only requirements-dev.txt lists psycopg2-binary, which the worker will not install" in (
        capsys.readouterr().out
    )


def test_sqlite_settings_write_nothing_and_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = POSTGRES_SETTINGS.replace("postgresql", "sqlite3")
    root = make_project(tmp_path, {**FLAT, "mysite/settings.py": settings})

    assert init(root) == 0

    assert roles(root) == {}
    out = capsys.readouterr().out
    assert (
        'default  database = "sqlite"  (ENGINE "django.db.backends.sqlite3" in mysite/settings.py; '
        "the default: a SQLite file per test process, shared with the worker)"
    ) in out
    assert "check:" not in out


def test_sqlite_test_settings_over_a_postgresql_base_keep_the_fast_layer_on_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fast layer's SQLite file over the project's PostgreSQL: the integration layer
    runs on what the project runs on."""
    test_settings = (
        "from mysite.settings import *\n"
        "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': 'x.db'}}\n"
    )
    files = {**FLAT, "mysite/settings.py": POSTGRES_SETTINGS, "requirements.txt": "psycopg\n"}
    root = make_project(tmp_path, {**files, "mysite/test_settings.py": test_settings})

    assert init(root) == 0

    assert roles(root) == {"database": "postgres"}
    assert (
        'database = "postgres"  (ENGINE "django.db.backends.postgresql" in mysite/settings.py; '
        'the test settings\' SQLite (ENGINE "django.db.backends.sqlite3" in '
        "mysite/test_settings.py) stays the fast layer's)"
    ) in capsys.readouterr().out


def test_sqlite_test_settings_over_sqlite_base_write_nothing(tmp_path: Path) -> None:
    test_settings = (
        "from mysite.settings import *\n"
        "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}}\n"
    )
    base = POSTGRES_SETTINGS.replace("postgresql", "sqlite3")
    files = {**FLAT, "mysite/settings.py": base}
    root = make_project(tmp_path, {**files, "mysite/test_settings.py": test_settings})

    assert init(root) == 0

    assert roles(root) == {}


def test_an_engine_stackyard_does_not_serve_is_a_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = POSTGRES_SETTINGS.replace("postgresql", "mysql")
    root = make_project(tmp_path, {**FLAT, "mysite/settings.py": settings})

    assert init(root) == 0

    assert roles(root) == {}
    out = capsys.readouterr().out
    assert 'default  database = "sqlite"' in out
    assert (
        '  - database: ENGINE "django.db.backends.mysql" in mysite/settings.py: '
        "stackyard's test database is SQLite or PostgreSQL; "
        'the tests and the worker run on SQLite unless database = "postgres"\n'
    ) in out


@pytest.mark.parametrize(
    ("requirements", "expected"),
    [("django\npsycopg2-binary\n", {"database": "postgres"}), ("django\n", {})],
)
def test_a_database_url_is_postgresql_when_a_driver_is_a_dependency(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    requirements: str,
    expected: dict[str, str],
) -> None:
    settings = """
        import dj_database_url

        DATABASES = {"default": dj_database_url.config(conn_max_age=600)}
    """
    files = {**FLAT, "mysite/settings.py": settings, "requirements.txt": requirements}
    root = make_project(tmp_path, files)

    assert init(root) == 0

    assert roles(root) == expected
    out = capsys.readouterr().out
    url = "DATABASES in mysite/settings.py is read at run time (dj_database_url.config(...))"
    if expected:
        assert f"{url}; psycopg2-binary in requirements.txt: PostgreSQL)" in out
    else:
        assert f'  - database: {url}: set database = "postgres" if it is PostgreSQL\n' in out


@pytest.mark.parametrize(
    ("setting", "origin"),
    [
        ('CELERY_BROKER_URL = "redis://localhost:6379/0"', "is a Redis URL"),
        ('CELERY_BROKER_URL = f"rediss://{HOST}:6380/0"', "holds a Redis URL"),
        ('CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)', "is read from"),
    ],
)
def test_a_redis_broker_url_writes_the_broker_role(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, origin: str
) -> None:
    settings = f"{FLAT['mysite/settings.py']}{setting}\n"
    root = make_project(tmp_path, {**FLAT, "mysite/settings.py": settings})

    assert init(root) == 0

    assert roles(root) == {"broker": "redis"}
    assert f'set      broker = "redis"  (CELERY_BROKER_URL in mysite/settings.py {origin}' in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("setting", "origin"),
    [
        ("", "no broker URL in the settings or the Celery module; the default"),
        ('CELERY_BROKER_URL = "amqp://guest@localhost//"', "is an AMQP URL; the default"),
        (
            'CELERY_BROKER_URL = env("CELERY_BROKER_URL")',
            'is no Redis URL that can be read; the default (set broker = "redis" if',
        ),
    ],
)
def test_the_default_broker_is_not_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, origin: str
) -> None:
    # FLAT's requirements list celery[redis]: not enough to say that the broker is Redis.
    settings = f"{FLAT['mysite/settings.py']}{setting}\n"
    root = make_project(tmp_path, {**FLAT, "mysite/settings.py": settings})

    assert init(root) == 0

    assert roles(root) == {}
    assert 'default  broker = "rabbitmq"  (' in (out := capsys.readouterr().out)
    assert origin in out


def test_second_run_with_roles_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = f'{POSTGRES_SETTINGS}CELERY_BROKER_URL = "redis://localhost:6379/0"\n'
    root = make_project(tmp_path, {**FLAT, "mysite/settings.py": settings})
    init(root)
    written = snapshot(root)
    assert roles(root) == {"broker": "redis", "database": "postgres"}
    capsys.readouterr()

    assert init(root) == 0

    assert snapshot(root) == written
    out = capsys.readouterr().out
    assert 'kept     database = "postgres"  (already set)' in out
    assert 'kept     broker = "redis"  (already set)' in out
    assert "nothing to change" in out


@pytest.mark.parametrize(
    ("given", "shown", "check"),
    [
        ("sqlite", '"sqlite"  (already set; differs)', 'database: kept; inferred "postgres"'),
        ("postgresql://app:secret@db:5432/shop", '"postgresql://app:***@db:5432/shop"', ""),
    ],
)
def test_a_database_the_user_set_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str, shown: str, check: str
) -> None:
    table = f'[tool.orchestrator]\ndatabase = "{given}"  # ours\n'
    files = {**FLAT, "mysite/settings.py": POSTGRES_SETTINGS, "pyproject.toml": table}
    root = make_project(tmp_path, files)

    assert init(root) == 0

    assert (root / "pyproject.toml").read_text().startswith(table)
    assert roles(root) == {"database": given}
    out = capsys.readouterr().out
    assert f"kept     database = {shown}" in out
    assert "secret" not in out
    assert check in out


def test_an_invalid_database_is_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = '[tool.orchestrator]\ndatabase = "mysql"\n'
    files = {**FLAT, "mysite/settings.py": POSTGRES_SETTINGS, "pyproject.toml": table}
    root = make_project(tmp_path, files)

    assert init(root) == 0

    assert roles(root) == {"database": "postgres"}
    assert "replaced database = \"postgres\"  (was \"mysql\": expected 'sqlite' or 'postgres'" in (
        capsys.readouterr().out
    )
