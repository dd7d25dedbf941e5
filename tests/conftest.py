"""Fixtures shared by the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from edged.config import load_config
from edged.home.registry import Home

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "home.yaml"


@pytest.fixture(scope="module")
def home() -> Home:
    """The example home (examples/home.yaml), as the daemon would load it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGED_MQTT_PASSWORD", "test")
        return Home.from_config(load_config(EXAMPLE))
