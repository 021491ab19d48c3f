"""The colour of a detected vehicle, named from the pixels inside its box.

Only the central part of the box is looked at (half its width and half its height): a box is
drawn around the whole vehicle, so its edges hold road, kerb, shadow and whatever stands beside
it, while its centre is roof, bonnet or doors. That part is resampled to a few hundred pixels by
averaging (which also smooths JPEG noise), so the cost is the same for a bus filling the frame
and a distant car, and each pixel is named with one colour of the fixed palette
(``vigie_core.colours``) from its hue, saturation and value:

* too dark for a hue to mean anything: black;
* hardly any hue (the spread between its brightest and darkest channel is small, which unlike
  HSV saturation does not blow up on dark pixels): black, grey or white by brightness;
* otherwise by hue: red, orange, yellow, green, blue, purple; a dark orange is brown.

Then the majority decides, with one rule on top: if one hue covers at least a fifth of the
region, it wins over the achromatic names even when they add up to more. Every vehicle has
windows, tyres, trim and shadows that read black or grey whatever its paint, and a pedestrian
crossing in front of it hides its middle; a red car is a car whose centre is a good part red, not
one that is mostly red. The hue must be plain, not a tint: white paint in the shade of a blue
sky takes a bluish cast, which stays under the chroma a hue needs (and under a fifth of the
region) on the street photos this was checked on.

Known limits: the front of a bus or van is mostly windscreen, so its centre shows the glass
(often the sky's blue reflected), not the paint; very dark paints (navy, maroon) read black.

People never get a colour (``NEVER_COLOURED``): a clothing colour helps single out a person
across frames and cameras, which Vigie does not do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import cv2
import numpy as np

from vigie_core.colours import NEVER_COLOURED, Colour
from vigie_core.types import Box, Detection

VEHICLE_CLASSES: frozenset[str] = frozenset({"bicycle", "car", "motorbike", "bus", "truck"})
"""The COCO vehicle classes, spelt as the default model's class list spells them (Darknet's
``coco.names`` says "motorbike" where COCO says "motorcycle")."""

# Fraction of the box's width (height) dropped on each side: the central half is kept.
_MARGIN_X = 0.25
_MARGIN_Y = 0.25
# The central region is averaged down to at most this many pixels on each side.
_SAMPLE_SIDE = 24
# A region smaller than this on either side (a box under ~8 pixels) is too few pixels to name.
_MIN_REGION_PX = 4

# OpenCV's 8-bit HSV: hue 0-179 (degrees / 2), saturation and value 0-255.
_BLACK_BELOW_VALUE = 60  # darker than this is black, whatever the hue
_HUE_FROM_CHROMA = 50  # max - min of B, G, R from which a pixel has a hue worth naming
_WHITE_FROM_VALUE = 180  # an achromatic pixel this bright is white
_GREY_FROM_VALUE = 80  # an achromatic pixel this bright (and not white) is grey, else black
_BROWN_BELOW_VALUE = 150  # an orange this dark is brown
# Upper hue bound of each hue name, in order round the circle (red wraps past 179).
_HUE_BANDS: tuple[tuple[int, Colour], ...] = (
    (8, Colour.RED),
    (18, Colour.ORANGE),
    (34, Colour.YELLOW),
    (85, Colour.GREEN),
    (130, Colour.BLUE),
    (165, Colour.PURPLE),
    (180, Colour.RED),
)
# The share of the region one hue needs to win over the achromatic names.
_HUE_WINS_FROM = 0.2

_PALETTE: tuple[Colour, ...] = tuple(Colour)
_INDEX = {colour: i for i, colour in enumerate(_PALETTE)}
_ACHROMATIC_COLOURS = (Colour.BLACK, Colour.GREY, Colour.WHITE)
_ACHROMATIC = np.array([_INDEX[c] for c in _ACHROMATIC_COLOURS])
_CHROMATIC = np.array([i for i, c in enumerate(_PALETTE) if c not in _ACHROMATIC_COLOURS])


def _hue_lookup() -> np.ndarray:
    """Hue (0-179) -> palette index, from ``_HUE_BANDS``."""
    table = np.zeros(180, dtype=np.intp)
    start = 0
    for end, colour in _HUE_BANDS:
        table[start:end] = _INDEX[colour]
        start = end
    return table


_HUE_TO_INDEX = _hue_lookup()


def central_region(image: np.ndarray, box: Box) -> np.ndarray:
    """The pixels of the central part of ``box`` (normalised) in ``image``; may be empty."""
    height, width = image.shape[:2]
    dx, dy = _MARGIN_X * box.width, _MARGIN_Y * box.height
    x1 = max(0, round((box.x1 + dx) * width))
    x2 = min(width, round((box.x2 - dx) * width))
    y1 = max(0, round((box.y1 + dy) * height))
    y2 = min(height, round((box.y2 - dy) * height))
    return image[y1 : max(y1, y2), x1 : max(x1, x2)]


def pixel_colours(hsv: np.ndarray) -> np.ndarray:
    """Palette index (into ``Colour`` in declaration order) of every pixel of an 8-bit HSV
    image, flattened."""
    h, s, v = (hsv[..., i].reshape(-1).astype(np.int32) for i in range(3))
    chroma = s * v // 255  # max - min of the BGR channels
    names = _HUE_TO_INDEX[np.minimum(h, 179)]
    names = np.where(
        (names == _INDEX[Colour.ORANGE]) & (v < _BROWN_BELOW_VALUE), _INDEX[Colour.BROWN], names
    )
    by_value = np.where(
        v >= _WHITE_FROM_VALUE,
        _INDEX[Colour.WHITE],
        np.where(v >= _GREY_FROM_VALUE, _INDEX[Colour.GREY], _INDEX[Colour.BLACK]),
    )
    names = np.where(chroma < _HUE_FROM_CHROMA, by_value, names)
    return np.where(v < _BLACK_BELOW_VALUE, _INDEX[Colour.BLACK], names)


def dominant_colour(region: np.ndarray) -> Colour | None:
    """The colour of a BGR region by the rule in the module docstring; None when the region
    is too small to say."""
    if region.ndim != 3 or min(region.shape[:2]) < _MIN_REGION_PX:
        return None
    # Every few rows and columns of a large region first: averaging all of a bus filling a
    # 1080p frame would cost several times the rest, and four samples per output pixel and side
    # already smooth out JPEG noise.
    step = max(1, max(region.shape[:2]) // (4 * _SAMPLE_SIDE))
    region = region[::step, ::step]
    height, width = region.shape[:2]
    scale = min(1.0, _SAMPLE_SIDE / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(np.ascontiguousarray(region), cv2.COLOR_BGR2HSV)
    counts = np.bincount(pixel_colours(hsv), minlength=len(_PALETTE))
    best_hue = _CHROMATIC[np.argmax(counts[_CHROMATIC])]
    if counts[best_hue] >= _HUE_WINS_FROM * counts.sum():
        return _PALETTE[best_hue]
    return _PALETTE[_ACHROMATIC[np.argmax(counts[_ACHROMATIC])]]


class VehicleColours:
    """Names the colour of every detection of one of ``classes``; the others pass unchanged.

    An empty ``classes`` turns it off. Classes in ``NEVER_COLOURED`` are refused, and so are
    classes missing from ``known`` (the model's class names) when given: a misspelt one
    ("motorcycle" for the default model's "motorbike") would silently never get a colour.
    """

    def __init__(
        self, classes: Iterable[str] = VEHICLE_CLASSES, known: Iterable[str] | None = None
    ) -> None:
        wanted = frozenset(classes)
        refused = sorted(wanted & NEVER_COLOURED)
        if refused:
            raise ValueError(
                f"classes {refused} cannot be given a colour: a colour of clothing helps single "
                "out a person, and Vigie does not do that"
            )
        if known is not None:
            known = frozenset(known)
            unknown = sorted(wanted - known)
            if unknown:
                raise ValueError(
                    f"unknown class names {unknown}; the model knows {', '.join(sorted(known))}"
                )
        self.classes = wanted

    def annotate(
        self, image: np.ndarray, detections: tuple[Detection, ...]
    ) -> tuple[Detection, ...]:
        """``detections`` of the BGR ``image``, each vehicle with its colour (left empty when
        its box is too small to name one)."""
        if not self.classes:
            return detections
        return tuple(_coloured(image, d) if d.class_name in self.classes else d for d in detections)


def _coloured(image: np.ndarray, detection: Detection) -> Detection:
    colour = dominant_colour(central_region(image, detection.box))
    return detection if colour is None else replace(detection, colour=colour.value)
