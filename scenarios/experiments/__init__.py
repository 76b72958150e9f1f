"""Experiment kinds of scenarios beyond the step scan, one module each."""
