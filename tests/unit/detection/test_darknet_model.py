"""Vigie's Darknet model: cfg parsing, weight loading, and agreement with OpenCV's reader on a
tiny network that uses every supported layer kind."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.unit.detection.tiny_model import (
    ANCHORS,
    CLASSES,
    MASKS,
    ROWS,
    SIZE,
    TINY_CFG,
    write_tiny_model,
)
from vigie_detection.models.darknet_cfg import parse_cfg_text
from vigie_detection.models.errors import ModelCorrupt, ModelUnsupported
from vigie_detection.models.heads.darknet import decode_raw
from vigie_detection.models.manifest import DarknetHeadSpec

torch = pytest.importorskip("torch")

from vigie_detection.models.darknet_torch import DarknetModel, load_darknet  # noqa: E402


@pytest.fixture
def tiny(tmp_path: Path) -> dict[str, Path]:
    return write_tiny_model(tmp_path)


def opencv_rows(files: dict[str, Path], batch: np.ndarray) -> np.ndarray:
    net = cv2.dnn.readNetFromDarknet(str(files["cfg"]), str(files["weights"]))
    net.setInput(batch)
    outputs = net.forward(net.getUnconnectedOutLayersNames())
    return np.concatenate([o.reshape(len(batch), -1, o.shape[-1]) for o in outputs], axis=1)


def test_cfg_sections_keep_order_options_and_lines() -> None:
    sections = parse_cfg_text(TINY_CFG)
    assert sections[0].kind == "net" and sections[0].get_int("width") == SIZE
    kinds = [s.kind for s in sections[1:]]
    assert kinds.count("convolutional") == 5 and kinds.count("yolo") == 2
    route = sections[2]
    assert route.kind == "route" and route.get_int("groups") == 2
    assert sections[9].get_floats("anchors")[:2] == (4.0, 6.0)
    assert TINY_CFG.splitlines()[route.line - 1] == "[route]"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("width=3\n", "option outside any section"),
        ("[convolutional]\nfilters=3\n", "must start with a \\[net\\]"),
        ("[net]\n[convolutional\n", "malformed section header"),
        ("[net]\nwidth\n", "expected key=value"),
    ],
)
def test_malformed_cfg_is_reported_with_its_line(text: str, message: str) -> None:
    with pytest.raises(ModelCorrupt, match=message):
        parse_cfg_text(text, Path("x.cfg"))


def test_missing_option_names_the_line() -> None:
    sections = parse_cfg_text("[net]\n\n[convolutional]\nsize=3\n", Path("x.cfg"))
    with pytest.raises(ModelCorrupt, match=r"x\.cfg:3: \[convolutional\] needs filters="):
        DarknetModel(sections)


def test_unsupported_layer_is_named() -> None:
    text = TINY_CFG.replace("[upsample]", "[reorg]")
    with pytest.raises(ModelUnsupported, match=r"\[reorg\] layers are not supported"):
        DarknetModel(parse_cfg_text(text, Path("x.cfg")))


def test_torch_model_matches_opencv_darknet_reader(tiny: dict[str, Path]) -> None:
    batch = np.random.default_rng(1).random((2, 3, SIZE, SIZE), dtype=np.float32)
    model = load_darknet(tiny["cfg"], tiny["weights"])
    with torch.inference_mode():
        ours = model(torch.from_numpy(batch)).numpy()
    reference = opencv_rows(tiny, batch)
    assert ours.shape == reference.shape == (2, ROWS, 5 + len(CLASSES))
    assert np.abs(ours[..., :5] - reference[..., :5]).max() < 1e-4
    # OpenCV zeroes class scores under its own small threshold; compare the rest.
    kept = reference[..., 5:] > 0
    assert kept.mean() > 0.1
    assert np.abs(ours[..., 5:][kept] - reference[..., 5:][kept]).max() < 1e-4


def test_numpy_raw_head_decoder_matches_the_torch_yolo_layers(tiny: dict[str, Path]) -> None:
    batch = np.random.default_rng(2).random((2, 3, SIZE, SIZE), dtype=np.float32)
    decoded = load_darknet(tiny["cfg"], tiny["weights"])
    raw = load_darknet(tiny["cfg"], tiny["weights"], decode=False)
    with torch.inference_mode():
        rows = decoded(torch.from_numpy(batch)).numpy()
        heads = [h.numpy() for h in raw(torch.from_numpy(batch))]
    spec = DarknetHeadSpec(outputs="raw", anchors=ANCHORS, masks=MASKS, scale_x_y=(1.05, 1.05))
    assert np.abs(decode_raw(heads, spec, len(CLASSES), (SIZE, SIZE)) - rows).max() < 1e-5


def test_raw_decoder_refuses_a_head_count_mismatch() -> None:
    spec = DarknetHeadSpec(outputs="raw", anchors=ANCHORS, masks=MASKS)
    with pytest.raises(ModelUnsupported, match="2 masks"):
        decode_raw([np.zeros((1, 16, 2, 2), np.float32)], spec, 3, (64, 64))
    with pytest.raises(ModelUnsupported, match="channels"):
        decode_raw([np.zeros((1, 15, 2, 2), np.float32)] * 2, spec, 3, (64, 64))


def test_other_input_sizes_work_like_darknet(tiny: dict[str, Path]) -> None:
    batch = np.random.default_rng(3).random((1, 3, 96, 128), dtype=np.float32)
    model = load_darknet(tiny["cfg"], tiny["weights"])
    with torch.inference_mode():
        ours = model(torch.from_numpy(batch)).numpy()
    reference = opencv_rows(tiny, batch)
    assert ours.shape == reference.shape
    assert np.abs(ours[..., :5] - reference[..., :5]).max() < 1e-4


def test_truncated_weights_name_the_layer_and_file(tiny: dict[str, Path]) -> None:
    data = tiny["weights"].read_bytes()
    tiny["weights"].write_bytes(data[:-40])
    with pytest.raises(ModelCorrupt, match="short of the convolution at") as caught:
        load_darknet(tiny["cfg"], tiny["weights"])
    assert str(tiny["weights"]) in str(caught.value) and "truncated" in str(caught.value)


def test_weights_of_another_network_are_refused(tiny: dict[str, Path]) -> None:
    tiny["weights"].write_bytes(tiny["weights"].read_bytes() + bytes(400))
    with pytest.raises(ModelCorrupt, match=r"100 values more than .* another network"):
        load_darknet(tiny["cfg"], tiny["weights"])


def test_weights_too_short_for_a_header(tiny: dict[str, Path]) -> None:
    tiny["weights"].write_bytes(b"\0" * 8)
    with pytest.raises(ModelCorrupt, match="too short to hold a header"):
        load_darknet(tiny["cfg"], tiny["weights"])
