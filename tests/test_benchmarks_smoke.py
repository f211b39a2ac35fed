"""The benchmark suite runs end to end at tiny sizes, so it cannot rot.

No timing is asserted here: the figures of a one-repetition run mean nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("aws_durable_execution_sdk_python")


def test_every_benchmark_scenario_runs_once(tmp_path: Path) -> None:
    """`python -m benchmarks --quick` produces a report with every scenario and target."""
    from benchmarks.__main__ import main

    out = tmp_path / "RESULTS.md"
    assert main(["--quick", "--out", str(out)]) == 0
    text = out.read_text()
    for scenario in (
        "replay N=10",
        "floor N=100",
        "first run N=10",
        "steps+waits replay",
        "step failing twice",
        "child contexts 5 deep",
        "map N=200 (unlimited), first run",
        "map N=200 (max_concurrency=8), first run",
        "first run on each SDK's local test runner",
        "replay of the finished map N=200",
        "parallel N=20 branches",
        "cold start",
    ):
        assert scenario in text, scenario
    assert "## Targets (issue 5)" in text


def test_both_sdks_agree_on_the_benchmark_workflows() -> None:
    """The scenarios are the same workflow for each SDK: same result, same calls."""
    from benchmarks import scenarios as sc

    workflows = sc.sequential_steps(3)
    outputs = {}
    calls = {}
    for sdk in sc.SDKS:
        prepared = sc.prepare(sdk, workflows, sc.replay_log(3))
        outputs[sdk] = sc.invoke(prepared)
        calls[sdk] = prepared.client.calls
    assert len({str(o) for o in outputs.values()}) == 1
    assert set(calls.values()) == {1}


@pytest.mark.parametrize("kind", ["map", "parallel"])
def test_every_sdk_writes_the_same_fanout_log(kind: str) -> None:
    """The fan-out replay loads durable's log for every SDK: they must agree on it."""
    from benchmarks import scenarios as sc
    from durable.model import OperationType

    workflows = sc.fanout_map(5, 2) if kind == "map" else sc.fanout_parallel(3)
    logs = {}
    for sdk in sc.SDKS:
        client, arn = sc.execute(sdk, workflows)
        logs[sdk] = sorted(
            (
                op.id,
                op.type,
                op.status,
                op.name,
                op.sub_type,
                op.parent_id,
                op.step_details and op.step_details.result,
                op.context_details and op.context_details.result,
            )
            for op in client.service.operations(arn)
            if op.type is not OperationType.EXECUTION
        )
    assert logs["durable-imperative"] == logs["durable"]
    assert logs["reference"] == logs["durable"]
