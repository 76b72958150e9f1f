"""Peak statistics and a Gaussian fit (scipy) over a scan's events."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import curve_fit


def _gauss(x: np.ndarray, amp: float, cen: float, sigma: float, bkg: float) -> np.ndarray:
    return bkg + amp * np.exp(-0.5 * ((x - cen) / sigma) ** 2)


def fit_gaussian(x: Any, y: Any) -> dict[str, float]:
    """Least-squares Gaussian plus constant background: amp, center, sigma, background, fwhm."""
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.size < 4:
        raise ValueError(f"a Gaussian fit needs at least 4 points, got {xs.size}")
    bkg0 = float(np.min(ys))
    amp0 = float(np.max(ys) - bkg0)
    cen0 = float(xs[np.argmax(ys)])
    weights = np.clip(ys - bkg0, 0, None)
    spread = float(np.sqrt(np.sum(weights * (xs - cen0) ** 2) / max(np.sum(weights), 1e-12)))
    sigma0 = max(spread, float(np.ptp(xs)) / max(xs.size, 1), 1e-9)
    popt, _ = curve_fit(_gauss, xs, ys, p0=[amp0, cen0, sigma0, bkg0],
                        sigma=np.sqrt(np.clip(ys, 1, None)), maxfev=10000)
    amp, cen, sigma, bkg = (float(v) for v in popt)
    return {"amp": amp, "center": cen, "sigma": abs(sigma), "background": bkg,
            "fwhm": 2.0 * np.sqrt(2.0 * np.log(2.0)) * abs(sigma)}


class PeakFit:
    """Collect ``x`` and ``y`` over the primary stream; ``result`` holds the fit after stop."""

    def __init__(self, x: str, y: str, stream: str = "primary") -> None:
        self.x, self.y, self.stream = x, y, stream
        self.xs: list[float] = []
        self.ys: list[float] = []
        self._descriptors: set[str] = set()
        self.result: dict[str, float] | None = None

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self.xs, self.ys, self.result = [], [], None
            self._descriptors = set()
        elif name == "descriptor" and doc.get("name") == self.stream:
            self._descriptors.add(doc["uid"])
        elif name == "event" and doc["descriptor"] in self._descriptors:
            self.xs.append(float(doc["data"][self.x]))
            self.ys.append(float(doc["data"][self.y]))
        elif name == "stop" and len(self.xs) >= 4:
            self.result = fit_gaussian(self.xs, self.ys)
