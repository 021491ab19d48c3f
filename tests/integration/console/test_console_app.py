"""The console's web server against a real AlertDesk and a real Archive on loopback.

The desk is one replica over the in-memory bus with one open alert (as in the desk's own
refusal tests), the archive a SQLite file, the console the real application under uvicorn on a
free port; the client is the standard library's, with a cookie policy that, like browsers,
treats loopback as a secure origin. What the browser test cannot reach cheaply is checked here:
the refusals, the expiry of a session, the limit on live feeds, and what the desk and the
journal see of each.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.grpc.test_desk_refusals_journaled import replica_desk
from vigie.v1 import services_pb2_grpc
from vigie_alerting.grpc_api import AlertDeskServicer
from vigie_alerting.routing import DeskRouter, OneReplica
from vigie_alerting.watch import WatchHub
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
from vigie_runtime.auth import Authenticator, Role, TokenEntry, digest
from vigie_runtime.broker import free_port
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.settings import GrpcSettings
from vigie_runtime.topics import AUDIT, VERDICTS
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.blobs import FileBlobStore
from vigie_storage.grpc_api import ArchiveServicer

pytestmark = pytest.mark.integration

LOOPBACK = GrpcSettings(host="127.0.0.1", port=0, grace_s=0, plaintext=True)
AUTH = Authenticator(
    [
        TokenEntry(sha256=digest("ana-token"), operator="ana", role=Role.OPERATOR),
        TokenEntry(sha256=digest("dpo-token"), operator="dpo", role=Role.AUDITOR),
        TokenEntry(sha256=digest("sup-token"), operator="sam", role=Role.SUPERVISOR),
    ]
)
SCENE = """\
cameras:
  cam-1:
    zones:
      - {name: table, polygon: [[0.4, 0.6], [0.7, 0.6], [0.7, 1.0], [0.4, 1.0]]}
