"""The shared detector on a fake network: batching, class checks, input checks, thread safety."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vigie_detection.adapters.detector import Detector, ModelDetector
from vigie_detection.models.errors import ModelCorrupt
from vigie_detection.models.manifest import InputSpec
from vigie_detection.models.postprocess import Thresholds
from vigie_runtime.images import InvalidImage

NAMES = ("person", "car")
SPEC = InputSpec(size=64, resize="stretch", colour="rgb", scale=1 / 255)


class BrightnessNetwork:
    """One box per frame whose confidence is the frame's mean brightness (0..1)."""

    backend = "fake"

    def __init__(self, max_batch: int | None = None, classes: int = 2) -> None:
        self.max_batch = max_batch
        self.classes = classes
        self.calls: list[int] = []
        self.running = 0
        self.overlapped = False

    def forward(self, batch: np.ndarray) -> np.ndarray:
        self.running += 1
        self.overlapped |= self.running > 1
        self.calls.append(len(batch))
        brightness = batch.mean(axis=(1, 2, 3))
        rows = np.zeros((len(batch), 1, 5 + self.classes), dtype=np.float32)
        rows[:, 0, :4] = [0.5, 0.5, 0.5, 0.5]
        rows[:, 0, 4] = brightness
        rows[:, 0, 5] = brightness
        self.running -= 1
        return rows


def detector(network: BrightnessNetwork, **kwargs: object) -> ModelDetector:
    options: dict[str, object] = {
        "model_name": "fake",
        "class_names": NAMES,
        "input_spec": SPEC,
        "input_size": (64, 64),
        "thresholds": Thresholds(0.1, 0.45),
    }
    options.update(kwargs)
    return ModelDetector(network, **options)  # type: ignore[arg-type]


def grey(level: int, width: int = 80, height: int = 60) -> np.ndarray:
    return np.full((height, width, 3), level, dtype=np.uint8)


def test_is_a_detector_and_names_model_and_size() -> None:
    found = detector(BrightnessNetwork())
    assert isinstance(found, Detector)
    assert found.name == "fake@64"
    assert detector(BrightnessNetwork(), input_size=(96, 64)).name == "fake@96x64"


def test_batch_is_one_network_call_and_equals_single_calls() -> None:
    network = BrightnessNetwork()
    found = detector(network)
    images = [grey(50), grey(200, 120, 40), grey(10), grey(128)]
    network.calls.clear()
    batch = found.detect_batch(images)
    assert network.calls == [4]
    assert batch == [found.detect(image) for image in images]
    assert batch[2] == ()  # too dark for the 0.1 threshold
    assert batch[1][0].confidence == pytest.approx(200 / 255, abs=1e-6)


def test_fixed_batch_networks_get_the_batch_in_pieces() -> None:
    network = BrightnessNetwork(max_batch=1)
    found = detector(network)
    network.calls.clear()
    assert len(found.detect_batch([grey(50)] * 3)) == 3
    assert network.calls == [1, 1, 1]
    assert found.detect_batch([]) == []


def test_class_count_mismatch_is_caught_at_start_up() -> None:
    with pytest.raises(ModelCorrupt, match=r"outputs 3 classes but names\.txt lists 2"):
        detector(BrightnessNetwork(classes=3), names_source="names.txt")


def test_unknown_class_names_are_refused() -> None:
    with pytest.raises(ValueError, match="motorcycle"):
        detector(BrightnessNetwork(), classes=frozenset({"motorcycle"}))


def test_class_filter() -> None:
    assert detector(BrightnessNetwork(), classes=frozenset({"car"})).detect(grey(200)) == ()
    assert detector(BrightnessNetwork(), classes=frozenset({"person"})).classes == {"person"}


def test_grey_and_bgra_frames_are_accepted_bad_arrays_refused() -> None:
    found = detector(BrightnessNetwork())
    assert found.detect(np.full((60, 80), 200, np.uint8))
    assert found.detect(np.full((60, 80, 4), 200, np.uint8))
    with pytest.raises(InvalidImage):
        found.detect(np.zeros((60, 80, 3), np.float32))
    with pytest.raises(InvalidImage):
        found.detect_batch([grey(1), np.zeros((0, 0, 3), np.uint8)])


def test_the_network_never_runs_twice_at_once() -> None:
    network = BrightnessNetwork()
    found = detector(network)
    threads = [
        threading.Thread(target=lambda: [found.detect(grey(100)) for _ in range(20)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not network.overlapped
