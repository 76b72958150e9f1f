"""The ``xafs_edge`` experiment: find and measure an absorption edge, then an XAFS region scan.

1. **Edge search, per event**: ``acq.plans.ask_tell_scan`` steps the monochromator energy with
   the slope agent (small steps where μt = ln(I0/It) changes fast, large ones where it is
   flat); E0 (maximum of the derivative) and the edge step Δμt come from the stored run,
   read back from the catalog (``acq.callbacks.edge``).
2. **Region scan**: ``acq.plans.xafs_scan`` in energy before and across the edge and in k
   above it, around the E0 just found; the run is exported as XDI next to the netCDF file.

Success criteria against the twin's truth: ``e0`` (|E0 − E0 true| ≤ ``e0_tolerance_ev``),
``edge_step`` (relative error ≤ ``step_tolerance``), ``regions_complete`` (every planned
point of the region scan stored) and ``xdi`` (the XDI file carries the spec's required fields).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

import beamlines
from acq import plans
from acq.callbacks import LiveProgress, LiveTable, PlotPNG
from acq.callbacks.edge import edge_e0, edge_step
from acq.devices import MonoEnergy, Motor, Scaler
from acq.loop import call_in_loop
from adaptive.agents import SlopeAgent
from adaptive.wiring import Guarded
from scenarios import scenario as scenarios
from scenarios.experiments.fields import Fields
from scenarios.runner import Outcome, beamline_environment, connect_profile, device_of, scenario_engine
from store import Catalog, Writer
from store.export import export
from twin.physics import BeamlineModel

#: what the exported XDI file must hold (XDI 1.0: version line, Column.1 with units, element and edge)
XDI_REQUIRED = ("# XDI/1.", "# Column.1: energy eV", "# Element.symbol:", "# Element.edge:", "# Mono.d_spacing:")


@dataclass(frozen=True)
class XafsPlan:
    """The experiment's fields, validated."""

    bragg: str
    d_spacing: float
    detector: str
    i0: str
    it: str
    element: str
    edge: str
    search: tuple[float, float]
    search_count_time: float
    target_delta: float
    min_step: float
    max_step: float
    max_points: int
    pre: tuple[float, float]
    post: tuple[float, float]
    regions: list[tuple[float, float, float, float, str]]
    k_weight: float
    focus: tuple[float, float] = (-10.0, 10.0)
    dwell_budget: float | None = None  # the search's total counting time in count_times (None: each point one)

    @property
    def reference_points(self) -> int:
        """Points of a 0.5 eV fixed-step scan over the search range (the yardstick)."""
        return round((self.search[1] - self.search[0]) / 0.5) + 1


def parse(sc: scenarios.Scenario) -> XafsPlan:
    """The ``xafs_edge`` experiment of ``sc``; errors name the bad field."""
    f = Fields(sc.experiment, "experiment", sc.path)
    f.only("plan", "mono", "detector", "i0", "it", "element", "edge", "search", "windows", "regions", "k_weight")
    mono = f.sub("mono")
    mono.only("bragg", "d_spacing")
    search = f.sub("search")
    search.only("range", "count_time", "target_delta", "min_step", "max_step", "max_points", "focus", "dwell_budget")
    windows = f.sub("windows", {})
    windows.only("pre", "post")
    min_step = search.number("min_step", positive=True)
    max_step = search.number("max_step", positive=True)
    if max_step < min_step:
        search.fail("experiment.search.max_step", f"({max_step}) must not be below min_step ({min_step})")
    focus = search.span("focus", [-10.0, 10.0])
    if not focus[0] < 0 < focus[1]:
        search.fail("experiment.search.focus", f"must be [low, high] eV around E0, low < 0 < high; got {list(focus)}")
    max_points = search.integer("max_points")
    dwell_budget = search.value("dwell_budget", None)
    if dwell_budget is not None:
        dwell_budget = search.number("dwell_budget", positive=True)
        if dwell_budget < max_points:
            search.fail("experiment.search.dwell_budget", f"({dwell_budget:g} count times) must not be below "
                        f"max_points ({max_points}): every point counts at least count_time")
    regions_raw = f.value("regions", None)
    if not isinstance(regions_raw, list) or not regions_raw:
        f.fail("experiment.regions", f"must be a list of [start, stop, step, count_time, unit], got {regions_raw!r}")
    regions = []
    for i, r in enumerate(regions_raw):
        try:
            if not isinstance(r, list) or len(r) not in (4, 5):
                raise TypeError("give [start, stop, step, count_time, 'eV'|'k']")
            reg = plans.Region(*r)
            plans.xafs_points(0.0, [reg])  # the plan's own checks
        except (TypeError, ValueError) as exc:
            f.fail(f"experiment.regions[{i}]", f"is not a region: {str(exc).replace('regions[0]', 'it')} (got {r!r})")
        regions.append((reg.start, reg.stop, reg.step, reg.count_time, reg.unit))
    try:
        plans.xafs_points(0.0, regions)
    except ValueError as exc:
        f.fail("experiment.regions", f"overlap: {exc}")
    return XafsPlan(
        bragg=mono.text("bragg"), d_spacing=mono.number("d_spacing", 3.1356, positive=True),
        detector=f.text("detector"), i0=f.text("i0"), it=f.text("it"), element=f.text("element"),
        edge=f.text("edge", "K"), search=search.span("range"),
        search_count_time=search.number("count_time", positive=True),
        target_delta=search.number("target_delta", positive=True), min_step=min_step, max_step=max_step,
        max_points=max_points, pre=windows.span("pre", [-150.0, -30.0]),
        post=windows.span("post", [50.0, 300.0]), regions=regions, k_weight=f.number("k_weight", 1.0),
        focus=focus, dwell_budget=dwell_budget)


