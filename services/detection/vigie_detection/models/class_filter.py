"""Which classes each camera reports.

A car park camera cares about vehicles, a pedestrian street about people. The model runs once
per frame whatever the camera; the per-camera choice is applied to its detections. Since NMS is
per class, dropping classes after detection gives exactly what detecting with fewer classes
would, so one detector serves every camera.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vigie_core.types import Detection


class CameraClassFilter:
    """Classes kept per camera; cameras without their own list use ``default``.

    ``default=None`` keeps every class the detector reports. Unknown class names are refused
    at construction, since a misspelt one ("motorcycle" for COCO's "motorbike") would silently
    drop everything of that kind.
    """

    def __init__(
        self,
        known: Iterable[str],
        default: Iterable[str] | None = None,
        per_camera: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self._known = frozenset(known)
        self._default = self._checked("default", default) if default is not None else None
        self._per_camera = {
            camera: self._checked(f"camera {camera}", classes)
            for camera, classes in (per_camera or {}).items()
        }

    def _checked(self, whose: str, classes: Iterable[str]) -> frozenset[str]:
        wanted = frozenset(classes)
        unknown = sorted(wanted - self._known)
        if unknown:
            raise ValueError(
                f"unknown class names {unknown} for {whose}; the model knows "
                f"{', '.join(sorted(self._known))}"
            )
        return wanted

    def classes_for(self, camera_id: str) -> frozenset[str] | None:
        """The classes kept for this camera (None: all)."""
        return self._per_camera.get(camera_id, self._default)

    def apply(self, camera_id: str, detections: tuple[Detection, ...]) -> tuple[Detection, ...]:
        keep = self.classes_for(camera_id)
        if keep is None:
            return detections
        return tuple(d for d in detections if d.class_name in keep)
