"""``make deploy-check``: prove the deployment files are valid without a cluster or an engine.

1. The Dockerfile passes hadolint; docker-compose.yml validates against the compose spec, and the
   files it mounts into the services load as what they are mounted as.
2. Every overlay renders (``kubectl kustomize``); its built-in kinds validate strictly against
   Kubernetes 1.32 (``kubernetes-validate``); its KEDA ScaledObjects and TriggerAuthentications,
   Strimzi objects, ServiceMonitors and PrometheusRules against their operators' published schemas
   (npm ``@kubernetes-models/keda``, ``@kubernetes-models/strimzi-kafka-operator``,
   ``@kubernetes-models/prometheus-operator``);
   K8ssandraCluster, whose schema is not available offline, against the fields its operator
   requires.
3. Topics, groups and ports are checked against ``vigie_runtime.topology``, the one table of
   who reads and writes what with which consumer group on which ports. Topics: every topic the
   code uses (``vigie_runtime.topics``, the alert policy's audience routes, the alerting stream
   application's own topics) exists as a KafkaTopic with at least the partitions the code wants
   (a state topic exactly as many as the input it follows), and at least as many as the KEDA
   maximum replicas of every Deployment consuming it. Autoscaling: each service the topology
   scales on lag has a ScaledObject on its group and topic, no other service has one, and each
   trigger watches a group its Deployment runs and a topic that group reads. ACLs: each
   service's KafkaUser may join its groups, read what they read, write what it writes, read and
   write its state topics, and is granted nothing else.
4. Configuration: every service settings file in the ConfigMaps is accepted by that service's
   settings model (unknown keys are errors, so a typo fails), and the scene file, alert policy
   and tokens file load. Each Deployment is then checked as its pod would start: the file given
   with ``--config`` is mounted from a ConfigMap key, the settings load from it and the
   container's ``VIGIE_*`` variables, every file the settings name is mounted (and loads as what
   the setting expects), data paths are on writable volumes, variables named by ``*_env``
   settings are set, and the probes and ports match the ports the settings serve on (a
   service serving no gRPC may have gRPC settings: the transport of the calls it makes, which
   must be chosen like a server's). A scene file the settings say is writable (the console's
   editor) is on a writable volume; in the compose file it is a folder on a writable volume
   from which every other service reading a scene file reads it, so that saves reach them.
5. Ports: the Dockerfile's targets, the compose file (published ports, Prometheus targets), the
   containers, Services, NetworkPolicies and scrape annotations use each service's ports from
   the topology (http, grpc, and web for the console's pages). Every service of the topology
   runs in the compose file and in every overlay, with a Service carrying each of its ports
   and, where the overlay has network policies, one admitting traffic to its pods.
6. Autoscaler credentials and labels: every kafka trigger whose listener (the Strimzi Kafka it
   names, else its Deployment's client settings) wants TLS or SASL has an ``authenticationRef``
   to a TriggerAuthentication of its namespace giving each parameter the listener asks from a
   secret that exists or that Strimzi creates, as the user its Deployment runs as; every
   rendered object carries the recommended ``app.kubernetes.io/*`` labels.
7. Monitoring: alert rules pass ``promtool check rules``; each alert has a ``promtool test
   rules`` case that makes it fire and one that keeps it quiet (``RULE_TESTS``), run on the
   rendered rule groups; rules and the Grafana dashboards (ConfigMaps labelled
   ``grafana_dashboard``) read only series the code exports (its prometheus_client metric
   definitions, with the suffixes the client adds) or known external ones.

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

# The code's own table of topics, groups and ports (the project's virtualenv runs this file).
from vigie_runtime import topology
from vigie_runtime.topics import EVERY_TOPIC

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

SERVICES = tuple(s.name for s in topology.SERVICES)

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
    from vigie_runtime.topics import ALERTS

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
    wanted = {spec.name: spec.partitions for spec in EVERY_TOPIC.values()}
    # The alerting service creates each audience topic like the alerts topic.
    wanted.update({t: EVERY_TOPIC[ALERTS].partitions for t in audience_topics(docs)})
    for topic in sorted(set().union(*(s.reads() | s.written() for s in topology.SERVICES))):
        if topic not in wanted:
            problems.add(where, f"topic {topic} is in the topology but not in vigie_runtime.topics")
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
    # A camera's state sits on the partition numbered like its input's partition.
    for service in topology.SERVICES:
        for state in service.state:
            if state.follows is None:
                continue
            have, follows = declared.get(state.topic), declared.get(state.follows)
            if have is not None and follows is not None and have != follows:
                problems.add(
                    where,
                    f"KafkaTopic {state.topic} has {have} partitions but {state.follows} has"
                    f" {follows}: {service.name} reads a camera's state back from the partition"
                    f" numbered like its {state.follows} partition",
                )
    check_scaled_objects(where, scaled, declared, deployment_services(docs), problems)


def check_scaled_objects(
    where: str,
    scaled: list[dict[str, Any]],
    declared: dict[str, Any],
    services: dict[str, str],
    problems: Problems,
) -> None:
    """Each ScaledObject scales a Vigie Deployment on a group it runs and a topic that group
    reads, no further than the partitions of anything it reads; with autoscaling in the overlay,
    every service the topology scales on lag has its ScaledObject, and no other service has."""
    watched: dict[str, set[tuple[str, str]]] = {}
    for obj in scaled:
        so = f"ScaledObject {obj['metadata']['name']}"
        target = field(obj, "spec.scaleTargetRef.name")
        service = services.get(target)
        if service is None:
            problems.add(where, f"{so} scales {target}, which is not a Vigie Deployment")
            continue
        mine = topology.service(service).consumer_groups()
        triggers = watched.setdefault(service, set())
        for trigger in field(obj, "spec.triggers") or []:
            meta = trigger.get("metadata", {}) or {}
            if trigger.get("type") != "kafka":
                continue
            group, topic = meta.get("consumerGroup"), meta.get("topic")
            triggers.add((group, topic))
            if group not in mine:
                problems.add(
                    where,
                    f"{so} watches consumer group {group}, which {target} does not"
                    f" run (it runs {', '.join(sorted(mine)) or 'none'})",
                )
            elif mine[group].per_replica:
                problems.add(where, f"{so} watches {group}, a group each replica has its own of")
            elif topic and topic not in mine[group].topics:
                problems.add(where, f"{so} watches {topic}, which group {group} does not read")
        maximum = field(obj, "spec.maxReplicaCount")
        if not isinstance(maximum, int):
            continue  # the schema validation reports it
        # Every replica runs every consumer group of its service: each topic a shared group
        # reads needs a partition per replica, or replicas sit idle.
        shared = [g for g in mine.values() if not g.per_replica]
        for topic in sorted({t for g in shared for t in g.topics}):
            have = declared.get(topic)
            if have is None:
                problems.add(where, f"{so}: {target} reads {topic}, which has no KafkaTopic")
            elif isinstance(have, int) and have < maximum:
                problems.add(
                    where, f"{so} may run {maximum} replicas but {topic} has only {have} partitions"
                )
    if not scaled:
        return
    for service in topology.SERVICES:
        wanted = service.scaling()
        triggers = watched.get(service.name)
        if wanted is None and triggers is not None:
            problems.add(
                where,
                f"a ScaledObject scales {service.name}, which the topology does not scale on lag",
            )
        elif wanted is not None and triggers is None:
            problems.add(
                where,
                f"{service.name} scales on the lag of {wanted[0]} on {wanted[1]}, but no"
                " ScaledObject scales its Deployment",
            )
        elif wanted is not None and triggers is not None and wanted not in triggers:
            problems.add(
                where,
                f"{service.name} scales on the lag of {wanted[0]} on {wanted[1]}, which no"
                " trigger of its ScaledObject watches",
            )


# -- autoscaler credentials --------------------------------------------------------------------

# Parameters of KEDA's kafka scaler a listener's security asks of a TriggerAuthentication.
SASL_MODES = {
    "scram-sha-512": "scram_sha512",
    "scram-sha-256": "scram_sha256",
    "plain": "plaintext",
}
# Secrets the Strimzi operators create, by the object they follow, and their keys.
STRIMZI_USER_KEYS = {"password", "sasl.jaas.config"}
STRIMZI_CA_KEYS = {"ca.crt", "ca.p12", "ca.password"}


def container_env(doc: dict[str, Any] | None) -> dict[str, str]:
    """Literal environment variables of a Deployment's containers."""
    env: dict[str, str] = {}
    for container in field(doc or {}, "spec.template.spec.containers") or []:
        for var in container.get("env", []) or []:
            if "value" in var:
                env[var["name"]] = str(var["value"])
    return env


