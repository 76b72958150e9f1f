"""The composition root: scenario files, the scenario runner and the ``beamtwin`` CLI."""
