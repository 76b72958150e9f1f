"""The simulated beamline: pure physics models (``twin.physics``) served as EPICS IOCs (``twin.iocs``)."""
