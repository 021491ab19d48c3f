"""`make deploy-check` on the real files passes, and on deliberately broken copies fails with a
message naming what is wrong: a misspelt settings key, a topic with too few partitions for its
autoscaler, a topic missing, an invalid manifest, an invalid ScaledObject, a compose file off the
spec, a Dockerfile hadolint refuses; and, checked as each pod would start, a --config file not
mounted, a misspelt VIGIE_* variable, a probe on the wrong port, a settings path nothing mounts;
an autoscaler on a group its Deployment does not run, a missing ACL, a changelog partitioned
unlike the events, a Strimzi object off its schema, a K8ssandraCluster without its version, an
alert rule on a metric no service exports or that promtool refuses; and against the topology: a
lag-scaled service without its ScaledObject, a ScaledObject on a service that is not, a state
topic its service may not write or partitioned unlike its input, a grant nothing uses, replicas
that may not join groups of their own, and container, Service, scrape and NetworkPolicy ports off
the service's ports; a ScaledObject on the SCRAM listener without credentials, or with a
TriggerAuthentication that misses a parameter, a secret or the right user; an object without a
recommended label; an alert without a firing case, a new alert without tests, a rule its tests no
longer match; a dashboard on a metric no service exports, or not JSON; and for the console: a
writable scene file on a read-only mount, its web port off the topology, a gRPC port it does not
serve, calls without a transport, a service missing from an overlay or without its policy or
Service port, replicas that may not join groups of their own, and a compose scene file that saves
would not reach analytics and tracking through."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".venv-deploy" / "bin"
MODULES = REPO / "deploy" / ".tools" / "node_modules"
PROMTOOL = REPO / "deploy" / ".tools" / "bin" / "promtool"

if not (TOOLS / "kubectl").exists() or not MODULES.exists() or not PROMTOOL.exists():
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


def broken(
    pristine: Path,
    tmp_path: Path,
    change: Callable[[Path], None],
    overlays: list[str] | None = None,
) -> list[str]:
    root = tmp_path / "copy"
    shutil.copytree(pristine, root)
    change(root)
    return list(deploy_check.check(root, TOOLS, MODULES, overlays))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_the_real_files_pass(pristine: Path) -> None:
    assert list(deploy_check.check(pristine, TOOLS, MODULES)) == []


def test_a_misspelt_settings_key_fails(pristine: Path, tmp_path: Path) -> None:
    config = "deploy/k8s/base/config/storage.yaml"
    problems = broken(
        pristine, tmp_path, lambda r: edit(r / config, "retention:", "retension:"), ["dev"]
    )
    assert any("storage.yaml" in p and "retension" in p for p in problems), problems


def test_too_few_partitions_for_the_autoscaler_fails(pristine: Path, tmp_path: Path) -> None:
    topics = "deploy/k8s/components/strimzi/topics.yaml"

    def shrink(root: Path) -> None:
        edit(
            root / topics,
            "topicName: vigie.frames.v1\n  partitions: 6",
            "topicName: vigie.frames.v1\n  partitions: 2",
        )

    problems = broken(pristine, tmp_path, shrink, ["prod"])
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

    problems = broken(pristine, tmp_path, drop, ["prod"])
    assert any("topic vigie.audit.v1 is used by the code but has no KafkaTopic" in p
               for p in problems), problems  # fmt: skip


def test_an_invalid_manifest_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(r / "deploy/k8s/base/tracking.yaml", "replicas: 1", "replicas: one"),
        ["dev"],
    )
    assert any("overlay" in p and "replicas" in p for p in problems), problems


def test_an_invalid_scaledobject_fails(pristine: Path, tmp_path: Path) -> None:
    keda = "deploy/k8s/components/keda/scaledobjects.yaml"
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(r / keda, "maxReplicaCount: 6", "maxReplicaCount: lots"),
        ["prod"],
    )
    assert any("ScaledObject" in p and "maxReplicaCount" in p for p in problems), problems


def test_a_compose_file_off_the_spec_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / "docker-compose.yml", "  kafka:\n", "  kafka:\n    restart_policy: sometimes\n"
        ),
        ["dev"],
    )
    assert any(p.startswith("docker-compose.yml") for p in problems), problems


def test_a_dockerfile_hadolint_refuses_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(r / "Dockerfile", "WORKDIR /src\n", "RUN cd /src\n"),
        ["dev"],
    )
    assert any(p.startswith("Dockerfile") and "DL3003" in p for p in problems), problems


# -- each pod as it would start ---------------------------------------------------------------

STORAGE = "deploy/k8s/base/storage.yaml"
STRIMZI = "deploy/k8s/components/strimzi"


def test_a_config_file_not_mounted_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / STORAGE, "- /etc/vigie/config/storage.yaml", "- /etc/vigie/config/storage.yml"
        ),
        ["dev"],
    )
    assert any(
        "Deployment vigie-storage" in p
        and "--config /etc/vigie/config/storage.yml" in p
        and "has no key storage.yml" in p
        for p in problems
    ), problems


def test_a_misspelt_environment_variable_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(r / STORAGE, "name: VIGIE_GRPC__PORT", "name: VIGIE_GRPC__PROT"),
        ["dev"],
    )
    assert any(
        "Deployment vigie-storage" in p and "VIGIE_GRPC__PROT" in p and "grpc.prot" in p
        for p in problems
    ), problems


def test_a_probe_on_the_wrong_port_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / STORAGE,
            "restarted).\n          httpGet:\n            path: /healthz\n            port: http",
            "restarted).\n          httpGet:\n            path: /healthz\n            port: 9999",
        ),
        ["dev"],
    )
    assert any(
        "Deployment vigie-storage" in p
        and "livenessProbe asks port 9999 but /healthz is served on 9406" in p
        for p in problems
    ), problems


def test_a_grpc_probe_on_a_tls_server_fails(pristine: Path, tmp_path: Path) -> None:
    """The kubelet's gRPC probes speak plaintext only: against TLS they would always fail."""
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / STORAGE,
            "          httpGet:\n            path: /healthz\n            port: http\n"
            "          periodSeconds: 15",
            "          grpc:\n            port: 50053\n          periodSeconds: 15",
        ),
        ["dev"],
    )
    assert any(
        "Deployment vigie-storage" in p
        and "livenessProbe is a gRPC probe but gRPC is served over TLS" in p
        for p in problems
    ), problems


