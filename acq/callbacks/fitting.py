"""Curve fitting (Gaussian, Lorentzian, erf step) with scipy, and a live fitting callback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import curve_fit
from scipy.special import erf

from acq.callbacks.stream import StreamCollector


def _gaussian(x: np.ndarray, amp: float, center: float, sigma: float, background: float) -> np.ndarray:
    return background + amp * np.exp(-0.5 * ((x - center) / sigma) ** 2)


def _lorentzian(x: np.ndarray, amp: float, center: float, sigma: float, background: float) -> np.ndarray:
    return background + amp / (1.0 + ((x - center) / sigma) ** 2)


def _erf_step(x: np.ndarray, amp: float, center: float, sigma: float, background: float) -> np.ndarray:
    step: np.ndarray = 1.0 + erf((x - center) / (np.sqrt(2.0) * sigma))
    return background + 0.5 * amp * step


MODELS: dict[str, Callable[..., np.ndarray]] = {
    "gaussian": _gaussian, "lorentzian": _lorentzian, "erf": _erf_step,
}
#: Full width at half maximum in units of the fitted ``sigma``.
_FWHM = {"gaussian": 2.0 * np.sqrt(2.0 * np.log(2.0)), "lorentzian": 2.0, "erf": 2.0 * np.sqrt(2.0 * np.log(2.0))}


def _initial_guess(model: str, xs: np.ndarray, ys: np.ndarray) -> list[float]:
    if model == "erf":
        lo, hi = float(ys[: max(len(ys) // 5, 1)].mean()), float(ys[-max(len(ys) // 5, 1):].mean())
        slope = np.abs(np.gradient(ys, xs))
        return [hi - lo, float(xs[np.argmax(slope)]), max(float(np.ptp(xs)) / 20, 1e-9), lo]
    bkg = float(np.min(ys))
    weights = np.clip(ys - bkg, 0, None)
    cen = float(xs[np.argmax(ys)])
    spread = float(np.sqrt(np.sum(weights * (xs - cen) ** 2) / max(np.sum(weights), 1e-12)))
    return [float(np.max(ys)) - bkg, cen, max(spread, float(np.ptp(xs)) / max(xs.size, 1), 1e-9), bkg]


def fit_curve(model: str, x: Any, y: Any, counting: bool = True) -> dict[str, float]:
    """Least-squares fit of ``model`` (gaussian, lorentzian, erf) plus a constant background.

    Returns amp, center, sigma, background, fwhm and the reduced chi-square. With
    ``counting`` the points are weighted by Poisson errors √y.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r} (known: {', '.join(MODELS)})")
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be 1-D and alike, got shapes {xs.shape} and {ys.shape}")
    if xs.size < 5:
        raise ValueError(f"a {model} fit needs at least 5 points, got {xs.size}")
    sigma_y = np.sqrt(np.clip(ys, 1, None)) if counting else None
    popt, _ = curve_fit(MODELS[model], xs, ys, p0=_initial_guess(model, xs, ys), sigma=sigma_y, maxfev=20000)
    amp, center, sigma, background = (float(v) for v in popt)
    resid = (ys - MODELS[model](xs, *popt)) / (sigma_y if sigma_y is not None else 1.0)
    return {"amp": amp, "center": center, "sigma": abs(sigma), "background": background,
            "fwhm": float(_FWHM[model] * abs(sigma)),
            "redchi": float(np.sum(resid**2) / max(xs.size - 4, 1))}


def fit_gaussian(x: Any, y: Any) -> dict[str, float]:
    """A Gaussian fit (see ``fit_curve``)."""
    return fit_curve("gaussian", x, y)


def evaluate(model: str, params: dict[str, float], x: Any) -> np.ndarray:
    """The fitted curve at ``x``."""
    return MODELS[model](np.asarray(x, dtype=float), params["amp"], params["center"], params["sigma"],
                         params["background"])


class PeakFit(StreamCollector):
    """Collect ``x`` and ``y`` over a stream; ``result`` holds the ``model`` fit after stop."""

    def __init__(self, x: str, y: str, stream: str = "primary", model: str = "gaussian") -> None:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r} (known: {', '.join(MODELS)})")
        super().__init__([x, y], stream=stream)
        self.x, self.y, self.model = x, y, model
        self.result: dict[str, float] | None = None

    def on_start(self) -> None:
        self.result = None

    def on_stop(self, doc: dict[str, Any]) -> None:
        xs, ys = self.columns[self.x], self.columns[self.y]
        if len(xs) >= 5:
            self.result = fit_curve(self.model, xs, ys)
