"""A tiny Darknet model written by the tests: every layer kind Vigie's model supports, random
weights, 64x64 input, three classes. Small enough to build, run and export in milliseconds,
so the model code is tested without the real weights."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import yaml

TINY_CFG = """\
[net]
width=64
height=64
channels=3

# 0: 64 -> 32
[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

# 1: second half of the channels
[route]
layers=-1
groups=2
group_id=1

# 2
[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

# 3: residual from layer 0
[shortcut]
from=-3
activation=linear

# 4: 32 -> 16
[maxpool]
size=2
stride=2

# 5: 16 -> 8
[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=leaky

# 6: stride-1 pooling keeps 8x8 (Darknet pads after)
[maxpool]
size=2
stride=1

# 7: head of the coarse YOLO layer
[convolutional]
size=1
stride=1
pad=1
filters=16
activation=linear

# 8
[yolo]
mask=2,3
anchors=4,6, 8,10, 16,20, 30,40
classes=3
num=4
scale_x_y=1.05

# 9: back to layer 6
[route]
layers=-3

# 10: 8 -> 16
[upsample]
stride=2

# 11: with layer 4
[route]
layers=-1,4

# 12: head of the fine YOLO layer
[convolutional]
size=1
stride=1
pad=1
filters=16
activation=linear

# 13
[yolo]
mask=0,1
anchors=4,6, 8,10, 16,20, 30,40
classes=3
num=4
scale_x_y=1.05
"""

# (input channels, filters, kernel size, batch norm) of each convolution, in cfg order.
CONVOLUTIONS = [
    (3, 8, 3, True),
    (4, 8, 3, True),
    (8, 16, 3, True),
    (16, 16, 1, False),
    (24, 16, 1, False),
]
CLASSES = ("person", "car", "dog")
SIZE = 64
ROWS = 8 * 8 * 2 + 16 * 16 * 2
ANCHORS = ((4, 6), (8, 10), (16, 20), (30, 40))
MASKS = ((2, 3), (0, 1))


def tiny_weights(seed: int = 0) -> bytes:
    """Darknet weights format 0.2: three int32, a uint64 'seen', then each layer's floats."""
    rng = np.random.default_rng(seed)
    parts = [np.array([0, 2, 0], dtype="<i4").tobytes(), np.array([12345], "<u8").tobytes()]
    for inputs, filters, size, batch_norm in CONVOLUTIONS:
        values = [rng.normal(0, 0.1, filters)]  # bias or BN beta
        if batch_norm:
            values += [
                rng.uniform(0.5, 1.5, filters),  # gamma
                rng.normal(0, 0.1, filters),  # running mean
                rng.uniform(0.5, 1.5, filters),  # running variance
            ]
        values.append(rng.normal(0, 0.3, filters * inputs * size * size))
        parts.append(np.concatenate(values).astype("<f4").tobytes())
    return b"".join(parts)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_tiny_model(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "cfg": folder / "tiny.cfg",
        "weights": folder / "tiny.weights",
        "names": folder / "tiny.names",
    }
    paths["cfg"].write_text(TINY_CFG, encoding="utf-8")
    paths["weights"].write_bytes(tiny_weights())
    paths["names"].write_text("\n".join(CLASSES) + "\n", encoding="utf-8")
    return paths


def entry(name: str, files: dict[str, Path], **fields: object) -> dict[str, object]:
    """A manifest entry for ``files`` (all in one folder) with their real checksums."""
    folder = next(iter(files.values())).parent
    base: dict[str, object] = {
        "name": name,
        "family": "darknet-yolov4",
        "source": "written by the test suite",
        "licence": "test data",
        "location": str(folder),
        "files": {
            role: {"path": path.name, "sha256": sha256_of(path)} for role, path in files.items()
        },
        "input": {"size": SIZE, "resize": "stretch", "colour": "rgb", "scale": 1 / 255},
    }
    base.update(fields)
    return base


def write_manifest(path: Path, *entries: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump({"models": list(entries)}, sort_keys=False), encoding="utf-8")
    return path
