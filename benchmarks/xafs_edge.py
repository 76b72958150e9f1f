"""Per-event edge scan vs a 0.5 eV fixed-step scan on the twin's Cu K edge (issue 7's edge target).

For each seed (a twin with its own noise): the slope agent steps through the scenario
``xafs-edge``'s search range per event, with the evaluation environment's options; a 0.5 eV
fixed-step scan covers the same range on a twin of the same seed. Both are reduced the same way
(``acq.callbacks.edge``: E0 = maximum of the derivative, the edge step from one fit of the pre- and
post-edge windows) and compared with the twin's truth.

The criterion ("as precisely as a 0.5 eV fixed-step scan with ≤ 50 % of its points"), judged
over all seeds together because one noise draw per seed makes a per-seed verdict a coin toss:

- E0: the RMS over seeds of (E0 found − E0 true) of the slope scan ≤ that of the 0.5 eV scan;
- edge step: the RMS over seeds of (step found / step true − 1) of the slope scan ≤ that of the
  0.5 eV scan (judged separately from E0);
- points: every slope scan measures ≤ 50 % of the 0.5 eV scan's points;
- counting time: no slope scan counts longer in all than the 0.5 eV scan (921 count times).

The slope agent runs with the evaluation environment's options: the per-event scan, then what its
budget (the scenario's ``max_points``, half the 0.5 eV scan) leaves goes into the edge step's pre-
and post-edge windows; within the scenario's ``focus`` around the edge it steps by slope, elsewhere
by ``max_step``; with the scenario's ``dwell_budget`` (921 count times) it counts the fill longer by
its weight in the edge step. The same design at the base count time everywhere (``direct_same_dwell``,
session 5's reading of the criterion) and the scan alone (no window fill, the same focus;
``direct_scan_only``) are judged the same way beside it.

Medians of the absolute errors and the mean (bias) are printed beside the RMS. One noise draw per
seed leaves an RMS over 20 seeds uncertain by about ±16 %, so ``step_design`` adds each design's
exact error budget for the step: its bias on the noise-free μt and its standard deviation from the
Poisson noise of I0 and It (the reduction is a weighted sum of μt), and the expected RMS
√(bias² + sd²) of both designs with their ratio.

    python -P benchmarks/xafs_edge.py [--seeds 20] [--first-seed 0] [--jobs 2] [--ca 3] [--ca-speed 1]

The seeds run in the physics model (direct mode, ``--jobs`` processes); ``--ca N`` also runs both
designs on N of them full stack (each on its own twin subprocess, devices over CA, our RunEngine,
one run per point), with their wall time per point; at ``--ca-speed 1`` (simulated time = wall time)
that is each design's beamline time, and the wall time less the counting time is the measured
overhead per point (move, settle, CA, the engine). The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from acq.callbacks.edge import step_weights
from adaptive.agents import make_agent
from scenarios.envs.xafs_edge import XafsEdgeEnv, edge_criterion, fixed_step_points

SLOPE_OPTIONS: dict[str, Any] = {}  # --slope-option KEY=VALUE: over the environment's options


def _set_options(options: dict[str, Any]) -> None:
    """A worker's slope options (the parent's ``--slope-option``s)."""
    SLOPE_OPTIONS.update(options)


def slope_scan(env: XafsEdgeEnv, fill: bool = True, dwell: bool = True) -> dict[str, Any]:
    """The slope agent against ``env`` until it stops asking (``fill``: with the environment's window
    fill, else the scan alone; ``dwell``: with the scenario's ``dwell_budget``, else the base count
    time everywhere); its signed errors, point count and counting time (in count times)."""
    opts = {**env.agent_options("slope"), **SLOPE_OPTIONS}
    if not fill:
        opts = {k: v for k, v in opts.items() if k not in ("budget", "windows", "dwell_budget")}
    if not dwell:
        opts.pop("dwell_budget", None)
    agent = make_agent("slope", env.bounds, seed=env.seed, **opts)
    xs, ys, dwells = [], [], []
    t0 = time.perf_counter()
    for _ in range(env.budget):
        pts = agent.ask(1)
        if not len(pts):
            break
        dwells.append(agent.dwell(pts[0]))
        y = env.measure(pts[0], dwells[-1])
        agent.tell(pts[0], y)
        xs.append(pts[0])
        ys.append(y)
    wall = time.perf_counter() - t0
    e0, step = env.edge_errors(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
    return {"points": len(xs), "counting_time": float(sum(dwells)), "e0_error_ev": e0, "step_error": step,
            "wall_s": wall, "energies": np.asarray(xs, dtype=float).ravel(), "dwells": np.asarray(dwells)}


def fixed_scan(env: XafsEdgeEnv) -> dict[str, Any]:
    """The 0.5 eV scan against ``env`` (over CA: for its wall time per point beside the slope scan's)."""
    pts = fixed_step_points(env.xp)
    t0 = time.perf_counter()
    ys = [env.measure(np.array([p])) for p in pts]
    wall = time.perf_counter() - t0
    e0, step = env.edge_errors(pts[:, None], np.asarray(ys, dtype=float))
    return {"points": len(pts), "counting_time": float(len(pts)), "e0_error_ev": e0, "step_error": step,
            "wall_s": wall}


def step_design(env: XafsEdgeEnv, energies: np.ndarray[Any, Any],
                dwells: np.ndarray[Any, Any] | None = None) -> dict[str, float]:
    """The edge step's error that the points ``energies`` (counted ``dwells`` count times each; 1 if
    not given) give on this twin, noise aside: the bias (the reduction on the noise-free μt at those
    energies, at the true E0) and the standard deviation that the Poisson noise of I0 and It gives it
    (the reduction is a weighted sum of the μt values), both relative to the true step. Exact for a
    design, where one noise draw per seed leaves the RMS over 20 seeds uncertain by ±16 %."""
    truth, e0 = float(env.truth["edge_step"]), float(env.truth["e0_ev"])
    t = np.ones(len(energies)) if dwells is None else np.asarray(dwells, dtype=float)
    mu, var = np.array([env.mean_mu(float(e), float(d)) for e, d in zip(energies, t, strict=True)]).T
    w = step_weights(energies, e0, pre=env.xp.pre, post=env.xp.post)
    return {"bias": float(w @ mu) / truth - 1.0, "sd": float(np.sqrt(np.sum(w**2 * var))) / truth}


def direct_seed(seed: int) -> dict[str, Any]:
    """Both designs on the physics model of ``seed`` (the environment measures the 0.5 eV scan)."""
    env = XafsEdgeEnv(seed=seed, mode="direct")
    assert env.reference is not None and env.reference_points is not None
    e0, step = env.reference
    scan_only = slope_scan(XafsEdgeEnv(seed=seed, mode="direct", target=0.0), fill=False)
    same_dwell = slope_scan(XafsEdgeEnv(seed=seed, mode="direct", target=0.0), dwell=False)
    slope = slope_scan(env)
    design = {"slope": step_design(env, slope.pop("energies"), slope.pop("dwells")),
              "same_dwell": step_design(env, same_dwell.pop("energies")),
              "fixed": step_design(env, fixed_step_points(env.xp))}
    for r in (scan_only, same_dwell):
        r.pop("energies", None)
        r.pop("dwells", None)
    return {"seed": seed, "slope": slope, "same_dwell": same_dwell, "scan_only": scan_only, "design": design,
            "fixed": {"points": env.reference_points, "counting_time": float(env.reference_points),
                      "e0_error_ev": e0, "step_error": step}}


def ca_seed(seed: int, speed: float | None = None) -> dict[str, Any]:
    """Both designs full stack over CA, each on its own twin of ``seed`` at ``speed`` (simulated s per
    wall s; the scenario's if None): errors, counting time and wall time (per point)."""
    out: dict[str, Any] = {"seed": seed}
    for who, scan in (("slope", slope_scan), ("fixed", fixed_scan)):
        env = XafsEdgeEnv(seed=seed, mode="ca", speed=speed, target=0.0)
        try:
            r = scan(env)
        finally:
            env.close()
        r.pop("energies", None)
        r.pop("dwells", None)
        r["wall_per_point_s"] = r["wall_s"] / r["points"]
        r["overhead_per_point_s"] = (r["wall_s"] * (speed or env.sc.speed)
                                     - r["counting_time"] * env.xp.search_count_time) / r["points"]
        out[who] = r
    return out


def design_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Over the seeds, per design: the mean noise-free bias of the step, the RMS of its standard
    deviation, and the expected RMS error √(bias² + sd²) (relative); each adaptive design's ratios
    to the 0.5 eV scan."""
    out: dict[str, Any] = {}
    for who in ("slope", "same_dwell", "fixed"):
        bias = np.array([r["design"][who]["bias"] for r in rows])
        sd = np.array([r["design"][who]["sd"] for r in rows])
        out[who] = {"bias": float(bias.mean()), "sd": float(np.sqrt(np.mean(sd**2))),
                    "expected_rms": float(np.sqrt(np.mean(bias**2 + sd**2)))}
    for who in ("slope", "same_dwell"):
        out[who]["sd_ratio"] = out[who]["sd"] / out["fixed"]["sd"]
        out[who]["expected_rms_ratio"] = out[who]["expected_rms"] / out["fixed"]["expected_rms"]
    return out


def line(row: dict[str, Any], how: str) -> str:
    """One seed's result as a line."""
    def part(name: str, r: dict[str, Any]) -> str:
        wall = f" {r['wall_per_point_s'] * 1e3:.1f} ms/pt" if "wall_per_point_s" in r else ""
        return (f"{name} {r['points']} pts {r.get('counting_time', r['points']):.0f} t0 E0 {r['e0_error_ev']:+.4f} eV "
                f"step {r['step_error']:+.5f}{wall}")

    designs = [("slope", "slope"), ("same_dwell", "same dwell"), ("scan_only", "scan only"), ("fixed", "0.5 eV scan")]
    return f"seed {row['seed']} {how}: " + " | ".join(part(label, row[k]) for k, label in designs if k in row)


def main() -> None:
    """Run the comparison and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="processes for the direct-mode seeds")
    ap.add_argument("--ca", type=int, default=0, help="seeds (the first N) to run full stack over CA too")
    ap.add_argument("--ca-speed", type=float, default=None,
                    help="the CA twins' speed (simulated s per wall s; 1: real time, so wall time = beamline time)")
    ap.add_argument("--slope-option", action="append", default=[], metavar="KEY=VALUE",
                    help="a slope agent option over the environment's (JSON value)")
    args = ap.parse_args()
    for kv in args.slope_option:
        key, _, value = kv.partition("=")
        SLOPE_OPTIONS[key] = json.loads(value)
    if args.seeds < 1 or args.jobs < 1 or args.ca < 0:
        raise SystemExit("--seeds and --jobs must be positive, --ca not negative")
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    with ProcessPoolExecutor(args.jobs, initializer=_set_options, initargs=(SLOPE_OPTIONS,)) as pool:
        rows = []
        for row in pool.map(direct_seed, seeds):
            rows.append(row)
            print(line(row, "direct"), flush=True)
    ca_rows = []
    for seed in seeds[:args.ca]:
        ca_rows.append(ca_seed(seed, args.ca_speed))
        print(line(ca_rows[-1], "over CA"), flush=True)
    figures: dict[str, Any] = {"benchmark": "xafs_edge", "seeds": seeds, "direct": edge_criterion(rows),
                               "step_design": design_summary(rows),
                               "direct_same_dwell": edge_criterion([{**r, "slope": r["same_dwell"]} for r in rows]),
                               "direct_scan_only": edge_criterion([{**r, "slope": r["scan_only"]} for r in rows]),
                               "slope_options": SLOPE_OPTIONS}
    if ca_rows:
        figures["ca"] = {**edge_criterion(ca_rows), "speed": args.ca_speed, "per_seed": [
            {"seed": r["seed"], **{who: {k: r[who][k] for k in ("points", "counting_time", "e0_error_ev", "step_error",
                                                                 "wall_s", "wall_per_point_s", "overhead_per_point_s")}
                                   for who in ("slope", "fixed")}} for r in ca_rows]}
    figures.update({"wall_s": round(time.perf_counter() - t0, 1),
                    "load_average_1min": {"start": load0, "end": os.getloadavg()[0]}})
    d = figures["direct"]
    sd = figures["step_design"]
    for who in ("slope", "same_dwell"):
        print(f"step design over {len(rows)} seeds ({who}): sd {sd[who]['sd']:.5f} vs {sd['fixed']['sd']:.5f} "
              f"(ratio {sd[who]['sd_ratio']:.3f}); bias {sd[who]['bias']:+.5f} vs {sd['fixed']['bias']:+.5f}; "
              f"expected RMS ratio {sd[who]['expected_rms_ratio']:.3f}")
    print(f"over {len(rows)} seeds: E0 RMS slope {d['e0_rms_ev']['slope']:.4f} vs 0.5 eV scan "
          f"{d['e0_rms_ev']['fixed']:.4f} eV; step RMS {d['step_rms']['slope']:.5f} vs {d['step_rms']['fixed']:.5f}; "
          f"points ≤ {d['points_fraction_max']:.2f} of the scan's, counting time ≤ "
          f"{d['counting_time_fraction_max']:.4f}; met: {d['met']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
