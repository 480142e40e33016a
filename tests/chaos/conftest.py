"""Chaos tests: registers the `chaos` marker (`pytest -m chaos`, `-m "not chaos"`)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: fault-injection runs against a real cluster")