"""


class LoopbackIsSecure(http.cookiejar.DefaultCookiePolicy):
    """Browsers keep and send Secure cookies to http://localhost; so does this client."""

    def return_ok_secure(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return True

    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return super().set_ok(cookie, request)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@dataclass
class Site:
    url: str
    bus: InMemoryBus
    alert_id: str
    scenes: Path
    console: Console

    def client(self) -> Client:
        return Client(self.url)


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: str

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


class Client:
    """A browser's minimum: cookies, forms, the Origin header of a same-site form post."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.jar = http.cookiejar.CookieJar(LoopbackIsSecure())
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()
        )

    def request(
        self,
        path: str,
        form: dict[str, str] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        data = urllib.parse.urlencode(form).encode() if form is not None else body
        request = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        if data is not None:
            request.add_header("origin", self.url)
        try:
            with self.opener.open(request, timeout=20) as reply:
                return Answer(reply.status, reply.headers, reply.read().decode())
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.headers, error.read().decode())

    def sign_in(self, token: str) -> Answer:
        page = self.request("/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.body)
        assert csrf, page.body
        return self.request("/signin", form={"csrf": csrf.group(1), "token": token, "next": "/"})

    def csrf(self) -> str:
        page = self.request("/")
        found = re.search(r'name="csrf" value="([^"]+)"', page.body)
        assert found, page.body
        return found.group(1)


class DeskBeforeGetAlert(AlertDeskServicer):
    """A desk of the release before GetAlert, as a rolling upgrade meets it."""

    GetAlert = services_pb2_grpc.AlertDeskServicer.GetAlert  # UNIMPLEMENTED


@pytest.fixture()
def site(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Site]:
    """``request.param`` (indirect) true: the desk is one without GetAlert."""
    bus = InMemoryBus()
    desk, (alert_id,) = replica_desk(bus, ["cam-1"])
    servicer = DeskBeforeGetAlert if getattr(request, "param", False) else AlertDeskServicer
    desk_server = GrpcServer(
        LOOPBACK,
        [
            Registration(
                services_pb2_grpc.add_AlertDeskServicer_to_server,
                servicer(DeskRouter(desk, OneReplica()), WatchHub(), AUTH),
                "vigie.v1.AlertDesk",
            )
        ],
    ).start()
    archive = SqliteArchive(tmp_path / "archive.sqlite")
    archive_server = GrpcServer(
        LOOPBACK,
        [
            Registration(
                services_pb2_grpc.add_ArchiveServicer_to_server,
                ArchiveServicer(archive, AUTH, FileBlobStore(tmp_path / "blobs")),
                "vigie.v1.Archive",
            )
        ],
    ).start()
    scenes = tmp_path / "scenes.yaml"
    scenes.write_text(SCENE)
    port = free_port()
    settings = ConsoleSettings(
        grpc={"plaintext": True},
        desk_address=f"127.0.0.1:{desk_server.port}",
        archive_address=f"127.0.0.1:{archive_server.port}",
        web={"host": "127.0.0.1", "port": port, "max_streams_per_session": 2},
        sessions={"idle_s": 3.0, "max_age_s": 60.0},
        scenes=scenes,
    )
    console = Console(
        settings=settings,
        sessions=Sessions(settings.sessions),
        board=CameraBoard(10, 30),
        scenes=SceneFile(scenes, True, 2),
        journal=ConsoleJournal(bus.publisher("console")),
        identities=DeskIdentities,
    )
    try:
        with WebServer(create_app(console), "127.0.0.1", port):
            yield Site(f"http://localhost:{port}", bus, alert_id, scenes, console)
    finally:
        desk_server.stop()
        archive_server.stop()
        archive.close()


def journal(bus: InMemoryBus) -> list[object]:
    return [codec.decode_audit(m.value, key=m.key) for m in bus.messages(AUDIT)]


def test_a_token_nobody_issued_is_refused_and_the_desk_journals_the_attempt(site: Site) -> None:
    client = site.client()
    refused = client.sign_in("forged-secret")
    assert refused.status == 401 and "not valid" in refused.body
    assert client.request("/").status == 303  # still signed out
    attempt = [r for r in journal(site.bus) if r.action == "desk.who_am_i"]  # type: ignore[attr-defined]
    assert attempt and attempt[0].actor == "anonymous"  # type: ignore[attr-defined]
    assert "forged-secret" not in repr(attempt)


def test_an_operator_decides_only_with_a_reason_and_the_session_token(site: Site) -> None:
    client = site.client()
    signed = client.sign_in("ana-token")
    assert signed.status == 303 and signed.location.endswith("/")
    (record,) = [r for r in journal(site.bus) if r.action == "console.sign_in"]  # type: ignore[attr-defined]
    assert record.actor == "ana"  # type: ignore[attr-defined]
    wall = client.request("/")
    assert wall.status == 200 and site.alert_id in wall.body
    assert client.request("/audit").status == 403  # an operator does not audit
    assert client.request("/cameras/cam-1/edit").status == 403  # nor edit scenes
    csrf = client.csrf()
    path = f"/alerts/{site.alert_id}/verdict"
    no_reason = client.request(path, form={"action": "dismiss", "csrf": csrf, "reason": " "})
    assert no_reason.status == 303 and "reason_required" in no_reason.location
    no_token = client.request(path, form={"action": "dismiss", "reason": "seen"})
    assert no_token.status == 403
    assert not site.bus.messages(VERDICTS)
    done = client.request(path, form={"action": "dismiss", "csrf": csrf, "reason": "a shadow"})
    assert done.status == 303 and done.location == "/?done=dismiss"
    (verdict,) = [codec.decode_verdict(m.value) for m in site.bus.messages(VERDICTS)]
    assert (verdict.alert_id, verdict.operator, verdict.reason) == (
        site.alert_id,
        "ana",
        "a shadow",
    )
    assert site.alert_id not in client.request("/").body  # off the wall


def test_the_live_feed_sends_the_open_alert_and_feeds_are_limited(site: Site) -> None:
    client = site.client()
    client.sign_in("ana-token")
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.jar)
    host = urllib.parse.urlsplit(site.url)
    feeds = []
    for _ in range(2):
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
        connection.request("GET", "/events", headers={"cookie": cookie})
        reply = connection.getresponse()
        assert reply.status == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        feeds.append((connection, reply))
    started = time.monotonic()
    text = ""
    while "event: alert" not in text or "\n\n" not in text.split("event: alert", 1)[1]:
        text += feeds[0][1].read1(4096).decode()
    assert time.monotonic() - started < 5
    payload = json.loads(text.split("event: alert\ndata: ", 1)[1].split("\n", 1)[0])
    assert payload["id"] == site.alert_id and payload["open"] and "<tr" in payload["html"]
    third = client.request("/events")
    assert third.status == 429  # at most max_streams_per_session feeds per sign-in
    for connection, _ in feeds:
        connection.close()


def test_a_session_ends_when_idle_and_on_sign_out(site: Site) -> None:
    client = site.client()
    client.sign_in("ana-token")
    assert client.request("/").status == 200
    time.sleep(3.2)  # idle_s is 3 s here
    assert client.request("/").status == 303
    client.sign_in("ana-token")
    csrf = client.csrf()
    assert client.request("/signout", form={"csrf": csrf}).status == 303
    assert client.request("/").status == 303
    assert len(site.console.sessions) == 0


def test_a_scene_saved_by_a_supervisor_is_checked_journaled_and_written(site: Site) -> None:
    client = site.client()
    client.sign_in("sup-token")
    page = client.request("/cameras/cam-1/edit")
    assert page.status == 200
    csrf = re.search(r'data-csrf="([^"]+)"', page.body).group(1)  # type: ignore[union-attr]
    scene = {
        "zones": [{"name": "table", "polygon": [[0.4, 0.6], [0.7, 0.6], [0.7, 1.0]]}],
        "lines": [{"name": "door", "a": [0.1, 0.5], "b": [0.9, 0.5]}],
        "reason": "count the door",
    }
    headers = {"content-type": "application/json", "x-csrf-token": csrf}
    body = json.dumps(scene).encode()
    forged = client.request(
        "/cameras/cam-1/scene", body=body, headers={**headers, "x-csrf-token": "x"}
    )
    assert forged.status == 403
    saved = client.request("/cameras/cam-1/scene", body=body, headers=headers)
    assert saved.status == 200 and json.loads(saved.body)["ok"], saved.body
    assert "door" in site.scenes.read_text()
    (record,) = [r for r in journal(site.bus) if r.action == "config.scene_saved"]  # type: ignore[attr-defined]
    assert (record.actor, record.camera_id, record.reason) == ("sam", "cam-1", "count the door")  # type: ignore[attr-defined]
    garbage = client.request("/cameras/cam-1/scene", body=b"{not json", headers=headers)
    assert garbage.status == 400


@pytest.mark.parametrize("site", [False, True], indirect=True, ids=["desk", "older-desk"])
def test_an_alert_page_shows_the_alert_and_an_unknown_one_is_not_found(site: Site) -> None:
    """The page asks the desk for the one alert (GetAlert); a desk older than that call, met
    during a rolling upgrade, is asked for the list as before."""
    client = site.client()
    client.sign_in("ana-token")
    page = client.request(f"/alerts/{site.alert_id}")
    assert page.status == 200 and site.alert_id in page.body
    assert client.request("/alerts/no-such-alert").status == 404
