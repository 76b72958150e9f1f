"""Experiment kinds beyond ``plan: scan``, one module each, dispatched from ``scenarios.runner.run_scenario``."""
