"""caproto PVGroups that expose the physics as EPICS records, and the server launcher."""
