"""What deploy-check grants, scales and waits on (``vigie_runtime.topology``) is what the code
really does: every service is built over the in-memory bus with every optional stage turned on
and its group renamed, and the stages it starts are compared with the topology's consumer groups
(stage name, group id under the renamed group, topics, state topic). The alerting service's
stream application is built without a broker and compared likewise (its agents, application id,
changelog and assignor topics). Settings take their default group and ports from the topology."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from vigie_runtime.health import Health
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.settings import GrpcSettings
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.streams import StreamStage
from vigie_runtime.topology import SERVICES, ServiceTopology, service

EPHEMERAL = GrpcSettings(host="127.0.0.1", port=0, plaintext=True)
# An alert policy with a webhook: the webhook stage runs only then.
WEBHOOK_POLICY = {
    "version": "t",
    "webhooks": [{"name": "desk", "url": "https://example.org/h", "secret_env": "HOOK_SECRET"}],
}


def started_stages(built: Any) -> list[Stage[Any]]:
    """The stages of every runner (or stream application stage) a built service holds, as
    attributes of its own or of its parts, alone or in a list."""
    found: dict[int, Stage[Any]] = {}
    for value in _each(vars(built).values()):
        parts = vars(value).values() if hasattr(value, "__dict__") else ()
        for candidate in (value, *_each(parts)):
            if isinstance(candidate, StageRunner | StreamStage):
                found[id(candidate.stage)] = candidate.stage
    return list(found.values())


def _each(values: Iterable[Any]) -> list[Any]:
    """The values, the items of a list or tuple among them in its place."""
    return [item for v in values for item in (v if isinstance(v, list | tuple) else (v,))]


def recipe(name: str, tmp_path: Path) -> tuple[Any, Any, dict[str, Any]]:
    """Settings class, service class and settings that turn every optional stage on."""
    settings_module = importlib.import_module(f"vigie_{name}.settings")
    service_module = importlib.import_module(f"vigie_{name}.service")
    overrides: dict[str, Any] = {"group_id": f"site-a-{name}"}
    if name == "detection":
        # The Darknet files from the model wheel: no exported ONNX file needed here.
        overrides.update(grpc=EPHEMERAL, model={"backend": "opencv"})
        return settings_module.DetectionSettings, service_module.DetectionService, overrides
    if name == "tracking":
        return settings_module.TrackingSettings, service_module.TrackingService, overrides
    if name == "analytics":
        overrides.update(fire={"enabled_cameras": ["cam"]})  # turns the pixel stage on
        return settings_module.AnalyticsSettings, service_module.AnalyticsService, overrides
    if name == "alerting":
        overrides.update(grpc=EPHEMERAL, policy=WEBHOOK_POLICY)
        cls = settings_module.AlertingSettings
        return cls, service_module.InProcessAlertingService, overrides
    if name == "storage":
        overrides.update(
            grpc=EPHEMERAL,
            database=tmp_path / "archive.sqlite",
            snapshots_dir=tmp_path / "snapshots",
            snapshots={"enabled": True},
        )
        return settings_module.StorageSettings, service_module.StorageService, overrides
    if name == "console":
        # A gRPC client only (the desk, the archive): its transport must be chosen to start.
        overrides.update(grpc=EPHEMERAL, web={"host": "127.0.0.1", "port": 0})
        return settings_module.ConsoleSettings, service_module.ConsoleService, overrides
    raise AssertionError(f"no recipe for {name}")


def assert_stages_match(topo: ServiceTopology, base: str, stages: list[Stage[Any]]) -> None:
    groups = {group.stage: group for group in topo.groups}
    assert sorted(s.name for s in stages) == sorted(groups), (
        f"{topo.name} starts stages {sorted(s.name for s in stages)}; the topology has"
        f" {sorted(groups)}"
    )
    states = {(s.topic, s.follows) for s in topo.state}
    for stage in stages:
        group = groups[stage.name]
        if group.per_replica:
            assert stage.group_id.startswith(group.id(base)), (stage.name, stage.group_id)
            assert stage.group_id != group.id(base), "a replica's own group needs its own name"
        else:
            assert stage.group_id == group.id(base), (stage.name, stage.group_id, group.id(base))
        topics = set(stage.topics)
        assert set(group.always_read) <= topics <= set(group.topics), (stage.name, topics, group)
        state = getattr(stage, "state", None)
        if state is not None:
            # Topics a stream application names after its id follow the renamed group.
            topic = state.topic.replace(base, topo.group_id, 1)
            assert (topic, state.follows) in states, (stage.name, state.topic, states)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in [v for v in os.environ if v.upper().startswith("VIGIE_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("HOOK_SECRET", "not-a-secret")
    monkeypatch.chdir(tmp_path)  # the stream application creates its data folder under var/


@pytest.mark.parametrize("name", [s.name for s in SERVICES if s.groups])
def test_the_stages_each_service_starts_are_its_consumer_groups(name: str, tmp_path: Path) -> None:
    settings_cls, service_cls, overrides = recipe(name, tmp_path)
    built = service_cls(settings_cls(**overrides), InMemoryBus(), Health())
    try:
        assert_stages_match(service(name), overrides["group_id"], started_stages(built))
    finally:
        store = getattr(built, "store", None)
        if store is not None:
            store.close()


def test_the_alerting_stream_application_reads_and_keeps_what_the_topology_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vigie_alerting import streaming
    from vigie_alerting.settings import AlertingSettings
    from vigie_runtime.kafka import KafkaBus

    # Topics are created against the broker at start-up; there is none here.
    monkeypatch.setattr(streaming, "prepare_topics", lambda settings, routes: 6)
    settings = AlertingSettings(group_id="site-a-alerting", grpc=EPHEMERAL, policy=WEBHOOK_POLICY)
    built = streaming.StreamingAlertingService(settings, KafkaBus(settings.kafka), Health())
    topo = service("alerting")
    assert_stages_match(topo, settings.group_id, started_stages(built))
    app = built.streams.app
    main = topo.groups[0]
    assert app.conf.id == main.id(settings.group_id)
    read = {topic for agent in app.agents.values() for topic in agent.channel.topics}
    assert read == set(main.topics)
    # The stream topics are named after the application id: the default one gives the names
    # the topic catalogue declares.
    named = {t.replace(settings.group_id, topo.group_id, 1) for t in stream_topics(app)}
    assert named <= {s.topic for s in topo.state}, named


def stream_topics(app: Any) -> set[str]:
    """The topics a faust application creates for itself: table changelogs, the assignor's."""
    changelogs = {table.changelog_topic.get_topic_name() for table in app.tables.values()}
    return changelogs | {app._leader_assignor._leader_topic_name}


@pytest.mark.parametrize("topo", SERVICES, ids=[s.name for s in SERVICES])
def test_settings_take_their_defaults_from_the_topology(topo: ServiceTopology) -> None:
    module = importlib.import_module(f"vigie_{topo.name}.settings")
    (cls,) = [
        value for key, value in vars(module).items() if key == f"{topo.name.capitalize()}Settings"
    ]
    fields = cls.model_fields
    assert fields["group_id"].default == topo.group_id
    assert fields["http"].default_factory().port == topo.http_port
    grpc = fields.get("grpc")
    if topo.grpc_port is not None:
        assert grpc is not None and grpc.default_factory().port == topo.grpc_port
    # Otherwise its gRPC settings, if any, are the transport of the calls it makes (the
    # console's): they serve nothing.
    web = fields.get("web")
    assert (web.default_factory().port if web else None) == topo.web_port
