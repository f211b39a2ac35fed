"""Service faults: transient ones are survived, permanent ones fail clearly (issue 9).

Two paths:

* in-process: ``FaultyLocalService`` -- the local service behind a real
  botocore client whose HTTP layer is a ``before-send`` hook injecting the
  planned faults, so botocore's standard retry mode and ``durable``'s error
  classification (protocol.md §3.5) both run for real. Hypothesis chooses
  the fault plans.
* over HTTP: ``FaultProxy`` on 127.0.0.1 in front of the service emulator
  (marked ``interop``); a handful of scenarios, real time bounded.

What is checked, against a fault-free run of the same workflow (several
steps, one at-most-once; a wait; a child context; a small map):

* transient faults within botocore's retry budget: the same result, the same
  final log (ids, types, names, statuses, results, attempts; timestamps
  ignored), the same invocations, every step body run exactly once, one
  capped back-off sleep per retried attempt and one ClientToken per call;
* faults that reach ``durable`` (an invalid checkpoint token, a fault on
  every attempt of a call, a lost response on a service without ClientToken
  idempotency): the invocation raises a retryable error naming the call and
  the code, Lambda's retry completes the execution with the same result, and
  an at-most-once body never runs twice in one attempt;
* permanent faults (4xx other than throttling and the token case, KMS
  errors): the invocation returns FAILED with an error naming the call and
  the code, and nothing after the fault runs.

The injected faults are counted by kind and printed at the end of the session
(``tests/reliability/conftest.py``).
"""

from __future__ import annotations

import functools
import itertools
import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import durable
from durable import (
    Duration,
    JitterStrategy,
    RetryStrategyConfig,
    StepConfig,
    StepSemantics,
    create_retry_strategy,
    wire,
)
from durable.errors import CheckpointError, GetExecutionStateError, ServiceApiError
from durable.lambda_ import _client as lambda_client
from durable.lambda_ import handle
from durable.model import Operation
from durable.testing import ExecutionResult, InvocationStatus, LocalRunner, LocalService
from tests.reliability import faults
from tests.reliability.faults import (
    CHECKPOINT,
    GET_STATE,
    MAX_ATTEMPTS,
    BackoffRecorder,
    Burst,
    Fault,
    FaultPlan,
    FaultyLocalService,
    Ledger,
)

#: Operations per state page: small, so that invocations and checkpoint
#: answers page, and GetDurableExecutionState calls happen to be faulted.
PAGE_SIZE = 2
SKU = "sku-42"
ORDER = {"sku": SKU}
_TIMES = {"StartTimestamp", "EndTimestamp", "NextAttemptTimestamp", "ScheduledEndTimestamp"}

#: Interrupted at-most-once attempts are retried (no delay jitter).
RESERVE_RETRY = create_retry_strategy(
    RetryStrategyConfig(
        max_attempts=4,
        initial_delay=Duration(1),
        backoff_rate=1,
        jitter_strategy=JitterStrategy.NONE,
    )
)
AT_MOST_ONCE = StepConfig(
    step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY, retry_strategy=RESERVE_RETRY
)


# -- the workflow ----------------------------------------------------------------


