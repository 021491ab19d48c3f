"""Who reads and writes which topic, with which consumer group, on which ports: one table.

Every other place that needs these facts reads them from here, so they cannot drift apart: each
service's settings take their default consumer group and ports from it, ``vigie run`` and
``vigie demo`` wait on its groups to know the pipeline has drained, and deploy-check grants ACLs,
checks autoscalers, topics and ports in the Dockerfile, the compose file and the manifests
against it. A test builds every service and compares the stages it starts with it.

Topic names come from :mod:`vigie_runtime.topics`. Plain data, no I/O.

    from vigie_runtime.topology import ANALYTICS
    ANALYTICS.group_id                   # "vigie-analytics": the settings' default
    ANALYTICS.group("analytics-pixels")  # a ConsumerGroup: its reads, when it runs
    ANALYTICS.consumer_groups()          # {"vigie-analytics": ..., "vigie-analytics-pixels": ...}
    ANALYTICS.http_port, ANALYTICS.grpc_port
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from vigie_runtime.topics import (
    ALERT_STATE_CHANGELOG,
    ALERTING_ASSIGNOR,
    ALERTING_STATE,
    ALERTS,
    ALERTS_JSON,
    ANALYTICS_STATE,
    AUDIT,
    CAMERA_STATUS,
    DEAD_LETTERS,
    DETECTIONS,
    EVENTS,
    FRAMES,
    TRACKER_STATE,
    TRACKS,
    VERDICTS,
)


@dataclass(frozen=True, slots=True)
class Read:
    """A topic a consumer group subscribes to.

    ``when`` names what turns the read on (empty: always read); ``by_default`` says whether the
    default settings do, which is what ``vigie run`` waits on.
    """

    topic: str
    when: str = ""
    by_default: bool = True


@dataclass(frozen=True, slots=True)
class ConsumerGroup:
    """One consumer group of a service: the stage that runs it and the topics it reads.

    Its id is the service's ``group_id`` setting followed by ``suffix``, so a deployment that
    renames the service's group renames all of its groups together. ``stage`` is the stage name:
    the client id, the ``stage`` label of its metrics and the ``vigie.stage`` header of its dead
    letters. ``when``/``by_default`` as for :class:`Read`, for the whole group.

    ``per_replica``: every replica joins a group of its own, named by the id followed by a
    suffix unique to the replica, and so reads every partition. Such a group's id is a prefix
    (its ACL is a prefixed one); nothing can wait on its lag or scale on it, and it does not
    bound the number of replicas.

    ``live``: False for a group off the path from a frame to its alert (the archive, snapshots,
    camera heartbeats). Its consumers let the broker hold an empty fetch longer
    (``kafka.background_fetch_wait_max_ms``): the development broker spends a request per
    held fetch, and answers a held fetch late, so only the live path pays for a short wait.
    """

    stage: str
    suffix: str
    reads: tuple[Read, ...]
    when: str = ""
    by_default: bool = True
    per_replica: bool = False
    live: bool = True

    def id(self, base: str) -> str:
        """The group id under the service's ``group_id`` setting ``base``."""
        return base + self.suffix

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic the group may read, whatever the settings."""
        return tuple(read.topic for read in self.reads)

    @property
    def always_read(self) -> tuple[str, ...]:
        """The topics the group reads whatever the settings (when it runs at all)."""
        return tuple(read.topic for read in self.reads if not read.when)

    @property
    def default_topics(self) -> tuple[str, ...]:
        """The topics it reads with default settings; none when it does not run by default."""
        if not self.by_default or self.per_replica:
            return ()
        return tuple(read.topic for read in self.reads if read.by_default)


@dataclass(frozen=True, slots=True)
class StateTopic:
    """A topic a service writes and reads back itself, by partition, outside any consumer group:
    state snapshots and changelogs, and the stream application's own topics.

    ``follows``: the input whose partition numbers the state follows (a replica that takes a
    partition of that input over reads its cameras' state from the partition of the same
    number), so both must have exactly as many partitions. None: no such correspondence.
    """

    topic: str
    follows: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceTopology:
    """One service: its consumer groups, what it writes, its state topics and its ports.

    ``writes`` includes the dead-letter and audit topics; ``dynamic_writes`` describes topics
    whose names come from configuration (the alert policy's audience routes). ``scales_on`` is
    the topic on which the lag of the service's main consumer group (the first) drives its
    autoscaling; None: the service is not autoscaled on lag.
    """

    name: str
    group_id: str
    http_port: int
    grpc_port: int | None = None
    # The port people's browsers reach (the console), apart from probes and metrics on http.
    web_port: int | None = None
    groups: tuple[ConsumerGroup, ...] = ()
    writes: tuple[str, ...] = ()
    state: tuple[StateTopic, ...] = ()
    dynamic_writes: str = ""
    scales_on: str | None = None

    def group(self, stage: str) -> ConsumerGroup:
        """The consumer group run by ``stage``."""
        for group in self.groups:
            if group.stage == stage:
                return group
        known = ", ".join(g.stage for g in self.groups) or "none"
        raise KeyError(f"{self.name} runs no stage {stage!r} (it runs: {known})")

    def consumer_groups(self, base: str | None = None) -> dict[str, ConsumerGroup]:
        """Group id -> group, under the service's ``group_id`` setting (default: the table's)."""
        base = self.group_id if base is None else base
        return {group.id(base): group for group in self.groups}

    def grpc(self) -> int:
        """The gRPC port of a service that serves gRPC."""
        if self.grpc_port is None:
            raise ValueError(f"{self.name} serves no gRPC")
        return self.grpc_port

    def ports(self) -> dict[str, int]:
        """Port name (as the manifests name container ports) -> number."""
        ports = {"http": self.http_port}
        if self.grpc_port is not None:
            ports["grpc"] = self.grpc_port
        if self.web_port is not None:
            ports["web"] = self.web_port
        return ports

    def reads(self) -> frozenset[str]:
        """Every topic the service may read: through its groups, and its state read back."""
        topics = {topic for group in self.groups for topic in group.topics}
        return frozenset(topics | {s.topic for s in self.state})

    def written(self) -> frozenset[str]:
        """Every topic of fixed name the service may write, its state included."""
        return frozenset(self.writes) | {s.topic for s in self.state}

    def scaling(self) -> tuple[str, str] | None:
        """(group id, topic) whose lag autoscales the service, or None."""
        if self.scales_on is None or not self.groups:
            return None
        return self.groups[0].id(self.group_id), self.scales_on


CAPTURE = ServiceTopology(
    name="capture",
    # Capture consumes nothing; the setting exists because every service has it.
    group_id="vigie-capture",
    http_port=9401,
    # Frames; each camera's status; and its technical alerts (stalled, offline) as events.
    writes=(FRAMES, CAMERA_STATUS, EVENTS),
)

DETECTION = ServiceTopology(
    name="detection",
    group_id="vigie-detection",
    http_port=9402,
    grpc_port=50051,
    groups=(ConsumerGroup("detection", "", (Read(FRAMES),)),),
    writes=(DETECTIONS, DEAD_LETTERS),
    scales_on=FRAMES,
)

TRACKING = ServiceTopology(
    name="tracking",
    group_id="vigie-tracking",
    http_port=9403,
    groups=(ConsumerGroup("tracking", "", (Read(DETECTIONS),)),),
    writes=(TRACKS, DEAD_LETTERS),
    state=(StateTopic(TRACKER_STATE, follows=DETECTIONS),),
    scales_on=DETECTIONS,
)

ANALYTICS = ServiceTopology(
    name="analytics",
    group_id="vigie-analytics",
    http_port=9404,
    groups=(
        ConsumerGroup("analytics", "", (Read(TRACKS),)),
        ConsumerGroup(
            "analytics-pixels",
            "-pixels",
            (Read(FRAMES),),
            when="a camera listed in fire.enabled_cameras or emotion.enabled_cameras",
            by_default=False,
        ),
    ),
    writes=(EVENTS, DEAD_LETTERS),
    state=(StateTopic(ANALYTICS_STATE, follows=TRACKS),),
    scales_on=TRACKS,
)

ALERTING = ServiceTopology(
    name="alerting",
    # Also the stream application's id: the prefix of its changelog and assignor topics.
    group_id="vigie-alerting",
    http_port=9405,
    grpc_port=50052,
    groups=(
        ConsumerGroup("alerting", "", (Read(EVENTS), Read(VERDICTS))),
        ConsumerGroup(
            "alerting-webhooks",
            "-webhooks",
            (Read(ALERTS),),
            when="webhooks in the alert policy",
            by_default=False,
        ),
        # WatchAlerts' live feed: every replica sees every camera's alert changes.
        ConsumerGroup("alerting-watch", "-watch-", (Read(ALERTS),), per_replica=True),
        # Capture's heartbeats: a camera whose capture falls silent raises camera_offline.
        ConsumerGroup("alerting-cameras", "-cameras", (Read(CAMERA_STATUS),), live=False),
    ),
    # Events: the camera_offline of a silent capture, which the alerting stage then routes.
    # The JSON mirror of the alerts only when alerts_json_mirror is on.
    writes=(ALERTS, VERDICTS, AUDIT, DEAD_LETTERS, EVENTS, ALERTS_JSON),
    state=(
        # The stream application's table (on a broker) ...
        StateTopic(ALERT_STATE_CHANGELOG, follows=EVENTS),
        # ... or a compacted topic when a stage runner drives the stage (single process).
        StateTopic(ALERTING_STATE, follows=EVENTS),
        StateTopic(ALERTING_ASSIGNOR),
    ),
    dynamic_writes="audience topics named by the alert policy's routes, created like " + ALERTS,
    scales_on=EVENTS,
)

STORAGE = ServiceTopology(
    name="storage",
    group_id="vigie-storage",
    http_port=9406,
    grpc_port=50053,
    groups=(
        ConsumerGroup(
            "storage",
            "",
            (Read(TRACKS), Read(EVENTS), Read(ALERTS), Read(VERDICTS), Read(AUDIT)),
            live=False,
        ),
        ConsumerGroup(
            "storage-snapshots",
            "-snapshots",
            # Events: each pins its frame for the alert it may become (vigie_storage.pins).
            (Read(FRAMES), Read(TRACKS), Read(EVENTS), Read(ALERTS)),
            when="snapshots.enabled",
            live=False,
        ),
    ),
    writes=(DEAD_LETTERS,),
    # One replica: the SQLite file and the snapshot files are on one ReadWriteOnce volume.
    scales_on=None,
)

CONSOLE = ServiceTopology(
    name="console",
    group_id="vigie-console",
    http_port=9407,
    web_port=8080,
    # Every replica shows every camera's status, so each reads the whole compacted topic.
    groups=(
        ConsumerGroup(
            "console-cameras", "-cameras-", (Read(CAMERA_STATUS),), per_replica=True, live=False
        ),
    ),
    # A scene saved from the editor is journaled.
    writes=(AUDIT,),
    scales_on=None,
)

# In pipeline order: upstream first, which is also the order to stop them in. The console
# comes last: it only reads what the others made.
SERVICES: tuple[ServiceTopology, ...] = (
    CAPTURE,
    DETECTION,
    TRACKING,
    ANALYTICS,
    ALERTING,
    STORAGE,
    CONSOLE,
)
BY_SERVICE: dict[str, ServiceTopology] = {s.name: s for s in SERVICES}

# Topics fed from outside Vigie rather than by one of its services (none: cameras come in
# through capture, verdicts through the alerting desk).
EXTERNAL_INPUTS: frozenset[str] = frozenset()


def service(name: str) -> ServiceTopology:
    """The service called ``name`` (capture, detection, tracking, analytics, alerting, storage,
    console)."""
    try:
        return BY_SERVICE[name]
    except KeyError:
        raise KeyError(f"no service {name!r}; known: {', '.join(BY_SERVICE)}") from None


def consumers() -> tuple[ServiceTopology, ...]:
    """The services that run consumer groups, upstream first."""
    return tuple(s for s in SERVICES if s.groups)


def drain_groups(off: Collection[str] = ()) -> dict[str, tuple[str, ...]]:
    """Group id -> topics, for every group running with default settings: the pipeline has
    drained when all of them are at zero lag (a group that does not run would never be).
    ``off``: the conditions (a group's or a read's ``when``) the run turns off, such as
    ``snapshots.enabled`` (see :func:`switched_off`)."""
    drained = {}
    for s in SERVICES:
        for group_id, group in s.consumer_groups().items():
            if group.when in off:
                continue
            defaults = group.default_topics
            topics_read = tuple(
                r.topic for r in group.reads if r.topic in defaults and r.when not in off
            )
            if topics_read:
                drained[group_id] = topics_read
    return drained


def switched_off(env: Mapping[str, str]) -> frozenset[str]:
    """The conditions that name a switch (``snapshots.enabled``) which the environment turns
    off (``VIGIE_SNAPSHOTS__ENABLED=false``): what a local run knows of its services' settings
    without reading their configuration files."""
    conditions = {g.when for s in SERVICES for g in s.groups}
    conditions |= {r.when for s in SERVICES for g in s.groups for r in g.reads}
    off = set()
    for condition in conditions:
        if not _SWITCH.fullmatch(condition):
            continue
        value = env.get("VIGIE_" + condition.upper().replace(".", "__"), "")
        if value.strip().lower() in {"false", "0", "no", "off"}:
            off.add(condition)
    return frozenset(off)


_SWITCH = re.compile(r"[a-z_]+(\.[a-z_]+)+")
