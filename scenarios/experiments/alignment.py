"""``plan: align``: maximise the flux over coupled optics axes with an agent, per event over CA.

One run: the agent (GP-BO in the shipped scenario) chooses each point from the events so
far; at the end the motors park on the best measured point. Judged against the twin's
truth: the true flux at the best stored point, and where the motors parked, must reach
``success.flux_fraction`` of the true optimum in the box; no more points than the budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from acq import plans
from adaptive.wiring import Guarded
from scenarios import scenario as scenarios
from scenarios.envs.alignment import true_optimum
from scenarios.envs.spec import CampaignSpec
from scenarios.experiments.campaign import campaign_spec, engine, judge_stored, run_campaign_scan, stored_points
from twin.physics import BeamlineModel


def _park(devices: dict[str, Any], spec: CampaignSpec) -> Any:
    """A plan factory that moves the steered motors to the agent's best measured point."""

    def park(guard: Guarded) -> Iterator[Any]:
        best = guard.agent.report().get("best_x")
        if best is None:
            return
        args: list[Any] = []
        for name, value in zip(spec.names, best, strict=True):
            args += [devices[name], float(value)]
        yield from plans.mv(*args)

    return park


def run_alignment(sc: scenarios.Scenario, *, data_dir: Path, seed: int, speed: float, out: TextIO, no_twin: bool,
                  profile: str | None) -> Any:
    """Run the alignment campaign of ``sc`` and judge it against the twin's optimum."""
    from scenarios.runner import Outcome, beamline_environment

    spec, device_file = campaign_spec(sc, profile, min_axes=1)
    with beamline_environment(sc, seed=seed, speed=speed, no_twin=no_twin, out=out) as where, \
            engine(sc, device_file, spec, where, data_dir, out) as (RE, writer, devices):
        run = run_campaign_scan(RE, writer, devices, spec, seed=seed, park=_park(devices, spec),
                                simulated=bool(where["simulated"]))
    truth: dict[str, Any] = {}
    if run.simulated:
        model = BeamlineModel(sc.beamline["physics"], seed=seed)
        x_opt, flux_opt = true_optimum(model, spec.names, spec.bounds)
        truth = {"optimum": dict(zip(spec.names, x_opt.tolist(), strict=True)), "optimum_flux": flux_opt,
                 **model.truth()}
    outcome = Outcome(uids=run.uids, path=run.path, fit=None, truth=truth)
    outcome.details.update(parked=run.final, agent_error=run.guard.error, budget=spec.budget)
    if run.path is not None and run.uids:
        X, Y = stored_points(data_dir, run.uids[-1], spec, run.key)
        outcome.details.update(points=X.tolist(), values=Y.tolist())
    judge_alignment(outcome, sc, spec, model if run.simulated else None)
    if outcome.details.get("values"):
        from scenarios.plots import progress_png

        outcome.plot = progress_png(outcome.details["values"], Path(data_dir) / f"{run.uids[-1]}-progress.png",
                                    title=f"{sc.name}: {spec.agent} over {', '.join(spec.names)}", ylabel=run.key)
    d = outcome.details
    if "best_fraction" in d:
        out.write(f"best measured point: true flux {d['best_flux']:.4g} = {100 * d['best_fraction']:.1f} % of the "
                  f"twin's optimum {truth['optimum_flux']:.4g} after {len(d['values'])} points; parked at "
                  f"{100 * d['parked_fraction']:.1f} %\n")
    if run.guard.error:
        out.write(f"agent stopped: {run.guard.error}\n")
    return outcome


def judge_alignment(outcome: Any, sc: scenarios.Scenario, spec: CampaignSpec, model: BeamlineModel | None) -> None:
    """Fill ``outcome.checks``: stored, within_budget and (on the twin) best_flux and parked_flux."""
    d = outcome.details
    values = judge_stored(outcome, spec)
    if model is None or "optimum_flux" not in outcome.truth:
        return  # the real beamline has no ground truth to compare with
    need = float(sc.success.get("flux_fraction", 0.95))
    opt = float(outcome.truth["optimum_flux"])
    if values:
        best = dict(zip(spec.names, d["points"][int(np.argmax(values))], strict=True))
        d["best_flux"] = model.flux_at(best)
        d["best_fraction"] = d["best_flux"] / opt
    d["parked_fraction"] = model.flux_at(d["parked"]) / opt if d.get("parked") else 0.0
    outcome.checks["best_flux"] = d.get("best_fraction", 0.0) >= need
    outcome.checks["parked_flux"] = d["parked_fraction"] >= need
