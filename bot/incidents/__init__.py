"""Incidents: the state machine, the append-only timeline and the alerts grouped into each incident."""
