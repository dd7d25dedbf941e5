"""Fixtures shared by the unit tests."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from edged.config import BROKER_ENV, load_config
from edged.home.registry import Home

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "home.yaml"
TORCH_MISSING = (
    "needs torch, which is not installed: `make test TORCH=1` installs it "
    "(on aarch64 take the CPU wheel, docs/deploy.md)"
)


def pytest_configure(config: pytest.Config) -> None:
    # The tests start their own brokers and write the port into each config:
    # a `make run` override left in the shell must not redirect them.
    for var in BROKER_ENV:
        os.environ.pop(var, None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `torch` are skipped, with the reason, where torch is not installed."""
    if importlib.util.find_spec("torch") is not None:
        return
    skip = pytest.mark.skip(reason=TORCH_MISSING)
    for item in items:
        if item.get_closest_marker("torch") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def home() -> Home:
    """The example home (examples/home.yaml), as the daemon would load it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGED_MQTT_PASSWORD", "test")
        return Home.from_config(load_config(EXAMPLE))
