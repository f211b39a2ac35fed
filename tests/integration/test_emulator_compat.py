"""The docs-style workflows on the emulator, under durable.compat and under the AWS SDK.

``tests/compat/docs_workflows.py`` imports only from ``durable.compat``. Here
the same source is loaded twice: as written, and with the import lines
rewritten to ``aws_durable_execution_sdk_python`` (the migration a user makes,
in reverse). Each handler is then served by the emulator under both SDKs,
and the two executions must agree: outcome, per-operation updates, final log.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

from tests.integration.compare import log_essence, outcome, updates_by_operation
from tests.integration.conftest import EmulatorFactory

pytestmark = pytest.mark.interop

pytest.importorskip("aws_durable_execution_sdk_python_testing.runner")
pytest.importorskip("aws_durable_execution_sdk_python")

SOURCE = Path(__file__).resolve().parents[1] / "compat" / "docs_workflows.py"


def load(package: str) -> types.ModuleType:
    """The docs workflows, importing from ``package`` instead of ``durable.compat``."""
    text = SOURCE.read_text().replace("durable.compat", package)
    module = types.ModuleType(f"docs_workflows_{package.replace('.', '_')}")
    module.__file__ = str(SOURCE)
    exec(compile(text, str(SOURCE), "exec"), module.__dict__)
    return module


MINE = load("durable.compat")
THEIRS = load("aws_durable_execution_sdk_python")


def serve(factory: EmulatorFactory, module: types.ModuleType, name: str) -> Any:
    harness = factory()
    handler, event = module.HANDLERS[name]
    client_handler = module.durable_execution(handler.__wrapped__, boto3_client=harness.client)
    harness.register(name, client_handler)
    return harness, harness.run(name, event, timeout=60)


@pytest.mark.parametrize("name", sorted(MINE.HANDLERS))
def test_the_same_source_behaves_the_same_under_both_sdks(
    emulator_factory: EmulatorFactory, name: str
) -> None:
    """Only the import lines differ; the executions on the emulator are the same."""
    my_harness, mine = serve(emulator_factory, MINE, name)
    their_harness, theirs = serve(emulator_factory, THEIRS, name)
    assert outcome(mine) == outcome(theirs)
    if name != "failing":
        assert mine.result == MINE.EXPECTED[name]
    assert updates_by_operation(my_harness, mine.arn) == updates_by_operation(
        their_harness, theirs.arn
    )
    assert log_essence(mine.final_operations()) == log_essence(theirs.final_operations())
    assert my_harness.checkpoint_count(mine.arn) <= their_harness.checkpoint_count(theirs.arn)
