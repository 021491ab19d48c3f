"""A constant-velocity Kalman filter over one box, driven by real elapsed seconds.

The state is ``[cx, cy, a, h, vcx, vcy, va, vh]``: box centre, aspect (width / height), height,
and their rates of change per second. Height and aspect are kept apart (rather than area) so a
person stepping closer to the camera changes one number, not two coupled ones.

Cameras drop frames and streams jitter, so the filter never assumes a frame rate: ``predict``
takes the real ``dt`` and the process noise follows the continuous white-noise-acceleration
model, whose uncertainty grows with ``dt`` (two predictions of ``dt/2`` give the same covariance
as one of ``dt``). Noise levels are relative to the box height so the same tuning works for a
close pedestrian and a distant car, in normalised coordinates.
"""

from __future__ import annotations

import numpy as np

from vigie_core.types import Box

_STATE_DIM = 8
_MEASURE_DIM = 4
STATE_DIM = _STATE_DIM  # for callers that store and restore the state
_CX, _CY, _A, _H = 0, 1, 2, 3

# Smallest width, height or aspect the filter accepts: keeps degenerate detections and boxes
# that shrink while extrapolated from dividing by zero or turning inside out.
_MIN_SIZE = 1e-6

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

_OBSERVATION = np.eye(_MEASURE_DIM, _STATE_DIM)


def box_to_measurement(box: Box) -> np.ndarray:
    """``[cx, cy, aspect, height]`` of a box, with sizes floored so aspect is always defined."""
    width = max(box.width, _MIN_SIZE)
    height = max(box.height, _MIN_SIZE)
    cx, cy = box.centre
    return np.array([cx, cy, width / height, height], dtype=float)


def measurement_to_box(measurement: np.ndarray) -> Box:
    """The box of ``[cx, cy, aspect, height]``, clipped to the image: a prediction may run past
    the border, but every box the tracker publishes lies inside the frame."""
    cx, cy, aspect, height = (float(v) for v in measurement[:_MEASURE_DIM])
    half_w, half_h = aspect * height / 2.0, height / 2.0
    x1, y1, x2, y2 = np.clip([cx - half_w, cy - half_h, cx + half_w, cy + half_h], 0.0, 1.0)
    return Box(float(x1), float(y1), float(x2), float(y2))


def _transition(dt: float) -> np.ndarray:
    """Constant velocity: every quantity moves by its rate times ``dt``."""
    f = np.eye(_STATE_DIM)
    f[:_MEASURE_DIM, _MEASURE_DIM:] = dt * np.eye(_MEASURE_DIM)
    return f


def _process_noise(dt: float, height: float, aspect: float) -> np.ndarray:
    """Continuous white-noise acceleration over ``dt``: exact for any interval, zero for zero."""
    accel_std = np.array(
        [
            _POSITION_ACCEL_STD * height,
            _POSITION_ACCEL_STD * height,
            _ASPECT_ACCEL_STD * aspect,
            _HEIGHT_ACCEL_STD * height,
        ]
    )
    density = np.diag(accel_std**2)
    q = np.zeros((_STATE_DIM, _STATE_DIM))
    q[:_MEASURE_DIM, :_MEASURE_DIM] = density * dt**3 / 3.0
    q[:_MEASURE_DIM, _MEASURE_DIM:] = density * dt**2 / 2.0
    q[_MEASURE_DIM:, :_MEASURE_DIM] = density * dt**2 / 2.0
    q[_MEASURE_DIM:, _MEASURE_DIM:] = density * dt
    return q


def _measurement_noise(height: float, aspect: float) -> np.ndarray:
    std = np.array(
        [
            _POSITION_MEASURE_STD * height,
            _POSITION_MEASURE_STD * height,
            _ASPECT_MEASURE_STD * aspect,
            _HEIGHT_MEASURE_STD * height,
        ]
    )
    return np.diag(std**2)


