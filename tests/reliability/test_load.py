"""Load (issue 9, part 5): many concurrent executions of a 50-step workflow.

* 200 executions at once (32 threads) on ONE shared ``LocalService``, half
  through the runtime directly and half through the Lambda handler (JSON
  events): every result is right, every execution's log holds its 50 steps
  (with the right running sums) and 4 waits, and the shared service's
  bookkeeping adds up (no lost update between threads, no timestamp running
  backwards on the shared virtual clock);
* 20 executions at once on the service emulator over HTTP (127.0.0.1, real
  time, 1-second waits), same checks on what crossed the wire.

Throughput (executions/s, steps/s) and peak memory are printed and entered in
the reliability report.  Nothing is asserted about speed: the numbers are
measurements, the correctness checks are the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, TypeVar

import pytest

import durable
from durable import Duration
from durable.model import (
    ExecutionStatus,
    OperationStatus,
    OperationType,
)
from durable.serdes import EXTENDED_TYPES_SERDES
from durable.testing import ExecutionResult, LocalRunner, LocalService
from tests.reliability import report
from tests.reliability.load_metrics import Measurement, measure

STEPS = 50
WAIT_EVERY = 10
WAITS = (STEPS - 1) // WAIT_EVERY  # before steps 10, 20, 30, 40
LOCAL_EXECUTIONS = 200
LOCAL_THREADS = 32
EMULATOR_EXECUTIONS = 20
#: Bound on any one batch of concurrent work, so a deadlock fails instead of hanging CI.
TIMEOUT_SECONDS = 120.0

T = TypeVar("T")


def expected_sum(seed: int, upto: int = STEPS) -> int:
    """The accumulator after steps ``0 .. upto-1``."""
    return seed + upto * (upto - 1) // 2


@durable.step
def add(step_ctx: durable.StepContext, acc: int, i: int) -> int:
    return acc + i


def fifty_steps(event: Any, ctx: durable.Context) -> Any:
    """50 steps, each adding its index; a 1-second wait before every tenth."""
    acc = event["seed"]
    for i in range(STEPS):
        if i and i % WAIT_EVERY == 0:
            yield ctx.wait(Duration.from_seconds(1), name=f"pause-{i}")
        acc = yield add(acc, i)
    return {"seed": event["seed"], "acc": acc}


fifty = durable.workflow(fifty_steps)


def run_all(fn: Callable[[int], T], count: int, threads: int) -> list[T]:
    """``fn(0) .. fn(count-1)`` on ``threads`` threads, bounded in time."""
    pool = ThreadPoolExecutor(threads, thread_name_prefix="load")
    try:
        futures = [pool.submit(fn, k) for k in range(count)]
        _, not_done = wait(futures, timeout=TIMEOUT_SECONDS)
        if not_done:
            raise TimeoutError(
                f"{len(not_done)} of {count} runs still busy after {TIMEOUT_SECONDS}s"
            )
        return [f.result() for f in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def record(measurement: Measurement, survived: int, capsys: pytest.CaptureFixture[str]) -> None:
    """Print the measurement and enter it in the reliability report."""
    with capsys.disabled():
        print(f"\n[load] {measurement.summary()}")
    growth = measurement.peak_growth_mib
    memory = "n/a" if growth is None else f"+{growth:.0f} MiB peak"
    report.count(
        f"load: {measurement.name} [{measurement.executions_per_second:.0f} exec/s, "
        f"{measurement.steps_per_second:.0f} steps/s, {memory}]",
        measurement.executions - survived,
        survived=False,
    )
    report.count(
        f"load: {measurement.name} [{measurement.executions_per_second:.0f} exec/s, "
        f"{measurement.steps_per_second:.0f} steps/s, {memory}]",
        survived,
    )


def check_step_log(seed: int, steps: list[tuple[str | None, str | None]]) -> None:
    """``steps``: (status, result payload) of the STEP operations, in order."""
    assert len(steps) == STEPS, f"seed {seed}: {len(steps)} steps in the log"
    for i, (status, payload) in enumerate(steps):
        assert status == "SUCCEEDED", f"seed {seed}, step {i}: {status}"
        assert payload is not None
        assert EXTENDED_TYPES_SERDES.deserialize(payload) == expected_sum(seed, i + 1), (seed, i)


# -- the local service ----------------------------------------------------------


def test_200_concurrent_executions_on_one_local_service(
    capsys: pytest.CaptureFixture[str],
) -> None:
    service = LocalService()

    def one(k: int) -> ExecutionResult:
        runner = LocalRunner(fifty, service=service, through_handler=k % 2 == 1)
        return runner.run({"seed": k}, execution_name=f"load-{k}")

    with measure(f"local {LOCAL_EXECUTIONS}x{STEPS} steps") as m:
        results = run_all(one, LOCAL_EXECUTIONS, LOCAL_THREADS)
    m.executions = LOCAL_EXECUTIONS
    m.steps = LOCAL_EXECUTIONS * STEPS
    m.extra["threads"] = str(LOCAL_THREADS)

    correct = sum(r.result == {"seed": k, "acc": expected_sum(k)} for k, r in enumerate(results))
    record(m, correct, capsys)
    wrong = [
        (k, r.status, r.result, r.error)
        for k, r in enumerate(results)
        if r.result != {"seed": k, "acc": expected_sum(k)}
    ]
    assert not wrong, wrong[:5]

    total_checkpoints = 0
    for k, result in enumerate(results):
        execution = service.execution(result.arn)
        assert execution.status is ExecutionStatus.SUCCEEDED
        assert json.loads(execution.input_payload or "null") == {"seed": k}
        assert execution.invocations == WAITS + 1, (k, execution.invocations)
        total_checkpoints += execution.checkpoint_calls
        operations = service.operations(result.arn)
        steps = [op for op in operations if op.type is OperationType.STEP]
        check_step_log(
            k,
            [
                (op.status.value, op.step_details.result if op.step_details else None)
                for op in steps
            ],
        )
        waits = [op for op in operations if op.type is OperationType.WAIT]
        assert [op.name for op in waits] == [f"pause-{i}" for i in range(10, STEPS, 10)]
        for op in operations:
            if op.type is OperationType.EXECUTION:
                continue
            assert op.status is OperationStatus.SUCCEEDED, (k, op.name, op.status)
            assert op.start_timestamp is not None and op.end_timestamp is not None
            assert op.end_timestamp >= op.start_timestamp, (k, op.name)
            if op.type is OperationType.WAIT:
                assert op.wait_details is not None
                scheduled = op.wait_details.scheduled_end_timestamp
                assert scheduled is not None and op.end_timestamp >= scheduled, (k, op.name)
    # Every checkpoint request counted once by the shared service: no update lost between threads.
    assert service.calls == total_checkpoints


# -- the emulator over HTTP -------------------------------------------------------


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """One emulator in real time (its skip-time clock would be shared by all executions)."""
    pytest.importorskip("aws_durable_execution_sdk_python_testing.runner")
    from tests.integration.emulator import (
        DUMMY_AWS_ENVIRONMENT,
        UNSET_AWS_ENVIRONMENT,
        EmulatorHarness,
    )

    for name in UNSET_AWS_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    for name, value in DUMMY_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    harness = EmulatorHarness(skip_time=False)
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()


@pytest.mark.interop
def test_20_concurrent_executions_on_the_emulator(
    emulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.register("fifty", durable.workflow(boto3_client=emulator.client)(fifty_steps))

    with measure(f"emulator {EMULATOR_EXECUTIONS}x{STEPS} steps over HTTP") as m:
        arns = run_all(
            lambda k: emulator.start_execution("fifty", {"seed": k}, execution_name=f"load-{k}"),
            EMULATOR_EXECUTIONS,
            EMULATOR_EXECUTIONS,
        )
        results = [emulator.wait(arn, timeout=TIMEOUT_SECONDS, poll_interval=0.05) for arn in arns]
    m.executions = EMULATOR_EXECUTIONS
    m.steps = EMULATOR_EXECUTIONS * STEPS
    m.extra["waits"] = f"{WAITS} x 1 s real time each"

    correct = sum(r.result == {"seed": k, "acc": expected_sum(k)} for k, r in enumerate(results))
    record(m, correct, capsys)
    wrong = [
        (k, r.status, r.result, r.error)
        for k, r in enumerate(results)
        if r.result != {"seed": k, "acc": expected_sum(k)}
    ]
    assert not wrong, wrong[:5]

    for k, arn in enumerate(arns):
        operations = emulator.final_operations(arn)
        steps = [op for op in operations if op["Type"] == "STEP"]
        check_step_log(
            k, [(op.get("Status"), (op.get("StepDetails") or {}).get("Result")) for op in steps]
        )
        waits = [op for op in operations if op["Type"] == "WAIT"]
        assert len(waits) == WAITS and all(op["Status"] == "SUCCEEDED" for op in waits)
        outcomes = [record.output_status for record in emulator.invocations(arn)]
        assert outcomes == ["PENDING"] * WAITS + ["SUCCEEDED"], (k, outcomes)
