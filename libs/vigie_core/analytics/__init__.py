"""Scene rules over tracks: the event catalogue's track-based events, one analyser per camera."""

from vigie_core.analytics.analyzer import (
    DEFAULT_FORGET_AFTER_S,
    OBSERVED_STATES,
    SNAPSHOT_VERSION,
    SceneAnalyzer,
)

__all__ = ["DEFAULT_FORGET_AFTER_S", "OBSERVED_STATES", "SNAPSHOT_VERSION", "SceneAnalyzer"]
