"""Checked reading of a tracker snapshot: its layout version, and the shared field readers.

The readers live in ``vigie_core.snapshots`` (the analytics state is read with the same ones);
they are re-exported here for the tracker's modules. See that module for why every field is
checked and named.
"""

from __future__ import annotations

from vigie_core.snapshots import (
    as_bool,
    as_float,
    as_floats,
    as_int,
    as_list,
    as_mapping,
    as_matrix,
    as_point,
    as_str,
    field,
    invalid,
)

__all__ = [
    "SNAPSHOT_VERSION",
    "as_bool",
    "as_float",
    "as_floats",
    "as_int",
    "as_list",
    "as_mapping",
    "as_matrix",
    "as_point",
    "as_str",
    "field",
    "invalid",
]

SNAPSHOT_VERSION = 1
"""Layout of ``CameraTracker.snapshot``. Bump it whenever a field changes meaning or a new
field is required to reproduce ``update``: a reader must refuse what it cannot replay exactly.

A key that only feeds a track's summary (speed, time in zones, colour votes) is added without a
bump, and read as empty when absent: a snapshot without it still resumes every identity exactly,
and only the summary's measurement restarts. Keeping the version lets releases before and after
the key read each other's snapshots during a rolling upgrade instead of refusing them and
starting the cameras afresh under new track ids.

``last_detected`` (the time of the last frame the model looked at, written only when the last
frame was carried) is added the same way: absent, it reads as ``last_time``, which is right for
every snapshot taken on a detected frame. A reader that ignores it resumes every identity and
differs only on the next detected frame, where tracks matched before the carried frames count
as lost; refusing the snapshot instead would cost the camera all its ids."""