def slope_options(xp: XafsPlan) -> dict[str, Any]:
    """The slope agent's options for the edge search (``beamtwin run`` and ``beamtwin evaluate`` alike):
    the per-event scan (by slope within ``focus`` of the edge), then what ``max_points`` leaves fills
    the edge step's pre-/post-edge windows, counting ``dwell_budget`` count times in all when given."""
    return {"target_delta": xp.target_delta, "min_step": xp.min_step, "max_step": xp.max_step,
            "budget": xp.max_points, "windows": [list(xp.pre), list(xp.post)], "focus": list(xp.focus),
            **({"dwell_budget": xp.dwell_budget} if xp.dwell_budget is not None else {})}


def mu_of(readings: dict[str, Any], i0: str, it: str) -> float:
    """μt = ln(I0/It) from one event's readings (NaN where a channel counted nothing)."""
    a, b = float(readings[i0]["value"]), float(readings[it]["value"])
    return math.log(a / b) if a > 0 and b > 0 else math.nan


def measure_edge(energy: np.ndarray[Any, Any], mu: np.ndarray[Any, Any], xp: XafsPlan) -> tuple[float, float]:
    """(E0, Δμt) of a measured edge."""
    e0 = edge_e0(energy, mu)
    return e0, edge_step(energy, mu, e0, pre=xp.pre, post=xp.post)


def run_xafs(sc: scenarios.Scenario, *, data_dir: Path, seed: int, speed: float, out: TextIO, no_twin: bool,
             profile: str | None) -> Outcome:
    """Run the experiment (see the module docstring) and judge it against the twin's truth."""
    xp = parse(sc)
    device_file = beamlines.load(profile) if profile else sc.beamline
    spec = (device_file.get("devices") or {}).get(xp.bragg)
    if not isinstance(spec, dict) or spec.get("kind") != "motor":
        raise ValueError(f"{sc.path}: experiment.mono.bragg names {xp.bragg!r}, which is not a motor of "
                         f"beamline {device_file.get('name', '')!r}")
    data_dir = Path(data_dir)
    with beamline_environment(sc, seed=seed, speed=speed, no_twin=no_twin, out=out) as where:
        devices = connect_profile(device_file, where)
        device_of(devices, xp.bragg, Motor)
        det = device_of(devices, xp.detector, Scaler)
        for ch in (xp.i0, xp.it):
            if ch not in det.channel_names:
                raise ValueError(f"{sc.path}: experiment: scaler {xp.detector!r} has no channel {ch!r} "
                                 f"(has: {det.channel_names})")
        i0, it = getattr(det, xp.i0).name, getattr(det, xp.it).name  # reading names (det_I0, …)
        mono = MonoEnergy(str(spec["prefix"]), name="energy", d_spacing=xp.d_spacing, bragg="")
        call_in_loop(mono.connect())
        for e in (*xp.search, *(e for e, _ in plans.xafs_points(float(np.mean(xp.search)), xp.regions))):
            mono.check_value(e)  # before anything moves (the regions checked around the range's middle)
        md = {"element": xp.element, "edge": xp.edge, "d_spacing": xp.d_spacing,
              "xdi_labels": {i0: "i0", it: "itrans", f"{det.name}_If": "ifluor"}}
        RE = scenario_engine(sc, device_file, where, data_dir)
        RE.subscribe(Writer(data_dir))
        RE.subscribe(LiveTable(out=out))
        if sys.stderr.isatty():
            RE.subscribe(LiveProgress())
        # 1. the edge, per event
        agent = Guarded(SlopeAgent([list(xp.search)], seed=seed, **slope_options(xp)))
        (search_uid,) = RE(plans.ask_tell_scan([det], [mono], agent, reduce=lambda r: mu_of(r, i0, it),
                                               max_points=xp.max_points, md={**md, "purpose": "edge search"},
                                               count_time=(det.preset_time, xp.search_count_time)))
        call_in_loop(det.preset_time.put(xp.search_count_time))  # what the region scan's count times start from
        if agent.error:
            raise RuntimeError(f"edge search: {agent.error}")
        ds = Catalog(data_dir)[search_uid].stream("primary")
        energy = np.asarray(ds["energy"].values, dtype=float)
        counting = float(ds[det.elapsed_time.name].sum())  # the scaler's own count times, as stored
        mu = np.log(np.asarray(ds[i0].values, dtype=float) / np.asarray(ds[it].values, dtype=float))
        e0, step = measure_edge(energy, mu, xp)
        out.write(f"edge search: {len(energy)} points (a 0.5 eV scan: {xp.reference_points}), counting "
                  f"{counting:.1f} s; E0 {e0:.3f} eV, edge step Δμt {step:.4f}\n")
        # 2. the XAFS region scan around E0
        plot = PlotPNG("energy", f"{it}_norm", data_dir)
        token = RE.subscribe(plot)
        (xafs_uid,) = RE(plans.xafs_scan([det], mono, e0, xp.regions, count_time=det.preset_time,
                                         k_weight=xp.k_weight, i0=i0, normalise=[it],
                                         md={**md, "purpose": "xafs regions", "e0": e0, "edge_step": step}))
        RE.unsubscribe(token)
    catalog = Catalog(data_dir)
    run = catalog[xafs_uid]
    (xdi,) = export(run.documents(), "xdi", out_dir=data_dir)
    truth = BeamlineModel(sc.beamline["physics"], seed=seed).truth() if where["simulated"] else {}
    outcome = Outcome(uids=(search_uid, xafs_uid), path=run.path, fit=None, truth=truth, plot=plot.path)
    outcome.details.update(
        e0=e0, edge_step=step, search_points=len(energy), reference_points=xp.reference_points,
        search_counting_s=counting, reference_counting_s=xp.reference_points * xp.search_count_time,
        planned_points=len(plans.xafs_points(e0, xp.regions, xp.k_weight)),
        stored_points=int(run.stream("primary").sizes.get("time", 0)), xdi=str(xdi),
        search_path=str(catalog[search_uid].path))
    judge(outcome, sc)
    outcome.details["report"] = report_lines(outcome)
    return outcome


