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
states as an ``(n, 8)`` array and their covariances as ``(n, 8, 8)``, one numpy call for all of
them instead of one per object. ``BoxKalmanFilter`` is the same filter for a single box.
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
# detections over its own prediction. People and vehicles turn and brake, so centre acceleration
# is generous; size and shape change slowly. Raising these makes the filter react faster to turns
# but extrapolate worse through missed frames.
_POSITION_ACCEL_STD = 1.0  # heights / s^2
_HEIGHT_ACCEL_STD = 0.5  # heights / s^2
_ASPECT_ACCEL_STD = 0.5  # aspects / s^2

# Initial uncertainty. A new track has no velocity yet: a wide prior lets the second detection
# set it almost entirely, whatever the interval between the two.
_POSITION_INIT_STD = 2 * _POSITION_MEASURE_STD  # x height
_VELOCITY_INIT_STD = 2.0  # heights / s
_SIZE_VELOCITY_INIT_STD = 0.5  # heights (or aspects) / s

# Per state component, which of (height, aspect) scales its noise.
_SCALED_BY_ASPECT = np.array([False, False, True, False])
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
_EYE8 = np.eye(_STATE_DIM)


# --- boxes <-> measurements ---------------------------------------------------------------------


def boxes_to_measurements(boxes: np.ndarray) -> np.ndarray:
    """``(n, 4)`` ``x1, y1, x2, y2`` boxes as ``[cx, cy, aspect, height]`` rows, sizes floored
    so aspect is always defined."""
    boxes = boxes.reshape(-1, 4)
    width = np.maximum(boxes[:, 2] - boxes[:, 0], MIN_SIZE)
    height = np.maximum(boxes[:, 3] - boxes[:, 1], MIN_SIZE)
    return np.stack(
        [
            (boxes[:, 0] + boxes[:, 2]) / 2.0,
            (boxes[:, 1] + boxes[:, 3]) / 2.0,
            width / height,
            height,
        ],
        axis=1,
    )


def states_to_boxes(states: np.ndarray) -> np.ndarray:
    """``(n, 4)`` ``x1, y1, x2, y2`` boxes of ``(n, >=4)`` states, clipped to the image: a
    prediction may run past the border, but every box the tracker publishes or matches lies
    inside the frame."""
    states = states.reshape(-1, states.shape[-1])
    half_h = states[:, _H] / 2.0
    half_w = states[:, _A] * half_h
    cx, cy = states[:, _CX], states[:, _CY]
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    return np.clip(boxes, 0.0, 1.0)


def box_to_measurement(box: Box) -> np.ndarray:
    """``[cx, cy, aspect, height]`` of one box."""
    return boxes_to_measurements(np.array([box.x1, box.y1, box.x2, box.y2], dtype=float))[0]


def measurement_to_box(measurement: np.ndarray) -> Box:
    """The clipped box of one ``[cx, cy, aspect, height, ...]`` vector."""
    x1, y1, x2, y2 = states_to_boxes(np.asarray(measurement, dtype=float))[0].tolist()
    return Box(x1, y1, x2, y2)


# --- the filter on stacks -----------------------------------------------------------------------


def _scales(states: np.ndarray) -> np.ndarray:
    """``(n, 4)``: the height for centre and height components, the aspect for the aspect."""
    return np.where(_SCALED_BY_ASPECT, states[:, _A : _A + 1], states[:, _H : _H + 1])


