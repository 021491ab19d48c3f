"""`make deploy-check` on the real files passes, and on deliberately broken copies fails with a
message naming what is wrong: a misspelt settings key, a topic with too few partitions for its
autoscaler, a topic missing, an invalid manifest, an invalid ScaledObject, a compose file off the
spec, a Dockerfile hadolint refuses."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".venv-deploy" / "bin"
MODULES = REPO / "deploy" / ".tools" / "node_modules"

if not (TOOLS / "kubectl").exists() or not MODULES.exists():
    pytest.skip("validation tools not installed: run make deploy-check", allow_module_level=True)

_spec = importlib.util.spec_from_file_location("deploy_check", REPO / "deploy" / "check.py")
assert _spec is not None and _spec.loader is not None
deploy_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(deploy_check)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    shutil.copytree(REPO / "deploy", root / "deploy", ignore=shutil.ignore_patterns(".tools"))
    for name in ("Dockerfile", "docker-compose.yml"):
        shutil.copy(REPO / name, root / name)
    return root


def broken(pristine: Path, tmp_path: Path, change: Callable[[Path], None]) -> list[str]:
    root = tmp_path / "copy"
    shutil.copytree(pristine, root)
    change(root)
    return list(deploy_check.check(root, TOOLS, MODULES))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_the_real_files_pass(pristine: Path) -> None:
    assert list(deploy_check.check(pristine, TOOLS, MODULES)) == []


def test_a_misspelt_settings_key_fails(pristine: Path, tmp_path: Path) -> None:
    config = "deploy/k8s/base/config/storage.yaml"
    problems = broken(pristine, tmp_path, lambda r: edit(r / config, "retention:", "retension:"))
    assert any("storage.yaml" in p and "retension" in p for p in problems), problems


def test_too_few_partitions_for_the_autoscaler_fails(pristine: Path, tmp_path: Path) -> None:
    topics = "deploy/k8s/components/strimzi/topics.yaml"

    def shrink(root: Path) -> None:
        edit(
            root / topics,
            "topicName: vigie.frames.v1\n  partitions: 6",
            "topicName: vigie.frames.v1\n  partitions: 2",
        )

    problems = broken(pristine, tmp_path, shrink)
    assert any("vigie-detection may run 6 replicas but vigie.frames.v1 has only 2" in p
               for p in problems), problems  # fmt: skip
    assert any("KafkaTopic vigie.frames.v1 has 2 partitions, the code wants 6" in p
               for p in problems), problems  # fmt: skip


def test_a_topic_the_code_uses_but_no_kafkatopic_declares_fails(
    pristine: Path, tmp_path: Path
) -> None:
    topics = "deploy/k8s/components/strimzi/topics.yaml"

    def drop(root: Path) -> None:
        edit(root / topics, "topicName: vigie.audit.v1", "topicName: vigie.audit-old.v1")

    problems = broken(pristine, tmp_path, drop)
    assert any("topic vigie.audit.v1 is used by the code but has no KafkaTopic" in p
               for p in problems), problems  # fmt: skip


def test_an_invalid_manifest_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(r / "deploy/k8s/base/tracking.yaml", "replicas: 1", "replicas: one"),
    )
    assert any("overlay" in p and "replicas" in p for p in problems), problems


def test_an_invalid_scaledobject_fails(pristine: Path, tmp_path: Path) -> None:
    keda = "deploy/k8s/components/keda/scaledobjects.yaml"
    problems = broken(
        pristine, tmp_path, lambda r: edit(r / keda, "maxReplicaCount: 6", "maxReplicaCount: lots")
    )
    assert any("ScaledObject" in p and "maxReplicaCount" in p for p in problems), problems


def test_a_compose_file_off_the_spec_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / "docker-compose.yml", "  kafka:\n", "  kafka:\n    restart_policy: sometimes\n"
        ),
    )
    assert any(p.startswith("docker-compose.yml") for p in problems), problems


def test_a_dockerfile_hadolint_refuses_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine, tmp_path, lambda r: edit(r / "Dockerfile", "WORKDIR /src\n", "RUN cd /src\n")
    )
    assert any(p.startswith("Dockerfile") and "DL3003" in p for p in problems), problems
