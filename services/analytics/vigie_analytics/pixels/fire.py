"""Fire and smoke starting, from the pixels of one camera.

Flame colour alone is everywhere in a city (brick, autumn leaves, an orange coat, a sunset on a
window: up to a third of some street photos here), so a flame must also *flicker*: the brightness
of its pixels varies from frame to frame over the last second (flames flutter at several Hz; a
wall, a parked red car or a photo does not). And a flame stays where it burns: only the pixels
that looked like flame in nearly every frame of that second are measured. A red car driving
through makes each pixel it crosses flame-coloured for a moment, and its brightness changes as
the car passes, which alone read as flicker (a false fire on the junction clip, before).
Smoke is greyish, differs from the slowly learnt background and blurs the texture behind it
(off by default: see ``FireSettings.smoke``). Each condition goes through the persistence rule
(``vigie_core.persistence``) before an event is raised, so nothing shorter than
``FireSettings.min_evidence_s`` (2.4 s by default) can be signalled: a shorter sighting is logged
as too short to decide, and ``FireAnalyser.undecided`` tells what is still under way
(``vigie_analytics.pixels.evidence``).

A trained detector can take the colour rule's place: give ``FireSettings.model`` as
``package.module:factory``; the factory returns a :class:`FireModel`, whose boxes then decide
what is fire or smoke on each frame (flicker is not required of a trained model). No such model
ships with Vigie.
"""

from __future__ import annotations

import importlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np
from prometheus_client import Counter
from pydantic import Field

from vigie_analytics.pixels.base import CameraImage, PixelAnalyser, PixelAnalyserFactory
from vigie_analytics.pixels.evidence import Sighting, SightingWatch
from vigie_analytics.pixels.fire_colour import (
    bounding_box,
    flame_mask,
    local_texture,
    smoke_mask,
    work_image,
)
from vigie_core.analytics.explain import fmt, make_event
from vigie_core.persistence import Persistence, PersistenceSpec
from vigie_core.scene import SceneSpec
from vigie_core.types import Event, EventKind
from vigie_runtime import metrics
from vigie_runtime.settings import StrictModel

log = logging.getLogger(__name__)

UNDECIDED = Counter(
    "vigie_pixel_undecided_total",
    "Fire or smoke seen too briefly to decide (shorter than the persistence rule needs),"
    " by camera and kind: sightings a dashboard should show, since no event says them",
    ["camera", "kind"],
)

Label = Literal["fire", "smoke"]


@dataclass(frozen=True, slots=True)
class FireBox:
    """One region a trained model found: normalised box, score in 0..1, and what it is."""

    box: tuple[float, float, float, float]
    score: float
    label: Label


class FireModel(Protocol):
    """A trained fire/smoke detector plugged in through ``FireSettings.model``."""

    def find(self, image_bgr: np.ndarray) -> Sequence[FireBox]: ...


class FireSettings(StrictModel):
    """Off unless a camera is listed: it costs a few milliseconds per frame."""

    enabled_cameras: list[str] = Field(default_factory=list)
    # Share of the frame that must look like flame / smoke.
    min_flame_fraction: float = Field(0.005, gt=0, lt=1)
    min_smoke_fraction: float = Field(0.02, gt=0, lt=1)
    # Mean frame-to-frame brightness deviation (grey levels) of flame pixels over flicker_s.
    min_flicker: float = Field(5.0, gt=0)
    flicker_s: float = Field(1.0, gt=0)
    # Share of the frames of flicker_s in which a pixel must look like flame for its flicker to
    # count: a flame stays in place, something flame-coloured moving through does not.
    min_steadiness: float = Field(0.9, gt=0, le=1)
    persist_s: float = Field(3.0, gt=0)
    min_share: float = Field(0.8, gt=0, le=1)
    clear_s: float = Field(30.0, ge=0)
    # Off by default: the colour rule for smoke is experimental (on the sample clips it took a
    # person in grey clothes and the bare wall behind a removed bottle for smoke). A trained
    # model (below) is the way to detect smoke in production.
    smoke: bool = False
    # Seconds for the smoke background to follow a lasting change of the scene.
    background_s: float = Field(20.0, gt=0)
    # `package.module:factory` returning a FireModel; its scores above model_min_score count.
    model: str | None = None
    model_min_score: float = Field(0.5, gt=0, lt=1)

    def persistence(self) -> PersistenceSpec:
        return PersistenceSpec(self.persist_s, self.min_share, self.clear_s)

    @property
    def min_evidence_s(self) -> float:
        """The shortest sighting that can be signalled at a steady frame rate: the condition
        on ``min_share`` of the frames of ``persist_s``. Fire or smoke seen for less (a short
        clip, a camera that stops) is reported as too short to decide, never raised."""
        return self.persist_s * self.min_share

    def sighting_watch(self, kind: EventKind) -> SightingWatch:
        """A sighting survives the gaps one persistence window forgives, and no longer."""
        return SightingWatch(kind, self.min_evidence_s, self.persist_s * (1 - self.min_share))


