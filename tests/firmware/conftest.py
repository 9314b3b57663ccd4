"""Fixtures of the A/B firmware tests: the HTTP file server of the profile tests."""

from tests.ocpp.profiles.conftest import http_files  # noqa: F401 - a fixture, re-used