def listener_security(
    servers: str, clusters: dict[str, dict[str, Any]], env: dict[str, str]
) -> dict[str, str | None] | None:
    """What a client of ``servers`` must present, as KEDA kafka scaler parameters (None as a
    value: any value will do), or None for a plaintext listener without authentication. From
    the Strimzi Kafka the address names (``<cluster>-kafka-bootstrap:<port>``) if the overlay
    has it, else from the Kafka client settings of the Deployment the trigger scales."""
    host, _, port = servers.split(",")[0].strip().rpartition(":")
    cluster = host.split(".")[0].removesuffix("-kafka-bootstrap")
    need: dict[str, str | None] = {}
    if cluster in clusters and host.split(".")[0].endswith("-kafka-bootstrap"):
        listener = next(
            (
                item
                for item in field(clusters[cluster], "spec.kafka.listeners") or []
                if str(item.get("port")) == port
            ),
            None,
        )
        if listener is None:
            raise ValueError(f"Kafka {cluster} has no listener on port {port}")
        authentication = str(field(listener, "authentication.type") or "")
        if listener.get("tls"):
            need.update(tls="enable", ca=f"{cluster}-cluster-ca-cert")
        if authentication in SASL_MODES:
            need.update(sasl=SASL_MODES[authentication], username=None, password=None)
        elif authentication == "tls":
            need.update(cert=None, key=None)
        elif authentication:
            need.update(sasl=None)
        return need or None
    protocol = env.get("VIGIE_KAFKA__EXTRA__security.protocol", "PLAINTEXT").upper()
    if protocol in ("SSL", "SASL_SSL"):
        need.update(tls="enable", ca=None)
    if protocol.startswith("SASL_"):
        mechanism = env.get("VIGIE_KAFKA__EXTRA__sasl.mechanism", "").lower()
        need.update(sasl=SASL_MODES.get(mechanism), username=None, password=None)
    return need or None


