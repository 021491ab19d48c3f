"""``make deploy-check``: prove the deployment files are valid without a cluster or an engine.

1. The Dockerfile passes hadolint; docker-compose.yml validates against the compose spec.
2. Every overlay renders (``kubectl kustomize``); its built-in kinds validate strictly against
   Kubernetes 1.32 (``kubernetes-validate``); its KEDA ScaledObjects against the KEDA models
   (npm ``@kubernetes-models/keda``); Strimzi, k8ssandra and Prometheus-operator objects against
   the fields their operators require (their schemas are not available offline).
3. Topics: every topic the code uses (``vigie_runtime.topics``, the alert policy's audience
   routes, the alerting stream application's internal topics) exists as a KafkaTopic with at
   least the partitions the code wants, and at least as many as the KEDA maximum replicas of
   every consumer stage reading it.
4. Configuration: every service settings file in the ConfigMaps is accepted by that service's
   settings model (unknown keys are errors, so a typo fails), and the scene file, alert policy
   and tokens file load.

    .venv/bin/python deploy/check.py [--root DIR] [--tools .venv-deploy/bin]
                                     [--node-modules deploy/.tools/node_modules]

Exits 1 with one line per problem, naming the file or overlay and the object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

KEDA_SCRIPT = """
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
const objects = JSON.parse(process.argv[2]);
let failed = 0;
for (const o of objects) {
  try { new ScaledObject(o).validate(); }
  catch (e) { failed += 1; console.log(`ScaledObject ${o.metadata?.name}: ${e.message}`); }
}
process.exit(failed ? 1 : 0);
"""

# The alerting service's stream application creates these besides the topics of TOPICS.
STREAM_TOPICS = {
    "vigie-alerting-alert-state-changelog": ("vigie-alerting", 6),
    "vigie-alerting-__assignor-__leader": ("vigie-alerting", 1),
}

CRD_REQUIRED: dict[str, list[str]] = {
    "KafkaTopic": ["spec.topicName", "spec.partitions", "spec.replicas"],
    "KafkaUser": ["spec.authentication.type", "spec.authorization.acls"],
    "Kafka": ["spec.kafka.listeners", "spec.kafka.version"],
    "KafkaNodePool": ["spec.replicas", "spec.roles", "spec.storage"],
    "K8ssandraCluster": ["spec.cassandra.datacenters"],
    "ServiceMonitor": ["spec.selector", "spec.endpoints"],
}
KEDA_KINDS = {"ScaledObject"}


class Problems(list[str]):
    def add(self, where: str, what: str) -> None:
        self.append(f"{where}: {what}")


def run(cmd: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=300)


def field(obj: dict[str, Any], dotted: str) -> Any:
    value: Any = obj
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


# -- images and compose ------------------------------------------------------------------------


def check_dockerfile(root: Path, tools: Path, problems: Problems) -> None:
    result = run([str(tools / "hadolint"), str(root / "Dockerfile")])
    for line in (result.stdout + result.stderr).splitlines():
        if line.strip():
            problems.add("Dockerfile", line.strip())
    if result.returncode != 0 and not (result.stdout + result.stderr).strip():
        problems.add("Dockerfile", f"hadolint exited {result.returncode}")


def check_compose(root: Path, tools: Path, problems: Problems) -> None:
    compose = root / "docker-compose.yml"
    result = run(
        [str(tools / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(compose)]
    )
    if result.returncode != 0:
        problems.add("docker-compose.yml", (result.stdout + result.stderr).strip())


# -- kustomize ---------------------------------------------------------------------------------


def render(overlay: Path, tools: Path) -> list[dict[str, Any]]:
    result = run([str(tools / "kubectl"), "kustomize", str(overlay)])
    if result.returncode != 0:
        raise ValueError(f"does not render: {result.stderr.strip()}")
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def check_builtin(name: str, docs: list[dict[str, Any]], tools: Path, problems: Problems) -> None:
    builtin = [d for d in docs if d["kind"] not in CRD_REQUIRED and d["kind"] not in KEDA_KINDS]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as out:
        yaml.safe_dump_all(builtin, out)
    try:
        result = run([str(tools / "kubernetes-validate"), "--strict", "-k", "1.32.0", out.name])
    finally:
        os.unlink(out.name)
    for line in (result.stdout + result.stderr).splitlines():
        failed = line.startswith("ERROR") or (result.returncode != 0 and "passed" not in line)
        if failed and line.strip():
            problems.add(f"overlay {name}", line.replace(out.name, "manifest").strip())


def check_keda(name: str, docs: list[dict[str, Any]], modules: Path, problems: Problems) -> None:
    objects = [d for d in docs if d["kind"] in KEDA_KINDS]
    if not objects:
        return
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "validate.mjs"
        script.write_text(KEDA_SCRIPT)
        env = {**os.environ, "NODE_PATH": str(modules)}
        (Path(tmp) / "node_modules").symlink_to(modules)
        result = subprocess.run(
            ["node", str(script), json.dumps(objects)],
            capture_output=True, text=True, timeout=120, env=env, cwd=tmp,
        )  # fmt: skip
    if result.returncode != 0:
        lines = (result.stdout + result.stderr).strip().splitlines() or ["validation failed"]
        for line in lines[:20]:
            problems.add(f"overlay {name}", line)


def check_crds(name: str, docs: list[dict[str, Any]], problems: Problems) -> None:
    for doc in docs:
        required = CRD_REQUIRED.get(doc["kind"])
        if required is None:
            continue
        for path in required:
            if field(doc, path) in (None, [], {}):
                problems.add(
                    f"overlay {name}", f"{doc['kind']} {doc['metadata']['name']}: {path} missing"
                )
        if doc["kind"] == "KafkaTopic" and not isinstance(field(doc, "spec.partitions"), int):
            problems.add(f"overlay {name}", f"KafkaTopic {doc['metadata']['name']}: bad partitions")


# -- topics ------------------------------------------------------------------------------------


def consumers_of() -> dict[str, set[str]]:
    """Consumer group -> topics it reads (the code's own table, plus the stream application)."""
    from vigie_cli.pipeline import GROUP_TOPICS

    groups = {group: set(topics) for group, topics in GROUP_TOPICS.items()}
    groups.setdefault("vigie-analytics-pixels", set()).add("vigie.frames.v1")
    groups.setdefault("vigie-alerting", set()).update({"vigie.verdicts.v1", "vigie.alerts.v1"})
    return groups


def audience_topics(docs: list[dict[str, Any]]) -> set[str]:
    for doc in docs:
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("vigie-alert-policy"):
            policy = yaml.safe_load(doc["data"]["alert-policy.yaml"])
            return {route["topic"] for route in policy.get("routes", [])}
    return set()


def check_topics(name: str, docs: list[dict[str, Any]], problems: Problems) -> None:
    from vigie_runtime.topics import TOPICS

    declared = {
        d["spec"]["topicName"]: d["spec"]["partitions"]
        for d in docs
        if d["kind"] == "KafkaTopic" and field(d, "spec.topicName")
    }
    scaled = [d for d in docs if d["kind"] == "ScaledObject"]
    if not declared:
        if scaled:
            problems.add(f"overlay {name}", "ScaledObjects but no KafkaTopic to check them against")
        return
    wanted = {spec.name: spec.partitions for spec in TOPICS}
    wanted.update({t: 1 for t in audience_topics(docs)})
    wanted.update({t: p for t, (_, p) in STREAM_TOPICS.items()})
    for topic, partitions in sorted(wanted.items()):
        have = declared.get(topic)
        if have is None:
            problems.add(
                f"overlay {name}", f"topic {topic} is used by the code but has no KafkaTopic"
            )
        elif have < partitions:
            problems.add(
                f"overlay {name}",
                f"KafkaTopic {topic} has {have} partitions, the code wants {partitions}",
            )
    groups = consumers_of()
    for obj in scaled:
        maximum = field(obj, "spec.maxReplicaCount")
        if not isinstance(maximum, int):
            continue  # the KEDA validation above reports it
        for trigger in field(obj, "spec.triggers") or []:
            meta = trigger.get("metadata", {})
            topics = {meta.get("topic")} | groups.get(meta.get("consumerGroup", ""), set())
            for topic in sorted(t for t in topics if t):
                have = declared.get(topic)
                if have is None:
                    problems.add(f"overlay {name}", f"ScaledObject {obj['metadata']['name']} reads"
                                 f" {topic}, which has no KafkaTopic")  # fmt: skip
                elif have < maximum:
                    problems.add(
                        f"overlay {name}",
                        f"ScaledObject {obj['metadata']['name']} may run {maximum} replicas but"
                        f" {topic} has only {have} partitions",
                    )


# -- configuration -----------------------------------------------------------------------------


def settings_classes() -> dict[str, type]:
    from vigie_alerting.settings import AlertingSettings
    from vigie_analytics.settings import AnalyticsSettings
    from vigie_capture.settings import CaptureSettings
    from vigie_detection.settings import DetectionSettings
    from vigie_storage.settings import StorageSettings
    from vigie_tracking.settings import TrackingSettings

    return {
        "capture.yaml": CaptureSettings,
        "detection.yaml": DetectionSettings,
        "tracking.yaml": TrackingSettings,
        "analytics.yaml": AnalyticsSettings,
        "alerting.yaml": AlertingSettings,
        "storage.yaml": StorageSettings,
    }


def check_settings_text(where: str, key: str, text: str, problems: Problems) -> None:
    from vigie_alerting.policy_file import load_policy
    from vigie_runtime.auth import TokensFile
    from vigie_runtime.scenes import load_scenes
    from vigie_runtime.settings import load_settings
    from vigie_runtime.yamlconf import ConfigError, load_model

    classes = settings_classes()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / key
        path.write_text(text)
        try:
            if key in classes:
                load_settings(classes[key], path)
            elif key == "scenes.yaml":
                load_scenes(path)
            elif key == "alert-policy.yaml":
                load_policy(path)
            elif key == "tokens.yaml":
                load_model(path, TokensFile)
            else:
                problems.add(where, f"{key}: no service reads this key")
        except (ConfigError, ValueError) as exc:
            for line in str(exc).splitlines():
                problems.add(where, line.replace(str(path), key))


def check_configmaps(name: str, docs: list[dict[str, Any]], problems: Problems) -> None:
    prefixes = ("vigie-config", "vigie-scenes", "vigie-alert-policy")
    for doc in docs:
        meta = doc["metadata"]["name"]
        if doc["kind"] == "ConfigMap" and meta.startswith(prefixes):
            for key, text in sorted(doc.get("data", {}).items()):
                check_settings_text(f"overlay {name}: ConfigMap {meta}", key, text, problems)
        if doc["kind"] == "Secret" and meta == "vigie-desk-tokens":
            for key, text in sorted(doc.get("stringData", {}).items()):
                check_settings_text(f"overlay {name}: Secret {meta}", key, text, problems)


def check_compose_configs(root: Path, problems: Problems) -> None:
    """The files the compose stack mounts, each checked as what its mount point says."""
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    for service, spec in compose.get("services", {}).items():
        for volume in spec.get("volumes", []) or []:
            source, _, target = str(volume).partition(":")
            target = target.split(":")[0]
            if not source.startswith("./") or not target.startswith("/etc/vigie/"):
                continue
            key = Path(target).name
            path = root / source
            if not path.exists():
                problems.add(f"docker-compose.yml: {service}", f"{source} does not exist")
                continue
            check_settings_text(f"docker-compose.yml: {service}", key, path.read_text(), problems)


# -- all ---------------------------------------------------------------------------------------


def check(
    root: Path, tools: Path, modules: Path, overlays: Iterable[str] | None = None
) -> Problems:
    problems = Problems()
    check_dockerfile(root, tools, problems)
    check_compose(root, tools, problems)
    check_compose_configs(root, problems)
    overlay_dir = root / "deploy" / "k8s" / "overlays"
    names = sorted(overlays or (p.name for p in overlay_dir.iterdir() if p.is_dir()))
    for name in names:
        try:
            docs = render(overlay_dir / name, tools)
        except ValueError as exc:
            problems.add(f"overlay {name}", str(exc))
            continue
        check_builtin(name, docs, tools, problems)
        check_keda(name, docs, modules, problems)
        check_crds(name, docs, problems)
        check_topics(name, docs, problems)
        check_configmaps(name, docs, problems)
        print(f"overlay {name}: {len(docs)} objects rendered and checked")
    return problems


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=here.parent)
    parser.add_argument("--tools", type=Path, default=here.parent / ".venv-deploy" / "bin")
    parser.add_argument("--node-modules", type=Path, default=here / ".tools" / "node_modules")
    args = parser.parse_args(argv)
    problems = check(args.root.resolve(), args.tools.resolve(), args.node_modules.resolve())
    if problems:
        print(f"deploy-check: {len(problems)} problem(s)", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print("deploy-check: images, compose file and every overlay are valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
