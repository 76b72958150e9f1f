"""The ``phase_library`` experiment: cross-run clustering of diffraction patterns over a sample library.

Each run measures one spot of the library: the stage moves to the spot, the detector arm
scans 2θ (one stored run per spot, the spot's position in the start document). After every
run the cluster agent (scikit-learn k-means on normalised patterns) is told the pattern as
read back from the catalog, and chooses the next spot where the phase is least certain
(neighbours that disagree, or no measured neighbour near). At the end every stored run of
the campaign is read back from the catalog, clustered afresh, and the phase of every spot
of the library is predicted from its measured neighbours.

Success criteria against the twin's truth: ``ari`` (adjusted Rand index of the predicted
labels over the whole library ≥ ``min_ari``) and ``runs_stored`` (one stored run per
measured spot).
"""

from __future__ import annotations

import uuid
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from sklearn.metrics import adjusted_rand_score

import beamlines
from acq import plans
from acq.devices import Motor, Scaler
from acq.loop import call_in_loop
from adaptive.agents import ClusterAgent
from adaptive.wiring import observations_from_catalog, run_campaign
from scenarios import scenario as scenarios
from scenarios.experiments.fields import Fields
from scenarios.runner import Outcome, beamline_environment, connect_profile, device_of, scenario_engine
from store import Catalog, Writer
from twin.physics import BeamlineModel


@dataclass(frozen=True)
class PhasePlan:
    """The experiment's fields, validated."""

    detector: str
    channel: str
    arm: str
    stage: tuple[str, str]
    x: tuple[float, float, int]
    y: tuple[float, float, int]
    pattern: tuple[float, float, int]
    count_time: float
    n_phases: int
    budget: int
    method: str

    def library(self) -> np.ndarray[Any, Any]:
        """The spots of the library, (n, 2), x slowest."""
        gx = np.linspace(*self.x[:2], self.x[2])
        gy = np.linspace(*self.y[:2], self.y[2])
        return np.stack(np.meshgrid(gx, gy, indexing="ij"), axis=-1).reshape(-1, 2)

    def bounds(self) -> list[list[float]]:
        """The stage's box around the library."""
        return [[min(self.x[:2]), max(self.x[:2])], [min(self.y[:2]), max(self.y[:2])]]


def _grid(f: Fields, key: str) -> tuple[float, float, int]:
    value = f.raw.get(key)
    if (not isinstance(value, list) or len(value) != 3 or any(isinstance(v, bool) for v in value)
            or not all(isinstance(v, int | float) for v in value[:2]) or not isinstance(value[2], int)
            or value[2] < 2 or value[0] >= value[1]):
        f.fail(f"{f.where}.{key}", f"must be [from, to, count] with from < to and an integer count ≥ 2, got {value!r}")
    return float(value[0]), float(value[1]), int(value[2])


def parse(sc: scenarios.Scenario) -> PhasePlan:
    """The ``phase_library`` experiment of ``sc``; errors name the bad field."""
    f = Fields(sc.experiment, "experiment", sc.path)
    f.only("plan", "detector", "channel", "arm", "stage", "library", "pattern", "phases", "budget", "method")
    stage = f.value("stage", None)
    if not isinstance(stage, list) or len(stage) != 2 or not all(isinstance(s, str) for s in stage):
        f.fail("experiment.stage", f"must name the two stage motors [x, y], got {stage!r}")
    lib = f.sub("library")
    lib.only("x", "y")
    pat = f.sub("pattern")
    pat.only("start", "stop", "num", "count_time")
    start, stop = pat.number("start"), pat.number("stop")
    if stop <= start:
        pat.fail("experiment.pattern.stop", f"({stop}) must be above start ({start})")
    method = f.text("method", "kmeans")
    if method not in ("kmeans", "gmm", "nmf"):
        f.fail("experiment.method", f"must be kmeans, gmm or nmf, got {method!r}")
    xp = PhasePlan(detector=f.text("detector"), channel=f.text("channel"), arm=f.text("arm"),
                   stage=(stage[0], stage[1]), x=_grid(lib, "x"), y=_grid(lib, "y"),
                   pattern=(start, stop, pat.integer("num", minimum=3)),
                   count_time=pat.number("count_time", positive=True), n_phases=f.integer("phases", minimum=2),
                   budget=f.integer("budget", minimum=2), method=method)
    if xp.budget > len(xp.library()):
        f.fail("experiment.budget", f"({xp.budget}) exceeds the library's {len(xp.library())} spots")
    return xp