def check_autoscaler_auth(name: str, docs: list[dict[str, Any]], problems: Problems) -> None:
    """Each kafka trigger reading lag from a listener that wants TLS or SASL names, with
    ``authenticationRef``, a TriggerAuthentication of its namespace that gives every parameter
    the listener asks (sasl, username, password, tls, ca), each read from a secret the overlay
    has or the Strimzi operators create: the password of the KafkaUser the username names, which
    is the user the scaled Deployment itself runs as, and the CA (PEM) of the cluster it reads."""
    where = f"overlay {name}"

    def key(doc: dict[str, Any]) -> tuple[str | None, str]:
        return field(doc, "metadata.namespace"), doc["metadata"]["name"]

    by_kind: dict[str, dict[tuple[str | None, str], dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[key(doc)] = doc
    clusters = {n: d for (_, n), d in by_kind.get("Kafka", {}).items()}
    secrets: dict[tuple[str | None, str], dict[str, str | None]] = {}
    for k, doc in by_kind.get("Secret", {}).items():
        values: dict[str, str | None] = {key: None for key in doc.get("data", {}) or {}}
        values.update({key: str(v) for key, v in (doc.get("stringData") or {}).items()})
        secrets[k] = values
    users = set(by_kind.get("KafkaUser", {}))
    for ns, user in users:
        secrets.setdefault((ns, user), dict.fromkeys(STRIMZI_USER_KEYS))
    for ns, cluster in by_kind.get("Kafka", {}):
        secrets.setdefault((ns, f"{cluster}-cluster-ca-cert"), dict.fromkeys(STRIMZI_CA_KEYS))
    for k, obj in sorted(by_kind.get("ScaledObject", {}).items(), key=lambda i: i[0][1]):
        ns = k[0]
        so = f"ScaledObject {obj['metadata']['name']}"
        target = field(obj, "spec.scaleTargetRef.name")
        env = container_env(by_kind.get("Deployment", {}).get((ns, target)))
        for i, trigger in enumerate(field(obj, "spec.triggers") or []):
            if trigger.get("type") != "kafka":
                continue
            servers = str(field(trigger, "metadata.bootstrapServers") or "")
            try:
                need = listener_security(servers, clusters, env)
            except ValueError as exc:
                problems.add(where, f"{so}: trigger {i} reads {servers}, but {exc}")
                continue
            if need is None:
                continue
            asks = ", ".join(sorted(need))
            ref = trigger.get("authenticationRef") or {}
            if not ref.get("name"):
                problems.add(
                    where,
                    f"{so}: trigger {i} reads lag from {servers}, whose listener asks {asks},"
                    " but has no authenticationRef to a TriggerAuthentication",
                )
                continue
            kind = ref.get("kind") or "TriggerAuthentication"
            scope = None if kind == "ClusterTriggerAuthentication" else ns
            auth = by_kind.get(kind, {}).get((scope, ref["name"]))
            if auth is None:
                problems.add(
                    where,
                    f"{so}: trigger {i} authenticates with {kind} {ref['name']}, which the"
                    f" overlay does not have{'' if scope is None else f' in namespace {ns}'}",
                )
                continue
            label = f"{so}: {kind} {ref['name']}"
            check_trigger_auth(where, label, auth, need, (ns, secrets, users, env), problems)


def check_trigger_auth(
    where: str,
    label: str,
    auth: dict[str, Any],
    need: dict[str, str | None],
    context: tuple[
        str | None,
        dict[tuple[str | None, str], dict[str, str | None]],
        set[tuple[str | None, str]],
        dict[str, str],
    ],
    problems: Problems,
) -> None:
    """One TriggerAuthentication against what the listener asks; ``context``: the namespace,
    the secrets (namespace, name -> key -> value when known), the KafkaUsers and the scaled
    container's literal environment."""
    ns, secrets, users, env = context
    given: dict[str, tuple[str, str | None]] = {}  # parameter -> (its source, its value if known)
    for ref in field(auth, "spec.secretTargetRef") or []:
        parameter, secret, item = ref.get("parameter"), ref.get("name"), ref.get("key")
        source = f"secret {secret} key {item}"
        values = secrets.get((ns, secret))
        if values is None or item not in values:
            problems.add(
                where,
                f"{label}: {parameter} reads {source}, which is neither in the overlay nor one the"
                " Strimzi operators create",
            )
        given[parameter] = (source, (values or {}).get(item))
    for ref in field(auth, "spec.env") or []:
        parameter, variable = ref.get("parameter"), ref.get("name")
        if variable not in env:
            problems.add(
                where, f"{label}: {parameter} reads {variable}, which the scaled container lacks"
            )
        given[parameter] = (f"variable {variable}", env.get(variable))
    for provider in ("hashiCorpVault", "azureKeyVault", "gcpSecretManager", "awsSecretManager"):
        for ref in field(auth, f"spec.{provider}.secrets") or []:
            given.setdefault(ref.get("parameter"), (provider, None))
    for parameter, wanted in sorted(need.items()):
        if parameter not in given:
            problems.add(where, f"{label}: gives no {parameter}, which the listener asks")
            continue
        source, value = given[parameter]
        if parameter == "ca" and wanted is not None and source != f"secret {wanted} key ca.crt":
            problems.add(where, f"{label}: ca reads {source}, not the cluster CA {wanted} ca.crt")
        elif parameter != "ca" and wanted is not None and value is not None and value != wanted:
            problems.add(where, f"{label}: {parameter} is {value!r}, the listener wants {wanted!r}")
    username = given.get("username", ("", None))[1]
    source = given.get("password", ("", None))[0].split()
    owner = source[1] if source[:1] == ["secret"] and (ns, source[1]) in users else None
    if username is not None and owner is not None and owner != username:
        problems.add(
            where, f"{label}: username is {username} but the password is KafkaUser {owner}'s"
        )
    runs_as = env.get("VIGIE_KAFKA__EXTRA__sasl.username")
    if username is not None and runs_as is not None and username != runs_as:
        problems.add(
            where,
            f"{label}: reads lag as {username}, but the Deployment it scales runs as {runs_as}",
        )


# -- recommended labels ------------------------------------------------------------------------

# https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/ (None: any
# non-empty value).
RECOMMENDED_LABELS: dict[str, str | None] = {
    "app.kubernetes.io/name": None,
    "app.kubernetes.io/instance": None,
    "app.kubernetes.io/component": None,
    "app.kubernetes.io/part-of": "vigie",
    "app.kubernetes.io/version": None,
    "app.kubernetes.io/managed-by": "kustomize",
}


def project_version() -> str | None:
    import tomllib

    with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
        return tomllib.loads((CODE / "pyproject.toml").read_text())["project"]["version"]
    return None


def check_labels(name: str, docs: list[dict[str, Any]], problems: Problems) -> None:
    """Every rendered object carries the recommended labels, part-of vigie, managed by
    kustomize, and the project's version (pyproject.toml)."""
    wanted_labels = {**RECOMMENDED_LABELS, "app.kubernetes.io/version": project_version()}
    for doc in docs:
        labels = field(doc, "metadata.labels") or {}
        where = f"overlay {name}: {doc['kind']} {doc['metadata']['name']}"
        missing = [label for label in RECOMMENDED_LABELS if not str(labels.get(label) or "")]
        if missing:
            problems.add(where, f"lacks the recommended label(s) {', '.join(missing)}")
        for label, wanted in wanted_labels.items():
            value = labels.get(label)
            if wanted is not None and value not in (None, "", wanted):
                problems.add(where, f"label {label} is {value!r}, not {wanted!r}")


# -- ACLs --------------------------------------------------------------------------------------


class Grants:
    """What one KafkaUser's ACLs allow."""

    def __init__(self, user: dict[str, Any]) -> None:
        self.acls: list[tuple[str, str, str, set[str]]] = []
        for acl in field(user, "spec.authorization.acls") or []:
            resource = acl.get("resource", {})
            operations = set(acl.get("operations", []) or [acl.get("operation")])
            self.acls.append(
                (
                    resource.get("type", ""),
                    resource.get("name", ""),
                    resource.get("patternType", "literal"),
                    operations,
                )
            )

    @staticmethod
    def _matches(name: str, granted: str, pattern: str) -> bool:
        return name == granted if pattern == "literal" else name.startswith(granted)

    def may(self, kind: str, name: str, operation: str) -> bool:
        return any(
            kind == g_kind
            and (operation in ops or "All" in ops)
            and self._matches(name, g_name, pattern)
            for g_kind, g_name, pattern, ops in self.acls
        )

    def may_all(self, kind: str, prefix: str, operation: str) -> bool:
        """Whether every name starting with ``prefix`` is granted (a prefixed ACL)."""
        return any(
            kind == g_kind
            and (operation in ops or "All" in ops)
            and pattern != "literal"
            and prefix.startswith(g_name)
            for g_kind, g_name, pattern, ops in self.acls
        )

    def unused(self, kind: str, used: set[str]) -> list[str]:
        """Grants of ``kind`` that match nothing in ``used``."""
        return sorted(
            f"{g_name}*" if pattern != "literal" else g_name
            for g_kind, g_name, pattern, _ in self.acls
            if g_kind == kind and not any(self._matches(u, g_name, pattern) for u in used)
        )


def check_acls(name: str, docs: list[dict[str, Any]], problems: Problems) -> None:
    """Each service's KafkaUser lets it do exactly what the topology says it does: join its
    consumer groups and read what they read, write what it writes, read back and write its
    state topics (and create those its stream application creates), and nothing more."""
    from vigie_runtime.topics import STREAM_TOPICS

    users = {d["metadata"]["name"]: d for d in docs if d["kind"] == "KafkaUser"}
    if not users:
        return
    created_by_streams = {spec.name for spec in STREAM_TOPICS}
    audiences = audience_topics(docs)
    for service in topology.SERVICES:
        user = users.get(f"vigie-{service.name}")
        where = f"overlay {name}: KafkaUser vigie-{service.name}"
        if user is None:
            problems.add(f"overlay {name}", f"no KafkaUser vigie-{service.name}")
            continue
        grants = Grants(user)
        needs: list[tuple[str, str, str, str]] = []
        for group_id, group in sorted(service.consumer_groups().items()):
            if group.per_replica:
                if not grants.may_all("group", group_id, "Read"):
                    problems.add(
                        where,
                        f"may not join the groups {group_id}* of its replicas (no prefixed"
                        " group Read ACL)",
                    )
            else:
                needs.append(("group", group_id, "Read", f"join consumer group {group_id}"))
            needs += [
                ("topic", t, "Read", f"read {t}, which group {group_id} consumes")
                for t in group.topics
            ]
        for state in service.state:
            needs.append(("topic", state.topic, "Read", f"read back its state on {state.topic}"))
            needs.append(("topic", state.topic, "Write", f"write its state to {state.topic}"))
            if state.topic in created_by_streams:
                needs.append(
                    ("topic", state.topic, "Create", f"create {state.topic} (stream application)")
                )
        needs += [("topic", t, "Write", f"write {t}") for t in service.writes]
        written = set(audiences) if service.dynamic_writes else set()
        needs += [("topic", t, "Write", f"write {t} (an alert policy route)") for t in written]
        for kind, resource, operation, what in needs:
            if not grants.may(kind, resource, operation):
                problems.add(where, f"may not {what} (no {kind} {operation} ACL)")
        for extra in grants.unused("topic", set(service.reads() | service.written() | written)):
            problems.add(
                where, f"grants topic {extra}, which {service.name} neither reads nor writes"
            )
        for extra in grants.unused("group", set(service.consumer_groups())):
            problems.add(where, f"grants consumer group {extra}, which {service.name} does not run")


# -- monitoring --------------------------------------------------------------------------------

# Where the promtool unit tests of the alert rules live (not kustomize resources).
RULE_TESTS = PurePosixPath("deploy/k8s/components/monitoring/tests")
# Series other programs export that rules and dashboards may use, and who exports them.
EXTERNAL_METRICS = {
    "up": "Prometheus, per scrape target",
    "ALERTS": "Prometheus, per alert",
    "ALERTS_FOR_STATE": "Prometheus, per alert",
    "kube_horizontalpodautoscaler_status_current_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_spec_max_replicas": "kube-state-metrics",
}
# The series prometheus_client exposes for each kind of metric (a counter's name loses a
# trailing _total, then gets it back).
METRIC_SERIES = {
    "Counter": ("_total", "_created"),
    "Histogram": ("_bucket", "_sum", "_count", "_created"),
    "Summary": ("_sum", "_count", "_created"),
    "Gauge": ("",),
    "Info": ("_info",),
    "Enum": ("",),
}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and",
    "or", "unless", "inf", "nan", "atan2",
}  # fmt: skip


def code_metrics() -> dict[str, str]:
    """Every metric the code registers with prometheus_client: name -> kind."""
    kinds = "|".join(METRIC_SERIES)
    pattern = re.compile(rf"\b({kinds})\(\s*[\"'](vigie_\w+)[\"']")
    found: dict[str, str] = {}
    for folder in ("libs", "services", "cli"):
        if not (CODE / folder).is_dir():
            continue
        for path in (CODE / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8", errors="replace")
            for kind, name in pattern.findall(text):
                found[name] = kind
    return found


def exported_series(metrics: dict[str, str] | None = None) -> set[str]:
    """The series names a scrape of the services can return."""
    series: set[str] = set()
    for name, kind in (code_metrics() if metrics is None else metrics).items():
        base = name.removesuffix("_total") if kind == "Counter" else name
        series.update(base + suffix for suffix in METRIC_SERIES[kind])
    return series


def promql_metrics(expr: str) -> set[str]:
    """The metric names a PromQL expression (or a Grafana target) selects: functions,
    keywords, label matchers, strings, ranges and grouping labels left out."""
    text = re.sub(r"\$__\w+", "5m", expr)  # Grafana's $__rate_interval, $__range...
    text = re.sub(r"\$\{\w+(?::\w+)?\}|\$\w+|\[\[\w+\]\]", "x", text)  # template variables
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', text)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\[\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", text)
    names: set[str] = set()
    for match in re.finditer(r"(?<![\w.:])[A-Za-z_:][\w:]*", text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match.group().lower() in PROMQL_WORDS:
            continue
        names.add(match.group())
    return names


def grafana_variable_metrics(query: Any) -> set[str]:
    """The metrics a Grafana query variable reads (label_values(expr, label) and the like)."""
    if isinstance(query, dict):
        query = query.get("query", "")
    text = str(query or "").strip()
    match = re.fullmatch(r"label_values\((.*),\s*\w+\s*\)", text, re.S)
    if match:
        return promql_metrics(match.group(1))
    match = re.fullmatch(r"query_result\((.*)\)", text, re.S)
    if match:
        return promql_metrics(match.group(1))
    return set()


def unknown_series(metrics: Iterable[str], known: set[str]) -> list[str]:
    return sorted(m for m in metrics if m not in known and m not in EXTERNAL_METRICS)


def recorded(docs: list[dict[str, Any]]) -> set[str]:
    """Series the overlay's recording rules produce."""
    return {
        str(rule["record"])
        for doc in docs
        if doc["kind"] == "PrometheusRule"
        for group in field(doc, "spec.groups") or []
        for rule in group.get("rules", []) or []
        if rule.get("record")
    }


def check_rules(
    name: str,
    docs: list[dict[str, Any]],
    promtool: Path,
    problems: Problems,
    tests: Path | None = None,
) -> None:
    """Every rule parses (promtool check rules) and names only series the code or a known
    exporter exposes; every alert has promtool unit tests (``tests``) that make it fire and that
    keep it quiet, and they pass."""
    rules = [d for d in docs if d["kind"] == "PrometheusRule"]
    if not rules:
        return
    known = exported_series() | recorded(docs)
    every_group: list[dict[str, Any]] = []
    alerts: set[str] = set()
    for doc in rules:
        where = f"overlay {name}: PrometheusRule {doc['metadata']['name']}"
        groups = field(doc, "spec.groups") or []
        every_group += groups
        for group in groups:
            for rule in group.get("rules", []) or []:
                if rule.get("alert"):
                    alerts.add(str(rule["alert"]))
                for metric in unknown_series(promql_metrics(str(rule.get("expr", ""))), known):
                    problems.add(
                        where,
                        f"{rule.get('alert') or rule.get('record')}: no service exports {metric}",
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
    if tests is not None:
        check_rule_tests(name, every_group, alerts, tests, promtool, problems)


def check_rule_tests(
    name: str,
    groups: list[dict[str, Any]],
    alerts: set[str],
    tests: Path,
    promtool: Path,
    problems: Problems,
) -> None:
    """``promtool test rules`` on the test files beside the overlay's rule groups (written as
    rules.yaml, the file the tests name), and a firing and a quiet case for every alert."""
    where = f"overlay {name}: promtool test rules"
    files = sorted(tests.glob("*.yaml")) if tests.is_dir() else []
    if not files:
        problems.add(where, f"no test files in {RULE_TESTS} for the alert rules")
        return
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in files:
        try:
            spec = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            problems.add(where, f"{path.name} is not YAML: {exc}")
            continue
        for test in spec.get("tests", []) or []:
            for case in test.get("alert_rule_test", []) or []:
                alert = str(case.get("alertname"))
                (fires if case.get("exp_alerts") else quiet).add(alert)
    for alert in sorted(alerts - fires):
        problems.add(where, f"{alert}: no test case makes it fire")
    for alert in sorted(alerts - quiet):
        problems.add(where, f"{alert}: no test case keeps it quiet (exp_alerts: [])")
    for alert in sorted((fires | quiet) - alerts):
        problems.add(where, f"tests {alert}, which no rule defines")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
        copies = []
        for path in files:
            copy = Path(tmp) / path.name
            copy.write_text(path.read_text())
            copies.append(str(copy))
        result = run([str(promtool), "test", "rules", *copies])
    if result.returncode != 0:
        lines = [
            line.replace(tmp + "/", "").rstrip()
            for line in (result.stdout + result.stderr).splitlines()
            if line.strip() and "SUCCESS" not in line and not line.startswith("Unit Testing")
        ]
        for line in lines[:40] or [f"promtool exited {result.returncode}"]:
            problems.add(where, line.strip())


def dashboard_targets(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, expression) of every panel target and query variable of a Grafana dashboard."""

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items or []:
            yield panel
            yield from panels(panel.get("panels", []) or [])

    for panel in panels(dashboard.get("panels", []) or []):
        for target in panel.get("targets", []) or []:
            if target.get("expr"):
                yield f"panel {panel.get('title')!r}", str(target["expr"])
    for variable in field(dashboard, "templating.list") or []:
        if variable.get("type") == "query":
            for metric in grafana_variable_metrics(variable.get("query")):
                yield f"variable {variable.get('name')}", metric


def check_dashboards(name: str, docs: list[dict[str, Any]], problems: Problems) -> None:
    """Every Grafana dashboard the overlay ships (ConfigMaps labelled grafana_dashboard) is
    JSON, has a uid and a title, and its panels and variables read only series the code (or a
    known exporter) exposes."""
    known = exported_series() | recorded(docs)
    uids: dict[str, str] = {}
    for doc in docs:
        if doc["kind"] != "ConfigMap" or field(doc, "metadata.labels.grafana_dashboard") is None:
            continue
        for key, text in (doc.get("data") or {}).items():
            where = f"overlay {name}: ConfigMap {doc['metadata']['name']}: {key}"
            try:
                dashboard = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.add(where, f"is not JSON: {exc}")
                continue
            if not isinstance(dashboard, dict) or not dashboard.get("uid"):
                problems.add(where, "is not a Grafana dashboard with a uid")
                continue
            if dashboard["uid"] in uids:
                problems.add(where, f"has the uid {dashboard['uid']} of {uids[dashboard['uid']]}")
            uids[dashboard["uid"]] = key
            targets = list(dashboard_targets(dashboard))
            if not targets:
                problems.add(where, "has no panel reading a metric")
            for what, expr in targets:
                for metric in unknown_series(promql_metrics(expr), known):
                    problems.add(where, f"{what}: no service exports {metric}")


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
    from vigie_console.settings import ConsoleSettings
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
        "console": ConsoleSettings,
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


def check_grpc_transport(where: str, settings: Any, problems: Problems) -> None:
    """A gRPC server with neither TLS nor an explicit plaintext setting refuses to start."""
    from vigie_runtime.yamlconf import ConfigError

    grpc = getattr(settings, "grpc", None)
    if grpc is None:
        return
    try:
        grpc.require_transport()
    except ConfigError as exc:
        problems.add(where, str(exc))


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
                    settings = load_settings(classes[service], path)
                if env is not None:  # as the process starts: file and environment together
                    check_grpc_transport(where, settings, problems)
                return settings
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
            writable = field(data, ".".join((*path[:-1], f"{leaf}_writable")))
            folder = str(PurePosixPath(value).parent)
            if writable is True and not pod.writable(folder):
                problems.add(
                    where,
                    f"{key}_writable is true but {folder} is not on a writable volume: the editor"
                    f" would fail to save (set VIGIE_{leaf.upper()}_WRITABLE=false to show it"
                    " read-only)",
                )
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
    check_ports(where, service, data, pod, problems)


def _is_data_path(leaf: str) -> bool:
    return leaf in {"database", "cache_dir"} or leaf.endswith(("_dir", "_path"))


def check_ports(
    where: str, service: str, data: dict[str, Any], pod: Pod, problems: Problems
) -> None:
    http = field(data, "http.port")
    grpc = field(data, "grpc.port")
    for port_name, port in topology.service(service).ports().items():
        if pod.ports.get(port_name) != port:
            problems.add(
                where,
                f"its port named {port_name} is {pod.ports.get(port_name)} but {service} serves"
                f" {port_name} on {port} (vigie_runtime.topology)",
            )
    if topology.service(service).grpc_port is None:
        # Its gRPC settings, if any, are the transport of the calls it makes (the console's to
        # the desk and the archive): no gRPC port is served.
        grpc = None
        if "grpc" in pod.ports:
            problems.add(where, f"has a port named grpc but {service} serves no gRPC")
    if pod.ports.get("http") != http:
        problems.add(
            where, f"serves HTTP on {http} but its port named http is {pod.ports.get('http')}"
        )
    if grpc is not None and pod.ports.get("grpc") != grpc:
        problems.add(
            where, f"serves gRPC on {grpc} but its port named grpc is {pod.ports.get('grpc')}"
        )
    for port_name in topology.service(service).ports():
        served = field(data, f"{port_name}.port")
        if port_name in ("http", "grpc") or served is None:
            continue  # http and grpc are checked above
        if pod.ports.get(port_name) != served:
            problems.add(
                where,
                f"serves {port_name} on {served} but its port named {port_name} is"
                f" {pod.ports.get(port_name)}",
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
            if field(data, "grpc.tls") is not None:
                problems.add(
                    where,
                    f"{probe} is a gRPC probe but gRPC is served over TLS, which the kubelet's"
                    " gRPC probes do not speak: probe /healthz",
                )
            if grpc is None:
                problems.add(where, f"{probe} is a gRPC probe but the service serves no gRPC")
            elif port != grpc:
                problems.add(where, f"{probe} asks gRPC port {port} but gRPC is served on {grpc}")


def check_compose_configs(root: Path, problems: Problems) -> None:
    """The files the compose stack mounts, each checked as what its mount point says, and each
    service's settings file with the variables compose gives it; then the scene file those
    settings name (:func:`check_compose_scenes`)."""
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    loaded: dict[str, Any] = {}
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
            settings = load_text(
                f"docker-compose.yml: {service}",
                key,
                path.read_text(),
                problems,
                env if key == f"{service}.yaml" else None,
            )
            if key == f"{service}.yaml" and settings is not None:
                loaded[service] = settings
    check_compose_scenes(compose, loaded, problems)


def compose_mounts(spec: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read-only) of a compose service's volumes, short or long syntax."""
    mounts = []
    for volume in spec.get("volumes", []) or []:
        if isinstance(volume, dict):
            source, target = str(volume.get("source", "")), str(volume.get("target", ""))
            mounts.append((source, target, bool(volume.get("read_only"))))
            continue
        parts = str(volume).split(":")
        source, target = parts[0], parts[1] if len(parts) > 1 else parts[0]
        options = parts[2].split(",") if len(parts) > 2 else []
        mounts.append((source, target, "ro" in options))
    return mounts


def compose_mount_of(spec: dict[str, Any], path: str) -> tuple[str, str, bool, str] | None:
    """The mount holding ``path`` (the deepest): source, target, read-only, path inside it."""
    found = None
    target_path = PurePosixPath(path)
    for source, target, read_only in compose_mounts(spec):
        base = PurePosixPath(target)
        if (target_path == base or base in target_path.parents) and (
            found is None or len(target) > len(found[1])
        ):
            found = (source, target, read_only, str(target_path.relative_to(base)))
    return found


def check_compose_scenes(
    compose: dict[str, Any], loaded: dict[str, Any], problems: Problems
) -> None:
    """A service that writes the scene file (``scenes_writable``: the console's editor) has its
    folder on a writable mount (the editor replaces the file atomically and keeps the previous
    versions beside it, which a file mounted alone does not allow), and every service reading a
    scene file reads it from that same volume, so that saves reach it."""
    services = compose.get("services", {}) or {}
    readers: dict[str, tuple[str, tuple[str, str, bool, str] | None]] = {}
    for service, settings in loaded.items():
        scenes = getattr(settings, "scenes", None)
        if scenes is not None:
            readers[service] = (str(scenes), compose_mount_of(services[service], str(scenes)))
    for writer, settings in loaded.items():
        if getattr(settings, "scenes_writable", None) is not True or writer not in readers:
            continue
        where = f"docker-compose.yml: {writer}"
        path, mount = readers[writer]
        if mount is None:
            problems.add(where, f"scenes is {path} but nothing is mounted there")
            continue
        source, target, read_only, inside = mount
        if read_only:
            problems.add(
                where, f"scenes_writable is true but {target} is mounted read-only ({source})"
            )
        if inside == ".":
            problems.add(
                where,
                f"scenes_writable is true but the file {path} is mounted alone: the editor"
                " replaces it and keeps its previous versions beside it; mount its folder",
            )
        for reader, (their_path, theirs) in sorted(readers.items()):
            if reader == writer:
                continue
            if theirs is None or (theirs[0], theirs[3]) != (source, inside):
                problems.add(
                    f"docker-compose.yml: {reader}",
                    f"reads the scene file {their_path} from"
                    f" {theirs[0] if theirs else 'nothing mounted'}, not from {source} where"
                    f" {writer} saves it: scenes saved in {writer} would not reach it",
                )


# -- ports against the topology ----------------------------------------------------------------


def dockerfile_stages(text: str) -> dict[str, list[tuple[str, str]]]:
    """Stage name -> its instructions (keyword, arguments), continuation lines joined."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    logical = re.sub(r"\\\n", " ", text)
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            current = []
            if len(parts) >= 3 and parts[-2].upper() == "AS":
                stages[parts[-1]] = current
            continue
        current.append((keyword, rest.strip()))
    return stages


def env_assignments(rest: str) -> dict[str, str]:
    """The variables of one ENV instruction (``K=V K2=V2`` or the legacy ``K V``)."""
    if "=" not in rest.split()[0]:
        key, _, value = rest.partition(" ")
        return {key: value.strip().strip('"')}
    return {k: v.strip('"') for k, _, v in (item.partition("=") for item in rest.split())}


def check_image_ports(root: Path, problems: Problems) -> None:
    """Each service's image target sets VIGIE_HTTP__PORT to its HTTP port and exposes exactly
    the ports it serves."""
    stages = dockerfile_stages((root / "Dockerfile").read_text())
    for service in topology.SERVICES:
        where = f"Dockerfile: target {service.name}"
        stage = stages.get(service.name)
        if stage is None:
            problems.add("Dockerfile", f"no target {service.name}")
            continue
        env: dict[str, str] = {}
        exposed: set[int] = set()
        for keyword, rest in stage:
            if keyword == "ENV":
                env.update(env_assignments(rest))
            elif keyword == "EXPOSE":
                exposed.update(int(p.split("/")[0]) for p in rest.split() if p[0].isdigit())
        http = env.get("VIGIE_HTTP__PORT")
        if http != str(service.http_port):
            problems.add(
                where,
                f"sets VIGIE_HTTP__PORT={http} but {service.name} serves HTTP on"
                f" {service.http_port}",
            )
        wanted = set(service.ports().values())
        if exposed != wanted:
            problems.add(
                where,
                f"exposes {sorted(exposed)} but {service.name} serves {sorted(wanted)}",
            )


def compose_container_port(entry: Any) -> int | None:
    """The container side of a compose ``ports`` entry, short or long syntax."""
    if isinstance(entry, dict):
        target = entry.get("target")
        return int(target) if target is not None else None
    text = str(entry).split("/")[0]
    last = text.rsplit(":", 1)[-1]
    return int(last) if last.isdigit() else None


def check_compose_ports(root: Path, problems: Problems) -> None:
    """Published ports, VIGIE_*_PORT variables and Prometheus targets of the compose stack use
    each service's ports."""
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    services = compose.get("services", {}) or {}
    named: dict[str, str] = {}
    for key, spec in services.items():
        build = spec.get("build")
        target = build.get("target") if isinstance(build, dict) else None
        service = target or key
        if service not in SERVICES:
            continue
        named[key] = service
        where = f"docker-compose.yml: {key}"
        ports = topology.service(service).ports()
        for entry in spec.get("ports", []) or []:
            port = compose_container_port(entry)
            if port not in ports.values():
                problems.add(
                    where, f"publishes container port {port}, which {service} does not serve"
                )
        environment = spec.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.partition("=")[::2] for item in environment)
        for port_name, port in ports.items():
            value = environment.get(f"VIGIE_{port_name.upper()}__PORT")
            if value is not None and str(value) != str(port):
                problems.add(
                    where,
                    f"sets VIGIE_{port_name.upper()}__PORT={value} but {service} serves"
                    f" {port_name} on {port}",
                )
    config = yaml.safe_load((root / "deploy" / "compose" / "prometheus.yml").read_text()) or {}
    scraped: set[str] = set()
    for job in config.get("scrape_configs", []) or []:
        for static in job.get("static_configs", []) or []:
            for target in static.get("targets", []) or []:
                host, _, port = str(target).rpartition(":")
                if host not in named:
                    continue
                scraped.add(host)
                http = topology.service(named[host]).http_port
                if port != str(http):
                    problems.add(
                        "deploy/compose/prometheus.yml",
                        f"scrapes {target} but {named[host]} serves /metrics on {http}",
                    )
    for key in sorted(set(named) - scraped):
        problems.add("deploy/compose/prometheus.yml", f"does not scrape {key}")
    for service in topology.SERVICES:
        if service.name not in named.values():
            problems.add("docker-compose.yml", f"no service runs {service.name}")


def service_of_selector(selector: dict[str, Any] | None) -> str | None:
    """The Vigie service whose pods a selector picks (app.kubernetes.io/name: vigie-<service>)."""
    labels = (selector or {}).get("matchLabels", selector) or {}
    name = str(labels.get("app.kubernetes.io/name", ""))
    service = name.removeprefix("vigie-")
    return service if name.startswith("vigie-") and service in SERVICES else None


def check_manifest_ports(name: str, docs: list[dict[str, Any]], problems: Problems) -> None:
    """Services, NetworkPolicies and scrape annotations use each service's ports."""
    for doc in docs:
        kind, meta = doc["kind"], doc["metadata"]["name"]
        where = f"overlay {name}: {kind} {meta}"
        if kind == "Deployment":
            service = deployment_services([doc]).get(meta)
            annotation = field(doc, "spec.template.metadata.annotations") or {}
            scrape = annotation.get("prometheus.io/port")
            if service and scrape is not None:
                http = topology.service(service).http_port
                if str(scrape) != str(http):
                    problems.add(
                        where, f"prometheus.io/port is {scrape} but {service} serves HTTP on {http}"
                    )
        elif kind == "Service":
            service = service_of_selector(field(doc, "spec.selector"))
            if service is None:
                continue
            ports = topology.service(service).ports()
            for port in field(doc, "spec.ports") or []:
                port_name = port.get("name")
                if port_name not in ports:
                    problems.add(where, f"port {port_name}: {service} serves no such port")
                    continue
                if port.get("port") != ports[port_name]:
                    problems.add(
                        where,
                        f"port {port_name} is {port.get('port')} but {service} serves"
                        f" {port_name} on {ports[port_name]}",
                    )
                if port.get("targetPort") not in (port_name, ports[port_name]):
                    problems.add(
                        where,
                        f"port {port_name} targets {port.get('targetPort')}, not the container's"
                        f" {port_name} port",
                    )
        elif kind == "NetworkPolicy":
            service = service_of_selector(field(doc, "spec.podSelector"))
            if service is None:
                continue
            ports = topology.service(service).ports()
            for rule in field(doc, "spec.ingress") or []:
                for port in rule.get("ports", []) or []:
                    value = port.get("port")
                    if value not in ports and value not in ports.values():
                        problems.add(
                            where, f"admits traffic to port {value}, which {service} does not serve"
                        )


def check_every_service(name: str, docs: list[dict[str, Any]], problems: Problems) -> None:
    """Every service of the topology runs in the overlay: a Deployment of its image, a Service
    with each of its ports, and, when the overlay has network policies, one admitting traffic
    to its pods (else the default deny cuts it off)."""
    where = f"overlay {name}"
    deployed = set(deployment_services(docs).values())
    exposed: dict[str, set[str]] = {}
    policed: set[str] = set()
    policies = False
    for doc in docs:
        if doc["kind"] == "Service":
            service = service_of_selector(field(doc, "spec.selector"))
            if service is not None:
                ports = {str(p.get("name")) for p in field(doc, "spec.ports") or []}
                exposed.setdefault(service, set()).update(ports)
        elif doc["kind"] == "NetworkPolicy":
            policies = True
            service = service_of_selector(field(doc, "spec.podSelector"))
            if service is not None:
                policed.add(service)
    for service in topology.SERVICES:
        if service.name not in deployed:
            problems.add(where, f"no Deployment runs {service.name} (image vigie-{service.name})")
            continue
        if service.name not in exposed:
            problems.add(where, f"no Service selects the pods of {service.name}")
        else:
            for port_name in sorted(set(service.ports()) - exposed[service.name]):
                problems.add(
                    where,
                    f"no Service of {service.name} has its port {port_name}"
                    f" ({service.ports()[port_name]})",
                )
        if policies and service.name not in policed:
            problems.add(where, f"no NetworkPolicy admits traffic to the pods of {service.name}")


# -- all ---------------------------------------------------------------------------------------


def check(
    root: Path, tools: Path, modules: Path, overlays: Iterable[str] | None = None
) -> Problems:
    problems = Problems()
    promtool = modules.parent / "bin" / "promtool"
    check_dockerfile(root, tools, problems)
    check_compose(root, tools, problems)
    check_compose_configs(root, problems)
    check_image_ports(root, problems)
    check_compose_ports(root, problems)
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
        check_labels(name, docs, problems)
        check_autoscaler_auth(name, docs, problems)
        check_rules(name, docs, promtool, problems, root / RULE_TESTS)
        check_dashboards(name, docs, problems)
        check_configmaps(name, docs, problems)
        check_deployments(name, docs, problems)
        check_manifest_ports(name, docs, problems)
        check_every_service(name, docs, problems)
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
