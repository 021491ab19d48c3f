"""``make deploy-check``: prove the deployment files are valid without a cluster or an engine.

1. The Dockerfile passes hadolint; docker-compose.yml validates against the compose spec, and the
   files it mounts into the services load as what they are mounted as.
2. Every overlay renders (``kubectl kustomize``); its built-in kinds validate strictly against
   Kubernetes 1.32 (``kubernetes-validate``); its KEDA ScaledObjects, Strimzi objects and
   ServiceMonitors against their operators' published schemas (npm ``@kubernetes-models/keda``,
   ``@kubernetes-models/strimzi-kafka-operator``, ``@kubernetes-models/prometheus-operator``);
   K8ssandraCluster, whose schema is not available offline, against the fields its operator
   requires.
3. Topics: every topic the code uses (``vigie_runtime.topics``, the alert policy's audience
   routes, the alerting stream application's internal topics) exists as a KafkaTopic with at
   least the partitions the code wants (the state changelog exactly as many as the events topic),
   and at least as many as the KEDA maximum replicas of every Deployment consuming it; each
   ScaledObject watches a consumer group its Deployment runs; each service's KafkaUser may read
   the topics and join the groups it consumes with.
4. Configuration: every service settings file in the ConfigMaps is accepted by that service's
   settings model (unknown keys are errors, so a typo fails), and the scene file, alert policy
   and tokens file load. Each Deployment is then checked as its pod would start: the file given
   with ``--config`` is mounted from a ConfigMap key, the settings load from it and the
   container's ``VIGIE_*`` variables, every file the settings name is mounted (and loads as what
   the setting expects), data paths are on writable volumes, variables named by ``*_env``
   settings are set, and the probes and ports match the ports the settings serve on.

    .venv/bin/python deploy/check.py [--root DIR] [--tools .venv-deploy/bin]
                                     [--node-modules deploy/.tools/node_modules]

Exits 1 with one line per problem, naming the file or overlay and the object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

# Validates objects against the models npm packages generate from each operator's CRD schemas.
MODELS_SCRIPT = """
import fs from "node:fs";
const packages = {
  "keda.sh": "keda",
  "kafka.strimzi.io": "strimzi-kafka-operator",
  "monitoring.coreos.com": "prometheus-operator",
};
const objects = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
let failed = 0;
for (const o of objects) {
  const [group, version] = o.apiVersion.split("/");
  const where = `${o.kind} ${o.metadata?.name}`;
  let model;
  try {
    model = await import(`@kubernetes-models/${packages[group]}/${group}/${version}/${o.kind}`);
  } catch (e) {
    failed += 1; console.log(`${where}: no schema for ${o.apiVersion} ${o.kind}`); continue;
  }
  try { new model[o.kind](o).validate(); }
  catch (e) { failed += 1; console.log(`${where}: ${e.message}`); }
}
process.exit(failed ? 1 : 0);
"""
SCHEMA_GROUPS = {"keda.sh", "kafka.strimzi.io", "monitoring.coreos.com"}

SERVICES = ("capture", "detection", "tracking", "analytics", "alerting", "storage")
# The alerting stream application's internal topics besides those of TOPICS (faust names them
# after the application id, the alerting group): the state changelog and the assignor's topic.
CHANGELOG = "vigie-alerting-alert-state-changelog"
ASSIGNOR = "vigie-alerting-__assignor-__leader"

# Fields the operators require, checked on every custom object (for K8ssandraCluster, which has
# no schema available offline, this is the whole validation).
CRD_REQUIRED: dict[str, list[str]] = {
    "KafkaTopic": ["spec.topicName", "spec.partitions", "spec.replicas"],
    "KafkaUser": ["spec.authentication.type", "spec.authorization.acls"],
    "Kafka": ["spec.kafka.listeners", "spec.kafka.version"],
    "KafkaNodePool": ["spec.replicas", "spec.roles", "spec.storage"],
    "K8ssandraCluster": ["spec.cassandra.serverVersion", "spec.cassandra.datacenters"],
    "ServiceMonitor": ["spec.selector", "spec.endpoints"],
    "ScaledObject": ["spec.scaleTargetRef.name", "spec.triggers"],
}
# The checkout this file belongs to: where the code's metric names are read from.
CODE = Path(__file__).resolve().parents[1]
# The image's working directory: relative paths in settings (var/...) land there.
WORKDIR = "/var/lib/vigie"
# Settings naming a file the service reads, and what that file must load as.
FILE_SETTINGS = {
    "scenes": "scenes.yaml",
    "policy_file": "alert-policy.yaml",
    "tokens_file": "tokens.yaml",
}


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


def group_of(doc: dict[str, Any]) -> str:
    api = str(doc.get("apiVersion", ""))
    return api.split("/")[0] if "/" in api else ""


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
    builtin = [
        d for d in docs if d["kind"] not in CRD_REQUIRED and group_of(d) not in SCHEMA_GROUPS
    ]
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


def check_operator_schemas(
    name: str, docs: list[dict[str, Any]], modules: Path, problems: Problems
) -> None:
    objects = [d for d in docs if group_of(d) in SCHEMA_GROUPS]
    if not objects:
        return
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "validate.mjs"
        script.write_text(MODELS_SCRIPT)
        (Path(tmp) / "objects.json").write_text(json.dumps(objects))
        (Path(tmp) / "node_modules").symlink_to(modules)
        result = subprocess.run(
            ["node", str(script), str(Path(tmp) / "objects.json")],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp,
        )
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
        if doc["kind"] == "K8ssandraCluster":
            for i, dc in enumerate(field(doc, "spec.cassandra.datacenters") or []):
                for key in ("metadata.name", "size"):
                    if field(dc, key) in (None, ""):
                        problems.add(
                            f"overlay {name}",
                            f"K8ssandraCluster {doc['metadata']['name']}"
                            f": spec.cassandra.datacenters[{i}].{key} missing",
                        )


# -- who consumes what -------------------------------------------------------------------------


def service_groups() -> dict[str, dict[str, set[str]]]:
    """Service -> its consumer groups -> the topics each reads: the code's own table
    (``vigie_cli.pipeline.GROUP_TOPICS``) plus what it leaves out, analytics' pixel stage and
    the alerting stream application's other inputs (tests/deploy checks this against the code)."""
    from vigie_cli.pipeline import GROUP_TOPICS
    from vigie_runtime.topics import ALERTS, FRAMES, VERDICTS

    groups = {group: set(topics) for group, topics in GROUP_TOPICS.items()}
    groups.setdefault("vigie-analytics-pixels", set()).add(FRAMES)
    groups.setdefault("vigie-alerting", set()).update({VERDICTS, ALERTS, CHANGELOG})
    by_service: dict[str, dict[str, set[str]]] = {}
    for group, topics in groups.items():
        service = group.removeprefix("vigie-").split("-")[0]
        by_service.setdefault(service, {})[group] = topics
    return by_service