class BoxKalmanFilter:
    """Tracks one box: ``predict`` to a later time, ``update`` with the detection matched there."""

    __slots__ = ("_cov", "_mean")

    def __init__(self, box: Box) -> None:
        """Starts at the detection, at rest, with a wide velocity prior."""
        z = box_to_measurement(box)
        aspect, height = z[_A], z[_H]
        self._mean = np.concatenate([z, np.zeros(_MEASURE_DIM)])
        std = np.array(
            [
                _POSITION_INIT_STD * height,
                _POSITION_INIT_STD * height,
                2 * _ASPECT_MEASURE_STD * aspect,
                2 * _HEIGHT_MEASURE_STD * height,
                _VELOCITY_INIT_STD * height,
                _VELOCITY_INIT_STD * height,
                _SIZE_VELOCITY_INIT_STD * aspect,
                _SIZE_VELOCITY_INIT_STD * height,
            ]
        )
        self._cov = np.diag(std**2)

    @classmethod
    def from_state(cls, mean: np.ndarray, covariance: np.ndarray) -> BoxKalmanFilter:
        """A filter resumed at a stored estimate, e.g. after a restart: predicting and updating
        it goes on exactly as the filter that produced the estimate would have.

        Raises ``ValueError`` for an estimate this filter could never have reached (wrong
        shape, non-finite, sizes below the floor, a covariance that is not symmetric or has a
        negative variance): the stored copy is untrusted and a bad one would poison every
        later prediction.
        """
        mean = np.array(mean, dtype=float)
        cov = np.array(covariance, dtype=float)
        if mean.shape != (_STATE_DIM,):
            raise ValueError(f"state must have {_STATE_DIM} values, got shape {mean.shape}")
        if cov.shape != (_STATE_DIM, _STATE_DIM):
            raise ValueError(f"covariance must be {_STATE_DIM}x{_STATE_DIM}, got shape {cov.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(cov).all()):
            raise ValueError("state and covariance must be finite")
        if mean[_A] < _MIN_SIZE or mean[_H] < _MIN_SIZE:
            raise ValueError(f"aspect and height must be at least {_MIN_SIZE}")
        if (np.diag(cov) < 0).any():
            raise ValueError("covariance has a negative variance")
        # Prediction is not symmetrised, so a genuine covariance may differ from its transpose
        # in the last bits; anything beyond rounding means the numbers are not a covariance.
        if not np.allclose(cov, cov.T, rtol=0.0, atol=1e-9 * max(1.0, float(np.abs(cov).max()))):
            raise ValueError("covariance is not symmetric")
        kf = cls.__new__(cls)
        kf._mean = mean
        kf._cov = cov
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
        if dt < 0:
            raise ValueError(f"cannot predict backwards in time (dt={dt})")
        if dt == 0:
            return
        f = _transition(dt)
        q = _process_noise(dt, self._mean[_H], self._mean[_A])
        self._mean = f @ self._mean
        self._cov = f @ self._cov @ f.T + q
        self._keep_size_positive()

    def update(self, box: Box) -> None:
        """Corrects the estimate with a matched detection (Joseph form, to stay symmetric and
        positive definite over long tracks)."""
        z = box_to_measurement(box)
        h = _OBSERVATION
        r = _measurement_noise(self._mean[_H], self._mean[_A])
        innovation_cov = h @ self._cov @ h.T + r
        gain = np.linalg.solve(innovation_cov, h @ self._cov).T
        self._mean = self._mean + gain @ (z - h @ self._mean)
        i_kh = np.eye(_STATE_DIM) - gain @ h
        cov = i_kh @ self._cov @ i_kh.T + gain @ r @ gain.T
        self._cov = (cov + cov.T) / 2.0
        self._keep_size_positive()

    def _keep_size_positive(self) -> None:
        """A box shrinking through a long gap would extrapolate to a negative size; stop it at
        the floor and drop its shrink rate instead."""
        for index in (_A, _H):
            if self._mean[index] < _MIN_SIZE:
                self._mean[index] = _MIN_SIZE
                self._mean[_MEASURE_DIM + index] = 0.0
