"""Absorption-edge reduction: E0 (the maximum of the derivative) and the edge step Δμ.

Both work on scattered points (any order, any spacing), as an adaptive scan leaves them:

- :func:`edge_e0`: the data interpolated linearly on a 0.05 eV grid, smoothed by a Gaussian
  of 0.4 eV, differentiated; the maximum refined by a parabola through its neighbours.
- :func:`edge_step`: a line fitted to the pre-edge (``pre`` eV relative to E0) and one to the
  post-edge (``post``), both extrapolated to E0; the step is their difference there (the
  normalisation that XAFS analysis programs apply, with a straight post-edge line). Each
  point weighs as much as the stretch of energy it stands for, so that unevenly spaced
  points (an adaptive scan's) fit the same line as an even scan over the window would.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import gaussian_filter1d

GRID_EV = 0.05
SMOOTH_EV = 0.4


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


def edge_step(x: ArrayLike, y: ArrayLike, e0: float, *, pre: tuple[float, float] = (-150.0, -30.0),
              post: tuple[float, float] = (50.0, 300.0)) -> float:
    """Δμ at ``e0``: post-edge line minus pre-edge line there (windows in eV relative to E0).

    ``ValueError`` when a window holds fewer than 3 points (the scan did not reach far enough).
    """
    xs, ys = _sorted(x, y)
    lines = []
    for name, (lo, hi) in (("pre", pre), ("post", post)):
        sel = (xs >= e0 + lo) & (xs <= e0 + hi)
        if sel.sum() < 3:
            raise ValueError(f"edge_step: the {name}-edge window [{e0 + lo:.1f}, {e0 + hi:.1f}] eV holds "
                             f"{int(sel.sum())} point(s); the scan must cover it with at least 3")
        xw = xs[sel]
        spacing = np.gradient(xw) if len(xw) > 1 else np.ones(1)
        lines.append(np.polyfit(xw, ys[sel], 1, w=np.sqrt(np.maximum(spacing, 1e-9))))
    return float(np.polyval(lines[1], e0) - np.polyval(lines[0], e0))
