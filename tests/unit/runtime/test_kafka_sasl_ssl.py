"""Kafka over SASL_SSL as the Strimzi manifests configure it, tested offline.

The development broker speaks plaintext only, so no TLS or SCRAM handshake happens here. What
is tested: the settings the manifests give each service, the librdkafka configuration they
produce (accepted by librdkafka itself, which loads the CA file when a client is created), and
the asyncio client's credentials the stream application (alerting) derives from them.
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
import yaml
from confluent_kafka import KafkaException, Producer

from vigie_runtime.kafka import consumer_config, producer_config
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.streams import _credentials
from vigie_runtime.yamlconf import ConfigError

REPO = Path(__file__).resolve().parents[3]
STRIMZI = REPO / "deploy" / "k8s" / "components" / "strimzi"
PREFIX = "VIGIE_KAFKA__EXTRA__"


def manifest_extra(service: str, ca_file: Path) -> dict[str, str]:
    """``kafka.extra`` of ``service`` as the Strimzi component sets it (its password a
    placeholder for the secret, its CA path the test's own file)."""
    component = yaml.safe_load((STRIMZI / "kustomization.yaml").read_text())
    (patch,) = [p for p in component["patches"] if p["target"].get("name") == f"vigie-{service}"]
    extra = {}
    for op in yaml.safe_load(patch["patch"]):
        value = op["value"]
        if op["path"].endswith("/env/-") and value["name"].startswith(PREFIX):
            extra[value["name"][len(PREFIX) :]] = value.get("value", "s3cret")
    assert extra.pop("ssl.ca.location") == "/etc/vigie/kafka-ca/ca.crt"
    return {**extra, "ssl.ca.location": str(ca_file)}


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kafka-ca")
    cert = folder / "ca.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(folder / "ca.key"), "-out", str(cert), "-days", "1",
         "-subj", "/CN=cluster-ca", "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert


def test_the_manifests_ask_sasl_ssl_with_scram_and_the_cluster_ca(ca_file: Path) -> None:
    extra = manifest_extra("alerting", ca_file)
    assert extra == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "vigie-alerting",
        "sasl.password": "s3cret",
        "ssl.ca.location": str(ca_file),
    }
    kafka = yaml.safe_load((STRIMZI / "kafka.yaml").read_text().split("---")[1])
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert listener["tls"] is True
    assert listener["authentication"]["type"] == "scram-sha-512"


@pytest.mark.parametrize("service", ["capture", "detection", "tracking", "analytics", "storage"])
def test_librdkafka_accepts_the_configuration(service: str, ca_file: Path) -> None:
    settings = KafkaSettings(
        bootstrap_servers="127.0.0.1:1", extra=manifest_extra(service, ca_file)
    )
    for config in (
        producer_config(settings, service),
        consumer_config(settings, f"vigie-{service}", service),
    ):
        assert config["security.protocol"] == "SASL_SSL"
        assert config["sasl.mechanism"] == "SCRAM-SHA-512"
        assert config["ssl.ca.location"] == str(ca_file)
    client = Producer(producer_config(settings, service))  # loads the CA: fails if unusable
    client.flush(0)


def test_librdkafka_refuses_a_missing_ca(ca_file: Path, tmp_path: Path) -> None:
    extra = {**manifest_extra("capture", ca_file), "ssl.ca.location": str(tmp_path / "no.crt")}
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1", extra=extra)
    with pytest.raises(KafkaException, match=r"ssl\.ca\.location"):
        Producer(producer_config(settings, "capture"))


def test_the_stream_application_gets_the_same_credentials(ca_file: Path) -> None:
    credentials = _credentials(manifest_extra("alerting", ca_file))
    assert credentials.protocol.name == "SASL_SSL"
    assert credentials.mechanism.name == "SCRAM_SHA_512"
    assert (credentials.username, credentials.password) == ("vigie-alerting", "s3cret")
    context = credentials.ssl_context
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert [dict(c["subject"][0])["commonName"] for c in context.get_ca_certs()] == ["cluster-ca"]


def test_plaintext_and_unsupported_protocols() -> None:
    assert _credentials({}) is None
    assert _credentials({"security.protocol": "SASL_PLAINTEXT"}).ssl_context is None
    with pytest.raises(ConfigError, match="not supported"):
        _credentials({"security.protocol": "KERBEROS"})


def test_groups_off_the_live_path_let_empty_fetches_wait_longer() -> None:
    """The live path keeps the short wait (its latency floor on the development broker); the
    archive, snapshots and heartbeats take the long one, which costs that broker far less; an
    explicit librdkafka setting in ``kafka.extra`` still wins for both."""
    settings = KafkaSettings(fetch_wait_max_ms=50, background_fetch_wait_max_ms=500)
    assert consumer_config(settings, "g", "c")["fetch.wait.max.ms"] == 50
    assert consumer_config(settings, "g", "c", background=True)["fetch.wait.max.ms"] == 500
    forced = settings.model_copy(update={"extra": {"fetch.wait.max.ms": "100"}})
    assert consumer_config(forced, "g", "c", background=True)["fetch.wait.max.ms"] == "100"