def true_labels(physics: dict[str, Any], seed: int, spots: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The twin's majority phase at every spot."""
    sample = BeamlineModel(physics, seed=seed).sample
    labels = getattr(sample, "labels", None)
    if labels is None:
        raise ValueError("the beamline's sample has no phases (physics.sample.kind must be phase_library)")
    return np.asarray(labels(spots[:, 0], spots[:, 1]))


def recovered_labels(xp: PhasePlan, seed: int, xs: np.ndarray[Any, Any], ys: list[Any]) -> np.ndarray[Any, Any]:
    """Phase labels of every library spot from measured (position, pattern) pairs."""
    judge = ClusterAgent(xp.bounds(), candidates=xp.library(), n_clusters=xp.n_phases, method=xp.method, seed=seed)
    judge.tell_many(xs, list(ys))
    return np.asarray(judge.predict_labels(xp.library()))


def run_phases(sc: scenarios.Scenario, *, data_dir: Path, seed: int, speed: float, out: TextIO, no_twin: bool,
               profile: str | None) -> Outcome:
    """Run the campaign (see the module docstring) and judge it against the twin's truth."""
    xp = parse(sc)
    device_file = beamlines.load(profile) if profile else sc.beamline
    data_dir = Path(data_dir)
    campaign_id = str(uuid.uuid4())
    with beamline_environment(sc, seed=seed, speed=speed, no_twin=no_twin, out=out) as where:
        devices = connect_profile(device_file, where)
        arm = device_of(devices, xp.arm, Motor)
        sx, sy = (device_of(devices, n, Motor) for n in xp.stage)
        det = device_of(devices, xp.detector, Scaler)
        if xp.channel not in det.channel_names:
            raise ValueError(f"{sc.path}: experiment.channel: scaler {xp.detector!r} has no channel {xp.channel!r} "
                             f"(has: {det.channel_names})")
        field = getattr(det, xp.channel).name
        for p in xp.pattern[:2]:
            arm.check_value(p)
        for motor, values in ((sx, xp.x[:2]), (sy, xp.y[:2])):
            for v in values:
                motor.check_value(v)  # before anything moves
        call_in_loop(det.preset_time.put(xp.count_time))
        RE = scenario_engine(sc, device_file, where, data_dir)
        RE.subscribe(Writer(data_dir))
        agent = ClusterAgent(xp.bounds(), candidates=xp.library(), n_clusters=xp.n_phases, method=xp.method,
                             seed=seed)
        catalog = Catalog(data_dir)

        def measure_spot(params: np.ndarray[Any, Any]) -> Generator[Any, Any, Any]:
            px, py = (float(v) for v in params)
            yield from plans.mv(sx, px, sy, py)
            return (yield from plans.scan([det], arm, xp.pattern[0], xp.pattern[1], num=xp.pattern[2],
                                          md={"sample_x": px, "sample_y": py}))

        def pattern_from_catalog(docs: list[tuple[str, dict[str, Any]]]) -> np.ndarray[Any, Any]:
            uid = next(d["uid"] for n, d in docs if n == "start")
            values = np.asarray(catalog[uid].stream("primary")[field].values, dtype=float)
            out.write(f"run {len(agent.obs) + 1}/{xp.budget}: spot ({docs[0][1]['sample_x']:+.2f}, "
                      f"{docs[0][1]['sample_y']:+.2f}), {values.sum():.0f} counts\n")
            return values

        campaign = run_campaign(RE, agent, measure_spot, pattern_from_catalog, max_runs=xp.budget,
                                md={"campaign": campaign_id, "purpose": "phase library"})
    # the cross-run read: every stored run of this campaign, back from the catalog
    xs, ys, uids = observations_from_catalog(Catalog(data_dir), ["sample_x", "sample_y"], field,
                                             where=lambda start: start.get("campaign") == campaign_id,
                                             reduce="series")
    outcome = Outcome(uids=tuple(uids), path=Path(data_dir), fit=None, truth={})
    outcome.details.update(runs=len(campaign.runs), runs_ok=len(campaign.values()), stored=len(uids),
                           measured=xs.tolist(), stopped_because=campaign.stopped_because,
                           library=len(xp.library()))
    if len(uids) >= xp.n_phases:
        outcome.details["labels"] = recovered_labels(xp, seed, xs, ys).tolist()
        from scenarios.plots import map_png

        outcome.plot = map_png(xp.library(), outcome.details["labels"], Path(data_dir) / f"{campaign_id}-phases.png",
                               title=f"{sc.name}: phases from {len(uids)} measured spots",
                               axes=("sample_x", "sample_y"), label="phase")
    if where["simulated"]:
        outcome.truth = {"labels": true_labels(sc.beamline["physics"], seed, xp.library()).tolist()}
    judge(outcome, sc)
    outcome.details["report"] = report_lines(outcome)
    return outcome


def judge(outcome: Outcome, sc: scenarios.Scenario) -> None:
    """Fill ``outcome.checks`` from the details, the success criteria and the twin's truth."""
    d = outcome.details
    outcome.checks["runs_stored"] = d.get("stored") == d.get("runs") == d.get("runs_ok") and d.get("stored", 0) > 0
    if "labels" not in outcome.truth:
        return  # the real beamline has no ground truth to compare with
    f = Fields(sc.success, "success", sc.path)
    min_ari = f.number("min_ari", 0.9, positive=True)
    labels = d.get("labels")
    ari = float(adjusted_rand_score(outcome.truth["labels"], labels)) if labels is not None else 0.0
    d.update(ari=ari, min_ari=min_ari)
    outcome.checks["ari"] = ari >= min_ari


def report_lines(outcome: Outcome) -> list[str]:
    """What ``beamtwin run`` prints about a phase-library campaign."""
    d = outcome.details
    lines = [f"measured {d['stored']} of the library's {d['library']} spots ({d['stopped_because']})"]
    if "ari" in d:
        lines.append(f"phase labels over the library: adjusted Rand index {d['ari']:.3f} (≥ {d['min_ari']:g}?)")
    return lines
