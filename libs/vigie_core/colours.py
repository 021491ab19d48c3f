"""The colour names a vehicle can be searched by.

A short, fixed list of the words people use for car colours (as on a registration document or in
a witness statement), so an operator's search for "red" finds every red vehicle whatever camera
saw it. Finer shades would be guessed rather than seen: lighting, shadow and white balance move a
paint's apparent hue and brightness far more than the difference between two neighbouring
shades. Silver is grey here, and pink and maroon are red, for the same reason.

Only vehicles get a colour; people never do (no clothing colours: that would help single out a
person across frames and cameras).
"""

from __future__ import annotations

from enum import StrEnum


class Colour(StrEnum):
    BLACK = "black"
    WHITE = "white"
    GREY = "grey"
    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    GREEN = "green"
    BLUE = "blue"
    BROWN = "brown"
    PURPLE = "purple"


COLOUR_NAMES: frozenset[str] = frozenset(colour.value for colour in Colour)

NEVER_COLOURED: frozenset[str] = frozenset({"person"})
"""Classes that never carry a colour, whatever a detector sends: the detection service refuses
to name one for them, and the tracker ignores one if it arrives anyway."""