@dataclass(frozen=True, slots=True)
class Reading:
    """What one frame showed: the region, how much of the frame, and its measure."""

    on: bool
    fraction: float
    measure: float
    box: tuple[float, float, float, float] | None


class FireAnalyser:
    def __init__(
        self,
        camera_id: str,
        scene: SceneSpec | None,
        settings: FireSettings,
        model: FireModel | None,
    ) -> None:
        self.camera_id, self.scene, self.settings, self.model = camera_id, scene, settings, model
        self._fire = Persistence(settings.persistence())
        self._smoke = Persistence(settings.persistence())
        self._sightings = {
            kind: settings.sighting_watch(kind) for kind in (EventKind.FIRE, EventKind.SMOKE)
        }
        # (time, brightness, flame mask) of the frames of the last flicker_s
        self._brightness: deque[tuple[float, np.ndarray, np.ndarray]] = deque()
        self._background: np.ndarray | None = None
        self._background_texture: np.ndarray | None = None
        self._last_t: float | None = None

    def analyse(self, image: CameraImage) -> Sequence[Event]:
        t = image.frame.captured_at
        if self.model is not None:
            fire, smoke = self._model_readings(image.image_bgr)
        else:
            work = work_image(image.image_bgr)
            fire = self._flame_reading(work, t)
            smoke = self._smoke_reading(work, t) if self.settings.smoke else None
        events = []
        for kind, reading, persistence in (
            (EventKind.FIRE, fire, self._fire),
            (EventKind.SMOKE, smoke, self._smoke),
        ):
            if reading is None:
                continue
            persisted = persistence.update(t, reading.on)
            if persisted is not None:
                events.append(
                    self._event(kind, image, reading, persisted.share, persisted.duration_s)
                )
            self._follow_sighting(kind, t, reading.on, persistence.raised)
        self._last_t = t
        return events

    def undecided(self) -> tuple[Sighting, ...]:
        """Sightings under way and not signalled: what a replay that ends now leaves
        undecided, each with how long it was seen and how long it needed."""
        return tuple(w.current for w in self._sightings.values() if w.current is not None)

    def _follow_sighting(self, kind: EventKind, t: float, on: bool, raised: bool) -> None:
        """Log where a sighting starts (debug) and where one lapses unsignalled (info)."""
        watch = self._sightings[kind]
        new = watch.current is None
        lapsed = watch.update(t, on, raised)
        if lapsed is not None:
            self._report_undecided(lapsed)
        elif new and watch.current is not None:
            log.debug(
                "%s seen: signalled only if it lasts %.1f s",
                kind.value,
                watch.needed_s,
                extra={"camera": self.camera_id, "kind": kind.value, "first_seen": t},
            )

    def _report_undecided(self, sighting: Sighting) -> None:
        camera = metrics.camera_label("analytics", self.camera_id)
        UNDECIDED.labels(camera, sighting.kind.value).inc()
        log.info(
            "%s seen too briefly to decide",
            sighting.kind.value,
            extra={
                "camera": self.camera_id,
                "kind": sighting.kind.value,
                "first_seen": round(sighting.first_seen, 3),
                "seen_s": round(sighting.seen_s, 3),
                "needed_s": round(sighting.needed_s, 3),
                "frames_on": sighting.frames_on,
                "frames": sighting.frames,
            },
        )

    # -- readings ----------------------------------------------------------------------------

    def _flame_reading(self, work: np.ndarray, t: float) -> Reading:
        mask = flame_mask(work)
        value = cv2.cvtColor(work, cv2.COLOR_BGR2HSV)[..., 2].astype(np.float32)
        self._brightness.append((t, value, mask))
        while t - self._brightness[0][0] > self.settings.flicker_s:
            self._brightness.popleft()
        fraction = float(mask.mean())
        flicker = 0.0
        enough_history = t - self._brightness[0][0] >= self.settings.flicker_s * 0.5
        if mask.any() and enough_history and len(self._brightness) >= 3:
            flame_share = np.stack([m for _, _, m in self._brightness]).mean(axis=0)
            steady = mask & (flame_share >= self.settings.min_steadiness)
            if steady.any():
                stack = np.stack([v for _, v, _ in self._brightness])
                flicker = float(stack.std(axis=0)[steady].mean())
        on = fraction >= self.settings.min_flame_fraction and flicker >= self.settings.min_flicker
        return Reading(on, fraction, flicker, bounding_box(mask))

    def _smoke_reading(self, work: np.ndarray, t: float) -> Reading:
        grey = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY).astype(np.float32)
        texture = local_texture(grey)
        if self._background is None or self._background_texture is None:
            self._background, self._background_texture = grey, texture
            return Reading(False, 0.0, 0.0, None)
        mask = smoke_mask(work, self._background, self._background_texture)
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        alpha = 1.0 - float(np.exp(-dt / self.settings.background_s))
        self._background += alpha * (grey - self._background)
        self._background_texture += alpha * (texture - self._background_texture)
        fraction = float(mask.mean())
        return Reading(
            fraction >= self.settings.min_smoke_fraction, fraction, fraction, bounding_box(mask)
        )

    def _model_readings(self, image_bgr: np.ndarray) -> tuple[Reading, Reading]:
        assert self.model is not None
        found = [b for b in self.model.find(image_bgr) if b.score >= self.settings.model_min_score]
        readings = []
        for label in ("fire", "smoke"):
            boxes = [b for b in found if b.label == label]
            if not boxes:
                readings.append(Reading(False, 0.0, 0.0, None))
                continue
            best = max(boxes, key=lambda b: b.score)
            area = sum((b.box[2] - b.box[0]) * (b.box[3] - b.box[1]) for b in boxes)
            readings.append(Reading(True, min(1.0, area), best.score, best.box))
        return readings[0], readings[1]

    # -- events ------------------------------------------------------------------------------

    def _event(
        self, kind: EventKind, image: CameraImage, reading: Reading, share: float, span: float
    ) -> Event:
        fire = kind is EventKind.FIRE
        details = {
            "fraction": fmt(reading.fraction),
            "min_fraction": fmt(
                self.settings.min_flame_fraction if fire else self.settings.min_smoke_fraction
            ),
            "share_of_frames": fmt(share),
            "min_share": fmt(self.settings.min_share),
            "duration_s": fmt(span),
            "persist_s": fmt(self.settings.persist_s),
            "source": "model" if self.model is not None else "colour",
        }
        if self.model is not None:
            details["score"] = fmt(reading.measure)
        elif fire:
            details["flicker"] = fmt(reading.measure)
            details["min_flicker"] = fmt(self.settings.min_flicker)
        if reading.box is not None:
            details["box"] = ",".join(fmt(v) for v in reading.box)
        return make_event(kind, image.frame, self._zone_of(reading.box), details=details)

    def _zone_of(self, box: tuple[float, float, float, float] | None) -> str:
        """The zone holding the region's centre; empty (the whole frame) when none does."""
        if box is None or self.scene is None:
            return ""
        centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        return next((z.name for z in self.scene.zones if z.polygon.contains(centre)), "")


def load_model(reference: str) -> FireModel:
    """``package.module:factory`` -> the model the factory builds; a clear error otherwise."""
    module_name, _, factory_name = reference.partition(":")
    if not module_name or not factory_name:
        raise ValueError(f"fire model {reference!r} must read package.module:factory")
    factory: Callable[[], FireModel] = getattr(importlib.import_module(module_name), factory_name)
    return factory()


def fire_analyser_factory(settings: FireSettings) -> PixelAnalyserFactory:
    model = load_model(settings.model) if settings.model else None

    def build(camera_id: str, scene: SceneSpec | None) -> PixelAnalyser:
        if camera_id not in settings.enabled_cameras:
            raise ValueError(f"fire analysis is not enabled for camera {camera_id!r}")
        return FireAnalyser(camera_id, scene, settings, model)

    return build
