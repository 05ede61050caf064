"""The image cache: what would be built is loaded from the directory a CI cache carries,
and what is built is saved there; an archive that cannot be loaded costs a build, no more."""

import contextlib
import secrets

import docker
import pytest

from orchestrator.image_cache import archive_name
from tests.integration.inner import orchestrator

pytestmark = pytest.mark.integration


def build_redis(root, tmp_path, recipe, cache):
    """`orchestrator images build redis` on ``recipe``: its output and the line for redis."""
    result = orchestrator(
        root,
        tmp_path / "state",
        "images",
        "build",
        "redis",
        ORCHESTRATOR_IMAGE_MODE="build",
        ORCHESTRATOR_RECIPES_REDIS=str(recipe),
        ORCHESTRATOR_IMAGE_CACHE=str(cache),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = [line.split() for line in result.stdout.splitlines() if line.startswith("redis ")]
    return result.stdout + result.stderr, row[1], row[2]


@pytest.mark.timeout(180)
def test_a_built_image_is_saved_and_loaded_next_time_instead_of_built(pytestconfig, tmp_path):
    # A recipe of its own: an image no other test has, built in a second.
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
        f"LABEL io.stackyard.test.cache={secrets.token_hex(8)}\n"
    )
    cache = tmp_path / "cache"
    client = docker.from_env()
    reference = ""
    try:
        output, reference, action = build_redis(pytestconfig.rootpath, tmp_path, recipe, cache)
        assert action == "built", output
        (archive,) = cache.iterdir()
        assert archive.name == archive_name(reference)
        built = client.images.get(reference).id

        client.images.remove(reference, force=True)
        output, again, action = build_redis(pytestconfig.rootpath, tmp_path, recipe, cache)
        assert (again, action) == (reference, "loaded"), output
        assert client.images.get(reference).id == built  # the same image, not a rebuild

        # A damaged archive (a cache cut short): removed, the image built and saved anew.
        archive.write_bytes(b"not an image")
        client.images.remove(reference, force=True)
        output, again, action = build_redis(pytestconfig.rootpath, tmp_path, recipe, cache)
        assert (again, action) == (reference, "built"), output
        assert f"cannot load {archive.name}" in output
        assert archive.stat().st_size > 1000
        assert [p.name for p in cache.iterdir()] == [archive.name]  # no partial file left
    finally:
        if reference:
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(reference, force=True)
        client.close()
