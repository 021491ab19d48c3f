"""The message contracts never break what the last release's consumers rely on."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from vigie_cli.protocompat import PROTOS, RELEASED, breaking_changes, compile_protos, main


@pytest.fixture(scope="module")
def released() -> descriptor_pb2.FileDescriptorSet:
    return descriptor_pb2.FileDescriptorSet.FromString(RELEASED.read_bytes())


def edited(
    tmp_path: Path, file: str, old: str, new: str, append: str = ""
) -> descriptor_pb2.FileDescriptorSet:
    """The current protos with one edit in ``file`` (and ``append`` at its end), compiled."""
    root = tmp_path / "protos"
    shutil.copytree(PROTOS / "vigie", root / "vigie")
    path = root / "vigie" / "v1" / file
    text = path.read_text()
    assert re.search(old, text), f"{old!r} not in {file}"
    path.write_text(re.sub(old, new, text, count=1) + append)
    return compile_protos(root)


def test_the_current_protos_break_nothing_of_the_last_release(
    released: descriptor_pb2.FileDescriptorSet,
) -> None:
    assert breaking_changes(released, compile_protos()) == []
    assert main([]) == 0


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("alerts.proto", r"\n  string reason = 14;", "", "field reason = 14 removed"),
        (
            "alerts.proto",
            r"uint32 count = 10;",
            "uint64 count = 10;",
            "count: singular TYPE_UINT32",
        ),
        ("alerts.proto", r"string zone = 4;", "string area = 4;", "field 4 renamed zone -> area"),
        ("alerts.proto", r"string class_name = 11;", "string class_name = 30;", "removed"),
        ("common.proto", r"float x1 = 1;", "repeated float x1 = 1;", "x1: singular"),
        (
            "events.proto",
            r"\n  EVENT_KIND_WEAPON = 13;[^\n]*",
            "",
            "EVENT_KIND_WEAPON = 13 removed",
        ),
        ("frames.proto", r"message Frame \{", "message CameraFrame {", "vigie.v1.Frame removed"),
        (
            "services.proto",
            r"rpc Dismiss\(VerdictRequest\) returns \(Alert\)",
            "rpc Dismiss(VerdictRequest) returns (ListAlertsResponse)",
            "Dismiss: output_type",
        ),
    ],
)
def test_each_kind_of_breaking_change_is_caught(
    tmp_path: Path,
    released: descriptor_pb2.FileDescriptorSet,
    file: str,
    old: str,
    new: str,
    expected: str,
) -> None:
    problems = breaking_changes(released, edited(tmp_path, file, old, new))
    assert any(expected in p for p in problems), problems


def test_additions_and_reserved_removals_are_compatible(
    tmp_path: Path, released: descriptor_pb2.FileDescriptorSet
) -> None:
    added = edited(
        tmp_path,
        "alerts.proto",
        r"string reason = 14;",
        'reserved 14;\n  reserved "reason";\n  string site = 40;',
        append="\nmessage AlertNote {\n  string text = 1;\n}\n",
    )
    assert breaking_changes(released, added) == []


def test_reusing_a_reserved_number_is_caught(released: descriptor_pb2.FileDescriptorSet) -> None:
    reserving = descriptor_pb2.FileDescriptorSet()
    reserving.CopyFrom(released)
    alert = next(
        m for f in reserving.file if f.name == "vigie/v1/alerts.proto" for m in f.message_type
        if m.name == "Alert"
    )  # fmt: skip
    alert.reserved_range.add(start=90, end=91)
    reusing = descriptor_pb2.FileDescriptorSet()
    reusing.CopyFrom(released)
    alert = next(
        m for f in reusing.file if f.name == "vigie/v1/alerts.proto" for m in f.message_type
        if m.name == "Alert"
    )  # fmt: skip
    alert.field.add(name="later", number=90, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING)
    assert any("reuses reserved number 90" in p for p in breaking_changes(reserving, reusing))