def initiate(measurements: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """States and covariances of new tracks: at the detection, at rest, with a wide velocity
    prior so the second detection sets the velocity almost entirely."""
    z = measurements.reshape(-1, _MEASURE_DIM)
    n = len(z)
    mean = np.concatenate([z, np.zeros((n, _MEASURE_DIM))], axis=1)
    scale = np.tile(_scales(z), 2)
    cov = np.zeros((n, _STATE_DIM, _STATE_DIM))
    diag = np.arange(_STATE_DIM)
    cov[:, diag, diag] = (_INIT_STD * scale) ** 2
    return mean, cov


def predict(mean: np.ndarray, cov: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """States and covariances ``dt`` seconds later (new arrays; ``dt == 0`` returns copies).

    Constant velocity, with continuous white-noise acceleration as process noise: exact for any
    interval, so an irregular stream is handled as well as a regular one.
    """
    if dt < 0:
        raise ValueError(f"cannot predict backwards in time (dt={dt})")
    mean = mean.copy()
    if dt == 0 or len(mean) == 0:
        return mean, cov.copy()
    density = (_ACCEL_STD * _scales(mean)) ** 2  # (n, 4)
    mean[:, :_MEASURE_DIM] += dt * mean[:, _MEASURE_DIM:]
    transition = _EYE8.copy()
    transition[_DIAG4, _DIAG4 + _MEASURE_DIM] = dt
    cov = transition @ cov @ transition.T
    position, velocity = _DIAG4, _DIAG4 + _MEASURE_DIM
    cov[:, position, position] += density * (dt**3 / 3.0)
    cov[:, position, velocity] += density * (dt**2 / 2.0)
    cov[:, velocity, position] += density * (dt**2 / 2.0)
    cov[:, velocity, velocity] += density * dt
    _keep_size_positive(mean)
    return mean, cov


def update(
    mean: np.ndarray, cov: np.ndarray, measurements: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """States and covariances corrected by one matched measurement each (new arrays).

    Joseph form, to stay symmetric and positive definite over long tracks. The measurement
    noise follows the predicted size, so a large close object is allowed a larger jitter.
    """
    if len(mean) == 0:
        return mean.copy(), cov.copy()
    r_diag = (_MEASURE_STD * _scales(mean)) ** 2  # (n, 4)
    innovation_cov = cov[:, :_MEASURE_DIM, :_MEASURE_DIM].copy()
    innovation_cov[:, _DIAG4, _DIAG4] += r_diag
    # K = P H^T S^-1, solved rather than inverted; S and P are symmetric.
    gain = np.linalg.solve(innovation_cov, cov[:, :_MEASURE_DIM, :]).transpose(0, 2, 1)
    innovation = measurements.reshape(-1, _MEASURE_DIM) - mean[:, :_MEASURE_DIM]
    mean = mean + (gain @ innovation[:, :, None])[:, :, 0]
    i_kh = np.broadcast_to(_EYE8, cov.shape).copy()
    i_kh[:, :, :_MEASURE_DIM] -= gain
    noise = (gain * r_diag[:, None, :]) @ gain.transpose(0, 2, 1)
    cov = i_kh @ cov @ i_kh.transpose(0, 2, 1) + noise
    cov = (cov + cov.transpose(0, 2, 1)) / 2.0
    _keep_size_positive(mean)
    return mean, cov


def _keep_size_positive(mean: np.ndarray) -> None:
    """A box shrinking through a long gap would extrapolate to a negative size; stop it at the
    floor and drop its shrink rate instead (in place)."""
    for index in (_A, _H):
        small = mean[:, index] < MIN_SIZE
        if small.any():
            mean[small, index] = MIN_SIZE
            mean[small, _MEASURE_DIM + index] = 0.0


def check_state(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``mean`` and ``cov`` as float arrays if this filter could have reached them.

    Raises ``ValueError`` for a stored estimate that is not one (wrong shape, non-finite, sizes
    below the floor, a covariance that is not symmetric or has a negative variance): a stored
    copy is untrusted and a bad one would poison every later prediction.
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
    # Prediction is not symmetrised, so a genuine covariance may differ from its transpose in
    # the last bits; anything beyond rounding means the numbers are not a covariance.
    if not np.allclose(cov, cov.T, rtol=0.0, atol=1e-9 * max(1.0, float(np.abs(cov).max()))):
        raise ValueError("covariance is not symmetric")
    return mean, cov


# --- one box ------------------------------------------------------------------------------------


class BoxKalmanFilter:
    """Tracks one box: ``predict`` to a later time, ``update`` with the detection matched there.
    The same arithmetic as the stacked functions, on a stack of one."""

    __slots__ = ("_cov", "_mean")

    def __init__(self, box: Box) -> None:
        """Starts at the detection, at rest, with a wide velocity prior."""
        mean, cov = initiate(box_to_measurement(box))
        self._mean, self._cov = mean[0], cov[0]

    @classmethod
    def from_state(cls, mean: np.ndarray, covariance: np.ndarray) -> BoxKalmanFilter:
        """A filter resumed at a stored estimate, e.g. after a restart: predicting and updating
        it goes on exactly as the filter that produced the estimate would have. Raises
        ``ValueError`` for an estimate it could never have reached (see ``check_state``)."""
        kf = cls.__new__(cls)
        kf._mean, kf._cov = check_state(mean, covariance)
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
        """A copy of the state covariance."""
        return self._cov.copy()

    @property
    def velocity(self) -> tuple[float, float]:
        """Box-centre velocity, normalised units per second."""
        return (float(self._mean[_MEASURE_DIM + _CX]), float(self._mean[_MEASURE_DIM + _CY]))

    def predict(self, dt: float) -> None:
        """Moves the estimate ``dt`` seconds ahead; ``dt == 0`` leaves it unchanged."""
        mean, cov = predict(self._mean[None], self._cov[None], dt)
        self._mean, self._cov = mean[0], cov[0]

    def update(self, box: Box) -> None:
        """Corrects the estimate with a matched detection."""
        mean, cov = update(self._mean[None], self._cov[None], box_to_measurement(box))
        self._mean, self._cov = mean[0], cov[0]
