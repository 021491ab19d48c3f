"""A constant-velocity Kalman filter over boxes, driven by real elapsed seconds.

The state is ``[cx, cy, a, h, vcx, vcy, va, vh]``: box centre, aspect (width / height), height,
and their rates of change per second. Height and aspect are kept apart (rather than area) so a
person stepping closer to the camera changes one number, not two coupled ones.

Cameras drop frames and streams jitter, so the filter never assumes a frame rate: ``predict``
takes the real ``dt`` and the process noise follows the continuous white-noise-acceleration
model, whose uncertainty grows with ``dt`` (two predictions of ``dt/2`` give the same covariance
as one of ``dt``). Noise levels are relative to the box height so the same tuning works for a
close pedestrian and a distant car, in normalised coordinates.

A camera tracks tens to hundreds of objects at once, so the arithmetic works on stacks: ``n``
states as an ``(n, 8)`` array and their covariances in block form (below), a few numpy calls
for all of them instead of matrix algebra per object. ``BoxKalmanFilter`` is the same filter
for a single box.
"""

from __future__ import annotations

import numpy as np

from vigie_core.types import Box

_STATE_DIM = 8
_MEASURE_DIM = 4
STATE_DIM = _STATE_DIM  # for callers that store and restore the state
MEASURE_DIM = _MEASURE_DIM
_CX, _CY, _A, _H = 0, 1, 2, 3

# Smallest width, height or aspect the filter accepts: keeps degenerate detections and boxes
# that shrink while extrapolated from dividing by zero or turning inside out.
MIN_SIZE = 1e-6

# Measurement noise: how far a detector's box wanders around the object from frame to frame.
# Centre and height jitter about 5 % of the height; aspect about 10 % of itself. Lower values make
# tracks follow detections more tightly (and their jitter); higher values smooth but lag.
_POSITION_MEASURE_STD = 0.05  # x height
_HEIGHT_MEASURE_STD = 0.05  # x height
_ASPECT_MEASURE_STD = 0.10  # x aspect

# Process noise: the acceleration (per second squared) the model tolerates before it trusts new
# detections over its own prediction. Raising these makes the filter react faster to turns but
# lets detector jitter into the velocity, so predictions through missed frames go astray; the
# gaps are where identities are lost. A walker speeds up or turns at about half a body height
# per second squared; size and shape hardly accelerate at all, and a height velocity learnt
# from jitter shrinks or swells a coasting box until nothing overlaps it. On the MOT15
# evaluation, halving the centre value from 1.0 and cutting size and shape from 0.5 to 0.1
# took IDF1 from 48.1 to 51.7 (MOTA 41.8 to 42.1; in-sample, chosen on those same sequences,
# with the former 0.9 confidence thresholds); going down to 0.25 for the centre helps
# static cameras further but loses objects whose apparent motion changes fast, as seen from a
# moving vehicle.
_POSITION_ACCEL_STD = 0.5  # heights / s^2
_HEIGHT_ACCEL_STD = 0.1  # heights / s^2
_ASPECT_ACCEL_STD = 0.1  # aspects / s^2

# Initial uncertainty. A new track has no velocity yet: a wide prior lets the second detection
# set it almost entirely, whatever the interval between the two.
_POSITION_INIT_STD = 2 * _POSITION_MEASURE_STD  # x height
_VELOCITY_INIT_STD = 2.0  # heights / s
_SIZE_VELOCITY_INIT_STD = 0.5  # heights (or aspects) / s

# Per measured quantity, the one that scales its noise: height for centre and height, aspect
# for aspect.
_SCALE_OF = np.array([_H, _H, _A, _H])
_ACCEL_STD = np.array(
    [_POSITION_ACCEL_STD, _POSITION_ACCEL_STD, _ASPECT_ACCEL_STD, _HEIGHT_ACCEL_STD]
)
_MEASURE_STD = np.array(
    [_POSITION_MEASURE_STD, _POSITION_MEASURE_STD, _ASPECT_MEASURE_STD, _HEIGHT_MEASURE_STD]
)
_INIT_STD = np.array(
    [
        _POSITION_INIT_STD,
        _POSITION_INIT_STD,
        2 * _ASPECT_MEASURE_STD,
        2 * _HEIGHT_MEASURE_STD,
        _VELOCITY_INIT_STD,
        _VELOCITY_INIT_STD,
        _SIZE_VELOCITY_INIT_STD,
        _SIZE_VELOCITY_INIT_STD,
    ]
)
_DIAG4 = np.arange(_MEASURE_DIM)


