"""The sdist and the wheel hold what an adopter needs: the recipes, types, entry points."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from trove_classifiers import classifiers

REPO = Path(__file__).parents[2]
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    target = tmp_path_factory.mktemp("dist")
    completed = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(target), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    # setuptools warns about what it leaves out (a recipe directory not listed as a package).
    assert "WARNING" not in completed.stdout + completed.stderr
    (wheel,) = target.glob("*.whl")
    (sdist,) = target.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_the_wheel_carries_every_recipe_and_nothing_of_the_repository(distributions):
    with zipfile.ZipFile(distributions["wheel"]) as archive:
        names = set(archive.namelist())
    recipes = {
        f"orchestrator/recipes/{path.relative_to(REPO / 'docker')}"
        for path in (REPO / "docker").rglob("*")
        if path.is_file()
    }

    assert recipes
    assert recipes <= names, recipes - names
    assert {"orchestrator/py.typed", "fixtures/py.typed"} <= names
    assert {name.split("/")[0] for name in names} == {
        "orchestrator",
        "fixtures",
        "stackyard-0.1.0.dist-info",
    }


def test_the_wheel_declares_its_entry_points_license_and_python(distributions):
    with zipfile.ZipFile(distributions["wheel"]) as archive:
        entry_points = archive.read("stackyard-0.1.0.dist-info/entry_points.txt").decode()
        metadata = Parser().parsestr(archive.read("stackyard-0.1.0.dist-info/METADATA").decode())
        names = archive.namelist()

    assert "stackyard = fixtures.plugin" in entry_points
    assert "orchestrator = orchestrator.cli:main" in entry_points
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Requires-Python"] == ">=3.11"
    assert "stackyard-0.1.0.dist-info/licenses/LICENSE" in names
    declared = metadata.get_all("Classifier")
    assert not set(declared) - classifiers, set(declared) - classifiers
    # Only Python versions CI runs are claimed (the adoption test's two legs).
    assert {c for c in declared if c.count(".") == 1 and "Python :: 3." in c} == {
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.13",
    }
    requires = {
        line.split("<")[0].split(">")[0]
        for line in metadata.get_all("Requires-Dist")
        if "extra ==" not in line
    }
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert requires == {line.split("<")[0].split(">")[0] for line in pyproject["dependencies"]}


def test_the_sdist_holds_the_license_readme_and_recipes(distributions):
    with tarfile.open(distributions["sdist"]) as archive:
        members = archive.getnames()
    top = "stackyard-0.1.0"

    assert {f"{top}/LICENSE", f"{top}/README.md", f"{top}/pyproject.toml"} <= set(members)
    assert f"{top}/docker/worker/boot.py" in members
    assert not [name for name in members if "/.venv/" in name or "/.stackyard/" in name]
