"""The `vigie` command's own logic: clip resolution, configuration checks, and the local
pipeline's ports and the groups it waits on (both from the topology)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie_cli.main import main
from vigie_cli.samples import SAMPLE_CAMERA, NoSource, example_scenes, resolve_clip


def test_a_missing_sample_folder_says_how_to_point_at_a_clip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE", raising=False)
    monkeypatch.setenv("VIGIE_SAMPLES", str(tmp_path))
    with pytest.raises(NoSource) as error:
        resolve_clip(None)
    message = str(error.value)
    assert "SOURCE=" in message and "VIGIE_SAMPLES" in message and str(tmp_path) in message


def test_source_wins_and_names_the_camera_after_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = tmp_path / "platform 2.mp4"
    clip.write_bytes(b"")
    monkeypatch.setenv("SOURCE", str(clip))
    resolved = resolve_clip(None)
    assert (resolved.source, resolved.camera_id, resolved.scenes) == (
        str(clip),
        "platform 2",
        None,
    )


def test_a_missing_source_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NoSource, match="does not exist"):
        resolve_clip("/nowhere/clip.mp4")


def test_a_url_is_taken_as_it_is() -> None:
    resolved = resolve_clip("rtsp://camera.local/stream1", camera_id="gate")
    assert (resolved.source, resolved.camera_id) == ("rtsp://camera.local/stream1", "gate")


def test_the_sample_clip_gets_its_example_scene(tmp_path: Path) -> None:
    clip = tmp_path / "one-by-one-person-detection.mp4"
    clip.write_bytes(b"")
    resolved = resolve_clip(str(clip))
    assert resolved.camera_id == SAMPLE_CAMERA
    assert resolved.scenes == example_scenes()


def test_check_config_accepts_the_example_scene(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(example_scenes())]) == 0
    assert "one-by-one: 1 zone(s), 1 line(s)" in capsys.readouterr().out


def test_check_config_points_at_the_bad_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenes = tmp_path / "scenes.yaml"
    scenes.write_text(
        "cameras:\n"
        "  gate:\n"
        "    zones:\n"
        "      - name: lawn\n"
        "        polygon: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]\n"
        "        clases: [person]\n"
    )
    assert main(["check-config", str(scenes)]) == 2
    error = capsys.readouterr().err
    assert f"{scenes}:6: cameras.gate.zones.0.clases: Extra inputs are not permitted" in error


def test_service_check_config_points_at_the_bad_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "tracking.yaml"
    settings.write_text("log_level: INFO\ntracker:\n  min_hits: 0\n")
    assert main(["tracking", "--config", str(settings), "--check-config"]) == 2
    error = capsys.readouterr().err
    assert f"{settings}:3: tracker.min_hits: Input should be greater than or equal to 1" in error


def test_check_policy_points_at_the_bad_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("version: v1\ncameras:\n  gate:\n    fire: {severity: hot}\n")
    assert main(["check-policy", str(bad)]) == 2
    assert f"{bad}:4: cameras.gate.fire.severity" in capsys.readouterr().err


def test_check_policy_summarises_a_valid_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "policy.yaml"
    good.write_text(
        "version: v2\ndefault: {fire: {severity: critical}}\n"
        "cameras:\n  gate: {zone_intrusion: {severity: high}, loitering: {severity: low}}\n"
    )
    assert main(["check-policy", str(good)]) == 0
    out = capsys.readouterr().out
    assert "alert policy v2" in out
    assert "other cameras: fire" in out and "gate: loitering, zone_intrusion" in out


def test_desk_token_prints_a_token_and_the_line_that_admits_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import hashlib

    assert main(["desk-token", "--operator", "alice", "--role", "auditor"]) == 0
    lines = capsys.readouterr().out.splitlines()
    token = lines[0].rsplit(": ", 1)[1]
    assert hashlib.sha256(token.encode()).hexdigest() in lines[2]
    assert "operator: alice, role: auditor" in lines[2]


def test_the_local_pipeline_serves_on_the_topology_ports(tmp_path: Path) -> None:
    from vigie_cli.pipeline import CONSUMERS, PipelinePlan
    from vigie_runtime import topology

    plan = PipelinePlan("127.0.0.1:19092", tmp_path, None)
    # The data path's consumers; the console (people's screens) is started on its own.
    assert tuple(s.name for s in topology.consumers() if s.name != "console") == CONSUMERS
    for service in topology.SERVICES:
        env = plan.env(service.name)
        assert env["VIGIE_HTTP__PORT"] == str(service.http_port)
        assert plan.grpc_ports.get(service.name) == service.grpc_port
        if service.grpc_port is not None:
            assert env["VIGIE_GRPC__PORT"] == str(service.grpc_port)
    console = plan.env("console")
    assert console["VIGIE_WEB__PORT"] == str(topology.CONSOLE.web_port)
    assert console["VIGIE_DESK_ADDRESS"].endswith(f":{topology.ALERTING.grpc_port}")
    assert console["VIGIE_ARCHIVE_ADDRESS"].endswith(f":{topology.STORAGE.grpc_port}")


def test_the_local_pipeline_waits_on_every_group_running_by_default() -> None:
    from vigie_cli.pipeline import LocalPipeline
    from vigie_runtime import topology

    asked: list[tuple[str, tuple[str, ...]]] = []

    class Probe:
        def lag(self, group: str, topics: tuple[str, ...]) -> int:
            asked.append((group, tuple(topics)))
            return 1

    assert LocalPipeline.lag(Probe()) == len(topology.drain_groups())  # type: ignore[arg-type]
    assert dict(asked) == topology.drain_groups()


def test_a_local_run_without_snapshots_does_not_wait_for_their_group(tmp_path: Path) -> None:
    from vigie_cli.pipeline import LocalPipeline, PipelinePlan

    plan = PipelinePlan("127.0.0.1:19092", tmp_path, None)
    plan.extra_env["VIGIE_SNAPSHOTS__ENABLED"] = "false"
    groups = LocalPipeline(plan).drain_groups()
    assert "vigie-storage-snapshots" not in groups
    assert "vigie-storage" in groups
