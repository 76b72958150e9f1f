"""Analytic test functions: the 6-D Hartmann yardstick and stand-ins for the twin's tasks."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from adaptive.protocol import Array

_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
               [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]], dtype=float)
_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                      [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]], dtype=float)
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
HARTMANN6_MIN = -3.32237
HARTMANN6_ARGMIN = np.array([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])


def hartmann6(x: ArrayLike) -> Array:
    """The 6-D Hartmann function on [0, 1]^6 (to minimise; minimum −3.32237), for points (n, 6)."""
    pts = np.atleast_2d(np.asarray(x, dtype=float))
    if pts.shape[1] != 6:
        raise ValueError(f"hartmann6 takes points with 6 coordinates, got shape {pts.shape}")
    inner = np.einsum("ij,nij->ni", _A, (pts[:, None, :] - _P[None, :, :]) ** 2)
    return np.asarray(-(np.exp(-inner) @ _ALPHA), dtype=float)


def map2d_truth(x: ArrayLike, seed: int = 0) -> Array:
    """A 2-D sample map on [0, 1]²: a smooth background plus a domain with a sharp, wavy boundary."""
    pts = np.atleast_2d(np.asarray(x, dtype=float))
    rng = np.random.default_rng([seed, 101])
    cx, cy = 0.45 + 0.1 * rng.random(2)
    phase = 2 * np.pi * rng.random()
    dx, dy = pts[:, 0] - cx, pts[:, 1] - cy
    r = np.hypot(dx, dy)
    theta = np.arctan2(dy, dx)
    radius = 0.28 + 0.06 * np.sin(3 * theta + phase)
    domain = 1.0 / (1.0 + np.exp(-(radius - r) / 0.008))
    background = 0.2 + 0.3 * pts[:, 0] * pts[:, 1]
    return np.asarray(background + domain, dtype=float)


def edge_truth(energy: ArrayLike, e0: float, step: float = 1.0, width: float = 1.5) -> Array:
    """An absorption edge: pre-edge line, arctangent step at ``e0``, a white line just above it."""
    e = np.asarray(energy, dtype=float)
    pre = 0.05 + 1e-4 * (e - e0)
    jump = step * (0.5 + np.arctan((e - e0) / width) / np.pi)
    white = 0.35 * step * np.exp(-0.5 * ((e - e0 - 4.0) / 2.5) ** 2)
    onset = 1.0 / (1.0 + np.exp(-np.clip(e - e0 - 15.0, -50, 50) / 3.0))  # smooth: no false derivative peak
    wiggle = 0.03 * step * np.sin((e - e0) / 9.0) * onset * np.exp(-np.clip(e - e0, 0, None) / 120)
    return np.asarray(pre + jump + white + wiggle, dtype=float)


def phase_patterns(n_bins: int = 120, n_phases: int = 3, seed: int = 0) -> Array:
    """Reference diffraction-like patterns, one row per phase: a few Gaussian peaks each."""
    rng = np.random.default_rng([seed, 303])
    q = np.linspace(0, 1, n_bins)
    rows = []
    for _ in range(n_phases):
        centres = rng.uniform(0.05, 0.95, size=4)
        heights = rng.uniform(0.3, 1.0, size=4)
        rows.append(sum(h * np.exp(-0.5 * ((q - c) / 0.012) ** 2) for c, h in zip(centres, heights, strict=True)))
    return np.asarray(rows, dtype=float) + 0.02


def phase_labels(x: ArrayLike, seed: int = 0) -> Array:
    """True phase (0, 1, 2) at positions on [0, 1]²: three regions split by two curved boundaries."""
    pts = np.atleast_2d(np.asarray(x, dtype=float))
    rng = np.random.default_rng([seed, 202])
    a, b = 0.35 + 0.1 * rng.random(), 0.65 + 0.1 * rng.random()
    u = pts[:, 0] + 0.15 * np.sin(3 * pts[:, 1] + 6 * rng.random())
    return np.asarray(np.where(u < a, 0, np.where(u < b, 1, 2)), dtype=int)
