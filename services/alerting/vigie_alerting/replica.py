"""What every alerting replica runs, whatever drives its alerting stage.

The handler over this replica's :class:`AlertBooks`; beside it, in threads of their own, the
webhooks stage (when the policy names receivers), the watch feed and the watch over capture's
camera heartbeats (:mod:`vigie_alerting.camera_silence`); and the AlertDesk server,
routed so that any replica answers for every camera. The single process and the stream
application differ only in what drives the alerting stage and where desk calls run.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from vigie.v1 import services_pb2_grpc
from vigie_alerting.books import AlertBooks
from vigie_alerting.camera_silence import CameraSilence
from vigie_alerting.desk import Desk
from vigie_alerting.engine import AlertEngine
from vigie_alerting.grpc_api import AlertDeskServicer
from vigie_alerting.handler import AlertingHandler
from vigie_alerting.peers import PeerDesks
from vigie_alerting.policy_file import LoadedPolicy
from vigie_alerting.policy_watch import PolicyWatch
from vigie_alerting.routing import DeskRouter, Replicas
from vigie_alerting.settings import AlertingSettings
from vigie_alerting.watch import WatchHub, watch_group, watch_stage
from vigie_alerting.webhook_stage import WebhookStage
from vigie_alerting.webhooks import Webhook, WebhookSender
from vigie_runtime.auth import Authenticator
from vigie_runtime.bus import Bus
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.health import Health
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.topology import ALERTING

log = logging.getLogger(__name__)

ANY_HOST = {"", "0.0.0.0", "::", "[::]"}


def desk_address(settings: AlertingSettings) -> str:
    """Where the other replicas reach this one's desk: the setting, else the gRPC host when it
    names one, else this machine's name, with the gRPC port."""
    if settings.desk_advertised_address:
        return settings.desk_advertised_address
    host = settings.grpc.host if settings.grpc.host not in ANY_HOST else socket.gethostname()
    return f"{host}:{settings.grpc.port}"


class SideStage:
    """A stage runner in a thread of its own, with a health of its own: its beats must not
    hide a stuck alerting stage, and the service is ready only while it runs and is ready."""

    def __init__(self, runner: StageRunner[Any], health: Health, target: Callable[..., None]):
        self.runner = runner
        self.health = health
        self.target = target
        self.thread: threading.Thread | None = None

    def start(self, stop: threading.Event) -> None:
        name = self.runner.stage.name
        self.thread = threading.Thread(target=self.target, args=(stop,), name=name, daemon=True)
        self.thread.start()

    def ready(self) -> bool:
        return self.thread is not None and self.thread.is_alive() and self.health.ready()

    def join(self, timeout_s: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout_s)


class AlertingReplica:
    def __init__(
        self, settings: AlertingSettings, bus: Bus, health: Health, policy: LoadedPolicy
    ) -> None:
        self.settings = settings
        self.health = health
        self.peers: PeerDesks | None = None
        self.books = AlertBooks()
        self.engine = AlertEngine(
            policy,
            self.books,
            keep_closed_s=settings.keep_closed_s,
            max_open_alerts=settings.max_open_alerts,
            json_mirror=settings.alerts_json_mirror,
        )
        watch = PolicyWatch(settings.policy_file, self.engine) if settings.policy_file else None
        self.handler = AlertingHandler(
            self.engine, self.books, time.time, settings.tick_s, watch, time_bounds=settings.time
        )
        self.hub = WatchHub(settings.watch_streams_per_caller)
        dead = settings.dead_letter_topic
        feed = watch_stage(self.hub, watch_group(settings.group_id), time.time(), settings.time)
        self.watch_feed = StageRunner(feed, bus, Health(), dead)
        self._sides = [self._side(self.watch_feed, self.watch_feed.run)]
        self.camera_silence = CameraSilence(settings.camera_silence_s)
        self.camera_watch = StageRunner.for_service(
            self._camera_stage(settings), bus, Health(), settings
        )
        self._sides.append(self._side(self.camera_watch, self.camera_watch.run))
        self.webhooks: WebhookStage | None = None
        self.webhook_runner: StageRunner[Any] | None = None
        if policy.file.webhooks:
            sender = WebhookSender(
                [Webhook.from_config(w) for w in policy.file.webhooks], time.time
            )
            self.webhooks = WebhookStage(sender, settings.group_id, dead, settings.time)
            self.webhook_runner = StageRunner.for_service(
                self.webhooks.stage(), bus, Health(), settings
            )
            hooks, runner = self.webhooks, self.webhook_runner
            self._sides.append(self._side(runner, lambda stop: hooks.run(runner, stop)))

    def _camera_stage(self, settings: AlertingSettings) -> Stage[Any]:
        """Capture's heartbeats in, camera_offline events out for cameras gone silent."""
        group = ALERTING.group("alerting-cameras")
        silence = self.camera_silence
        return Stage(
            name=group.stage,
            topics=group.topics,
            group_id=group.id(settings.group_id),
            decode=silence.decode,
            handle=silence.handle,
            on_idle=silence.check,
            listener=silence,
            time_bounds=settings.time,
            background=not group.live,
        )

    def _side(self, runner: StageRunner[Any], target: Callable[..., None]) -> SideStage:
        side = SideStage(runner, runner.health, target)
        self.health.add_check(f"{runner.stage.name}.running", side.ready)
        return side

    def desk_server(self, local: Desk, replicas: Replicas, peers: PeerDesks | None) -> GrpcServer:
        self.peers = peers
        router = DeskRouter(local, replicas, peers)
        auth = Authenticator.from_file(self.settings.tokens_file)
        servicer = AlertDeskServicer(router, self.hub, auth)
        registration = Registration(
            services_pb2_grpc.add_AlertDeskServicer_to_server, servicer, "vigie.v1.AlertDesk"
        )
        return GrpcServer(
            self.settings.grpc,
            [registration],
            health=self.health,
            max_streams=self.settings.watch_streams_max,
        )

    def run_beside(self, stop: threading.Event, grpc: GrpcServer, main: Callable[[], None]) -> None:
        """Start the side stages and the desk, run ``main`` until ``stop``, then close all."""
        sides_stop = threading.Event()
        for side in self._sides:
            side.start(sides_stop)
        try:
            with grpc:
                try:
                    main()
                finally:
                    self.hub.close()
        finally:
            sides_stop.set()
            for side in self._sides:
                side.join(30)
            if self.peers is not None:
                self.peers.close()