def test_a_grpc_server_without_tls_or_plaintext_fails(pristine: Path, tmp_path: Path) -> None:
    def no_transport(root: Path) -> None:
        edit(root / STORAGE, "name: VIGIE_GRPC__TLS__CERT_FILE", "name: VIGIE_UNUSED_CERT")
        edit(root / STORAGE, "name: VIGIE_GRPC__TLS__KEY_FILE", "name: VIGIE_UNUSED_KEY")
        edit(root / STORAGE, "name: VIGIE_GRPC__TLS__CA_FILE", "name: VIGIE_UNUSED_CA")
        compose = root / "docker-compose.yml"
        text = compose.read_text().replace('VIGIE_GRPC__PLAINTEXT: "true"', "VIGIE_UNUSED: x")
        compose.write_text(text)

    problems = broken(pristine, tmp_path, no_transport, ["dev"])
    assert any(
        "Deployment vigie-storage" in p and "grpc: no transport configured" in p for p in problems
    ), problems
    assert any(
        "docker-compose.yml: detection" in p and "grpc: no transport configured" in p
        for p in problems
    ), problems


def test_a_settings_file_path_nothing_mounts_fails(pristine: Path, tmp_path: Path) -> None:
    config = "deploy/k8s/base/config/tracking.yaml"
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(r / config, "/etc/vigie/scenes/scenes.yaml", "/etc/vigie/scene/scenes.yaml"),
        ["dev"],
    )
    assert any(
        "Deployment vigie-tracking" in p
        and "scenes is /etc/vigie/scene/scenes.yaml but nothing is mounted there" in p
        for p in problems
    ), problems


# -- autoscaling, topics and ACLs --------------------------------------------------------------


def test_an_autoscaler_on_a_group_its_deployment_does_not_run_fails(
    pristine: Path, tmp_path: Path
) -> None:
    keda = "deploy/k8s/components/keda/scaledobjects.yaml"
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(r / keda, "consumerGroup: vigie-detection", "consumerGroup: vigie-detect"),
        ["prod"],
    )
    assert any(
        "ScaledObject vigie-detection watches consumer group vigie-detect" in p for p in problems
    ), problems


