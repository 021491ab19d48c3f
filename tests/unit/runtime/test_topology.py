"""The topology table is consistent with itself and with the topic catalogue: every topic it
names exists, everything read is written by someone, group ids, stage names and ports are
unique, and state topics are partitioned like the inputs they follow."""

from __future__ import annotations

import pytest

from vigie_runtime import topics, topology
from vigie_runtime.topology import ALERTING, ANALYTICS, SERVICES, STORAGE

ALL_GROUPS = [
    (service, group_id, group)
    for service in SERVICES
    for group_id, group in service.consumer_groups().items()
]


def test_every_topic_the_topology_names_is_in_the_catalogue() -> None:
    for service in SERVICES:
        named = service.reads() | service.written()
        named |= {s.follows for s in service.state if s.follows} | {service.scales_on or ""}
        unknown = sorted(named - set(topics.EVERY_TOPIC) - {""})
        assert not unknown, f"{service.name}: {unknown} not in vigie_runtime.topics"


def test_every_catalogue_topic_is_used_by_some_service() -> None:
    used = set().union(*(s.reads() | s.written() for s in SERVICES))
    assert set(topics.EVERY_TOPIC) - used == set()


def test_every_topic_a_group_reads_is_written_by_a_service_or_comes_from_outside() -> None:
    written = set().union(*(s.written() for s in SERVICES)) | topology.EXTERNAL_INPUTS
    for service, group_id, group in ALL_GROUPS:
        assert set(group.topics) <= written, (service.name, group_id, group.topics)


def test_group_ids_and_stage_names_are_unique() -> None:
    ids = [group_id for _, group_id, _ in ALL_GROUPS]
    stages = [group.stage for _, _, group in ALL_GROUPS]
    assert len(ids) == len(set(ids))
    assert len(stages) == len(set(stages))
    # A service's groups all start with its group id, so renaming it renames them together.
    for service, group_id, _ in ALL_GROUPS:
        assert group_id.startswith(service.group_id)
    assert len({s.group_id for s in SERVICES}) == len(SERVICES)


def test_ports_are_unique() -> None:
    ports = [port for service in SERVICES for port in service.ports().values()]
    assert len(ports) == len(set(ports)), ports
    for service in SERVICES:
        assert 0 < service.http_port < 65536
        assert service.grpc_port is None or 0 < service.grpc_port < 65536


def test_state_topics_are_partitioned_like_the_inputs_they_follow() -> None:
    for service in SERVICES:
        inputs = {t for g in service.groups for t in g.always_read}
        for state in service.state:
            if state.follows is None:
                continue
            assert state.follows in inputs, (service.name, state)
            spec, followed = topics.EVERY_TOPIC[state.topic], topics.EVERY_TOPIC[state.follows]
            assert spec.partitions == followed.partitions, (service.name, state)


def test_the_analytics_state_topic_is_kept_like_the_tracker_state() -> None:
    spec = topics.BY_NAME[topics.ANALYTICS_STATE]
    assert spec.partitions == topics.BY_NAME[topics.TRACKS].partitions
    assert spec.config == topics.BY_NAME[topics.TRACKER_STATE].config
    assert spec.config["cleanup.policy"] == "compact"
    assert topics.ANALYTICS_STATE in ANALYTICS.written()
    assert topics.ANALYTICS_STATE in ANALYTICS.reads()


def test_autoscaled_services_scale_on_what_their_main_group_reads() -> None:
    for service in SERVICES:
        scaling = service.scaling()
        if service.scales_on is None:
            assert scaling is None
            continue
        assert scaling is not None
        group_id, topic = scaling
        assert topic in service.consumer_groups()[group_id].always_read
    assert ALERTING.scaling() == ("vigie-alerting", topics.EVENTS)
    assert STORAGE.scaling() is None


def test_every_consuming_stage_writes_dead_letters() -> None:
    """Except a service that only reads per replica (the console): every replica sees every
    record, so dead-lettering is left to the topic's own group, which does it once."""
    for service in topology.consumers():
        if all(group.per_replica for group in service.groups):
            assert topics.DEAD_LETTERS not in service.writes, service.name
            continue
        assert topics.DEAD_LETTERS in service.writes, service.name


def test_drain_waits_only_on_what_runs_with_default_settings() -> None:
    drain = topology.drain_groups()
    assert "vigie-analytics-pixels" not in drain  # off unless a camera enables a pixel rule
    assert "vigie-alerting-webhooks" not in drain  # off unless the policy names receivers
    # Each replica's own group has a name nobody knows in advance: its lag cannot be waited on.
    assert not any(group_id.startswith("vigie-alerting-watch") for group_id in drain)
    assert drain["vigie-storage-snapshots"] == (
        topics.FRAMES,
        topics.TRACKS,
        topics.EVENTS,
        topics.ALERTS,
    )
    # Webhook deliveries read the alerts only when the policy has webhooks.
    assert drain["vigie-alerting"] == (topics.EVENTS, topics.VERDICTS)
    assert set(drain) == {
        group_id
        for _, group_id, group in ALL_GROUPS
        if group.by_default and not group.per_replica and group.default_topics
    }


def test_a_run_that_switches_snapshots_off_does_not_wait_on_their_group() -> None:
    off = topology.switched_off({"VIGIE_SNAPSHOTS__ENABLED": "False", "VIGIE_OTHER": "false"})
    assert off == {"snapshots.enabled"}
    drain = topology.drain_groups(off)
    assert set(topology.drain_groups()) - set(drain) == {"vigie-storage-snapshots"}
    assert topology.switched_off({"VIGIE_SNAPSHOTS__ENABLED": "true"}) == frozenset()
    # A condition that names no switch is never taken as one.
    assert topology.switched_off({"VIGIE_WEBHOOKS IN THE ALERT POLICY": "false"}) == frozenset()


def test_groups_follow_a_renamed_service_group() -> None:
    assert set(ANALYTICS.consumer_groups("site-a")) == {"site-a", "site-a-pixels"}
    assert STORAGE.group("storage-snapshots").id("archive") == "archive-snapshots"


def test_lookups_name_what_exists() -> None:
    assert topology.service("alerting") is ALERTING
    with pytest.raises(KeyError, match="known: capture"):
        topology.service("alert")
    with pytest.raises(KeyError, match="analytics-pixels"):
        ANALYTICS.group("pixels")
    with pytest.raises(ValueError, match="tracking serves no gRPC"):
        topology.TRACKING.grpc()
    assert [s.name for s in topology.consumers()] == [
        "detection",
        "tracking",
        "analytics",
        "alerting",
        "storage",
        "console",
    ]
