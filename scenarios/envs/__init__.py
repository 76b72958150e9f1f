"""Twin-backed environments for the evaluation harness (``beamtwin evaluate --scenario S``).

Each environment measures either through the full stack (a twin IOC subprocess, devices over
Channel Access, our RunEngine; mode ``ca``) or by calling the twin's physics model directly
(mode ``direct``, for fast training). The ground truth always comes from the physics model.
"""
