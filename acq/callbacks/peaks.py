"""Peak statistics of a 1-D scan: centre of the maximum, centroid, FWHM, extrema."""

from __future__ import annotations

from typing import Any

import numpy as np

from acq.callbacks.stream import StreamCollector


def peak_stats(x: Any, y: Any) -> dict[str, Any]:
    """``max`` and ``min`` (x, y), ``cen`` (half-maximum midpoint), ``com`` (centroid), ``fwhm``.

    The background is the smallest reading; half maximum is interpolated linearly.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.size < 3 or xs.shape != ys.shape:
        raise ValueError(f"peak statistics need ≥3 points of matching x and y, got {xs.shape}, {ys.shape}")
    order = np.argsort(xs)
    xs, ys = xs[order], ys[order]
    i_max, i_min = int(np.argmax(ys)), int(np.argmin(ys))
    base = ys - ys[i_min]
    total = float(np.trapezoid(base, xs))
    com = float(np.trapezoid(base * xs, xs) / total) if total > 0 else float(xs[i_max])
    half = base[i_max] / 2.0
    left, right = float(xs[0]), float(xs[-1])
    for i in range(i_max, 0, -1):
        if base[i - 1] < half <= base[i]:
            left = float(np.interp(half, [base[i - 1], base[i]], [xs[i - 1], xs[i]]))
            break
    for i in range(i_max, xs.size - 1):
        if base[i + 1] < half <= base[i]:
            right = float(np.interp(half, [base[i + 1], base[i]], [xs[i + 1], xs[i]]))
            break
    return {"max": (float(xs[i_max]), float(ys[i_max])), "min": (float(xs[i_min]), float(ys[i_min])),
            "com": com, "cen": (left + right) / 2.0, "fwhm": right - left}


class PeakStats(StreamCollector):
    """Peak statistics of ``y`` against ``x`` once the run stops (``result``)."""

    def __init__(self, x: str, y: str, stream: str = "primary") -> None:
        super().__init__([x, y], stream=stream)
        self.x, self.y = x, y
        self.result: dict[str, Any] | None = None

    def on_start(self) -> None:
        self.result = None

    def on_stop(self, doc: dict[str, Any]) -> None:
        if len(self.columns[self.x]) >= 3:
            self.result = peak_stats(self.columns[self.x], self.columns[self.y])