class Bodies:
    """Step-body runs by step name, with the attempt each run was (thread-safe:
    the map's bodies run on the runtime's thread pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.runs: dict[str, list[int]] = defaultdict(list)

    def body(self, name: str, fn: Callable[[], Any]) -> Callable[[durable.StepContext], Any]:
        def run(step_ctx: durable.StepContext) -> Any:
            with self._lock:
                self.runs[name].append(step_ctx.attempt)
            return fn()

        return run

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {name: len(attempts) for name, attempts in self.runs.items()}


def order_workflow(bodies: Bodies, *, boto3_client: Any = None) -> Any:
    """Quote, reserve (at most once), cool off, pack (child), notify (map), total."""

    def order(event: dict[str, Any], ctx: durable.Context) -> Any:
        sku = event["sku"]
        quote = yield ctx.step(
            bodies.body("quote", lambda: {"sku": sku, "price": 12}), name="quote"
        )
        reservation = yield ctx.step(
            bodies.body("reserve", lambda: f"reservation-{sku}"),
            name="reserve",
            config=AT_MOST_ONCE,
        )
        yield ctx.wait(Duration.from_minutes(10), name="cool-off")

        def pack(c: durable.Context) -> Any:
            box = yield c.step(bodies.body("box", lambda: "box-7"), name="box")
            label = yield c.step(bodies.body("label", lambda: f"label-{box}"), name="label")
            return {"box": box, "label": label}

        packed = yield ctx.run_in_child_context(pack, name="pack")

        def notify(c: durable.Context, channel: str, index: int, items: Any) -> Any:
            sent = yield c.step(
                bodies.body(f"notify-{channel}", lambda: f"sent:{channel}"), name="send"
            )
            return sent

        batch = yield ctx.map(["email", "sms", "push"], notify, name="notify")
        total = yield ctx.step(bodies.body("total", lambda: quote["price"] * 2), name="total")
        return {
            "quote": quote,
            "reservation": reservation,
            "packed": packed,
            "sent": batch.get_results(),
            "total": total,
        }

    return durable.workflow(boto3_client=boto3_client)(order)


def essence(log: Sequence[Operation]) -> list[dict[str, Any]]:
    """The log as wire dicts without timestamps (ids, types, names, statuses,
    results, errors, attempts)."""
    return [_untimed(wire.operation_to_dict(op)) for op in log]


def _untimed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in _TIMES}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


# -- running ---------------------------------------------------------------------


@dataclass(repr=False)
class Run:
    result: ExecutionResult
    service: FaultyLocalService
    bodies: Bodies

    @property
    def essence(self) -> list[dict[str, Any]]:
        return essence(self.result.log)

    def __repr__(self) -> str:
        return f"Run({self.result.status.value}, plan: {self.service.plan.describe()})"

    @property
    def ledger(self) -> Ledger:
        return self.service.ledger


def run_order(
    plan: FaultPlan | None = None, *, idempotent: bool = True, page_size: int = PAGE_SIZE
) -> Run:
    bodies = Bodies()
    service = FaultyLocalService(plan, idempotent=idempotent, page_size=page_size)
    runner = LocalRunner(order_workflow(bodies), service=service, through_handler=True)
    return Run(runner.run(ORDER), service, bodies)


@functools.cache
def _baseline() -> Run:
    with BackoffRecorder().installed():
        return run_order()


@pytest.fixture
def baseline() -> Run:
    """The fault-free run through the same botocore path (computed once)."""
    return _baseline()


@pytest.fixture(autouse=True)
def backoff() -> Iterator[BackoffRecorder]:
    """botocore's retry sleeps, recorded and shrunk to a thousandth."""
    recorder = BackoffRecorder(scale=0.001)
    with recorder.installed():
        yield recorder


def _settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def _assert_one_client_token_per_call(service: FaultyLocalService) -> None:
    """botocore's retries of one call reuse its ClientToken; new calls get new ones."""
    checkpoint_attempts = [a for a in service.backend.attempts if a[0] == CHECKPOINT]
    for (_, _, token, outcome), (_, _, next_token, _) in itertools.pairwise(checkpoint_attempts):
        assert token, "botocore sent no ClientToken"
        retried = outcome != "ok"  # (a slow answer is "ok")
        assert (next_token == token) == retried, service.backend.attempts


def _commit(ledger: Ledger, check: Callable[[], None]) -> None:
    """Run the checks, then count the ledger's faults as survived or not."""
    try:
        check()
    except BaseException:
        ledger.commit(survived=False)
        raise
    ledger.commit(survived=True)


# -- the routing itself ------------------------------------------------------------