def xdi_problems(path: str | Path) -> list[str]:
    """What the XDI file at ``path`` lacks of the fields the scenario needs (empty: none)."""
    p = Path(path)
    if not p.is_file():
        return [f"no XDI file at {p}"]
    text = p.read_text()
    return [f"no line starting {line!r}" for line in XDI_REQUIRED if not any(
        ln.startswith(line) for ln in text.splitlines())]


def judge(outcome: Outcome, sc: scenarios.Scenario) -> None:
    """Fill ``outcome.checks`` from the details, the success criteria and the twin's truth."""
    d = outcome.details
    outcome.checks["stored"] = outcome.path is not None and Path(outcome.path).exists()
    outcome.checks["regions_complete"] = d.get("stored_points") == d.get("planned_points")
    problems = xdi_problems(d.get("xdi", ""))
    d["xdi_problems"] = problems
    outcome.checks["xdi"] = not problems
    if "e0_ev" not in outcome.truth:
        return  # the real beamline has no ground truth to compare with
    f = Fields(sc.success, "success", sc.path)
    e0_tol = f.number("e0_tolerance_ev", 0.25, positive=True)
    step_tol = f.number("step_tolerance", 0.03, positive=True)
    e0_error = abs(float(d.get("e0", math.nan)) - float(outcome.truth["e0_ev"]))
    step_error = abs(float(d.get("edge_step", math.nan)) / float(outcome.truth["edge_step"]) - 1.0)
    d.update(e0_error=e0_error, e0_tolerance=e0_tol, step_error=step_error, step_tolerance=step_tol)
    outcome.checks["e0"] = e0_error <= e0_tol
    outcome.checks["edge_step"] = step_error <= step_tol


def report_lines(outcome: Outcome) -> list[str]:
    """What ``beamtwin run`` prints about an xafs-edge run."""
    d = outcome.details
    lines = [f"edge search: {d['search_points']} points ({100 * d['search_points'] / d['reference_points']:.0f} % "
             f"of a 0.5 eV scan's {d['reference_points']}), counting {d['search_counting_s']:.1f} s (the scan's "
             f"{d['reference_counting_s']:.1f} s)",
             f"XDI: {d['xdi']}"]
    if "e0_error" in d:
        lines.append(f"E0 {d['e0']:.3f} eV (true {outcome.truth['e0_ev']:.3f}, |error| {d['e0_error']:.3f} ≤ "
                     f"{d['e0_tolerance']:g}?)")
        lines.append(f"edge step {d['edge_step']:.4f} (true {outcome.truth['edge_step']:.4f}, relative error "
                     f"{d['step_error']:.4f} ≤ {d['step_tolerance']:g}?)")
    return lines
