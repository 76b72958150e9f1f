"""A 2-D map of a grid or adaptive run: one value against two motors, live and as a PNG at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from acq.callbacks.stream import StreamCollector


def pyplot(live: bool) -> Any:
    """matplotlib's pyplot: an interactive window when ``live`` and a display exist, else Agg."""
    import matplotlib

    if not live:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if live:
        plt.ion()
    return plt


class LiveGrid(StreamCollector):
    """Plot ``z`` at (``x``, ``y``) for every event; write ``<out_dir>/<scan_id>-<uid>-map.png`` at stop.

    With ``live=True`` the points appear in a matplotlib window as the events arrive (the
    window needs a display; without one matplotlib's non-interactive backend draws unseen).
    """

    def __init__(self, x: str, y: str, z: str, out_dir: str | Path, *, stream: str = "primary",
                 live: bool = False) -> None:
        super().__init__([x, y, z], stream=stream)
        self.x, self.y, self.z = x, y, z
        self.out_dir = Path(out_dir)
        self.live = live
        self.path: Path | None = None
        self.fig: Any = None
        self._scatter: Any = None

    def _points(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        xy = np.column_stack([np.asarray(self.columns[self.x], float), np.asarray(self.columns[self.y], float)])
        return xy, np.asarray(self.columns[self.z], float)

    def _draw(self) -> None:
        plt = pyplot(self.live)
        xy, z = self._points()
        if self.fig is None:
            self.fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
            self._scatter = ax.scatter(xy[:, 0], xy[:, 1], c=z, s=25)
            self.fig.colorbar(self._scatter, ax=ax, label=self.z)
            ax.set_xlabel(self.x)
            ax.set_ylabel(self.y)
        else:
            self._scatter.set_offsets(xy)
            self._scatter.set_array(z)
            self._scatter.set_clim(float(z.min()), float(z.max()))
            ax = self._scatter.axes
            ax.update_datalim(xy)
            ax.autoscale_view()
        ax.set_title(f"scan {self.start_doc.get('scan_id')}: {len(z)} points")
        if self.live:
            self.fig.canvas.draw_idle()
            self.fig.canvas.flush_events()

    def on_start(self) -> None:
        self.fig, self._scatter, self.path = None, None, None

    def on_event(self, doc: dict[str, Any]) -> None:
        if self.live:
            self._draw()

    def on_stop(self, doc: dict[str, Any]) -> None:
        if not self.columns[self.z]:
            return
        self._draw()
        start = self.start_doc
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / f"{int(start.get('scan_id', 0)):06d}-{start['uid']}-map.png"
        self.fig.tight_layout()
        self.fig.savefig(self.path)
        if not self.live:
            pyplot(False).close(self.fig)
