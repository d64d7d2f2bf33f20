"""The test images (localkube/images.py recipes, each with exactly its default image's tools)
that stand in for each preset's default images on a cluster that cannot pull them."""

from __future__ import annotations

from typing import Callable

# preset -> values path of an image block -> test image recipe
TEST_IMAGES: dict[str, dict[str, str]] = {
    "etcd": {"image": "etcd", "toolsImage": "etcd-tools", "kubectlImage": "kubectl"},
    "redis": {"image": "redis", "kubectlImage": "kubectl"},
    # the mysql preset's mariadb flavor (Oracle MySQL has no package or image here)
    "mysql-mariadb": {"image": "mariadb", "kubectlImage": "kubectl"},
    # the component's e2e server (test-only: an HTTP server that keeps files on its volume) and
    # its helm test image, debian:<suite>-slim's tool set
    "component": {"image": "datasrv", "testImage": "debian"},
}


def image_values(ref: str) -> dict:
    """An image block for REF (registry/repository:tag), used as it is (IfNotPresent)."""
    repo, tag = ref.rsplit(":", 1)
    registry, repository = repo.split("/", 1)
    return {"registry": registry, "repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}


def preset_values(load: Callable[[str], str]) -> dict[str, dict[str, dict]]:
    """Per preset, the image values that make its charts use the test images LOAD provides
    (LOAD: recipe name -> image reference, built and loaded into the cluster)."""
    refs: dict[str, str] = {}
    out: dict[str, dict[str, dict]] = {}
    for preset, blocks in TEST_IMAGES.items():
        out[preset] = {}
        for path, recipe in blocks.items():
            if recipe not in refs:
                refs[recipe] = load(recipe)
            out[preset][path] = image_values(refs[recipe])
    return out


def recipes() -> list[str]:
    """Every test image the suite uses (`python -m tests.e2e.images` prints them)."""
    return sorted({recipe for blocks in TEST_IMAGES.values() for recipe in blocks.values()})


if __name__ == "__main__":
    print(" ".join(recipes()))

