"""deploy-check's port checks of the Dockerfile and the compose stack (no validation tools
needed): the real files pass; a target exposing or announcing a port its service does not serve,
a compose service publishing one, and a Prometheus target on the wrong port each fail, naming
the file and the service."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location("deploy_check_ports", REPO / "deploy" / "check.py")
assert _spec is not None and _spec.loader is not None
deploy_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(deploy_check)


def problems_after(tmp_path: Path, change: Callable[[Path], None] | None = None) -> list[str]:
    root = tmp_path / "copy"
    (root / "deploy" / "compose").mkdir(parents=True)
    for name in ("Dockerfile", "docker-compose.yml", "deploy/compose/prometheus.yml"):
        shutil.copy(REPO / name, root / name)
    if change is not None:
        change(root)
    problems = deploy_check.Problems()
    deploy_check.check_image_ports(root, problems)
    deploy_check.check_compose_ports(root, problems)
    return list(problems)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_the_real_files_pass(tmp_path: Path) -> None:
    assert problems_after(tmp_path) == []


def test_an_image_exposing_the_wrong_grpc_port_fails(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path, lambda r: edit(r / "Dockerfile", "EXPOSE 9402 50051", "EXPOSE 9402 50061")
    )
    assert problems == [
        "Dockerfile: target detection: exposes [9402, 50061] but detection serves [9402, 50051]"
    ]


def test_an_image_announcing_the_wrong_http_port_fails(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path,
        lambda r: edit(r / "Dockerfile", "ENV VIGIE_HTTP__PORT=9405", "ENV VIGIE_HTTP__PORT=9404"),
    )
    assert (
        "Dockerfile: target alerting: sets VIGIE_HTTP__PORT=9404 but alerting serves HTTP on 9405"
        in problems
    ), problems


def test_a_service_without_its_image_target_fails(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path,
        lambda r: edit(r / "Dockerfile", "FROM runtime AS tracking", "FROM runtime AS tracker"),
    )
    assert "Dockerfile: no target tracking" in problems, problems


def test_a_compose_service_publishing_a_port_it_does_not_serve_fails(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path,
        lambda r: edit(
            r / "docker-compose.yml",
            'ports: ["127.0.0.1:50053:50053"]',
            'ports: ["127.0.0.1:50053:50052"]',
        ),
    )
    assert problems == [
        "docker-compose.yml: storage: publishes container port 50052, which storage does not serve"
    ]


def test_a_prometheus_target_on_the_wrong_port_fails(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path,
        lambda r: edit(r / "deploy/compose/prometheus.yml", "analytics:9404", "analytics:9403"),
    )
    assert problems == [
        "deploy/compose/prometheus.yml: scrapes analytics:9403"
        " but analytics serves /metrics on 9404"
    ]


def test_a_service_prometheus_does_not_scrape_fails(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path,
        lambda r: edit(r / "deploy/compose/prometheus.yml", "          - capture:9401\n", ""),
    )
    assert problems == ["deploy/compose/prometheus.yml: does not scrape capture"]


def test_the_console_publishing_a_port_it_does_not_serve_fails(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path,
        lambda r: edit(
            r / "docker-compose.yml",
            'ports: ["127.0.0.1:8080:8080"]',
            'ports: ["127.0.0.1:8080:8000"]',
        ),
    )
    assert problems == [
        "docker-compose.yml: console: publishes container port 8000, which console does not serve"
    ]


def test_an_image_not_exposing_the_web_port_fails(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path, lambda r: edit(r / "Dockerfile", "EXPOSE 9407 8080", "EXPOSE 9407")
    )
    assert problems == [
        "Dockerfile: target console: exposes [9407] but console serves [8080, 9407]"
    ]


def test_a_service_the_compose_file_does_not_run_fails(tmp_path: Path) -> None:
    problems = problems_after(
        tmp_path,
        lambda r: edit(
            r / "docker-compose.yml",
            "build: {context: ., target: console}",
            "build: {context: ., target: tools}",
        ),
    )
    assert problems == ["docker-compose.yml: no service runs console"]
