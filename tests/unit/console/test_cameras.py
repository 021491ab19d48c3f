"""The cameras page's knowledge: the newest status per camera, stale statuses shown as unknown,
a bounded board, and hostile statuses left out without stopping the feed."""

from __future__ import annotations

import time

from vigie.v1 import cameras_pb2
from vigie_console.cameras import CameraBoard
from vigie_console.service import CameraStatusHandler
from vigie_runtime import codec
from vigie_runtime.bus import Message
from vigie_runtime.metrics import ERRORS
from vigie_runtime.stage import MessageContract, Stage
from vigie_runtime.topics import CAMERA_STATUS, DEAD_LETTERS

NOW = 1_800_000_000.0


def status(
    camera: str, state: int, reported_at: float, fps: float = 10.0
) -> cameras_pb2.CameraStatus:
    msg = cameras_pb2.CameraStatus(camera_id=camera, state=state, frames_per_second=fps)
    msg.since.CopyFrom(codec.time_to_proto(reported_at - 30))
    msg.reported_at.CopyFrom(codec.time_to_proto(reported_at))
    msg.last_frame_at.CopyFrom(codec.time_to_proto(reported_at - 0.5))
    return msg


def message(value: bytes, camera: str = "gate", at: float = NOW) -> Message:
    return Message(CAMERA_STATUS, 0, 0, camera.encode(), value, {}, int(at * 1000))


def test_the_newest_report_wins_and_a_stale_one_reads_unknown() -> None:
    clock = [NOW]
    board = CameraBoard(max_cameras=10, stale_s=30, clock=lambda: clock[0])
    board.update(status("gate", cameras_pb2.CAMERA_STATE_STALLED, NOW - 1))
    board.update(status("gate", cameras_pb2.CAMERA_STATE_ONLINE, NOW - 5))  # older: ignored
    view = board.view("gate")
    assert view.state == "stalled" and view.frames_per_second == 10.0
    assert round(view.last_frame_age_s or 0, 1) == 1.5
    clock[0] = NOW + 60
    stale = board.view("gate")
    assert stale.state == "unknown" and "no status for" in stale.reason
    assert board.view("never-seen").state == "unknown"


def test_the_board_holds_at_most_max_cameras() -> None:
    board = CameraBoard(max_cameras=3, stale_s=30, clock=lambda: NOW)
    for n in range(10):
        board.update(status(f"cam-{n}", cameras_pb2.CAMERA_STATE_ONLINE, NOW))
    assert board.camera_ids() == ["cam-7", "cam-8", "cam-9"]


def test_garbage_and_statuses_from_the_future_are_left_out_not_dead_lettered() -> None:
    """Through the stage as the console runs it: a group per replica, which logs and leaves
    out what it cannot show (the topic's own reader dead-letters it once)."""
    now = time.time()
    board = CameraBoard(max_cameras=10, stale_s=30, clock=lambda: now)
    handler = CameraStatusHandler(board)
    stage = Stage(
        "console-cameras", [CAMERA_STATUS], "g", handler.decode, handler.handle, dead_letters=False
    )
    contract = MessageContract(stage, DEAD_LETTERS)
    good = status("gate", cameras_pb2.CAMERA_STATE_OFFLINE, now - 1)
    future = status("gate", cameras_pb2.CAMERA_STATE_ONLINE, now + 3600)
    wrong_key = message(good.SerializeToString(), camera="other", at=now)
    left_out = ERRORS.labels("console-cameras", "decode")._value.get()
    for msg in (
        message(b"\xff\x00garbage", at=now),
        message(codec.encode(future), at=now),
        wrong_key,
        message(good.SerializeToString(), at=now),
    ):
        assert contract.process(msg) == []  # no dead letter, whatever came in
    assert board.view("gate").state == "offline"
    assert board.camera_ids() == ["gate"]
    assert ERRORS.labels("console-cameras", "decode")._value.get() - left_out == 2
