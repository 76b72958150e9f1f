"""Live document consumers: table, progress, peak statistics, curve fits, PNG plots, 2-D maps."""

from acq.callbacks.fitting import MODELS, PeakFit, fit_curve, fit_gaussian
from acq.callbacks.grid import LiveGrid
from acq.callbacks.peaks import PeakStats, peak_stats
from acq.callbacks.plot import PlotPNG
from acq.callbacks.progress import LiveProgress
from acq.callbacks.stream import StreamCollector
from acq.callbacks.table import LiveTable

__all__ = ["MODELS", "LiveGrid", "LiveProgress", "LiveTable", "PeakFit", "PeakStats", "PlotPNG", "StreamCollector",
           "fit_curve", "fit_gaussian", "peak_stats"]
