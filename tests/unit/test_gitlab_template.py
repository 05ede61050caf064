"""The GitLab CI template: an include-able file whose jobs are the Make targets CI runs
here, on a docker:dind service reached as a remote engine."""

import re
import subprocess
from pathlib import Path

import yaml

from tests.unit.shell_scripts import shellcheck_output

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "ci" / "gitlab" / "stackyard.gitlab-ci.yml"


def load() -> dict:
    return yaml.safe_load(TEMPLATE.read_text())


def job(name: str) -> dict:
    """A job with what it extends merged in, as GitLab does (one level here)."""
    template = load()
    found = dict(template[name])
    base = template.get(found.pop("extends", ""), {})
    variables = {**base.get("variables", {}), **found.get("variables", {})}
    return {**base, **found, "variables": variables}


def test_the_jobs_are_the_make_targets_and_the_targets_exist():
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))

    assert job("stackyard-fast")["script"] == ["make test-fast"]
    assert job("stackyard-integration")["script"][-1] == "make test-integration"
    assert {"test-fast", "test-integration"} <= targets
    for name in ("stackyard-fast", "stackyard-integration"):
        assert job(name)["stage"] in load()["stages"]
        assert job(name)["timeout"]


def test_the_integration_job_reaches_its_dind_service_as_a_remote_engine():
    integration = job("stackyard-integration")
    (service,) = integration["services"]
    variables = integration["variables"]

    assert service["name"] == "$STACKYARD_DIND_IMAGE"
    assert load()["variables"]["STACKYARD_DIND_IMAGE"].startswith("docker:")
    assert load()["variables"]["STACKYARD_DIND_IMAGE"].endswith("-dind")
    assert variables["DOCKER_HOST"] == f"tcp://{service['alias']}:2375"
    assert variables["DOCKER_TLS_CERTDIR"] == ""
    assert "--host=tcp://0.0.0.0:2375" in service["command"]
    assert "DOCKER_HOST" not in job("stackyard-fast")["variables"]  # no engine there


def test_the_shard_is_the_parallel_jobs_index_and_none_without_parallel(tmp_path):
    (line,) = [s for s in job("stackyard-integration")["script"] if "SHARD=" in s]
    script = tmp_path / "shard.sh"
    script.write_text(f'{line}\necho "[$SHARD]"\n')

    def shard(**environment: str) -> str:
        completed = subprocess.run(
            ["bash", str(script)], env=environment, capture_output=True, text=True, timeout=10
        )
        return completed.stdout.strip()

    # GitLab sets CI_NODE_TOTAL=1 and no index without `parallel:`.
    assert shard(CI_NODE_TOTAL="1") == "[]"
    assert shard(CI_NODE_INDEX="2", CI_NODE_TOTAL="3") == "[2/3]"


def test_reports_and_artifacts_match_what_the_makefile_writes():
    makefile = (ROOT / "Makefile").read_text()
    fast, integration = job("stackyard-fast"), job("stackyard-integration")

    assert "--junitxml=$(REPORTS)/junit-fast.xml" in makefile
    assert fast["artifacts"]["reports"]["junit"] == "reports/junit-fast.xml"
    assert "--junitxml=$(REPORTS)/junit-integration$(SHARD_SUFFIX).xml" in makefile
    assert integration["artifacts"]["reports"]["junit"] == "reports/junit-integration*.xml"
    for each in (fast, integration):
        assert each["variables"]["REPORTS"] == "reports"
        assert each["artifacts"]["when"] == "always"
        assert "artifacts/" in each["artifacts"]["paths"]


def test_the_caches_are_inside_the_project_and_the_image_cache_is_what_stackyard_reads():
    integration = job("stackyard-integration")
    cached = [path for entry in integration["cache"] for path in entry["paths"]]
    directory = integration["variables"]["ORCHESTRATOR_IMAGE_CACHE"]

    assert directory.startswith("$CI_PROJECT_DIR/")  # GitLab caches only those
    assert directory.removeprefix("$CI_PROJECT_DIR/") in cached
    assert job("stackyard-fast")["variables"]["PIP_CACHE_DIR"] == "$CI_PROJECT_DIR/.cache/pip"
    assert ".cache/pip" in cached
    for entry in integration["cache"]:
        assert entry["key"]["files"] == ["pyproject.toml"]


def test_the_scripts_pass_shellcheck(tmp_path):
    for name in ("stackyard-fast", "stackyard-integration"):
        script = "\n".join(job(name)["script"])
        assert shellcheck_output(script, tmp_path / f"{name}.sh") == ""