def service_of_image(image: str) -> str | None:
    """The service an image runs: registry/vigie/<service>[-variant]:tag."""
    base = image.rsplit("/", 1)[-1].split("@")[0].split(":")[0]
    service = base.split("-")[0]
    return service if service in SERVICES else None


def deployment_services(docs: list[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for doc in docs:
        if doc["kind"] == "Deployment":
            for container in field(doc, "spec.template.spec.containers") or []:
                service = service_of_image(container.get("image", ""))
                if service:
                    out[doc["metadata"]["name"]] = service
    return out


# -- topics ------------------------------------------------------------------------------------


def audience_topics(docs: list[dict[str, Any]]) -> set[str]:
    for doc in docs:
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("vigie-alert-policy"):
            for text in doc.get("data", {}).values():
                policy = yaml.safe_load(text) or {}
                return {route["topic"] for route in policy.get("routes", []) or []}
    return set()


def check_topics(name: str, docs: list[dict[str, Any]], problems: Problems) -> None:
    from vigie_runtime.topics import ALERTS, BY_NAME, EVENTS, TOPICS

    where = f"overlay {name}"
    declared = {
        d["spec"]["topicName"]: d["spec"]["partitions"]
        for d in docs
        if d["kind"] == "KafkaTopic" and field(d, "spec.topicName")
    }
    scaled = [d for d in docs if d["kind"] == "ScaledObject"]
    if not declared:
        if scaled:
            problems.add(where, "ScaledObjects but no KafkaTopic to check them against")
        return
    wanted = {spec.name: spec.partitions for spec in TOPICS}
    # The alerting service creates each audience topic like the alerts topic.
    wanted.update({t: BY_NAME[ALERTS].partitions for t in audience_topics(docs)})
    wanted[CHANGELOG] = BY_NAME[EVENTS].partitions
    wanted[ASSIGNOR] = 1
    for topic, partitions in sorted(wanted.items()):
        have = declared.get(topic)
        if have is None:
            problems.add(where, f"topic {topic} is used by the code but has no KafkaTopic")
        elif not isinstance(have, int):
            continue  # check_crds reports it
        elif have < partitions:
            problems.add(
                where, f"KafkaTopic {topic} has {have} partitions, the code wants {partitions}"
            )
    # A camera's alert state sits on the changelog partition numbered like its events partition.
    events, changelog = declared.get(EVENTS), declared.get(CHANGELOG)
    if events is not None and changelog is not None and events != changelog:
        problems.add(
            where,
            f"KafkaTopic {CHANGELOG} has {changelog} partitions but {EVENTS} has"
            f" {events}: the alert state table must be partitioned like the events",
        )

    groups = service_groups()
    services = deployment_services(docs)
    for obj in scaled:
        so = f"ScaledObject {obj['metadata']['name']}"
        target = field(obj, "spec.scaleTargetRef.name")
        service = services.get(target)
        if service is None:
            problems.add(where, f"{so} scales {target}, which is not a Vigie Deployment")
            continue
        mine = groups.get(service, {})
        for trigger in field(obj, "spec.triggers") or []:
            meta = trigger.get("metadata", {}) or {}
            if trigger.get("type") != "kafka":
                continue
            group, topic = meta.get("consumerGroup"), meta.get("topic")
            if group not in mine:
                problems.add(
                    where,
                    f"{so} watches consumer group {group}, which {target} does not"
                    f" run (it runs {', '.join(sorted(mine)) or 'none'})",
                )
            elif topic and topic not in mine[group]:
                problems.add(where, f"{so} watches {topic}, which group {group} does not read")
        maximum = field(obj, "spec.maxReplicaCount")
        if not isinstance(maximum, int):
            continue  # the schema validation reports it
        # Every replica runs every consumer group of its service: each topic any of them reads
        # needs a partition per replica, or replicas sit idle.
        for topic in sorted(set().union(*mine.values()) if mine else set()):
            have = declared.get(topic)
            if have is None:
                problems.add(where, f"{so}: {target} reads {topic}, which has no KafkaTopic")
            elif isinstance(have, int) and have < maximum:
                problems.add(
                    where, f"{so} may run {maximum} replicas but {topic} has only {have} partitions"
                )


def check_acls(name: str, docs: list[dict[str, Any]], problems: Problems) -> None:
    """Each service's KafkaUser lets it read what it consumes and join its consumer groups."""
    users = {d["metadata"]["name"]: d for d in docs if d["kind"] == "KafkaUser"}
    if not users:
        return
    for service, groups in sorted(service_groups().items()):
        user = users.get(f"vigie-{service}")
        where = f"overlay {name}: KafkaUser vigie-{service}"
        if user is None:
            problems.add(f"overlay {name}", f"no KafkaUser vigie-{service}")
            continue
        grants: list[tuple[str, str, str, set[str]]] = []
        for acl in field(user, "spec.authorization.acls") or []:
            resource = acl.get("resource", {})
            operations = set(acl.get("operations", []) or [acl.get("operation")])
            grants.append(
                (
                    resource.get("type", ""),
                    resource.get("name", ""),
                    resource.get("patternType", "literal"),
                    operations,
                )
            )

        def may(kind: str, name: str, operation: str, grants: list = grants) -> bool:
            return any(
                kind == g_kind
                and (operation in ops or "All" in ops)
                and (name == g_name if pattern == "literal" else name.startswith(g_name))
                for g_kind, g_name, pattern, ops in grants
            )

        for group, topics in sorted(groups.items()):
            if not may("group", group, "Read"):
                problems.add(where, f"may not join consumer group {group} (no group Read ACL)")
            for topic in sorted(topics):
                if not may("topic", topic, "Read"):
                    problems.add(where, f"may not read {topic}, which group {group} consumes")


# -- monitoring --------------------------------------------------------------------------------


def code_metrics() -> set[str]:
    """Every metric name the code registers with prometheus_client."""
    pattern = re.compile(r"\b(?:Counter|Gauge|Histogram|Summary)\(\s*\"(vigie_\w+)\"")
    names: set[str] = set()
    for folder in ("libs", "services"):
        for path in (CODE / folder).rglob("*.py"):
            names.update(pattern.findall(path.read_text(encoding="utf-8", errors="replace")))
    return names


def exposed(name: str, known: set[str]) -> bool:
    """Whether ``name`` is a series one of ``known`` exposes (counters' _total, histograms')."""
    for suffix in ("", "_total", "_bucket", "_count", "_sum", "_created"):
        if name.endswith(suffix) and name.removesuffix(suffix) in known | {
            k.removesuffix("_total") for k in known
        }:
            return True
    return False


def check_rules(name: str, docs: list[dict[str, Any]], promtool: Path, problems: Problems) -> None:
    rules = [d for d in docs if d["kind"] == "PrometheusRule"]
    if not rules:
        return
    known = code_metrics()
    for doc in rules:
        where = f"overlay {name}: PrometheusRule {doc['metadata']['name']}"
        groups = field(doc, "spec.groups") or []
        for group in groups:
            for rule in group.get("rules", []) or []:
                for metric in sorted(set(re.findall(r"\bvigie_\w+", str(rule.get("expr", ""))))):
                    if not exposed(metric, known):
                        problems.add(
                            where,
                            f"{rule.get('alert') or rule.get('record')}: no"
                            f" service exports {metric}",
                        )
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as out:
            yaml.safe_dump({"groups": groups}, out)
        try:
            result = run([str(promtool), "check", "rules", out.name])
        finally:
            os.unlink(out.name)
        if result.returncode != 0:
            for line in (result.stdout + result.stderr).strip().splitlines():
                if line.strip() and "SUCCESS" not in line:
                    problems.add(where, line.replace(out.name, "rules").strip())


def check_prometheus_config(root: Path, promtool: Path, problems: Problems) -> None:
    config = root / "deploy" / "compose" / "prometheus.yml"
    result = run([str(promtool), "check", "config", "--syntax-only", str(config)])
    if result.returncode != 0:
        problems.add("deploy/compose/prometheus.yml", (result.stdout + result.stderr).strip())


# -- configuration -----------------------------------------------------------------------------


def settings_classes() -> dict[str, type]:
    from vigie_alerting.settings import AlertingSettings
    from vigie_analytics.settings import AnalyticsSettings
    from vigie_capture.settings import CaptureSettings
    from vigie_detection.settings import DetectionSettings
    from vigie_storage.settings import StorageSettings
    from vigie_tracking.settings import TrackingSettings

    return {
        "capture": CaptureSettings,
        "detection": DetectionSettings,
        "tracking": TrackingSettings,
        "analytics": AnalyticsSettings,
        "alerting": AlertingSettings,
        "storage": StorageSettings,
    }


@contextlib.contextmanager
def vigie_environment(env: dict[str, str]) -> Iterator[None]:
    """Only ``env``'s VIGIE_* variables (not this process's) while settings load."""
    saved = {k: v for k, v in os.environ.items() if k.upper().startswith("VIGIE_")}
    for key in saved:
        del os.environ[key]
    os.environ.update(env)
    try:
        yield
    finally:
        for key in env:
            os.environ.pop(key, None)
        os.environ.update(saved)


def load_text(
    where: str, kind: str, text: str, problems: Problems, env: dict[str, str] | None = None
) -> Any:
    """Load ``text`` as ``kind`` (a service settings file ``<service>.yaml``, ``scenes.yaml``,
    ``alert-policy.yaml`` or ``tokens.yaml``); report its errors; return what loaded."""
    from vigie_alerting.policy_file import load_policy
    from vigie_runtime.auth import TokensFile
    from vigie_runtime.scenes import load_scenes
    from vigie_runtime.settings import load_settings
    from vigie_runtime.yamlconf import ConfigError, load_model

    classes = settings_classes()
    service = kind.removesuffix(".yaml")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / kind
        path.write_text(text)
        try:
            if service in classes:
                with vigie_environment(env or {}):
                    return load_settings(classes[service], path)
            if kind == "scenes.yaml":
                return load_scenes(path)
            if kind == "alert-policy.yaml":
                return load_policy(path)
            if kind == "tokens.yaml":
                return load_model(path, TokensFile)
            problems.add(where, f"{kind}: no service reads this key")
        except (ConfigError, ValueError) as exc:
            for line in str(exc).splitlines():
                problems.add(where, line.replace(str(path), kind))
    return None


def check_configmaps(name: str, docs: list[dict[str, Any]], problems: Problems) -> None:
    prefixes = ("vigie-config", "vigie-scenes", "vigie-alert-policy")
    for doc in docs:
        meta = doc["metadata"]["name"]
        if doc["kind"] == "ConfigMap" and meta.startswith(prefixes):
            for key, text in sorted(doc.get("data", {}).items()):
                load_text(f"overlay {name}: ConfigMap {meta}", key, text, problems)
        if doc["kind"] == "Secret" and meta == "vigie-desk-tokens":
            for key, text in sorted(doc.get("stringData", {}).items()):
                load_text(f"overlay {name}: Secret {meta}", key, text, problems)


# -- each Deployment as its pod would start -----------------------------------------------------


def walk(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, (*path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from walk(item, (*path, str(i)))
    else:
        yield path, value


class Pod:
    """What one container sees: its files (by mount), its environment, its ports."""

    def __init__(self, doc: dict[str, Any], container: dict[str, Any], objects: dict) -> None:
        self.spec = field(doc, "spec.template.spec") or {}
        self.container = container
        self.objects = objects
        self.volumes = {v["name"]: v for v in self.spec.get("volumes", []) or []}
        self.mounts = sorted(
            container.get("volumeMounts", []) or [], key=lambda m: -len(m.get("mountPath", ""))
        )
        self.ports = {
            p.get("name"): p.get("containerPort") for p in container.get("ports", []) or []
        }

    def mount_of(self, path: str) -> tuple[dict[str, Any], str] | None:
        """The mount holding ``path`` and the path relative to it."""
        target = PurePosixPath(path)
        for mount in self.mounts:
            base = PurePosixPath(mount["mountPath"])
            if target == base or base in target.parents:
                return mount, str(target.relative_to(base))
        return None

    def file(self, path: str) -> tuple[str | None, str]:
        """The text of the ConfigMap or Secret key mounted at ``path``; or why there is none."""
        found = self.mount_of(path)
        if found is None:
            return None, "nothing is mounted there"
        mount, rel = found
        volume = self.volumes.get(mount["name"], {})
        if mount.get("subPath"):
            rel = mount["subPath"] if rel == "." else f"{mount['subPath']}/{rel}"
        for kind, ref in (("ConfigMap", "configMap"), ("Secret", "secret")):
            source = volume.get(ref)
            if source is None:
                continue
            obj_name = source.get("name") or source.get("secretName")
            items = {i["path"]: i["key"] for i in source.get("items", []) or []}
            key = items.get(rel, rel) if items else rel
            obj = self.objects.get((kind, obj_name))
            if obj is None:
                return None, f"it is mounted from {kind} {obj_name}, which does not exist"
            data = {**obj.get("data", {}), **obj.get("stringData", {})}
            if key not in data:
                return None, f"{kind} {obj_name} mounted at {mount['mountPath']} has no key {key}"
            return data[key], ""
        return None, f"volume {mount['name']} mounted at {mount['mountPath']} is not a ConfigMap"

    def writable(self, path: str) -> bool:
        found = self.mount_of(path)
        if found is None:
            rootfs = field(self.container, "securityContext.readOnlyRootFilesystem")
            return not rootfs
        mount, _ = found
        volume = self.volumes.get(mount["name"], {})
        data = "emptyDir" in volume or "persistentVolumeClaim" in volume or "ephemeral" in volume
        return data and not mount.get("readOnly", False)

    def env(self) -> tuple[dict[str, str], list[str]]:
        """The container's variables (secret values replaced by a placeholder), and problems."""
        out: dict[str, str] = {}
        errors: list[str] = []
        for var in self.container.get("env", []) or []:
            name = var["name"]
            if "value" in var:
                out[name] = str(var["value"])
                continue
            ref = field(var, "valueFrom.configMapKeyRef")
            if ref is not None:
                obj = self.objects.get(("ConfigMap", ref.get("name")))
                if obj is None or ref.get("key") not in obj.get("data", {}):
                    errors.append(
                        f"{name} refers to ConfigMap {ref.get('name')} key"
                        f" {ref.get('key')}, which does not exist"
                    )
                else:
                    out[name] = obj["data"][ref["key"]]
            else:
                out[name] = "secret"  # a Secret, or the downward API: a value at run time
        return out, errors

    def port(self, ref: Any) -> Any:
        return self.ports.get(ref, ref) if isinstance(ref, str) else ref


def check_deployments(name: str, docs: list[dict[str, Any]], problems: Problems) -> None:
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    for doc in docs:
        if doc["kind"] != "Deployment":
            continue
        for container in field(doc, "spec.template.spec.containers") or []:
            service = service_of_image(container.get("image", ""))
            if service is not None:
                where = f"overlay {name}: Deployment {doc['metadata']['name']}"
                check_pod(where, service, Pod(doc, container, objects), problems)


def check_pod(where: str, service: str, pod: Pod, problems: Problems) -> None:
    args = [str(a) for a in pod.container.get("args", []) or []]
    env, errors = pod.env()
    for error in errors:
        problems.add(where, error)
    config = env.get("VIGIE_CONFIG")
    if "--config" in args[:-1]:
        config = args[args.index("--config") + 1]
    text = ""
    if config is None:
        problems.add(where, "starts without --config: nothing in the ConfigMaps reaches it")
    else:
        found, why = pod.file(config)
        if found is None:
            problems.add(where, f"--config {config}: {why}")
        text = found or ""
    vigie_env = {
        k: v for k, v in env.items() if k.upper().startswith("VIGIE_") and k != "VIGIE_CONFIG"
    }
    settings = load_text(
        f"{where} ({service}.yaml with its VIGIE_* variables)",
        f"{service}.yaml",
        text,
        problems,
        vigie_env,
    )
    if settings is None:
        return
    data = settings.model_dump(mode="json")
    for path, value in walk(data):
        key = ".".join(path)
        leaf = path[-1] if path else ""
        if leaf.endswith("_env") and isinstance(value, str) and value and value not in env:
            problems.add(where, f"{key} names variable {value}, which the container does not set")
        if not isinstance(value, str) or not value:
            continue
        if leaf in FILE_SETTINGS:
            found, why = pod.file(value)
            if found is None:
                problems.add(where, f"{key} is {value} but {why}")
            else:
                load_text(f"{where}: {key} {value}", FILE_SETTINGS[leaf], found, problems)
        elif value.startswith("/etc/"):
            found, why = pod.file(value)
            if found is None and pod.mount_of(value) is None:
                problems.add(where, f"{key} is {value} but nothing is mounted there")
        elif (
            value.startswith("/")
            and not value.startswith("/opt/")
            and _is_data_path(leaf)
            and not pod.writable(value)
        ):
            problems.add(where, f"{key} is {value}, which is not on a writable volume")
    if field(pod.container, "securityContext.readOnlyRootFilesystem"):
        for path in ("/tmp", WORKDIR):
            if not pod.writable(path):
                problems.add(where, f"read-only root filesystem and no writable volume at {path}")
    check_ports(where, data, pod, problems)


def _is_data_path(leaf: str) -> bool:
    return leaf in {"database", "cache_dir"} or leaf.endswith(("_dir", "_path"))


def check_ports(where: str, data: dict[str, Any], pod: Pod, problems: Problems) -> None:
    http = field(data, "http.port")
    grpc = field(data, "grpc.port")
    if pod.ports.get("http") != http:
        problems.add(
            where, f"serves HTTP on {http} but its port named http is {pod.ports.get('http')}"
        )
    if grpc is not None and pod.ports.get("grpc") != grpc:
        problems.add(
            where, f"serves gRPC on {grpc} but its port named grpc is {pod.ports.get('grpc')}"
        )
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        spec = pod.container.get(probe)
        if spec is None:
            if probe != "startupProbe":
                problems.add(where, f"no {probe}")
            continue
        if "httpGet" in spec:
            port = pod.port(field(spec, "httpGet.port"))
            path = field(spec, "httpGet.path")
            if port != http:
                problems.add(where, f"{probe} asks port {port} but /healthz is served on {http}")
            if path not in ("/healthz", "/readyz"):
                problems.add(where, f"{probe} asks {path}, which the service does not serve")
        if "grpc" in spec:
            port = pod.port(field(spec, "grpc.port"))
            if grpc is None:
                problems.add(where, f"{probe} is a gRPC probe but the service serves no gRPC")
            elif port != grpc:
                problems.add(where, f"{probe} asks gRPC port {port} but gRPC is served on {grpc}")


def check_compose_configs(root: Path, problems: Problems) -> None:
    """The files the compose stack mounts, each checked as what its mount point says, and each
    service's settings file with the variables compose gives it."""
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    for service, spec in compose.get("services", {}).items():
        environment = spec.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.partition("=")[::2] for item in environment)
        env = {k: str(v) for k, v in environment.items() if k.upper().startswith("VIGIE_")}
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
            load_text(
                f"docker-compose.yml: {service}",
                key,
                path.read_text(),
                problems,
                env if key == f"{service}.yaml" else None,
            )


# -- all ---------------------------------------------------------------------------------------


def check(
    root: Path, tools: Path, modules: Path, overlays: Iterable[str] | None = None
) -> Problems:
    problems = Problems()
    promtool = modules.parent / "bin" / "promtool"
    check_dockerfile(root, tools, problems)
    check_compose(root, tools, problems)
    check_compose_configs(root, problems)
    check_prometheus_config(root, promtool, problems)
    overlay_dir = root / "deploy" / "k8s" / "overlays"
    names = sorted(overlays or (p.name for p in overlay_dir.iterdir() if p.is_dir()))
    for name in names:
        try:
            docs = render(overlay_dir / name, tools)
        except ValueError as exc:
            problems.add(f"overlay {name}", str(exc))
            continue
        check_builtin(name, docs, tools, problems)
        check_operator_schemas(name, docs, modules, problems)
        check_crds(name, docs, problems)
        check_topics(name, docs, problems)
        check_acls(name, docs, problems)
        check_rules(name, docs, promtool, problems)
        check_configmaps(name, docs, problems)
        check_deployments(name, docs, problems)
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
