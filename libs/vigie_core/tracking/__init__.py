"""Multi-object tracking for one camera: Kalman prediction, IoU association, track lifecycle.

Pure: no I/O and no clock; time comes only from the frames' capture times.
"""

from vigie_core.tracking.tracker import CameraTracker, TrackerParams

__all__ = ["CameraTracker", "TrackerParams"]