# --- boxes <-> measurements ---------------------------------------------------------------------


def boxes_to_measurements(boxes: np.ndarray) -> np.ndarray:
    """``(n, 4)`` ``x1, y1, x2, y2`` boxes as ``[cx, cy, aspect, height]`` rows, sizes floored
    so aspect is always defined."""
    boxes = boxes.reshape(-1, 4)
    out = np.empty_like(boxes, dtype=float)
    out[:, :2] = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    height = np.maximum(boxes[:, 3] - boxes[:, 1], MIN_SIZE)
    out[:, _A] = np.maximum(boxes[:, 2] - boxes[:, 0], MIN_SIZE) / height
    out[:, _H] = height
    return out


# [cx, cy, w, h] @ _CORNERS = [x1, y1, x2, y2]
_CORNERS = np.array(
    [[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], [-0.5, 0.0, 0.5, 0.0], [0.0, -0.5, 0.0, 0.5]]
)


def states_to_boxes(states: np.ndarray) -> np.ndarray:
    """``(n, 4)`` ``x1, y1, x2, y2`` boxes of ``(n, >=4)`` states, clipped to the image: a
    prediction may run past the border, but every box the tracker publishes or matches lies
    inside the frame."""
    centre_size = states.reshape(-1, states.shape[-1])[:, :_MEASURE_DIM].copy()
    centre_size[:, _A] *= centre_size[:, _H]  # aspect x height = width
    boxes = centre_size @ _CORNERS
    np.maximum(boxes, 0.0, out=boxes)
    return np.minimum(boxes, 1.0, out=boxes)


def box_to_measurement(box: Box) -> np.ndarray:
    """``[cx, cy, aspect, height]`` of one box."""
    return boxes_to_measurements(np.array([box.x1, box.y1, box.x2, box.y2], dtype=float))[0]


def measurement_to_box(measurement: np.ndarray) -> Box:
    """The clipped box of one ``[cx, cy, aspect, height, ...]`` vector."""
    x1, y1, x2, y2 = states_to_boxes(np.asarray(measurement, dtype=float))[0].tolist()
    return Box(x1, y1, x2, y2)


# --- the filter on stacks -----------------------------------------------------------------------
#
# The transition couples each quantity only with its own rate, and the process noise, the
# measurement noise and the observation (the four quantities, directly) are diagonal: the 8x8
# covariance is four independent 2x2 blocks, one per quantity, and every other entry stays
# exactly zero. So each track stores, per quantity, the three numbers of its block,
# ``(n, 3, 4)``: ``[PP]`` the variance of the value, ``[PV]`` the covariance of value and rate,
# ``[VV]`` the variance of the rate. Prediction and correction are then a few numpy calls on
# ``(n, 3, 4)`` and ``(n, 4)`` arrays for any number of tracks, with no 8x8 product or solve.

PP, PV, VV = 0, 1, 2


def _scales(states: np.ndarray) -> np.ndarray:
    """``(n, 4)``: the height for centre and height components, the aspect for the aspect."""
    return states[:, _SCALE_OF]


