"""Fixtures for tests that run handlers against the service emulator over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.emulator import (
    DUMMY_AWS_ENVIRONMENT,
    UNSET_AWS_ENVIRONMENT,
    EmulatorHarness,
)

EmulatorFactory = Callable[..., EmulatorHarness]


@pytest.fixture
def aws_dummy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region; no profile, config file or metadata lookups."""
    for name in UNSET_AWS_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    for name, value in DUMMY_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def emulator_factory(aws_dummy_env: None) -> Iterator[EmulatorFactory]:
    """Start harnesses with any :class:`EmulatorHarness` options; all stop at teardown.

    ``emulator_factory(skip_time=False, max_invocation_page_bytes=2000)``
    """
    pytest.importorskip("aws_durable_execution_sdk_python_testing.runner")
    started: list[EmulatorHarness] = []

    def factory(**options: Any) -> EmulatorHarness:
        harness = EmulatorHarness(**options)
        harness.start()
        started.append(harness)
        return harness

    yield factory
    for harness in reversed(started):
        harness.stop()


@pytest.fixture
def emulator(emulator_factory: EmulatorFactory) -> EmulatorHarness:
    """A started harness with default options (time skipped)."""
    return emulator_factory()
