"""The build products' bookkeeping shared by the float export and the int8 file: sizes from the
command line, records written whole, and the refusal that names the build command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from vigie_detection.models.errors import ExportMissing
from vigie_detection.models.onnx_cache import (
    parse_size,
    record_path,
    require_built,
    write_record,
)


@pytest.mark.parametrize(("text", "size"), [("416", (416, 416)), ("608x352", (608, 352))])
def test_sizes_are_square_or_width_by_height(text: str, size: tuple[int, int]) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "big", "416xwide", "4.5"])
def test_a_size_that_is_not_a_number_is_refused_with_what_was_expected(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="N or WxH"):
        parse_size(text)


def test_a_record_replaces_the_old_one_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx.json"
    path.write_text('{"old": true}', encoding="utf-8")
    write_record(path, json.dumps({"new": True}))
    assert json.loads(path.read_text(encoding="utf-8")) == {"new": True}
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx.json"]
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("present", ["neither", "model only", "record only"])
def test_a_missing_build_product_names_the_missing_file_and_the_command(
    tmp_path: Path, present: str
) -> None:
    model = tmp_path / "model.onnx"
    if present == "model only":
        model.write_bytes(b"m")
    if present == "record only":
        record_path(model).write_text("{}", encoding="utf-8")
    missing = record_path(model) if present == "model only" else model
    with pytest.raises(ExportMissing) as refused:
        require_built(model, "the test model", "make build-it")
    assert str(missing) in str(refused.value)
    assert "build it with: make build-it" in str(refused.value)


def test_a_built_product_passes(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"m")
    record_path(model).write_text("{}", encoding="utf-8")
    require_built(model, "the test model", "make build-it")