def test_a_consumer_without_its_group_acl_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / STRIMZI / "users.yaml",
            "type: group\n        name: vigie-storage-snapshots",
            "type: group\n        name: vigie-storage-snapshot",
        ),
        ["prod"],
    )
    assert any(
        "KafkaUser vigie-storage" in p
        and "may not join consumer group vigie-storage-snapshots" in p
        for p in problems
    ), problems


def test_a_changelog_partitioned_unlike_the_events_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / STRIMZI / "topics.yaml",
            "topicName: vigie.events.v1\n  partitions: 6",
            "topicName: vigie.events.v1\n  partitions: 12",
        ),
        ["prod"],
    )
    assert any(
        "vigie-alerting-alert-state-changelog has 6 partitions but vigie.events.v1 has 12" in p
        for p in problems
    ), problems


def test_a_strimzi_object_off_its_schema_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(r / STRIMZI / "users.yaml", "- Write\n", "- Wrte\n"),
        ["prod"],
    )
    assert any(
        p.startswith("overlay prod: KafkaUser vigie-capture") and "operations" in p
        for p in problems
    ), problems


def test_a_k8ssandra_cluster_without_its_version_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / "deploy/k8s/components/cassandra/k8ssandra.yaml", "    serverVersion: 4.1.5\n", ""
        ),
        ["prod"],
    )
    assert any(
        "K8ssandraCluster vigie-cassandra: spec.cassandra.serverVersion missing" in p
        for p in problems
    ), problems


# -- monitoring --------------------------------------------------------------------------------

RULES = "deploy/k8s/components/monitoring/rules.yaml"


def test_an_alert_on_a_metric_no_service_exports_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(r / RULES, "vigie_dead_letters_total[10m]", "vigie_dead_letter_total[10m]"),
        ["dev"],
    )
    assert any(
        "PrometheusRule vigie" in p and "VigieDeadLetters: no service exports vigie_dead_letter_"
        in p for p in problems
    ), problems  # fmt: skip


def test_an_alert_promtool_refuses_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(r / RULES, "[10m])) > 0.1", "[10m]) > 0.1"),
        ["dev"],
    )
    assert any("PrometheusRule vigie" in p and "parse error" in p for p in problems), problems


# -- against the topology (vigie_runtime.topology) ----------------------------------------------

KEDA = "deploy/k8s/components/keda/scaledobjects.yaml"


def test_a_lag_scaled_service_without_its_scaledobject_fails(
    pristine: Path, tmp_path: Path
) -> None:
    def drop_alerting(root: Path) -> None:
        text = (root / KEDA).read_text()
        (root / KEDA).write_text(text[: text.rindex("---\n# Each alerting replica")])

    problems = broken(pristine, tmp_path, drop_alerting, ["prod"])
    assert any(
        "alerting scales on the lag of vigie-alerting on vigie.events.v1, but no ScaledObject"
        " scales its Deployment" in p
        for p in problems
    ), problems


def test_a_scaledobject_on_a_service_that_stays_one_replica_fails(
    pristine: Path, tmp_path: Path
) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / KEDA,
            "scaleTargetRef:\n    name: vigie-alerting",
            "scaleTargetRef:\n    name: vigie-storage",
        ),
        ["prod"],
    )
    assert any(
        "a ScaledObject scales storage, which the topology does not scale on lag" in p
        for p in problems
    ), problems
    assert any(
        "ScaledObject vigie-alerting watches consumer group vigie-alerting, which vigie-storage"
        " does not run" in p
        for p in problems
    ), problems


def test_a_state_topic_the_service_may_not_write_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / STRIMZI / "users.yaml",
            "name: vigie.analytics-state.v1\n        patternType: literal\n      operations:\n"
            "      - Read\n      - Write\n",
            "name: vigie.analytics-state.v1\n        patternType: literal\n      operations:\n"
            "      - Read\n",
        ),
        ["prod"],
    )
    assert any(
        "KafkaUser vigie-analytics" in p
        and "may not write its state to vigie.analytics-state.v1 (no topic Write ACL)" in p
        for p in problems
    ), problems