def test_the_botocore_path_without_faults_matches_a_plain_local_run(baseline: Run) -> None:
    """The fault-injecting path changes nothing by itself, and pages state."""
    bodies = Bodies()
    plain = LocalRunner(order_workflow(bodies), service=LocalService(page_size=PAGE_SIZE)).run(
        ORDER
    )

    assert baseline.result.status is InvocationStatus.SUCCEEDED
    assert baseline.result.result == plain.result
    assert baseline.essence == essence(plain.log)
    assert baseline.bodies.counts() == bodies.counts()
    assert all(n == 1 for n in bodies.counts().values())
    assert baseline.result.invocations == plain.invocations
    # Both operations are called, so both can be faulted.
    assert baseline.service.backend.calls[CHECKPOINT] == plain.checkpoint_calls
    assert baseline.service.backend.calls[GET_STATE] > 0


def test_durable_default_client_has_the_retry_budget_the_tests_assume(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``durable``'s own client: standard retries, MAX_ATTEMPTS attempts in all."""
    monkeypatch.setattr(lambda_client, "_default_client", None)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    client = lambda_client.default_client()
    try:
        assert client.meta.config.retries == {
            "mode": "standard",
            "total_max_attempts": MAX_ATTEMPTS,
        }
        ours = faults.make_client(None)
        assert ours.meta.config.retries == client.meta.config.retries
        ours.close()
    finally:
        client.close()


# -- transient faults: absorbed by botocore ------------------------------------------


def _assert_unchanged(run: Run, baseline: Run, backoff: BackoffRecorder) -> None:
    result = run.result
    assert result.status is InvocationStatus.SUCCEEDED, (result.error, run.ledger.injections)
    assert result.result == baseline.result.result
    assert run.essence == baseline.essence
    # No fault reached durable: no invocation failed, none was added.
    assert run.service.invocation_errors == []
    assert result.invocations == baseline.result.invocations
    # Every body ran exactly once (at-most-once and at-least-once alike).
    assert run.bodies.counts() == baseline.bodies.counts()
    assert all(n == 1 for n in run.bodies.counts().values())
    # One capped back-off sleep per retried attempt; a slow answer is no retry.
    retried = run.ledger.count() - run.ledger.count(faults.SLOW)
    assert len(backoff.delays) == retried
    assert all(0 <= d <= faults.BOTOCORE_MAX_BACKOFF for d in backoff.delays)
    # Lost answers were served again (the ClientToken cache, a repeated
    # read), the requests never applied twice.
    lost = run.ledger.count
    assert run.service.backend.replayed == lost(*faults.LOST_RESPONSE, operation=CHECKPOINT)
    assert run.service.backend.reread == lost(*faults.LOST_RESPONSE, operation=GET_STATE)
    _assert_one_client_token_per_call(run.service)


@_settings(max_examples=40)
@given(plan=faults.plans(faults.TRANSIENT, max_bursts=4, max_length=MAX_ATTEMPTS - 1))
def test_transient_faults_within_the_retry_budget_change_nothing(
    plan: FaultPlan, backoff: BackoffRecorder
) -> None:
    backoff.clear()
    baseline = _baseline()
    run = run_order(plan)
    _commit(run.ledger, lambda: _assert_unchanged(run, baseline, backoff))


@pytest.mark.parametrize("seed", range(6))
def test_seeded_fault_plans_change_nothing(
    seed: int, baseline: Run, backoff: BackoffRecorder
) -> None:
    """The same property with a seeded RNG: about every third attempt fails."""
    calls = baseline.service.backend.calls
    plan = FaultPlan.seeded(
        seed, checkpoint_calls=calls[CHECKPOINT] * 2, state_calls=calls[GET_STATE] * 2, rate=0.35
    )
    run = run_order(plan)
    assert run.ledger.count() > 0, plan.describe()
    _commit(run.ledger, lambda: _assert_unchanged(run, baseline, backoff))


# -- faults that reach durable: the invocation raises, Lambda retries it -------------


def _assert_recovered(run: Run, baseline: Run) -> None:
    result = run.result
    assert result.status is InvocationStatus.SUCCEEDED, (result.error, run.ledger.injections)
    assert result.result == baseline.result.result
    errors = run.service.invocation_errors
    for error in errors:
        # Raised, retryable, naming the call and the code (§3.5).
        assert isinstance(error, CheckpointError | GetExecutionStateError), repr(error)
        assert error.retryable
        call = CHECKPOINT if isinstance(error, CheckpointError) else GET_STATE
        assert str(error).startswith(f"{call} failed: "), str(error)
        # An HTTP error names its code; a transport error says what happened
        # (the code attribute then holds botocore's exception class).
        assert error.error_code, repr(error)
        assert error.error_code in str(error) or "endpoint URL" in str(error), str(error)
    assert result.invocations >= baseline.result.invocations + len(errors)

    # At most once per attempt: a reserve attempt never ran its body twice.
    reserve_attempts = run.bodies.runs["reserve"]
    assert reserve_attempts, "the at-most-once body never ran"
    assert len(reserve_attempts) == len(set(reserve_attempts)), reserve_attempts
    # At least once: every other body ran, and re-ran only after a failed invocation.
    for name, count in run.bodies.counts().items():
        assert 1 <= count <= 1 + len(errors), (name, count, errors)

    _assert_same_log(run.essence, baseline.essence, reserve_attempts)


def _assert_same_log(
    mine: list[dict[str, Any]], theirs: list[dict[str, Any]], reserve_attempts: list[int]
) -> None:
    """The final log is the fault-free one; only an interrupted at-most-once
    attempt may leave its mark on the reserve step: a later attempt number,
    the one its body ran in."""
    assert [op["Id"] for op in mine] == [op["Id"] for op in theirs]
    for op, expected in zip(mine, theirs, strict=True):
        if op.get("Name") == "reserve" and reserve_attempts != [1]:
            assert op["Status"] == expected["Status"] == "SUCCEEDED"
            assert op["StepDetails"]["Result"] == expected["StepDetails"]["Result"]
            assert op["StepDetails"]["Attempt"] == reserve_attempts[-1]
        else:
            assert op == expected


#: A fault on every attempt of one call: botocore gives up, durable raises.
EXHAUSTING = (
    faults.THROTTLED,
    faults.SERVICE_ERROR,
    faults.DROPPED,
    faults.TIMED_OUT,
    faults.CONNECT_FAILED,
)


@st.composite
def escaping_plans(draw: Any) -> tuple[FaultPlan, bool]:
    """Plans mixing absorbed bursts with at most three faults that reach
    durable; and whether the service honours ClientTokens."""
    idempotent = draw(st.booleans())

    def incidents(max_escapes: int, max_gap: int) -> list[Burst]:
        out = []
        escapes = 0
        for _ in range(draw(st.integers(0, 4))):
            kind = draw(st.sampled_from(["absorbed", "token", "exhausted"]))
            gap = draw(st.integers(1, max_gap))
            if kind != "absorbed" and escapes < max_escapes:
                escapes += 1
                if kind == "token":
                    out.append(Burst(gap, faults.INVALID_TOKEN))
                else:
                    out.append(Burst(gap, draw(st.sampled_from(EXHAUSTING)), MAX_ATTEMPTS))
            else:
                fault = draw(st.sampled_from(faults.TRANSIENT))
                out.append(Burst(gap, fault, draw(st.integers(1, MAX_ATTEMPTS - 1))))
        return out

    plan = FaultPlan.from_bursts(checkpoint=incidents(2, 8), state=incidents(1, 3))
    return plan, idempotent


@_settings(max_examples=30)
@given(case=escaping_plans())
def test_faults_that_reach_durable_end_the_invocation_and_its_retry_completes(
    case: tuple[FaultPlan, bool],
) -> None:
    plan, idempotent = case
    baseline = _baseline()
    run = run_order(plan, idempotent=idempotent)
    event(f"failed invocations: {min(len(run.service.invocation_errors), 3)}")
    _commit(run.ledger, lambda: _assert_recovered(run, baseline))


@pytest.mark.parametrize(
    ("fault", "length", "operation", "at"),
    [
        (faults.THROTTLED, MAX_ATTEMPTS, CHECKPOINT, 2),
        (faults.SERVICE_ERROR, MAX_ATTEMPTS, CHECKPOINT, 4),
        (faults.TIMED_OUT, MAX_ATTEMPTS, CHECKPOINT, 6),
        (faults.INVALID_TOKEN, 1, CHECKPOINT, 3),
        (faults.DROPPED, MAX_ATTEMPTS, GET_STATE, 1),
        (faults.INVALID_TOKEN, 1, GET_STATE, 2),
    ],
    ids=lambda v: v.name if isinstance(v, Fault) else str(v),
)
def test_the_handler_raises_for_lambda_to_retry(
    fault: Fault, length: int, operation: str, at: int, baseline: Run, backoff: BackoffRecorder
) -> None:
    """Invocations through ``durable.lambda_.handle`` with the faulty client,
    as Lambda makes them: the one that meets the fault raises a retryable
    error naming the call, the code and botocore's attempts; the service's
    next invocation goes on to the same end as without faults."""
    table = {at + i: fault for i in range(length)}
    plan = FaultPlan(checkpoint=table) if operation == CHECKPOINT else FaultPlan(state=table)
    bodies = Bodies()
    workflow = order_workflow(bodies)
    service = FaultyLocalService(plan, page_size=PAGE_SIZE)
    runner = LocalRunner(workflow, service=service, through_handler=True)
    arn = runner.start(ORDER)
    expected = CheckpointError if operation == CHECKPOINT else GetExecutionStateError

    error: ServiceApiError | None = None
    for _ in range(20):  # Lambda's invocations, until one raises
        invocation = service.begin_invocation(arn)
        event = json.loads(json.dumps(wire.invocation_input_to_dict(invocation)))
        try:
            output = handle(
                workflow, event, None, boto3_client=service.client, clock=service.clock.now
            )
        except expected as exc:
            error = exc
            break
        service.end_invocation(arn, wire.invocation_output_from_dict(output))
        assert not service.execution(arn).done, "the execution ended before the fault"
        wakeup = service.next_wakeup(arn)
        if wakeup is not None:
            service.clock.advance_to(wakeup)
            service.fire_due(arn)
    assert error is not None, service.backend.attempts

    assert error.retryable
    assert error.error_code == (fault.code or (fault.transport.__name__ if fault.transport else ""))
    assert error.status_code == fault.status
    message = str(error)
    assert message.startswith(f"{operation} failed: "), message
    assert error.error_code in message or (fault.transport and "endpoint URL" in message)
    if length == MAX_ATTEMPTS:
        assert len(backoff.delays) == MAX_ATTEMPTS - 1
        if fault.status is not None:
            assert f"(reached max retries: {MAX_ATTEMPTS - 1})" in message
    else:
        assert backoff.delays == []
    assert service.backend.calls[operation] == at + length - 1

    # Lambda retries the invocation: the execution completes as without faults.
    service.fail_invocation(arn, error)
    result = runner.resume(arn)

    def check() -> None:
        assert result.status is InvocationStatus.SUCCEEDED, result.error
        assert result.result == baseline.result.result
        reserve_attempts = bodies.runs["reserve"]
        assert len(reserve_attempts) == len(set(reserve_attempts)), reserve_attempts
        _assert_same_log(essence(result.log), baseline.essence, reserve_attempts)

    _commit(service.ledger, check)


# -- permanent faults: FAILED, clearly ---------------------------------------------------


@pytest.mark.parametrize("fault", faults.PERMANENT, ids=repr)
@pytest.mark.parametrize("operation", [CHECKPOINT, GET_STATE])
def test_a_permanent_fault_fails_the_execution_naming_the_call_and_the_code(
    fault: Fault, operation: str, baseline: Run, backoff: BackoffRecorder
) -> None:
    at = 3 if operation == CHECKPOINT else 1
    plan = (
        FaultPlan(checkpoint={at: fault})
        if operation == CHECKPOINT
        else FaultPlan(state={at: fault})
    )
    run = run_order(plan)
    result = run.result
    kind = CheckpointError if operation == CHECKPOINT else GetExecutionStateError

    def check() -> None:
        assert result.status is InvocationStatus.FAILED
        assert result.execution_status.value == "FAILED"
        assert result.error is not None
        assert result.error.type == kind.wire_type
        message = result.error.message or ""
        assert message.startswith(f"{operation} failed: "), message
        assert f"({fault.code})" in message, message
        assert fault.message in message
        # Returned FAILED: the invocation did not raise for Lambda to retry.
        assert run.service.invocation_errors == []
        # botocore retried only what it considers transient (a 502), then gave up.
        attempts = run.service.backend.calls[operation] - at + 1
        if fault.botocore_retries:
            assert attempts == MAX_ATTEMPTS
            assert f"(reached max retries: {MAX_ATTEMPTS - 1})" in message
        else:
            assert attempts == 1
        assert len(backoff.delays) == attempts - 1
        # Nothing after the failed call ran.
        assert "total" not in run.bodies.runs
        assert run.essence != baseline.essence

    run.ledger.commit(survived=False)  # a permanent fault is reported, not survived
    check()


# -- at-most-once under a lost response ------------------------------------------------


def _reserve_start_call(baseline: Run) -> int:
    """The checkpoint call number that carries the at-most-once START."""
    for number, request in enumerate(baseline.result.requests, start=1):
        if any(u.name == "reserve" and u.action.value == "START" for u in request.updates):
            return number
    raise AssertionError("no reserve START in the baseline")


@pytest.mark.parametrize("fault", faults.LOST_RESPONSE, ids=repr)
@pytest.mark.parametrize("idempotent", [True, False], ids=["client-token", "no-client-token"])
def test_a_lost_at_most_once_start_never_runs_the_body_twice(
    fault: Fault, idempotent: bool, baseline: Run
) -> None:
    """The START of the at-most-once step is applied but its answer is lost.

    With ClientToken idempotency (AWS, the emulator) botocore's retry gets the
    original answer: nothing changes. Without it the retry meets "Invalid
    checkpoint token", the invocation raises, and the next invocation finds
    the step STARTED: that attempt was interrupted (its body never ran), so
    the step retries and its body runs once, in attempt 2.
    """
    at = _reserve_start_call(baseline)
    run = run_order(FaultPlan(checkpoint={at: fault}), idempotent=idempotent)
    result = run.result

    def check() -> None:
        assert result.status is InvocationStatus.SUCCEEDED, result.error
        assert result.result == baseline.result.result
        reserve = result.get_step("reserve")
        if idempotent:
            assert run.bodies.runs["reserve"] == [1]
            assert run.essence == baseline.essence
            assert run.service.invocation_errors == []
            assert run.service.backend.replayed == 1
        else:
            assert run.bodies.runs["reserve"] == [2]
            assert reserve.attempts == 2
            assert len(run.service.invocation_errors) == 1
            error = run.service.invocation_errors[0]
            assert isinstance(error, ServiceApiError)
            assert "Invalid checkpoint token" in str(error)

    _commit(run.ledger, check)


# -- over HTTP: the service emulator behind the fault-injecting proxy ----------------
#
# The handler's boto3 client talks to a FaultProxy on 127.0.0.1 that forwards
# to the emulator. Real time: a read timeout costs READ_TIMEOUT + the stall
# margin; back-off sleeps are shrunk as above.

#: The handler client's read timeout; the proxy's stalls outlast it.
READ_TIMEOUT = 1.0
STALL = READ_TIMEOUT + 0.3
#: Small invocation pages: the emulator pages the state, so durable reads it.
PAGE_BYTES = 1


@dataclass(repr=False)
class EmulatorRun:
    harness: Any
    proxy: Any
    result: Any  # tests.integration.emulator.ExecutionResult
    bodies: Bodies

    @property
    def essence(self) -> list[Any]:
        from tests.integration.compare import log_essence

        return log_essence(self.result.final_operations())


class Lab:
    """Emulators and proxies started for one test; all stopped at teardown."""

    def __init__(self) -> None:
        self._stops: list[Callable[[], None]] = []

    def run(self, plan: FaultPlan, name: str, **harness_options: Any) -> EmulatorRun:
        from tests.integration.emulator import EmulatorHarness
        from tests.reliability.proxy import FaultProxy

        harness_options.setdefault("max_invocation_page_bytes", PAGE_BYTES)
        harness = EmulatorHarness(**harness_options)
        harness.start()
        self._stops.append(harness.stop)
        proxy = FaultProxy(harness.endpoint_url, plan, stall=STALL)
        proxy.start()
        self._stops.append(proxy.stop)
        client = faults.make_client(None, endpoint_url=proxy.url, read_timeout=READ_TIMEOUT)
        self._stops.append(client.close)
        harness.recorder.install(client)
        bodies = Bodies()
        harness.register(name, order_workflow(bodies, boto3_client=client))
        result = harness.run(name, ORDER, timeout=30)
        return EmulatorRun(harness, proxy, result, bodies)

    def stop(self) -> None:
        errors = []
        for stop in reversed(self._stops):
            try:
                stop()
            except Exception as exc:  # stop everything, then report
                errors.append(exc)
        if errors:
            raise errors[0]


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    pytest.importorskip("aws_durable_execution_sdk_python_testing.runner")
    from tests.integration.emulator import DUMMY_AWS_ENVIRONMENT, UNSET_AWS_ENVIRONMENT

    for name in UNSET_AWS_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    for name, value in DUMMY_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    lab = Lab()
    try:
        yield lab
    finally:
        lab.stop()


_emulator_baseline: dict[str, Any] = {}


def emulator_baseline(lab: Lab) -> dict[str, Any]:
    """The fault-free run on the emulator, through the proxy (computed once)."""
    if not _emulator_baseline:
        run = lab.run(FaultPlan(), "order-baseline")
        assert run.result.status == "SUCCEEDED", run.result.error
        _emulator_baseline.update(
            result=run.result.result,
            essence=run.essence,
            invocations=len(run.harness.invocations(run.result.arn)),
            checkpoints=run.proxy.calls[CHECKPOINT],
            states=run.proxy.calls[GET_STATE],
            bodies=run.bodies.counts(),
        )
    return _emulator_baseline


#: Every transient kind the proxy injects, one per logical call.
PROXY_CHECKPOINT_FAULTS = (
    faults.THROTTLED,
    faults.SERVICE_ERROR,
    faults.LOST_AFTER_DROP,
    faults.UNAVAILABLE,
    faults.DROPPED,
    faults.SLOW,
    faults.LOST_AFTER_TIMEOUT,
    faults.CONNECT_FAILED,
    faults.TIMED_OUT,
)
PROXY_STATE_FAULTS = (
    faults.DROPPED,
    faults.THROTTLED,
    faults.LOST_AFTER_DROP,
    faults.SERVICE_ERROR,
)


def _one_per_call(kinds: Sequence[Fault], calls: int) -> dict[int, Fault]:
    """Fault the first attempt of each of the first logical calls, one kind each
    (a retried attempt gets the next number, so faults sit two apart)."""
    table: dict[int, Fault] = {}
    number = 1
    for fault in kinds[:calls]:
        table[number] = fault
        number += 1 if fault is faults.SLOW else 2
    return table


@pytest.mark.interop
def test_emulator_transient_faults_change_nothing(lab: Lab, backoff: BackoffRecorder) -> None:
    """Every transient kind at the HTTP level, survived inside botocore."""
    baseline = emulator_baseline(lab)
    plan = FaultPlan(
        checkpoint=_one_per_call(PROXY_CHECKPOINT_FAULTS, baseline["checkpoints"]),
        state=_one_per_call(PROXY_STATE_FAULTS, baseline["states"]),
    )
    backoff.clear()
    run = lab.run(plan, "order-transient")
    ledger = run.proxy.ledger

    def check() -> None:
        assert run.result.status == "SUCCEEDED", run.harness.summary(run.result.arn)
        assert run.result.result == baseline["result"]
        assert run.essence == baseline["essence"]
        # No handler raised: no invocation more than without faults.
        invocations = run.harness.invocations(run.result.arn)
        assert [r.function_error for r in invocations] == [None] * len(invocations)
        assert len(invocations) == baseline["invocations"]
        assert run.bodies.counts() == baseline["bodies"]
        assert all(n == 1 for n in run.bodies.counts().values())
        # Each kind was injected (the plan fitted the calls).
        assert {i.fault for i in ledger.injections} == {
            *PROXY_CHECKPOINT_FAULTS[: baseline["checkpoints"]],
            *PROXY_STATE_FAULTS[: baseline["states"]],
        }
        assert len(backoff.delays) == ledger.count() - ledger.count(faults.SLOW)
        # Observed: the emulator answers a retried (ClientToken, CheckpointToken)
        # with the cached answer of the first attempt -- the same new token,
        # the same operations -- and applies nothing twice.
        pairs = run.proxy.repeated_client_tokens()
        assert len(pairs) == ledger.count(*faults.LOST_RESPONSE, operation=CHECKPOINT)
        for first, retry in pairs:
            assert not first.answered and retry.answered
            assert retry.status == first.status == 200
            assert json.loads(retry.body) == json.loads(first.body)

    _commit(ledger, check)


@pytest.mark.interop
def test_emulator_faults_that_reach_durable_are_retried_by_the_service(
    lab: Lab, backoff: BackoffRecorder
) -> None:
    """An invalid token, then a 500 on every attempt of a call: each ends its
    invocation with an error; the emulator re-invokes and the execution ends
    as without faults."""
    baseline = emulator_baseline(lab)
    budget = {7 + i: faults.SERVICE_ERROR for i in range(MAX_ATTEMPTS)}
    plan = FaultPlan(checkpoint={3: faults.INVALID_TOKEN, **budget})
    run = lab.run(plan, "order-escaping", function_error_retry_delay=0.05)

    def check() -> None:
        assert run.result.status == "SUCCEEDED", run.harness.summary(run.result.arn)
        assert run.result.result == baseline["result"]
        errors = [r.function_error for r in run.harness.invocations(run.result.arn)]
        raised = [e for e in errors if e is not None]
        assert len(raised) == 2, errors
        assert {e["errorType"] for e in raised} == {"CheckpointError"}
        token, exhausted = (e["errorMessage"] for e in raised)
        assert token.startswith("CheckpointDurableExecution failed: ")
        assert "(InvalidParameterValueException)" in token
        assert "Invalid checkpoint token" in token
        assert "(ServiceException)" in exhausted
        assert f"(reached max retries: {MAX_ATTEMPTS - 1})" in exhausted
        reserve = run.bodies.runs["reserve"]
        assert len(reserve) == len(set(reserve)), reserve
        for count in run.bodies.counts().values():
            assert 1 <= count <= 1 + len(raised)

    _commit(run.proxy.ledger, check)


@pytest.mark.interop
@pytest.mark.parametrize("fault", [faults.BAD_REQUEST, faults.KMS_ACCESS_DENIED], ids=repr)
def test_emulator_permanent_fault_fails_the_execution(
    lab: Lab, fault: Fault, backoff: BackoffRecorder
) -> None:
    run = lab.run(FaultPlan(checkpoint={2: fault}), f"order-{fault.name.lower().replace('_', '-')}")
    run.proxy.ledger.commit(survived=False)
    assert run.result.status == "FAILED", run.harness.summary(run.result.arn)
    error = run.result.error or {}
    assert error.get("ErrorType") == CheckpointError.wire_type
    message = error.get("ErrorMessage", "")
    assert message.startswith("CheckpointDurableExecution failed: "), message
    assert f"({fault.code})" in message
    # The handler returned FAILED (it did not raise for a retry).
    outputs = run.harness.outputs(run.result.arn)
    assert outputs[-1] is not None and outputs[-1]["Status"] == "FAILED"
    assert len(backoff.delays) == (MAX_ATTEMPTS - 1 if fault.botocore_retries else 0)
    assert "total" not in run.bodies.runs
