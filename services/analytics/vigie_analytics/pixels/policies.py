"""Which pixel analysers run on which cameras: each is off unless its settings list the camera."""

from __future__ import annotations

from vigie_analytics.pixels.emotion import emotion_analyser_factory
from vigie_analytics.pixels.fire import fire_analyser_factory
from vigie_analytics.pixels.handler import PixelPolicy
from vigie_analytics.settings import AnalyticsSettings


def pixel_policies(settings: AnalyticsSettings) -> list[PixelPolicy]:
    """The analysers enabled by ``settings``, each with the cameras it is enabled for."""
    policies = []
    if settings.fire.enabled_cameras:
        cameras = frozenset(settings.fire.enabled_cameras)
        policies.append(PixelPolicy("fire", cameras, fire_analyser_factory(settings.fire)))
    if settings.emotion.enabled_cameras:
        cameras = frozenset(settings.emotion.enabled_cameras)
        factory = emotion_analyser_factory(settings.emotion)
        policies.append(PixelPolicy("emotion", cameras, factory))
    return policies