def test_a_grant_the_service_does_not_use_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(r / STRIMZI / "users.yaml", "name: vigie.frames.v1", "name: vigie.frame.v1"),
        ["prod"],
    )
    assert any(
        "KafkaUser vigie-capture: grants topic vigie.frame.v1, which capture neither reads nor"
        " writes" in p
        for p in problems
    ), problems
    assert any("KafkaUser vigie-capture: may not write vigie.frames.v1" in p for p in problems), (
        problems
    )


def test_a_state_topic_partitioned_unlike_its_input_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / STRIMZI / "topics.yaml",
            "numbered like its tracks partition.\n  partitions: 6",
            "numbered like its tracks partition.\n  partitions: 12",
        ),
        ["prod"],
    )
    assert any(
        "KafkaTopic vigie.analytics-state.v1 has 12 partitions but vigie.tracks.v1 has 6" in p
        for p in problems
    ), problems


def test_a_container_port_off_the_topology_fails(pristine: Path, tmp_path: Path) -> None:
    def move(root: Path) -> None:
        path = root / "deploy/k8s/base/detection.yaml"
        path.write_text(path.read_text().replace("50051", "50061"))

    problems = broken(pristine, tmp_path, move, ["dev"])
    assert any(
        "Deployment vigie-detection" in p
        and "its port named grpc is 50061 but detection serves grpc on 50051" in p
        for p in problems
    ), problems
    assert any(
        "Service vigie-detection: port grpc is 50061 but detection serves grpc on 50051" in p
        for p in problems
    ), problems


def test_a_scrape_annotation_or_network_policy_off_the_topology_fails(
    pristine: Path, tmp_path: Path
) -> None:
    def move(root: Path) -> None:
        edit(root / STORAGE, "prometheus.io/port: '9406'", "prometheus.io/port: '9405'")
        policies = root / "deploy/k8s/components/network-policies/policies.yaml"
        edit(policies, "port: 9404", "port: 9444")

    problems = broken(pristine, tmp_path, move, ["dev"])
    assert any(
        "Deployment vigie-storage: prometheus.io/port is 9405 but storage serves HTTP on 9406" in p
        for p in problems
    ), problems
    assert any(
        "NetworkPolicy vigie-analytics: admits traffic to port 9444, which analytics does not"
        " serve" in p
        for p in problems
    ), problems


def test_replicas_without_their_own_groups_acl_fail(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / STRIMZI / "users.yaml",
            "name: vigie-alerting-watch-\n        patternType: prefix",
            "name: vigie-alerting-watch-\n        patternType: literal",
        ),
        ["prod"],
    )
    assert any(
        "KafkaUser vigie-alerting: may not join the groups vigie-alerting-watch-* of its replicas"
        in p
        for p in problems
    ), problems


# -- autoscaler credentials and recommended labels (issue 14) ---------------------------------

TRIGGER_AUTH = "deploy/k8s/components/keda/triggerauthentications.yaml"


def test_a_scaledobject_without_authentication_on_a_scram_listener_fails(
    pristine: Path, tmp_path: Path
) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(r / KEDA, "    authenticationRef:\n      name: vigie-tracking-kafka\n", ""),
        ["prod"],
    )
    assert any(
        "ScaledObject vigie-tracking: trigger 0 reads lag from vigie-kafka-kafka-bootstrap:9092"
        in p
        and "no authenticationRef" in p
        for p in problems
    ), problems


def test_an_authentication_ref_to_no_triggerauthentication_fails(
    pristine: Path, tmp_path: Path
) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(r / KEDA, "name: vigie-alerting-kafka", "name: vigie-alert-kafka"),
        ["prod"],
    )
    assert any(
        "ScaledObject vigie-alerting: trigger 0 authenticates with TriggerAuthentication"
        " vigie-alert-kafka, which the overlay does not have in namespace vigie" in p
        for p in problems
    ), problems


def test_a_triggerauthentication_with_another_users_password_fails(
    pristine: Path, tmp_path: Path
) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / TRIGGER_AUTH,
            "  - parameter: password\n    name: vigie-detection\n",
            "  - parameter: password\n    name: vigie-tracking\n",
        ),
        ["prod"],
    )
    assert any(
        "TriggerAuthentication vigie-detection-kafka: username is vigie-detection but the"
        " password is KafkaUser vigie-tracking's" in p
        for p in problems
    ), problems


