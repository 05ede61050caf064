"""The GitHub Actions workflows: actionlint, the rules they follow, and their README section."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.shell_scripts import shellcheck_output

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
REUSABLE = WORKFLOWS / "stackyard.yml"
CALLER = WORKFLOWS / "ci.yml"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads a bare `on` as true
    return data


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_actionlint_passes_on_both_workflows():
    completed = subprocess.run(
        ["bash", str(ROOT / "ci" / "actionlint.sh"), "check"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "2 workflow file(s) pass" in completed.stdout


def test_actionlint_catches_an_undefined_input(tmp_path):
    """The check can fail: a workflow naming an input it does not declare."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "ci", project / "ci", symlinks=True)
    (project / ".github" / "workflows").mkdir(parents=True)
    broken = REUSABLE.read_text().replace("inputs.pytest-args", "inputs.pytest_args", 1)
    (project / ".github" / "workflows" / "stackyard.yml").write_text(broken)

    completed = subprocess.run(
        ["bash", str(project / "ci" / "actionlint.sh"), "check"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 1
    assert 'property "pytest_args" is not defined' in completed.stdout


def test_every_input_is_documented_in_the_readme():
    inputs = load(REUSABLE)["on"]["workflow_call"]["inputs"]
    readme = (ROOT / "README.md").read_text()
    documented = dict(re.findall(r"^\| `([\w-]+)` \| (string|number|boolean) \|", readme, re.M))

    for name, spec in inputs.items():
        assert spec.get("description"), f"input {name} has no description"
        assert documented.get(name) == spec["type"], f"input {name} missing from README's table"
    assert set(documented) == set(inputs), "README documents inputs the workflow does not have"


def test_the_repository_calls_the_reusable_workflow_with_its_inputs():
    inputs = load(REUSABLE)["on"]["workflow_call"]["inputs"]
    (job,) = load(CALLER)["jobs"].values()

    assert job["uses"] == "./.github/workflows/stackyard.yml"
    for name, value in job.get("with", {}).items():
        assert name in inputs, f"ci.yml passes {name}, which stackyard.yml does not declare"
        kind = {"string": str, "number": int, "boolean": bool}[inputs[name]["type"]]
        assert isinstance(value, kind), f"ci.yml passes {name}={value!r}, not a {kind.__name__}"


@pytest.mark.parametrize("path", [REUSABLE, CALLER], ids=lambda p: p.name)
def test_actions_pinned_and_permissions_minimal(path):
    workflow = load(path)

    assert workflow["permissions"] == {"contents": "read"}
    for step in steps(workflow):
        if "uses" in step:
            assert PINNED.match(step["uses"]), f"{step['uses']} is not pinned to a commit"
    text = path.read_text()
    for line in text.splitlines():
        if re.search(r"uses: [\w.-]+/[\w.-]+@", line):
            assert re.search(r"@[0-9a-f]{40} # v\d", line), f"no version comment: {line.strip()}"


def test_every_job_is_bounded_and_superseded_runs_are_cancelled():
    workflow = load(REUSABLE)

    for name, job in workflow["jobs"].items():
        assert "timeout-minutes" in job, f"job {name} has no timeout"
    assert workflow["concurrency"]["cancel-in-progress"] is True
    # A called workflow shares github.workflow with its caller: its group must differ.
    assert workflow["concurrency"]["group"].startswith("stackyard-")


def test_test_steps_are_make_targets_that_exist():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M))

    runs = [step["run"] for step in steps(load(REUSABLE)) if step.get("run", "").startswith("make")]
    assert sorted(runs) == ["make test-fast", "make test-integration"]
    for run in runs:
        assert run.split()[1] in targets


def test_shell_scripts_pass_shellcheck(tmp_path):
    scripts = [step["run"] for step in steps(load(REUSABLE)) if "run" in step]
    assert scripts

    for number, script in enumerate(scripts):
        # Expressions are filled in before the shell sees the script.
        filled = EXPRESSION.sub("value", script)
        assert shellcheck_output(filled, tmp_path / f"step{number}.sh") == ""


def job_steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def test_the_integration_jobs_carry_the_images_in_the_cache_that_stackyard_reads():
    workflow = load(REUSABLE)
    found = job_steps(workflow, "integration")
    (restore,) = [step for step in found if step.get("uses", "").startswith("actions/cache@")]
    (run,) = [step for step in found if step.get("run") == "make test-integration"]

    # The cache's directory is the one the test run loads images from and saves them in.
    cached = re.fullmatch(r"\$\{\{ ([\w.]+) \}\}/stackyard-images", restore["with"]["path"])
    assert cached is not None, restore["with"]["path"]
    read = run["env"]["ORCHESTRATOR_IMAGE_CACHE"]
    assert f"format('{{0}}/stackyard-images', {cached.group(1)})" in read
    assert found.index(restore) < found.index(run)
    assert restore["if"] == "inputs.image-cache"
    # The key changes with every input of the images the caller's tree holds, and with
    # what the images are built for; an older key's copy is restored when none matches.
    key, prefix = restore["with"]["key"], restore["with"]["restore-keys"].strip()
    assert key.startswith(prefix)
    for part in ("runner.os", "runner.arch", "inputs.python-version", "inputs.image-mode"):
        assert part in prefix
    hashed = re.search(r"hashFiles\((.*)\)", key.removeprefix(prefix))
    assert hashed is not None
    patterns = re.findall(r"'([^']+)'", hashed.group(1))
    assert {"pyproject.toml", "**/requirements*.txt", "**/constraints*.txt", "docker/**"} <= set(
        patterns
    )


@pytest.mark.parametrize("job", ["fast", "integration"])
def test_pip_downloads_are_cached_by_the_files_the_caller_names(job):
    workflow = load(REUSABLE)
    (setup,) = [
        step
        for step in job_steps(workflow, job)
        if step.get("uses", "").startswith("actions/setup-python@")
    ]

    assert setup["with"]["cache"] == "${{ inputs.pip-cache != '' && 'pip' || '' }}"
    assert setup["with"]["cache-dependency-path"] == "${{ inputs.pip-cache }}"
    assert workflow["on"]["workflow_call"]["inputs"]["pip-cache"]["default"] == "pyproject.toml"
