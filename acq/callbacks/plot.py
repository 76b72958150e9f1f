"""Plots as PNG files: a scan's hinted detector against its motor, with an optional fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from acq.callbacks.grid import pyplot
from acq.callbacks.stream import StreamCollector


class PlotPNG(StreamCollector):
    """Write ``<out_dir>/<scan_id>-<uid>.png`` of ``y`` against ``x`` when the run stops.

    ``fit`` (a ``PeakFit`` subscribed before this one) adds its curve to the plot. With
    ``live=True`` the points also appear in a matplotlib window as the events arrive.
    """

    def __init__(self, x: str, y: str, out_dir: str | Path, stream: str = "primary", fit: Any = None, *,
                 live: bool = False) -> None:
        super().__init__([x, y], stream=stream)
        self.x, self.y = x, y
        self.out_dir = Path(out_dir)
        self.fit = fit
        self.live = live
        self.path: Path | None = None
        self.fig: Any = None
        self._line: Any = None

    def on_start(self) -> None:
        self.fig, self._line, self.path = None, None, None

    def _points(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        return np.asarray(self.columns[self.x], float), np.asarray(self.columns[self.y], float)

    def _figure(self) -> Any:
        plt = pyplot(self.live)
        if self.fig is None:
            self.fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
            (self._line,) = ax.plot([], [], "o", ms=4, label=self.y)
        return self.fig.axes[0]

    def on_event(self, doc: dict[str, Any]) -> None:
        if self.live:
            ax = self._figure()
            self._line.set_data(*self._points())
            ax.relim()
            ax.autoscale_view()
            self.fig.canvas.draw_idle()
            self.fig.canvas.flush_events()

    def on_stop(self, doc: dict[str, Any]) -> None:
        from acq.callbacks.fitting import evaluate

        xs, ys = self._points()
        if xs.size == 0:
            return
        ax = self._figure()
        fig = self.fig
        self._line.set_data(xs, ys)
        ax.relim()
        ax.autoscale_view()
        result = getattr(self.fit, "result", None)
        if result is not None:
            fine = np.linspace(xs.min(), xs.max(), 400)
            ax.plot(fine, evaluate(self.fit.model, result, fine), "-",
                    label=f"{self.fit.model} fit, centre {result['center']:.4g}")
        start = self.start_doc
        ax.set_xlabel(self.x)
        ax.set_ylabel(self.y)
        ax.set_title(f"scan {start.get('scan_id')} — {start.get('plan_name', '')} ({doc['exit_status']})")
        ax.legend()
        fig.tight_layout()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / f"{int(start.get('scan_id', 0)):06d}-{start['uid']}.png"
        fig.savefig(self.path)
        if not self.live:
            pyplot(False).close(fig)
