"""Where the sample clip comes from: ``SOURCE=``, else the sample folder, else a clear message."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

SAMPLE_CLIP = "intel-sample-videos/one-by-one-person-detection.mp4"
SAMPLE_CAMERA = "one-by-one"
# The sample clip's ground truth, labelled by eye (frame numbers at 10 fps): six people, one at
# a time, walk to the table, stand at it and leave; each visit is one zone intrusion in the
# example scene's `table` zone, and nothing else happens.
SAMPLE_VISITS = [(70, 185), (240, 435), (520, 690), (760, 855), (940, 1180), (1255, 1340)]
# An alert comes a little after the person arrives (confirmation and dwell) but within the visit.
SAMPLE_SLACK_FRAMES = 15
# Published by the Intel IoT DevKit under CC BY 4.0; see README "Sample clips" for checksums.
SAMPLE_URL = (
    "https://github.com/intel-iot-devkit/sample-videos/raw/master/one-by-one-person-detection.mp4"
)


class NoSource(RuntimeError):
    pass


@dataclass(frozen=True)
class Clip:
    source: str
    camera_id: str
    scenes: Path | None
    config_dir: Path | None = None


def add_clip_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command that replays a clip takes."""
    parser.add_argument("--source", help="clip path or URL (default: $SOURCE, then the sample)")
    parser.add_argument("--camera-id", help="camera id for the clip (default: the file's stem)")
    parser.add_argument(
        "--scenes", type=Path, help="zone file (default: the example for the sample clip)"
    )


def default_samples_dir() -> Path:
    """``$VIGIE_SAMPLES``, else ``../shared/data`` beside the checkout."""
    if os.environ.get("VIGIE_SAMPLES"):
        return Path(os.environ["VIGIE_SAMPLES"])
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def sample_config_dir() -> Path | None:
    """Per-service settings tuned for the sample clip (config/sample in a checkout)."""
    folder = Path(__file__).resolve().parents[2] / "config" / "sample"
    return folder if folder.is_dir() else None


def example_scenes() -> Path:
    return Path(str(resources.files("vigie_analytics").joinpath("scenes", "one-by-one.yaml")))


def resolve_clip(
    source: str | None, camera_id: str | None = None, scenes: Path | None = None
) -> Clip:
    source = source or os.environ.get("SOURCE") or None
    if source:
        is_url = "://" in source
        if not is_url and not Path(source).exists():
            raise NoSource(f"SOURCE={source} does not exist")
        camera = camera_id or (SAMPLE_CAMERA if source.endswith(Path(SAMPLE_CLIP).name) else None)
        camera = camera or Path(source.split("?")[0]).stem[:64] or "camera-1"
        if camera == SAMPLE_CAMERA:
            return Clip(source, camera, scenes or example_scenes(), sample_config_dir())
        return Clip(source, camera, scenes)
    samples = default_samples_dir()
    clip = samples / SAMPLE_CLIP
    if not clip.exists():
        raise NoSource(
            f"no clip found: {clip} does not exist.\n"
            f"  Point Vigie at a video with SOURCE=/path/to/clip.mp4 (or an rtsp:// URL),\n"
            f"  or download the sample into a folder and set VIGIE_SAMPLES to it:\n"
            f"    mkdir -p samples/intel-sample-videos\n"
            f"    curl -L -o samples/{SAMPLE_CLIP} {SAMPLE_URL}\n"
            f"    export VIGIE_SAMPLES=$PWD/samples"
        )
    return Clip(
        str(clip), camera_id or SAMPLE_CAMERA, scenes or example_scenes(), sample_config_dir()
    )
