"""Scenario scripts of the OCPP 1.6J feature profiles against the real back office, and table tests."""
