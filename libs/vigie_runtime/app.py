"""The composition root every service's ``__main__`` calls: settings, logs, probes, signals.

A service provides a ``build(settings, bus, health) -> Service`` function; this module does the
rest the same way for all of them, so reading one service's entry point teaches all.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, TypeVar

from vigie_runtime import metrics, tracing
from vigie_runtime.bus import Bus
from vigie_runtime.health import CachedCheck, Health, ProbeServer
from vigie_runtime.kafka import KafkaBus, _base_config, wait_for_broker
from vigie_runtime.logs import configure_logging
from vigie_runtime.settings import KafkaSettings, ServiceSettings, load_settings
from vigie_runtime.yamlconf import ConfigError

log = logging.getLogger(__name__)

S = TypeVar("S", bound=ServiceSettings)


class Service(Protocol):
    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set, then release everything (commit, close, stop servers)."""
        ...


Build = Callable[[S, Bus, Health], Service]


class ServiceFailed(RuntimeError):
    """Raised by ``Service.run`` when its work cannot go on (capture gave a camera up): the
    process exits 1, so an orchestrator or a script sees the failure."""


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM (Kubernetes) and SIGINT (Ctrl-C) ask for a graceful stop; a second one forces it."""

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            log.warning("second signal: exiting now")
            os._exit(128 + signum)
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


BROKER_CHECK = "broker.reachable"
BROKER_CHECK_TTL_S = 5.0  # probes between two broker round trips see the last answer
BROKER_PROBE_TIMEOUT_S = 1.0  # below the readiness probe's own timeout (3 s in the manifests)


class BrokerProbe:
    """Is the broker there? One metadata request on one long-lived admin client.

    The stages' own clients only notice a lost broker when they next need it, and a consumer
    keeps its assignment for a session after the broker has gone; readiness must say so now.
    """

    def __init__(self, settings: KafkaSettings, timeout_s: float = BROKER_PROBE_TIMEOUT_S):
        from confluent_kafka.admin import AdminClient

        self.timeout_s = timeout_s
        self._admin = AdminClient(_base_config(settings, "vigie-readiness"))

    def __call__(self) -> bool:
        # Raises when no broker answers in time; the caller counts that as not ready.
        self._admin.list_topics(timeout=self.timeout_s)
        return True


def add_broker_check(
    health: Health, settings: KafkaSettings, ttl_s: float = BROKER_CHECK_TTL_S
) -> CachedCheck:
    """Readiness fails while the broker does not answer (asked at most once per ``ttl_s``)."""
    check = CachedCheck(BrokerProbe(settings), ttl_s)
    health.add_check(BROKER_CHECK, check)
    return check


def base_parser(name: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"vigie {name}", description=f"Vigie {name} service")
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ["VIGIE_CONFIG"]) if os.environ.get("VIGIE_CONFIG") else None,
        help="YAML settings file (default: $VIGIE_CONFIG); environment variables VIGIE_* win",
    )
    parser.add_argument(
        "--check-config", action="store_true", help="validate the settings, print them, exit"
    )
    parser.add_argument("-V", "--version", action="version", version=f"vigie {release()}")
    return parser


def release() -> str:
    """The installed release of Vigie ("unknown" when run from a tree not installed)."""
    try:
        return metadata.version("vigie")
    except metadata.PackageNotFoundError:
        return "unknown"


SECRET_WORDS = ("password", "secret", "token")


def _secret(key: str) -> bool:
    """A key holding a secret itself (not the name of a file or variable that holds one)."""
    key = key.lower()
    return any(w in key for w in SECRET_WORDS) and not key.endswith(("_file", "_env"))


def redacted(value: Any) -> Any:
    """Settings as printed by ``--check-config``: values of secret-looking keys hidden, so the
    output can be pasted into a ticket."""
    if isinstance(value, dict):
        return {k: "***" if _secret(str(k)) and v else redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def service_main(
    name: str,
    settings_cls: type[S],
    build: Build[S],
    argv: Sequence[str] | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    overrides: Callable[[argparse.Namespace], dict[str, Any]] | None = None,
) -> int:
    parser = base_parser(name)
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = load_settings(
            settings_cls, args.config, **(overrides(args) if overrides else {})
        )
    except ConfigError as exc:
        print(f"vigie {name}: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print(json.dumps(redacted(settings.model_dump(mode="json")), indent=2))
        return 0
    configure_logging(name, settings.log_level, settings.log_json)
    tracing.configure(name, settings.tracing)
    metrics.BUILD_INFO.labels(name, release(), platform.python_version()).set(1)
    stop = threading.Event()
    install_signal_handlers(stop)
    health = Health(settings.liveness_timeout_s)
    # Probes answer from the start (a slow broker must not look like a dead process), but the
    # service is not ready before it is built: until then it has declared none of its checks.
    built = threading.Event()
    health.add_check("service.built", built.is_set)
    probes = ProbeServer(health, settings.http.host, settings.http.port).start()
    try:
        while not stop.is_set():
            try:
                wait_for_broker(settings.kafka, timeout_s=30)
                break
            except ConnectionError as exc:
                health.beat()  # waiting for the broker is not being stuck
                log.warning("waiting for the broker", extra={"error": str(exc)})
        if stop.is_set():
            return 0
        add_broker_check(health, settings.kafka)
        service = build(settings, KafkaBus(settings.kafka), health)
        built.set()
        service.run(stop)
    except ConfigError as exc:
        log.error("invalid configuration", extra={"error": str(exc)})
        print(f"vigie {name}: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    except ServiceFailed as exc:
        log.error("service failed", extra={"error": str(exc)})
        return 1
    finally:
        probes.stop()
        tracing.shutdown()
    log.info("stopped")
    return 0
