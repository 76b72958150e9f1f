"""Acquisition: the run engine, the device layer (Channel Access or soft signals) and plans.

``acq`` never imports ``twin``: it only speaks Channel Access.
"""
