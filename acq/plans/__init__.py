"""The plan catalogue, with Bluesky's plan names and signatures."""

from acq.plans.per_event import ask_tell_scan
from acq.plans.scans import count, scan
from acq.plans.stubs import close_run, mv, open_run, stage, trigger_and_read, unstage

__all__ = ["ask_tell_scan", "close_run", "count", "mv", "open_run", "scan", "stage", "trigger_and_read", "unstage"]
