"""How far two detectors agree on the same frames: one-to-one box matching, counts both ways.

Used to judge the int8 model against the float one it was quantized from (``make
bench-int8``): with no ground truth at hand, the float model's boxes are the reference, and
what matters is how many of them int8 still finds (and how many of its boxes float also has).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vigie_core.types import Detection

MIN_IOU = 0.5


def match_pairs(
    reference: Sequence[Detection], candidate: Sequence[Detection], min_iou: float = MIN_IOU
) -> list[tuple[int, int]]:
    """Greedy one-to-one matching: same class, IoU >= ``min_iou``, best IoU first.

    Each box is used at most once, so two candidate boxes on one object count once, and a
    candidate box between two reference boxes goes to the one it overlaps more. Ties go to the
    earlier (more confident) boxes, which keeps the result deterministic.
    """
    pairs = sorted(
        (
            (-ref.box.iou(cand.box), i, j)
            for i, ref in enumerate(reference)
            for j, cand in enumerate(candidate)
            if ref.class_name == cand.class_name
        ),
    )
    used_ref: set[int] = set()
    used_cand: set[int] = set()
    matched: list[tuple[int, int]] = []
    for negative_iou, i, j in pairs:
        if -negative_iou < min_iou:
            break
        if i in used_ref or j in used_cand:
            continue
        used_ref.add(i)
        used_cand.add(j)
        matched.append((i, j))
    return matched


@dataclass(frozen=True, slots=True)
class Agreement:
    """Boxes of each detector and how many were matched one-to-one."""

    reference: int = 0
    candidate: int = 0
    matched: int = 0

    @property
    def reference_found(self) -> float:
        """Fraction of the reference's boxes the candidate also has (1.0 when there are none)."""
        return self.matched / self.reference if self.reference else 1.0

    @property
    def candidate_confirmed(self) -> float:
        """Fraction of the candidate's boxes the reference also has (1.0 when there are none)."""
        return self.matched / self.candidate if self.candidate else 1.0

    def __add__(self, other: Agreement) -> Agreement:
        return Agreement(
            self.reference + other.reference,
            self.candidate + other.candidate,
            self.matched + other.matched,
        )


def agreement(
    reference: Sequence[Detection],
    candidate: Sequence[Detection],
    min_iou: float = MIN_IOU,
    class_name: str | None = None,
) -> Agreement:
    """Agreement on one frame, over every class or only ``class_name``."""
    if class_name is not None:
        reference = [d for d in reference if d.class_name == class_name]
        candidate = [d for d in candidate if d.class_name == class_name]
    matched = match_pairs(reference, candidate, min_iou)
    return Agreement(len(reference), len(candidate), len(matched))


def total_agreement(
    frames: Iterable[tuple[Sequence[Detection], Sequence[Detection]]],
    min_iou: float = MIN_IOU,
    class_name: str | None = None,
) -> Agreement:
    """Agreement summed over frames (reference detections, candidate detections)."""
    total = Agreement()
    for reference, candidate in frames:
        total = total + agreement(reference, candidate, min_iou, class_name)
    return total
