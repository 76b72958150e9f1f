"""Absorption-edge reduction: E0 (the maximum of the derivative) and the edge step Δμ.

Both work on scattered points (any order, any spacing), as an adaptive scan leaves them:

- :func:`edge_e0`: the data interpolated linearly on a 0.05 eV grid, smoothed by a Gaussian
  of 0.4 eV, differentiated; the maximum refined by a parabola through its neighbours.
- :func:`edge_step`: Δμ at E0, from one least-squares fit of both windows (``pre``/``post``, eV
  relative to E0) to the model μ(E) = L(E)·(1 − s(E)) + V(E)·s(E): a pre-edge line L, a
  Victoreen-like post-edge V(E) = (a + b·(E − E0))·(E/E0)^−2.5, and the edge's arctan step s of
  Lorentzian width ``width`` (the core hole's, ~1.5 eV at the Cu K edge); Δμ = V(E0) − L(E0).
  What it removes, on the twin's noise-free Cu edge (0.5 eV grid): straight lines per window give
  +0.76 %, the sum of −1.2 % from the arctan's tails reaching into the windows (≈ Δμ·w/(2π|E − E0|)),
  +1.8 % from the EXAFS wiggles in the post-edge window and −0.1 % from the post-edge's curvature.
  The model removes the tails and the curvature; the EXAFS cannot be modelled without a
  structure, so each window's weight tapers to zero at its ends (a Hann window, as in EXAFS
  Fourier transforms), which cuts the wiggles' leak to −0.06 % here (+0.35…+0.47 % with shorter
  ramps: what is left depends on the sample). Each point weighs as much as the stretch of energy
  it stands for (times the taper), so the fit is the same integral over the windows for an even
  scan and for an adaptive one's uneven points: both designs carry the same bias.
  :func:`step_weights` gives Δμ as a weighted sum Σ wᵢ·μᵢ (the design's view of it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import gaussian_filter1d

GRID_EV = 0.05
SMOOTH_EV = 0.4
WIDTH_EV = 1.5  # the edge's Lorentzian width (core hole): Cu K 1.55 eV in Krause & Oliver's table
VICTOREEN = 2.5  # the post-edge fall-off E^-p (photoabsorption falls as E^-2.5…E^-3)
COVER = 0.5  # the fraction of each window that its points must span at least
TAPER = 0.5  # the fraction of a window over which each end's weight ramps from 0 to 1 (0.5: a Hann window)


def _sorted(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    xs = np.asarray(x, dtype=float).ravel()
    ys = np.asarray(y, dtype=float).reshape(len(xs), -1)[:, 0]
    keep = np.isfinite(xs) & np.isfinite(ys)
    order = np.argsort(xs[keep])
    return xs[keep][order], ys[keep][order]


def edge_e0(x: ArrayLike, y: ArrayLike) -> float:
    """E0: the energy of the steepest rise of ``y`` (μ) over ``x`` (eV); NaN with too few points."""
    xs, ys = _sorted(x, y)
    if len(xs) < 4:
        return float("nan")
    fine = np.arange(xs[0], xs[-1], GRID_EV)
    if len(fine) < 8:
        return float("nan")
    smooth = gaussian_filter1d(np.interp(fine, xs, ys), SMOOTH_EV / GRID_EV)
    deriv = np.gradient(smooth, fine)
    i = int(np.argmax(deriv))
    if 0 < i < len(fine) - 1:
        a, b, c = deriv[i - 1], deriv[i], deriv[i + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
        return float(fine[i] + np.clip(shift, -1, 1) * GRID_EV)
    return float(fine[i])


def step_weights(x: ArrayLike, e0: float, *, pre: tuple[float, float] = (-150.0, -30.0),
                 post: tuple[float, float] = (50.0, 300.0), width: float = WIDTH_EV) -> np.ndarray[Any, Any]:
    """The edge step as a weighted sum: ``w`` with Δμ = Σ wᵢ·μᵢ over the points ``x`` (any order;
    zero outside the windows). See the module docstring for the model, the taper and the weights.

    ``ValueError`` when a window's points span less than ``COVER`` of it or fewer than 3 of them have
    weight.
    """
    xs = np.asarray(x, dtype=float).ravel()
    u = xs - e0
    quad = np.zeros(len(xs))
    for name, (lo, hi) in (("pre", pre), ("post", post)):
        inside = np.flatnonzero(np.isfinite(u) & (u >= lo) & (u <= hi))
        idx = inside[np.argsort(u[inside])]
        taper = _taper((u[idx] - lo) / (hi - lo))
        covered = float(np.ptp(u[idx])) if len(idx) else 0.0
        if np.count_nonzero(taper) < 3 or covered < COVER * (hi - lo):
            raise ValueError(f"edge_step: the {name}-edge window [{e0 + lo:.1f}, {e0 + hi:.1f}] eV holds "
                             f"{len(idx)} point(s) over {covered:.1f} eV; the scan must cover {COVER:.0%} of it "
                             "with at least 3")
        ends = np.concatenate([[lo], 0.5 * (u[idx][1:] + u[idx][:-1]), [hi]])
        quad[idx] = np.diff(ends) * taper  # the stretch each point stands for, tapered
    sel = quad > 0
    basis = _basis(xs[sel], e0, width)
    root = np.sqrt(quad[sel])
    a = basis * root[:, None]
    # Δμ = c·coef with coef = (AᵀA)⁻¹Aᵀ(√q·μ): the weights are c(AᵀA)⁻¹Aᵀ√q
    c = np.array([-1.0, 0.0, 1.0, 0.0])
    w = np.zeros(len(xs))
    w[sel] = np.linalg.solve(a.T @ a, c) @ a.T * root
    return w


def edge_step(x: ArrayLike, y: ArrayLike, e0: float, *, pre: tuple[float, float] = (-150.0, -30.0),
              post: tuple[float, float] = (50.0, 300.0), width: float = WIDTH_EV) -> float:
    """Δμ at ``e0``: the post-edge curve minus the pre-edge line there (windows in eV relative to E0).

    ``ValueError`` when a window is not covered (the scan did not reach far enough).
    """
    xs, ys = _sorted(x, y)
    return float(step_weights(xs, e0, pre=pre, post=post, width=width) @ ys)


def _taper(z: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Weight across a window (z from 0 to 1): sin² ramps over ``TAPER`` of it at each end, 1 between."""
    r = np.clip(np.minimum(z, 1.0 - z) / TAPER, 0.0, 1.0)
    return np.asarray(np.sin(0.5 * np.pi * r) ** 2)


def _basis(xs: np.ndarray[Any, Any], e0: float, width: float) -> np.ndarray[Any, Any]:
    """Columns of the edge model: pre-edge line × (1 − s), Victoreen post-edge × s (s: the arctan step)."""
    u = xs - e0
    s = 0.5 + np.arctan(u / (0.5 * width)) / np.pi
    scaled = u / 100.0
    vict = (xs / e0) ** -VICTOREEN
    return np.column_stack([1.0 - s, scaled * (1.0 - s), s * vict, s * vict * scaled])
