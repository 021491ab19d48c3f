"""Analysers that need pixels (fire and smoke, aggregate emotion): they read frames, not tracks.

Each analyser is built per camera (its state is that camera's history) and answers one decoded
frame at a time with the events it raises on it. The analytics service runs them on
``vigie.frames.v1`` for the cameras whose policy enables them.
"""

from vigie_analytics.pixels.base import CameraImage, PixelAnalyser, PixelAnalyserFactory

__all__ = ["CameraImage", "PixelAnalyser", "PixelAnalyserFactory"]