def initiate(measurements: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """States and block covariances of new tracks: at the detection, at rest, with a wide
    velocity prior so the second detection sets the velocity almost entirely."""
    z = measurements.reshape(-1, _MEASURE_DIM)
    n = len(z)
    mean = np.concatenate([z, np.zeros((n, _MEASURE_DIM))], axis=1)
    scale = _scales(z)
    blocks = np.zeros((n, 3, _MEASURE_DIM))
    blocks[:, PP] = (_INIT_STD[:_MEASURE_DIM] * scale) ** 2
    blocks[:, VV] = (_INIT_STD[_MEASURE_DIM:] * scale) ** 2
    return mean, blocks


def predict(mean: np.ndarray, blocks: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """States and block covariances ``dt`` seconds later (new arrays; ``dt == 0`` returns
    copies).

    Constant velocity, with continuous white-noise acceleration as process noise: exact for any
    interval, so an irregular stream is handled as well as a regular one. In block form the
    covariance update ``F P F' + Q`` is linear in ``(PP, PV, VV)``: one 3x3 matrix applied to
    every block at once, plus the noise.
    """
    if dt < 0:
        raise ValueError(f"cannot predict backwards in time (dt={dt})")
    mean = mean.copy()
    if dt == 0 or len(mean) == 0:
        return mean, blocks.copy()
    density = (_ACCEL_STD * _scales(mean)) ** 2  # (n, 4)
    mean[:, :_MEASURE_DIM] += dt * mean[:, _MEASURE_DIM:]
    transition = np.array([[1.0, 2.0 * dt, dt * dt], [0.0, 1.0, dt], [0.0, 0.0, 1.0]])
    noise = np.array([[dt**3 / 3.0], [dt**2 / 2.0], [dt]])  # (3, 1)
    out = transition @ blocks
    out += noise * density[:, None, :]
    _keep_size_positive(mean)
    return mean, out


def update(
    mean: np.ndarray, blocks: np.ndarray, measurements: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """States and block covariances corrected by one matched measurement each (new arrays).

    Per quantity this is the scalar Kalman correction; the block stays positive semi-definite
    by construction (its determinant is scaled by ``r / s``). The measurement noise follows
    the predicted size, so a large close object is allowed a larger jitter.
    """
    n = len(mean)
    if n == 0:
        return mean.copy(), blocks.copy()
    noise = (_MEASURE_STD * _scales(mean)) ** 2  # (n, 4)
    innovation_var = blocks[:, PP] + noise
    gain = blocks[:, :VV] / innovation_var[:, None, :]  # (n, 2, 4): value and rate gains
    innovation = measurements.reshape(-1, _MEASURE_DIM) - mean[:, :_MEASURE_DIM]
    mean = mean + (gain * innovation[:, None, :]).reshape(n, _STATE_DIM)
    out = np.empty_like(blocks)
    out[:, :VV] = blocks[:, :VV] * (noise / innovation_var)[:, None, :]  # x (1 - value gain)
    out[:, VV] = blocks[:, VV] - gain[:, 1] * blocks[:, PV]
    _keep_size_positive(mean)
    return mean, out


def _keep_size_positive(mean: np.ndarray) -> None:
    """A box shrinking through a long gap would extrapolate to a negative size; stop it at the
    floor and drop its shrink rate instead (in place)."""
    small = mean[:, _A : _H + 1] < MIN_SIZE
    if small.any():
        for offset, index in enumerate((_A, _H)):
            rows = small[:, offset]
            mean[rows, index] = MIN_SIZE
            mean[rows, _MEASURE_DIM + index] = 0.0


def blocks_to_covariance(blocks: np.ndarray) -> np.ndarray:
    """The full 8x8 covariance of one track's ``(3, 4)`` blocks (zeros between quantities)."""
    cov = np.zeros((_STATE_DIM, _STATE_DIM))
    position, rate = _DIAG4, _DIAG4 + _MEASURE_DIM
    cov[position, position] = blocks[PP]
    cov[position, rate] = blocks[PV]
    cov[rate, position] = blocks[PV]
    cov[rate, rate] = blocks[VV]
    return cov


def covariance_to_blocks(cov: np.ndarray) -> np.ndarray:
    """One track's ``(3, 4)`` blocks from its 8x8 covariance (taken as symmetric: the rate
    and value covariance is the mean of its two mirrored entries)."""
    position, rate = _DIAG4, _DIAG4 + _MEASURE_DIM
    return np.stack(
        [
            cov[position, position],
            (cov[position, rate] + cov[rate, position]) / 2.0,
            cov[rate, rate],
        ]
    )


_BLOCK_MASK = blocks_to_covariance(np.ones((3, _MEASURE_DIM))) > 0


def check_state(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``mean`` and the blocks of ``cov`` (8x8) if this filter could have reached them.

    Raises ``ValueError`` for a stored estimate that is not one (wrong shape, non-finite, sizes
    below the floor, a covariance that is not symmetric, has a negative variance or couples
    two different quantities): a stored copy is untrusted and a bad one would poison every
    later prediction.
    """
    mean = np.array(mean, dtype=float)
    cov = np.array(cov, dtype=float)
    if mean.shape != (_STATE_DIM,):
        raise ValueError(f"state must have {_STATE_DIM} values, got shape {mean.shape}")
    if cov.shape != (_STATE_DIM, _STATE_DIM):
        raise ValueError(f"covariance must be {_STATE_DIM}x{_STATE_DIM}, got shape {cov.shape}")
    if not (np.isfinite(mean).all() and np.isfinite(cov).all()):
        raise ValueError("state and covariance must be finite")
    if mean[_A] < MIN_SIZE or mean[_H] < MIN_SIZE:
        raise ValueError(f"aspect and height must be at least {MIN_SIZE}")
    if (np.diag(cov) < 0).any():
        raise ValueError("covariance has a negative variance")
    # Anything beyond rounding means the numbers are not a covariance of this filter.
    tolerance = 1e-9 * max(1.0, float(np.abs(cov).max()))
    if not np.allclose(cov, cov.T, rtol=0.0, atol=tolerance):
        raise ValueError("covariance is not symmetric")
    if (np.abs(cov[~_BLOCK_MASK]) > tolerance).any():
        raise ValueError("covariance couples different quantities, which this filter never does")
    return mean, covariance_to_blocks(cov)


# --- one box ------------------------------------------------------------------------------------


class BoxKalmanFilter:
    """Tracks one box: ``predict`` to a later time, ``update`` with the detection matched there.
    The same arithmetic as the stacked functions, on a stack of one."""

    __slots__ = ("_blocks", "_mean")

    def __init__(self, box: Box) -> None:
        """Starts at the detection, at rest, with a wide velocity prior."""
        mean, blocks = initiate(box_to_measurement(box))
        self._mean, self._blocks = mean[0], blocks[0]

    @classmethod
    def from_state(cls, mean: np.ndarray, covariance: np.ndarray) -> BoxKalmanFilter:
        """A filter resumed at a stored estimate, e.g. after a restart: predicting and updating
        it goes on exactly as the filter that produced the estimate would have. Raises
        ``ValueError`` for an estimate it could never have reached (see ``check_state``)."""
        kf = cls.__new__(cls)
        kf._mean, kf._blocks = check_state(mean, covariance)
        return kf

    @property
    def box(self) -> Box:
        """The current estimate as a box clipped to the image."""
        return measurement_to_box(self._mean)

    @property
    def state(self) -> np.ndarray:
        """A copy of ``[cx, cy, a, h, vcx, vcy, va, vh]``."""
        return self._mean.copy()

    @property
    def covariance(self) -> np.ndarray:
        """The state covariance, 8x8."""
        return blocks_to_covariance(self._blocks)

    @property
    def velocity(self) -> tuple[float, float]:
        """Box-centre velocity, normalised units per second."""
        return (float(self._mean[_MEASURE_DIM + _CX]), float(self._mean[_MEASURE_DIM + _CY]))

    def predict(self, dt: float) -> None:
        """Moves the estimate ``dt`` seconds ahead; ``dt == 0`` leaves it unchanged."""
        mean, blocks = predict(self._mean[None], self._blocks[None], dt)
        self._mean, self._blocks = mean[0], blocks[0]

    def update(self, box: Box) -> None:
        """Corrects the estimate with a matched detection."""
        mean, blocks = update(self._mean[None], self._blocks[None], box_to_measurement(box))
        self._mean, self._blocks = mean[0], blocks[0]
