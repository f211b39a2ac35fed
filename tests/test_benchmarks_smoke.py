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
