"""PNG figures a scenario leaves next to its data: agent progress curves, maps and camera frames.

Each function draws from values already read back from the store and returns the file it wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    _pyplot().close(fig)
    return path


def progress_png(values: ArrayLike, path: Path, *, title: str, ylabel: str, target: float | None = None,
                 target_label: str = "target") -> Path:
    """Each measured value and the best so far against the evaluation number (an agent's progress)."""
    y = np.asarray(values, dtype=float).ravel()
    if y.size == 0:
        raise ValueError("progress_png: no values to plot")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    n = np.arange(1, y.size + 1)
    ax.plot(n, y, "o", ms=3, alpha=0.5, label="measured")
    ax.plot(n, np.maximum.accumulate(y), "-", label="best so far")
    if target is not None:
        ax.axhline(target, ls="--", color="k", lw=1, label=target_label)
    ax.set_xlabel("evaluation")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def map_png(points: ArrayLike, values: ArrayLike, path: Path, *, title: str, axes: tuple[str, str],
            label: str) -> Path:
    """The measured points of a 2-D map coloured by value, over a linear interpolation between them."""
    xy = np.asarray(points, dtype=float).reshape(-1, 2)
    v = np.asarray(values, dtype=float).ravel()
    if len(xy) != len(v) or len(v) == 0:
        raise ValueError(f"map_png: {len(xy)} points but {len(v)} values")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    spread = np.ptp(xy, axis=0)
    if len(v) >= 4 and np.all(spread > 0):
        try:
            ax.tricontourf(xy[:, 0], xy[:, 1], v, levels=20, alpha=0.6)
        except (ValueError, RuntimeError):
            pass  # collinear points: the scatter alone says it
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=v, s=12, edgecolors="k", linewidths=0.3)
    fig.colorbar(sc, ax=ax, label=label)
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.set_title(title)
    return _save(fig, path)


def frame_png(frame: ArrayLike, path: Path, *, title: str) -> Path:
    """One camera frame as an image (counts on a grey scale)."""
    img = np.asarray(frame, dtype=float)
    if img.ndim != 2 or img.size == 0:
        raise ValueError(f"frame_png: a frame must be a 2-D image, got shape {img.shape}")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=100)
    shown = ax.imshow(img, cmap="gray", origin="lower")
    fig.colorbar(shown, ax=ax, label="counts")
    ax.set_title(title)
    return _save(fig, path)
