"""Wiring of the console: its read of camera status, its web server, and what it journals."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from vigie.v1 import cameras_pb2
from vigie_console.app import create_app
from vigie_console.cameras import CameraBoard
from vigie_console.journal import ConsoleJournal
from vigie_console.scene_file import SceneFile
from vigie_console.sessions import Sessions
from vigie_console.settings import ConsoleSettings
from vigie_console.views_auth import DeskIdentities
from vigie_console.web import Console
from vigie_console.web_server import WebServer
from vigie_runtime import codec
from vigie_runtime.bus import Bus, Message, Output
from vigie_runtime.health import Health
from vigie_runtime.service import StageService
from vigie_runtime.topology import CONSOLE

log = logging.getLogger(__name__)


class CameraStatusHandler:
    """Stage handler: each camera's newest status onto the board the cameras page shows.

    A status that does not decode, or whose time is out of bounds, is logged and left out by
    the stage (a group per replica does not dead-letter: the topic's own reader, alerting's
    camera watch, does it once)."""

    def __init__(self, board: CameraBoard) -> None:
        self.board = board

    def decode(self, message: Message) -> cameras_pb2.CameraStatus:
        return codec.decode_camera_status(message.value, key=message.key)

    def handle(self, status: cameras_pb2.CameraStatus, message: Message) -> Sequence[Output]:
        self.board.update(status)
        return []


class ConsoleService(StageService):
    def __init__(self, settings: ConsoleSettings, bus: Bus, health: Health) -> None:
        super().__init__(CONSOLE, settings, bus, health)
        settings.grpc.require_transport()
        self.board = CameraBoard(settings.max_cameras, settings.camera_status_stale_s)
        handler = CameraStatusHandler(self.board)
        self.add_stage("console-cameras", handler.decode, handler.handle)
        publisher = bus.publisher(f"{settings.group_id}-journal")
        self.close_on_stop(publisher.close)
        self.console = Console(
            settings=settings,
            sessions=Sessions(settings.sessions),
            board=self.board,
            scenes=SceneFile(settings.scenes, settings.scenes_writable, settings.scene_backups),
            journal=ConsoleJournal(publisher),
            identities=DeskIdentities,
        )
        self.web = WebServer(create_app(self.console), settings.web.host, settings.web.port)
        self.serve(self.web)
        health.add_check("console.web", self.web.alive)


def build(settings: ConsoleSettings, bus: Bus, health: Health) -> ConsoleService:
    return ConsoleService(settings, bus, health)
