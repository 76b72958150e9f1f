"""The evaluation report: CSV files, PNG plots and ``summary.json``, agents side by side.

Files in the output directory:

- ``episodes.csv``: one row per (agent, seed): evaluations to target, final error, number of
  evaluations, wall time, median and 95th-percentile suggestion latency, error message;
- ``traces.csv``: the error (simple regret, reconstruction error, …) after n evaluations, and n as
  a fraction of the reference design (a map's 30×30 raster, an edge's 0.5 eV scan) where there is one;
- ``latency.csv``: every suggestion's latency;
- ``failures.txt`` (only if an episode failed): each failed episode's whole error message and traceback;
- ``error_vs_evaluations.png`` (median and quartiles per agent, log scale) and
  ``latency.png`` (latency per suggestion);
- ``summary.json``: ``{"agents": {NAME: {"evals_to_target": {"median", "q1", "q3", …},
  "final_regret": {"median", "q1", "q3"}, "suggestion_latency_s": {"median", "p95", …},
  "metrics": {KEY: {"median", "q1", "q3", "rms"}}, "reconstruction": "model" | "linear" | null, …}}, …}``
  (``reconstruction``: on a map, whether the agent's error is its own model's (``predict``) or the
  linear map of its points; ``metrics.linear_error`` is the linear rule's for every agent).
  A statistic over episodes that never reached the target is ``null`` where it is infinite.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from adaptive.harness.episode import EpisodeResult


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def quartiles(values: list[float]) -> dict[str, float | None]:
    """Median and quartiles (inf allowed: an episode that never reached the target)."""
    if not values:
        return {"median": None, "q1": None, "q3": None}
    arr = np.sort(np.asarray(values, dtype=float))
    qs = {}
    for name, q in (("median", 0.5), ("q1", 0.25), ("q3", 0.75)):
        pos = q * (len(arr) - 1)
        lo, hi = arr[math.floor(pos)], arr[math.ceil(pos)]
        frac = pos - math.floor(pos)
        v = lo if frac == 0 or lo == hi else lo + (hi - lo) * frac
        qs[name] = _finite(float(v)) if not (math.isinf(lo) or math.isinf(hi)) or lo == hi else None
    return qs


def spread(values: list[float]) -> dict[str, float | None]:
    """Median and quartiles, plus the root mean square (``null`` if any value is infinite or NaN)."""
    arr = np.asarray(values, dtype=float)
    rms = float(np.sqrt(np.mean(arr**2))) if arr.size and np.isfinite(arr).all() else None
    return {**quartiles(values), "rms": rms}


def summarise(results: list[EpisodeResult]) -> dict[str, Any]:
    """Per-agent statistics over episodes."""
    agents: dict[str, Any] = {}
    for name in dict.fromkeys(r.agent for r in results):
        mine = [r for r in results if r.agent == name]
        evals = [float(r.evals_to_target) if r.evals_to_target is not None else math.inf for r in mine]
        lat = np.concatenate([np.asarray(r.latencies, dtype=float) for r in mine]) if mine else np.zeros(0)
        agents[name] = {
            "evals_to_target": {**quartiles(evals), "reached": sum(math.isfinite(e) for e in evals),
                                "episodes": len(mine),
                                "max": _finite(max(evals)) if evals else None},
            "final_regret": quartiles([r.final_error for r in mine]),
            "suggestion_latency_s": {
                "median": float(np.median(lat)) if lat.size else None,
                "p95": float(np.percentile(lat, 95)) if lat.size else None,
                "max": float(lat.max()) if lat.size else None, "n": int(lat.size)},
            "wall_time_s": quartiles([r.wall_s for r in mine]),
            "evaluations": quartiles([float(r.n_evals) for r in mine]),
            "metrics": {k: spread([r.metrics.get(k, math.inf) for r in mine])
                        for k in dict.fromkeys(k for r in mine for k in r.metrics)},
            "failed_episodes": [{"seed": r.seed, "error": r.error.splitlines()[0]} for r in mine if r.error],
            "reconstruction": next((r.reconstruction for r in mine if r.reconstruction), None),
        }
    return agents


def write_report(results: list[EpisodeResult], out: str | Path | None, *, scenario: str | None = None,
                 workers: int = 1, scheduler: str | None = None) -> dict[str, Any]:
    """Write the report files into ``out`` (if given); return the summary."""
    task = results[0].task if results else scenario
    summary = {"agents": summarise(results), "scenario": scenario or task, "task": task,
               "target": results[0].target if results else None,
               "seeds": sorted({r.seed for r in results}), "workers": workers, "scheduler": scheduler or "local"}
    if out is None:
        return summary
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "episodes.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["agent", "seed", "evals_to_target", "final_error", "n_evals", "wall_s", "latency_median_s",
                    "latency_p95_s", "error"])
        for r in results:
            lat = np.asarray(r.latencies or [math.nan])
            w.writerow([r.agent, r.seed, r.evals_to_target if r.evals_to_target is not None else "", r.final_error,
                        r.n_evals, f"{r.wall_s:.3f}", f"{np.median(lat):.5f}", f"{np.percentile(lat, 95):.5f}",
                        (r.error or "").splitlines()[0] if r.error else ""])
    with open(out / "traces.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["agent", "seed", "evaluations", "fraction_of_reference", "error"])
        for r in results:
            for n, e in r.trace:
                w.writerow([r.agent, r.seed, n, n / r.reference_points if r.reference_points else "", e])
    with open(out / "latency.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["agent", "seed", "suggestion", "latency_s"])
        for r in results:
            for i, t in enumerate(r.latencies):
                w.writerow([r.agent, r.seed, i + 1, f"{t:.6f}"])
    failed = [r for r in results if r.error]
    if failed:  # the whole message of every lost episode (summary.json and episodes.csv keep its first line)
        (out / "failures.txt").write_text("".join(f"== {r.agent} seed {r.seed}\n{r.error}\n" for r in failed))
    _plots(results, out, summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _plots(results: list[EpisodeResult], out: Path, summary: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in summary["agents"]:
        mine = [r for r in results if r.agent == name and r.trace]
        if not mine:
            continue
        ns = sorted({n for r in mine for n, _ in r.trace})
        grid = np.array([[_at(r.trace, n) for n in ns] for r in mine])
        med = np.nanmedian(grid, axis=0)
        ax.plot(ns, med, label=name)
        ax.fill_between(ns, np.nanpercentile(grid, 25, axis=0), np.nanpercentile(grid, 75, axis=0), alpha=0.2)
    target = summary.get("target")
    if target is not None and math.isfinite(target):
        ax.axhline(target, color="k", ls="--", lw=0.8, label="target")
    ax.set_yscale("log")
    ref = results[0].reference_points if results else None
    ax.set_xlabel(f"evaluations (fraction measured = n / {ref}, the reference design)" if ref else "evaluations")
    ax.set_ylabel(f"error ({summary['task']}): median and quartiles")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "error_vs_evaluations.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    for name in summary["agents"]:
        mine = [r for r in results if r.agent == name]
        colour = f"C{list(summary['agents']).index(name)}"
        for k, r in enumerate(mine):
            ax.plot(np.arange(1, len(r.latencies) + 1), r.latencies, ".", ms=2, color=colour,
                    label=name if k == 0 else None)
    ax.set_yscale("log")
    ax.set_xlabel("suggestion")
    ax.set_ylabel("latency (s)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=110)
    plt.close(fig)


def _at(trace: list[tuple[int, float]], n: int) -> float:
    """The error after ``n`` evaluations (the last recorded at or before n; the final one after the end)."""
    before = [e for k, e in trace if k <= n]
    value = before[-1] if before else np.nan
    return float(value) if math.isfinite(value) else np.nan
