"""``plan: map``: map a 2-D sample with an agent (GP uncertainty sampling), camera frames stored.

One run: the agent chooses each point from the events so far; at each point the scaler
counts and the camera takes a frame into an HDF5 file that the run references
(stream_resource/stream_datum). Judged against the twin's truth: the map reconstructed from
the stored points (linear interpolation) against the noise-free map on a 100×100 grid,
RMSE over the map's range, must be at most ``success.max_map_error``; every event must have
its frame in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

import numpy as np

from acq.devices import AreaDetector
from acq.loop import call_in_loop
from scenarios import scenario as scenarios
from scenarios.envs.sample_map import SampleMapEnv
from scenarios.envs.spec import CampaignSpec
from scenarios.experiments.campaign import campaign_spec, engine, judge_stored, run_campaign_scan, stored_points
from store import Catalog


def run_map(sc: scenarios.Scenario, *, data_dir: Path, seed: int, speed: float, out: TextIO, no_twin: bool,
            profile: str | None) -> Any:
    """Run the mapping campaign of ``sc`` and judge it against the twin's noise-free map."""
    from scenarios.runner import Outcome, beamline_environment

    spec, device_file = campaign_spec(sc, profile, min_axes=2)
    if len(spec.names) != 2:
        raise ValueError(f"{sc.path}: experiment.axes must name exactly 2 motors for a map, got {spec.names}")
    if spec.camera and device_file["devices"][spec.camera]["kind"] != "area_detector":
        raise ValueError(f"{sc.path}: experiment.camera {spec.camera!r} is a "
                         f"{device_file['devices'][spec.camera]['kind']}, not an area_detector")
    data_dir = Path(data_dir).resolve()
    with beamline_environment(sc, seed=seed, speed=speed, no_twin=no_twin, out=out) as where, \
            engine(sc, device_file, spec, where, data_dir, out) as (RE, writer, devices):
        extra: list[Any] = []
        if spec.camera:
            cam = devices[spec.camera]
            assert isinstance(cam, AreaDetector)
            cam.write_path = str(data_dir / "frames")
            call_in_loop(cam.acquire_time.put(spec.count_time))
            extra.append(cam)
        run = run_campaign_scan(RE, writer, devices, spec, seed=seed, extra=extra, simulated=bool(where["simulated"]))
    outcome = Outcome(uids=run.uids, path=run.path, fit=None, truth={})
    outcome.details.update(agent_error=run.guard.error, budget=spec.budget)
    if run.path is not None and run.uids:
        X, Y = stored_points(data_dir, run.uids[-1], spec, run.key)
        outcome.details.update(points=X.tolist(), values=Y.tolist())
        if spec.camera:
            ds = Catalog(data_dir)[run.uids[-1]].stream("primary")
            key = f"{spec.camera}_image"
            frames = np.asarray(ds[key].values) if key in ds else np.zeros((0, 0, 0))
            outcome.details.update(frames=len(frames), frame_shape=list(frames.shape[1:]),
                                   frame_max=[float(f.max()) for f in frames])
            if len(frames):
                from scenarios.plots import frame_png

                outcome.details["frame_plot"] = str(frame_png(
                    frames[-1], data_dir / f"{run.uids[-1]}-frame.png", title=f"{spec.camera}: last frame"))
        from scenarios.plots import map_png

        outcome.plot = map_png(X, Y, data_dir / f"{run.uids[-1]}-map.png", title=f"{sc.name}: {len(Y)} points",
                               axes=(spec.names[0], spec.names[1]), label=run.key)
    env = SampleMapEnv(seed=seed, scenario=str(sc.path), mode="direct") if run.simulated else None
    if env is not None:
        outcome.truth = {"raster_30x30_error": env.target, **env.model.truth()}
    judge_map(outcome, sc, spec, env)
    d = outcome.details
    if "map_error" in d:
        out.write(f"map error (RMSE / range vs the twin's noise-free map): {d['map_error']:.4f} from "
                  f"{len(d['values'])} points; a 30×30 raster (900 points) gives {env.target if env else 0:.4f}\n")
    if "frames" in d:
        out.write(f"camera frames stored: {d['frames']} of shape {d['frame_shape']} (HDF5, referenced by the run)\n")
    if run.guard.error:
        out.write(f"agent stopped: {run.guard.error}\n")
    return outcome


def judge_map(outcome: Any, sc: scenarios.Scenario, spec: CampaignSpec, env: SampleMapEnv | None) -> None:
    """Fill ``outcome.checks``: stored, within_budget, frames (with a camera) and map_error (on the twin)."""
    d = outcome.details
    values = judge_stored(outcome, spec)
    if spec.camera:
        outcome.checks["frames"] = (d.get("frames", 0) == len(values) > 0
                                    and all(m > 0 for m in d.get("frame_max", [])))
    if env is None:
        return  # the real beamline has no ground truth to compare with
    if len(values) >= 4:
        d["map_error"] = env.error(np.asarray(d["points"]), np.asarray(values))
    outcome.checks["map_error"] = d.get("map_error", np.inf) <= float(sc.success.get("max_map_error", 0.05))
