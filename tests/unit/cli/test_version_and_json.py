"""`vigie --version`, and `--json` on every command that prints a table or a verdict: one JSON
document on stdout, nothing else there, stable keys."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from vigie_cli.main import main
from vigie_cli.output import vigie_version
from vigie_cli.samples import example_scenes
from vigie_core.types import Alert, AlertStatus, EventKind, FrameRef, Severity, TrackSummary

T0 = 1_700_000_000.0


def only_json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """stdout must be exactly one JSON document."""
    out = capsys.readouterr().out
    document = json.loads(out)
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_prints_the_installed_version(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([flag])
    assert exited.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"vigie {vigie_version()}")
    assert "schema vigie.v1" in out


def test_the_version_is_the_distributions_or_pyprojects() -> None:
    import tomllib
    from importlib import metadata

    pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text())["project"]["version"]
    assert vigie_version() in {metadata.version("vigie"), declared}


def test_the_version_falls_back_to_pyproject(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    from vigie_cli import output

    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    assert output.vigie_version() == output._pyproject_version() != "unknown"


@pytest.mark.parametrize("service", ["capture", "detection", "storage"])
def test_a_service_command_answers_its_version(
    service: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([service, "--version"]) == 0
    assert capsys.readouterr().out.startswith(f"vigie {vigie_version()}")


def test_check_config_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--json", str(example_scenes())]) == 0
    document = only_json(capsys)
    assert set(document) == {"file", "ok", "error", "cameras"}
    assert document["ok"] is True and document["error"] is None
    assert document["cameras"] == [
        {"camera_id": "one-by-one", "zones": ["table"], "lines": ["room-entry"]}
    ]


def test_check_config_json_on_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "scenes.yaml"
    bad.write_text("cameras:\n  gate:\n    zones:\n      - name: lawn\n        clases: [x]\n")
    assert main(["check-config", str(bad), "--json"]) == 2
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["ok"] is False and f"{bad}:" in document["error"]
    assert document["cameras"] == []
    assert f"{bad}:" in captured.err  # the person still reads it on stderr


def test_check_policy_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "policy.yaml"
    good.write_text(
        "version: v2\ndefault: {fire: {severity: critical}}\n"
        "cameras:\n  gate: {zone_intrusion: {severity: high}, loitering: {severity: low}}\n"
    )
    assert main(["check-policy", "--json", str(good)]) == 0
    document = only_json(capsys)
    assert set(document) == {
        "file",
        "ok",
        "error",
        "version",
        "sha256",
        "default",
        "cameras",
        "suppressions",
        "routes",
        "webhooks",
    }
    assert document["version"] == "v2"
    assert document["default"] == ["fire"]
    assert document["cameras"] == {"gate": ["loitering", "zone_intrusion"]}
    assert (document["suppressions"], document["routes"], document["webhooks"]) == (0, 0, 0)
    assert len(document["sha256"]) == 64


def test_check_policy_json_on_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("version: v1\ncameras:\n  gate:\n    fire: {severity: hot}\n")
    assert main(["check-policy", "--json", str(bad)]) == 2
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False and f"{bad}:4:" in document["error"]


def test_desk_token_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["desk-token", "--operator", "alice", "--role", "auditor", "--json"]) == 0
    document = only_json(capsys)
    assert set(document) == {"operator", "role", "token", "line"}
    assert hashlib.sha256(document["token"].encode()).hexdigest() in document["line"]


def test_topics_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import vigie_runtime.admin as admin

    monkeypatch.setattr(admin, "admin_client", lambda bootstrap: object())
    monkeypatch.setattr(
        admin,
        "ensure_topics",
        lambda client, replication=1: [
            "created vigie.frames.v1",
            "exists  vigie.alerts.v1 (has 1, wants 6)",
        ],
    )
    assert main(["topics", "--json"]) == 0
    document = only_json(capsys)
    assert document == {
        "bootstrap": "127.0.0.1:19092",
        "ok": True,
        "topics": [
            {"topic": "vigie.frames.v1", "state": "created", "note": None},
            {"topic": "vigie.alerts.v1", "state": "exists", "note": "has 1, wants 6"},
        ],
    }


def test_topics_json_when_the_broker_refuses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import vigie_runtime.admin as admin

    def refuse(bootstrap: str) -> object:
        raise RuntimeError("no broker")

    monkeypatch.setattr(admin, "admin_client", refuse)
    assert main(["topics", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False and "no broker" in document["error"]


def _archive(path: Path) -> None:
    from vigie_storage.adapters import SqliteArchive

    alert = Alert(
        alert_id="al-1",
        camera_id="cam-1",
        kind=EventKind.ZONE_INTRUSION,
        zone="gate",
        severity=Severity.HIGH,
        status=AlertStatus.CONFIRMED,
        first_event_id="ev-1",
        first_seen=T0,
        last_seen=T0,
        count=1,
        class_name="person",
        track_ids=("cam-1/7",),
        frame=FrameRef("cam-1", 42, T0, 1280, 720),
        reason="person in zone gate at camera cam-1",
    )
    track = TrackSummary(
        track_id="cam-1/7",
        camera_id="cam-1",
        class_name="person",
        first_seen=T0,
        last_seen=T0 + 5,
        hits=10,
        path=((T0, 0.5, 0.5), (T0 + 5, 0.6, 0.6)),
    )
    with SqliteArchive(path) as archive:
        archive.save_many([alert, track])


def test_report_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = tmp_path / "vigie.sqlite"
    _archive(database)
    out = tmp_path / "report.png"
    argv = ["report", "--database", str(database), "--camera", "cam-1", "--out", str(out)]
    assert main([*argv, "--json", "--quiet"]) == 0
    document = only_json(capsys)
    assert set(document) == {
        "ok",
        "error",
        "out",
        "camera",
        "since",
        "until",
        "events",
        "tracks",
        "zones",
        "precision",
    }
    assert out.exists() and document["out"] == str(out)
    assert (document["camera"], document["tracks"], document["zones"]) == ("cam-1", 1, {})
    assert document["precision"] == [
        {
            "camera": "cam-1",
            "kind": "zone_intrusion",
            "zone": "gate",
            "raised": 1,
            "confirmed": 1,
            "dismissed": 0,
            "precision": 1.0,
        }
    ]


def test_report_json_without_an_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["report", "--database", str(tmp_path / "none.sqlite"), "--camera", "c", "--json"]
    assert main(argv) == 2
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_run_json_when_no_clip_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SOURCE", raising=False)
    monkeypatch.setenv("VIGIE_SAMPLES", str(tmp_path))
    assert main(["run", "--json", "--work-dir", str(tmp_path / "run")]) == 2
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False and "no clip found" in document["error"]


def test_demo_json_when_no_clip_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SOURCE", raising=False)
    monkeypatch.setenv("VIGIE_SAMPLES", str(tmp_path))
    assert main(["demo", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_the_run_summary_as_data() -> None:
    from vigie_cli.console import summary_data

    alerts = [
        Alert(
            alert_id=f"al-{n}",
            camera_id="cam-1",
            kind=EventKind.ZONE_INTRUSION,
            zone="table",
            severity=Severity.HIGH,
            status=AlertStatus.RAISED,
            first_event_id=f"ev-{n}",
            first_seen=T0 + n,
            last_seen=T0 + n,
            count=1,
            class_name="person",
            track_ids=(f"cam-1/{n}",),
        )
        for n in (2, 1)
    ]
    document = summary_data(alerts, 377, 12.3456)
    json.dumps(document)  # plain JSON
    assert set(document) == {"frames", "seconds", "alert_count", "by_kind", "alerts"}
    assert (document["frames"], document["seconds"], document["alert_count"]) == (377, 12.346, 2)
    assert document["by_kind"] == [{"kind": "zone_intrusion", "zone": "table", "count": 2}]
    assert [a["alert_id"] for a in document["alerts"]] == ["al-1", "al-2"]
    assert set(document["alerts"][0]) == {
        "alert_id",
        "camera_id",
        "kind",
        "zone",
        "severity",
        "status",
        "class_name",
        "track_ids",
        "first_seen",
    }


@pytest.mark.parametrize("service", ["capture", "tracking", "storage"])
def test_each_service_process_answers_its_version(service: str) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", f"vigie_{service}", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"vigie {vigie_version()}"