def test_a_triggerauthentication_missing_a_parameter_or_secret_fails(
    pristine: Path, tmp_path: Path
) -> None:
    def damage(root: Path) -> None:
        edit(
            root / TRIGGER_AUTH,
            "  - parameter: ca\n    name: vigie-kafka-cluster-ca-cert\n    key: ca.crt\n---\n",
            "---\n",
        )
        edit(root / TRIGGER_AUTH, "key: analytics-username", "key: analytics-user")

    problems = broken(pristine, tmp_path, damage, ["prod"])
    assert any(
        "TriggerAuthentication vigie-detection-kafka: gives no ca, which the listener asks" in p
        for p in problems
    ), problems
    assert any(
        "TriggerAuthentication vigie-analytics-kafka: username reads secret vigie-keda-kafka key"
        " analytics-user, which is neither in the overlay nor one the Strimzi operators create" in p
        for p in problems
    ), problems


def test_a_triggerauthentication_off_its_schema_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(r / TRIGGER_AUTH, "    key: sasl\n", ""),
        ["prod"],
    )
    assert any(
        p.startswith("overlay prod: TriggerAuthentication vigie-detection-kafka") for p in problems
    ), problems


def test_an_object_without_a_recommended_label_fails(pristine: Path, tmp_path: Path) -> None:
    def strip(root: Path) -> None:
        edit(
            root / "deploy/k8s/components/monitoring/servicemonitor.yaml",
            "    app.kubernetes.io/component: monitoring\n",
            "",
        )
        edit(
            root / "deploy/k8s/overlays/dev/kustomization.yaml",
            "app.kubernetes.io/managed-by: kustomize",
            "app.kubernetes.io/managed-by: kubectl",
        )
        edit(
            root / "deploy/k8s/overlays/dev/kustomization.yaml",
            'app.kubernetes.io/version: "0.1.0"',
            'app.kubernetes.io/version: "0.0.9"',
        )

    problems = broken(pristine, tmp_path, strip, ["dev"])
    assert any(
        "overlay dev: ServiceMonitor vigie: lacks the recommended label(s)"
        " app.kubernetes.io/component" in p
        for p in problems
    ), problems
    assert any(
        "overlay dev: Deployment vigie-capture: label app.kubernetes.io/managed-by is 'kubectl',"
        " not 'kustomize'" in p
        for p in problems
    ), problems
    assert any(
        "overlay dev: Namespace vigie-dev: label app.kubernetes.io/version is '0.0.9', not" in p
        for p in problems
    ), problems


# -- alert rule tests and dashboards (issue 14) -----------------------------------------------

RULE_TESTS = "deploy/k8s/components/monitoring/tests/rules-test.yaml"
DASHBOARDS = "deploy/k8s/components/monitoring/dashboards"


def test_an_alert_without_a_firing_case_fails(pristine: Path, tmp_path: Path) -> None:
    def drop(root: Path) -> None:
        text = (root / RULE_TESTS).read_text()
        start = text.index("  - name: VigieErrors fires on sustained errors\n")
        end = text.index("  - name: VigieErrors stays quiet on a rare error\n")
        (root / RULE_TESTS).write_text(text[:start] + text[end:])

    problems = broken(pristine, tmp_path, drop, ["dev"])
    assert any(
        "overlay dev: promtool test rules: VigieErrors: no test case makes it fire" in p
        for p in problems
    ), problems


def test_a_new_alert_without_tests_fails(pristine: Path, tmp_path: Path) -> None:
    def add(root: Path) -> None:
        edit(
            root / RULES,
            "  - name: vigie.operations\n    rules:\n",
            "  - name: vigie.operations\n    rules:\n    - alert: VigieStateDiscarded\n"
            "      expr: sum(increase(vigie_state_discarded_total[10m])) > 0\n",
        )

    problems = broken(pristine, tmp_path, add, ["dev"])
    assert any("VigieStateDiscarded: no test case makes it fire" in p for p in problems), problems
    assert any("VigieStateDiscarded: no test case keeps it quiet" in p for p in problems), problems


def test_a_rule_its_tests_no_longer_match_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / RULES, "(rate(vigie_errors_total[5m])) > 0.1", "(rate(vigie_errors_total[5m])) > 1"
        ),
        ["dev"],
    )
    assert any(
        p.startswith("overlay dev: promtool test rules:") and "VigieErrors" in p for p in problems
    ), problems


