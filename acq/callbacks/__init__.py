"""Live document consumers: tables, peak statistics, fits."""

from acq.callbacks.fitting import PeakFit, fit_gaussian
from acq.callbacks.table import LiveTable

__all__ = ["LiveTable", "PeakFit", "fit_gaussian"]
