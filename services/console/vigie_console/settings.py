"""Console settings: where browsers reach it, which desk and archive it calls, how long a
sign-in lasts, and the scene file its editor writes."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from vigie_runtime.settings import GrpcSettings, HttpSettings, ServiceSettings, StrictModel
from vigie_runtime.topology import ALERTING, CONSOLE, STORAGE


class WebSettings(StrictModel):
    """The port browsers reach. TLS is terminated in front of the console (an ingress or a
    reverse proxy): its cookies are always ``Secure``, so a plain-HTTP deployment reachable
    from anywhere but the machine itself cannot keep anyone signed in."""

    host: str = "0.0.0.0"
    port: int = Field(CONSOLE.web_port or 8080, ge=0, le=65535)
    # Origins a form may come from besides the console's own (a reverse proxy's public name):
    # a POST whose Origin is neither is refused, on top of the CSRF token.
    allowed_origins: list[str] = Field(default_factory=list)
    # Concurrent live alert feeds (server-sent events), in all and per sign-in.
    max_streams: int = Field(200, ge=1)
    max_streams_per_session: int = Field(4, ge=1)


class SessionSettings(StrictModel):
    """A sign-in lasts ``max_age_s`` at most and ends after ``idle_s`` without a request."""

    max_age_s: float = Field(8 * 3600.0, gt=0)
    idle_s: float = Field(30 * 60.0, gt=0)
    max_sessions: int = Field(5000, ge=1)


class ConsoleSettings(ServiceSettings):
    group_id: str = CONSOLE.group_id
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=CONSOLE.http_port))
    web: WebSettings = Field(default_factory=WebSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    # The servers the console calls with the signed-in person's token, and the transport (TLS
    # or, for local development only, plaintext) of those calls.
    desk_address: str = f"127.0.0.1:{ALERTING.grpc()}"
    archive_address: str = f"127.0.0.1:{STORAGE.grpc()}"
    grpc: GrpcSettings = Field(default_factory=GrpcSettings)
    call_timeout_s: float = Field(10.0, gt=0)
    # The scene file analytics and tracking read: drawn over the stills, and written by the
    # editor when writable (a shared volume); None: no zones shown, no editor.
    scenes: Path | None = None
    scenes_writable: bool = True
    # Previous versions of the scene file kept beside it when the editor saves one.
    scene_backups: int = Field(10, ge=0, le=1000)
    language: Literal["en", "fr"] = "en"
    timezone: str = "UTC"
    # A status older than this is shown as unknown: capture itself may have stopped.
    camera_status_stale_s: float = Field(30.0, gt=0)
    max_cameras: int = Field(1000, ge=1)
    # Rows a page of search results or of the journal shows.
    page_size: int = Field(50, ge=1, le=500)