def test_a_dashboard_on_a_metric_no_service_exports_fails(pristine: Path, tmp_path: Path) -> None:
    def damage(root: Path) -> None:
        edit(
            root / DASHBOARDS / "camera.json",
            "vigie_camera_last_frame_age_seconds{",
            "vigie_camera_last_frame_seconds{",
        )
        stage = root / DASHBOARDS / "stage.json"
        stage.write_text(
            stage.read_text().replace(
                "label_values(vigie_processing_seconds_count, stage)",
                "label_values(vigie_processing_seconds, stage)",
            )
        )

    problems = broken(pristine, tmp_path, damage, ["dev"])
    assert any(
        "ConfigMap vigie-dashboards: camera.json: panel 'Age of the last frame': no service"
        " exports vigie_camera_last_frame_seconds" in p
        for p in problems
    ), problems
    assert any(
        "stage.json: variable stage: no service exports vigie_processing_seconds" in p
        for p in problems
    ), problems


def test_a_dashboard_that_is_not_json_fails(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(r / DASHBOARDS / "overview.json", '"uid"', "uid"),
        ["dev"],
    )
    assert any("overview.json: is not JSON" in p for p in problems), problems


def test_promql_metric_names() -> None:
    names = deploy_check.promql_metrics(
        "histogram_quantile(0.99, sum by (le, stage) (rate(vigie_processing_seconds_bucket"
        '{stage="$stage", le!="+Inf"}[$__rate_interval]))) > 1 and on (stage)'
        ' label_replace(vigie_camera_fps offset 5m, "dst", "$1", "src", "(.*)") or up == 0'
        " unless ignoring(job) sum(rate(x:recorded[5m:1m])) * 1e3"
    )
    assert names == {"vigie_processing_seconds_bucket", "vigie_camera_fps", "up", "x:recorded"}


def test_the_exported_series_follow_prometheus_client() -> None:
    kinds = {"vigie_a_total": "Counter", "vigie_b": "Counter", "vigie_h": "Histogram"}
    series = deploy_check.exported_series({**kinds, "vigie_g": "Gauge"})
    assert {
        "vigie_a_total",
        "vigie_b_total",
        "vigie_h_bucket",
        "vigie_h_count",
        "vigie_g",
    } <= series
    assert not {"vigie_b", "vigie_h", "vigie_a_total_total"} & series
    exported = deploy_check.exported_series()
    assert {
        "vigie_camera_fps",
        "vigie_dead_letters_total",
        "vigie_processing_seconds_sum",
    } <= exported


# -- the console: a web port, a gRPC client, the shared scene file ------------------------------

CONSOLE = "deploy/k8s/base/console.yaml"
POLICIES = "deploy/k8s/components/network-policies/policies.yaml"


def test_a_writable_scene_file_on_a_read_only_mount_fails(pristine: Path, tmp_path: Path) -> None:
    """The base mounts the scenes ConfigMap read-only: the console must say so, or its editor
    would offer saves that fail."""
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / CONSOLE,
            "name: VIGIE_SCENES_WRITABLE\n          value: 'false'",
            "name: VIGIE_SCENES_WRITABLE\n          value: 'true'",
        ),
        ["dev"],
    )
    assert any(
        "Deployment vigie-console" in p
        and "scenes_writable is true but /etc/vigie/scenes is not on a writable volume" in p
        for p in problems
    ), problems


def test_the_console_web_port_off_the_topology_fails(pristine: Path, tmp_path: Path) -> None:
    def move(root: Path) -> None:
        edit(root / CONSOLE, "containerPort: 8080", "containerPort: 8081")
        edit(root / CONSOLE, "  - name: web\n    port: 8080", "  - name: web\n    port: 8081")
        edit(root / POLICIES, "port: 8080", "port: 8088")

    problems = broken(pristine, tmp_path, move, ["dev"])
    for wanted in (
        "Deployment vigie-console: its port named web is 8081 but console serves web on 8080",
        "Deployment vigie-console: serves web on 8080 but its port named web is 8081",
        "Service vigie-console: port web is 8081 but console serves web on 8080",
        "NetworkPolicy vigie-console: admits traffic to port 8088, which console does not serve",
    ):
        assert any(wanted in p for p in problems), (wanted, problems)


