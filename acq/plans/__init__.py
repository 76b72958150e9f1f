"""The plan catalogue, with Bluesky's plan names and signatures; stubs; preprocessors; dry run."""

from acq.plans.adaptive import CentroidTuner, SlopeStepper, adaptive_scan, rel_adaptive_scan, tune_centroid
from acq.plans.dry_run import DryRun, dry_run, snapshot_of
from acq.plans.flying import RampFail, fly, monitor_during_wrapper, ramp, ramp_plan
from acq.plans.per_event import ask_tell_scan
from acq.plans.preprocessors import (
    baseline_wrapper,
    finalize_wrapper,
    plan_mutator,
    relative_set_wrapper,
    reset_positions_wrapper,
    run_wrapper,
    stage_wrapper,
    subs_wrapper,
)
from acq.plans.scans import (
    count,
    grid_scan,
    list_grid_scan,
    list_scan,
    log_scan,
    rel_grid_scan,
    rel_list_grid_scan,
    rel_list_scan,
    rel_log_scan,
    rel_scan,
    scan,
    scan_nd,
)
from acq.plans.spirals import rel_spiral, rel_spiral_fermat, rel_spiral_square, spiral, spiral_fermat, spiral_square
from acq.plans.stubs import (
    checkpoint,
    close_run,
    collect,
    complete,
    kickoff,
    move_per_step,
    mv,
    mvr,
    one_1d_step,
    one_nd_step,
    one_shot,
    open_run,
    repeat,
    sleep,
    stage,
    trigger,
    trigger_and_read,
    unstage,
)

__all__ = [
    "CentroidTuner", "DryRun", "RampFail", "SlopeStepper", "adaptive_scan", "ask_tell_scan", "baseline_wrapper",
    "checkpoint", "close_run", "collect", "complete", "count", "dry_run", "finalize_wrapper", "fly", "grid_scan",
    "kickoff", "list_grid_scan", "list_scan", "log_scan", "monitor_during_wrapper", "move_per_step", "mv", "mvr",
    "one_1d_step", "one_nd_step", "one_shot", "open_run", "plan_mutator", "ramp", "ramp_plan",
    "rel_adaptive_scan", "rel_grid_scan", "rel_list_grid_scan", "rel_list_scan", "rel_log_scan", "rel_scan",
    "rel_spiral", "rel_spiral_fermat", "rel_spiral_square", "relative_set_wrapper", "repeat",
    "reset_positions_wrapper", "run_wrapper", "scan", "scan_nd", "sleep", "snapshot_of", "spiral",
    "spiral_fermat", "spiral_square", "stage", "stage_wrapper", "subs_wrapper", "trigger", "trigger_and_read",
    "tune_centroid", "unstage",
]
