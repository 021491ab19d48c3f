"""The console's small rules: where a sign-in may send the browser back to, which origins may
post, how a form's local time is read, and the wall's filters."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from vigie.v1 import alerts_pb2, events_pb2
from vigie_console.present import alert_view
from vigie_console.settings import ConsoleSettings
from vigie_console.web import parse_local_time, safe_next, same_origin


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/alerts/a1?x=1", "/alerts/a1?x=1"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("alerts", "/"),
    ],
)
def test_after_sign_in_the_browser_only_goes_back_to_the_console(
    target: str | None, expected: str
) -> None:
    assert safe_next(target) == expected


def request(headers: dict[str, str], allowed: list[str] | None = None) -> Request:
    settings = ConsoleSettings(grpc={"plaintext": True}, web={"allowed_origins": allowed or []})
    app: Any = SimpleNamespace(state=SimpleNamespace(console=SimpleNamespace(settings=settings)))
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "server": ("127.0.0.1", 8080),
        "path": "/signout",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "app": app,
    }
    return Request(scope)


def test_a_post_from_another_origin_is_refused() -> None:
    host = {"host": "console.city.example"}
    assert same_origin(request(host))  # no Origin: the CSRF token alone decides
    assert same_origin(request({**host, "origin": "https://console.city.example"}))
    assert not same_origin(request({**host, "origin": "https://evil.example"}))
    assert not same_origin(request({**host, "origin": "null"}))
    allowed = ["https://ops.city.example"]
    assert same_origin(request({**host, "origin": "https://ops.city.example"}, allowed))


def test_a_form_time_is_read_in_the_console_timezone() -> None:
    assert parse_local_time("2026-07-01T12:00", "Europe/Paris") == 1782900000.0
    assert parse_local_time("2026-07-01T12:00", "UTC") == 1782907200.0
    assert parse_local_time("", "UTC") is None
    with pytest.raises(ValueError, match="not a date"):
        parse_local_time("yesterday", "UTC")


def test_the_wall_filters_by_camera_kind_and_minimum_severity() -> None:
    alert = alert_view(
        alerts_pb2.Alert(
            alert_id="a1",
            camera_id="gate",
            kind=events_pb2.EVENT_KIND_LOITERING,
            severity=alerts_pb2.SEVERITY_MEDIUM,
            status=alerts_pb2.ALERT_STATUS_ACKNOWLEDGED,
        )
    )
    assert alert.open and not alert.high and alert.kind == "loitering"
    assert alert.matches("", "", "")
    assert alert.matches("gate", "loitering", "low")
    assert alert.matches("gate", "", "medium")
    assert not alert.matches("gate", "", "high")
    assert not alert.matches("yard", "", "")
    assert not alert.matches("", "zone_intrusion", "")
    closed = alert_view(alerts_pb2.Alert(alert_id="a2", status=alerts_pb2.ALERT_STATUS_DISMISSED))
    assert not closed.open
    odd = alert_view(alerts_pb2.Alert(alert_id="a3", kind=999, severity=77))
    assert odd.kind == "unknown" and odd.severity == "unknown"
