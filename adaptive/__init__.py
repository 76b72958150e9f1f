"""Adaptive agents and their wiring into experiments (see issue: adaptive)."""