def test_a_grpc_port_on_a_service_that_only_calls_grpc_fails(
    pristine: Path, tmp_path: Path
) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / CONSOLE,
            "        - name: web\n          containerPort: 8080",
            "        - name: grpc\n          containerPort: 50051\n"
            "        - name: web\n          containerPort: 8080",
        ),
        ["dev"],
    )
    assert any(
        "Deployment vigie-console: has a port named grpc but console serves no gRPC" in p
        for p in problems
    ), problems


def test_a_grpc_client_without_tls_or_plaintext_fails(pristine: Path, tmp_path: Path) -> None:
    def no_transport(root: Path) -> None:
        for variable in ("CERT_FILE", "KEY_FILE", "CA_FILE"):
            edit(root / CONSOLE, f"name: VIGIE_GRPC__TLS__{variable}", f"name: VIGIE_X_{variable}")

    problems = broken(pristine, tmp_path, no_transport, ["dev"])
    assert any(
        "Deployment vigie-console" in p and "grpc: no transport configured" in p for p in problems
    ), problems


def test_a_service_missing_from_an_overlay_fails(pristine: Path, tmp_path: Path) -> None:
    def remove(root: Path) -> None:
        edit(root / "deploy/k8s/base/kustomization.yaml", "  - console.yaml\n", "")
        # The console's policy is the last of the file: cut it off.
        policies = root / POLICIES
        text = policies.read_text()
        policies.write_text(text[: text.rindex("---\n")])

    problems = broken(pristine, tmp_path, remove, ["dev"])
    assert "overlay dev: no Deployment runs console (image vigie-console)" in problems, problems


def test_a_service_without_its_network_policy_or_service_port_fails(
    pristine: Path, tmp_path: Path
) -> None:
    def remove(root: Path) -> None:
        edit(root / POLICIES, "  name: vigie-console\n", "  name: vigie-console-other\n")
        edit(
            root / POLICIES,
            "      app.kubernetes.io/name: vigie-console\n  policyTypes",
            "      app.kubernetes.io/name: vigie-nothing\n  policyTypes",
        )
        edit(
            root / CONSOLE,
            "  - name: http\n    port: 9407\n    targetPort: http\n",
            "",
        )

    problems = broken(pristine, tmp_path, remove, ["dev"])
    assert "overlay dev: no NetworkPolicy admits traffic to the pods of console" in problems, (
        problems
    )
    assert "overlay dev: no Service of console has its port http (9407)" in problems, problems


def test_console_replicas_without_their_own_groups_acl_fail(pristine: Path, tmp_path: Path) -> None:
    problems = broken(
        pristine,
        tmp_path,
        lambda r: edit(
            r / STRIMZI / "users.yaml",
            "name: vigie-console-cameras-\n        patternType: prefix",
            "name: vigie-console-cameras\n        patternType: literal",
        ),
        ["prod"],
    )
    assert any(
        "KafkaUser vigie-console: may not join the groups vigie-console-cameras-* of its replicas"
        in p
        for p in problems
    ), problems
    assert any(
        "KafkaUser vigie-console: grants consumer group vigie-console-cameras, which console does"
        " not run" in p
        for p in problems
    ), problems


def test_a_compose_scene_file_the_console_cannot_share_fails(
    pristine: Path, tmp_path: Path
) -> None:
    """In compose the editor saves the scene file in a volume analytics and tracking read: a
    read-only mount, or a reader with a file of its own, would keep saves from them."""

    def unshare(root: Path) -> None:
        compose = root / "docker-compose.yml"
        edit(
            compose,
            "      - scenes:/etc/vigie/scenes\n    ports:",
            "      - scenes:/etc/vigie/scenes:ro\n    ports:",
        )
        edit(
            compose,
            "analytics.yaml:ro\n      - scenes:/etc/vigie/scenes:ro",
            "analytics.yaml:ro\n"
            "      - ./deploy/compose/scenes.yaml:/etc/vigie/scenes/scenes.yaml:ro",
        )

    problems = broken(pristine, tmp_path, unshare, ["dev"])
    assert (
        "docker-compose.yml: console: scenes_writable is true but /etc/vigie/scenes is mounted"
        " read-only (scenes)" in problems
    ), problems
    assert any(
        p.startswith("docker-compose.yml: analytics: reads the scene file") and "would not" in p
        for p in problems
    ), problems
