"""Run the benchmark suite: ``python -m benchmarks [--quick] [--out PATH]``.

Each scenario runs on durable (generator style and imperative style) and on
the reference SDK (``aws-durable-execution-sdk-python``) in this one process,
against the same in-memory service, alternating which SDK goes first, with a
warm-up before the measured repetitions. Figures are medians. The table and
the targets of issue 5 are printed and written to ``benchmarks/RESULTS.md``
(``--out``). ``--quick`` runs every scenario at tiny sizes once: the test
suite uses it so the benchmarks cannot rot; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from benchmarks import scenarios as sc

HERE = Path(__file__).resolve().parent
SDKS = sc.SDKS


@attrs.define
class Row:
    scenario: str
    metric: str
    values: dict[str, float | str]
    #: "lower" if smaller is better (ratios are reference / durable)
    better: str = "lower"


@attrs.define
class Suite:
    quick: bool
    rows: list[Row] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)
    figures: dict[str, float] = attrs.Factory(dict)

    @property
    def reps(self) -> int:
        return 1 if self.quick else 7

    @property
    def warmup(self) -> int:
        return 0 if self.quick else 1

    def add(self, scenario: str, metric: str, values: dict[str, float | str]) -> None:
        self.rows.append(Row(scenario, metric, values))


@attrs.define
class Sample:
    cpu: float
    wall: float
    calls: int
    bytes_sent: int
    #: threads started during the run (``threading.Thread.start`` calls)
    threads: int
    #: the most threads alive at once during the run, above those alive before
    peak_threads: int


@attrs.define
class ThreadCount:
    started: int = 0
    peak: int = 0


@contextlib.contextmanager
def _counting_threads() -> Iterator[ThreadCount]:
    """Count the threads started meanwhile, by wrapping ``threading.Thread.start``
    (thread pools start theirs with it), and the most alive at once: sampled
    with ``threading.active_count()`` right after each start, where the count
    of live threads peaks."""
    count = ThreadCount()
    base = threading.active_count()
    lock = threading.Lock()
    original = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        original(thread)
        alive = threading.active_count() - base
        with lock:
            count.started += 1
            count.peak = max(count.peak, alive)

    threading.Thread.start = start  # type: ignore[method-assign]
    try:
        yield count
    finally:
        threading.Thread.start = original  # type: ignore[method-assign]


def _timed(run: Callable[[], Any], client_of: Callable[[], Any]) -> Sample:
    gc.collect()
    with _counting_threads() as threads:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        run()
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
    client = client_of()
    return Sample(cpu, wall, client.calls, client.bytes_sent, threads.started, threads.peak)


def _peak_memory(run: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _alternate(
    suite: Suite,
    sdks: tuple[str, ...],
    once: Callable[[str], Sample],
    reps: int | None = None,
    warmup: int | None = None,
) -> dict[str, list[Sample]]:
    reps = suite.reps if reps is None else reps
    warmup = suite.warmup if warmup is None else warmup
    samples: dict[str, list[Sample]] = {sdk: [] for sdk in sdks}
    for rep in range(warmup + reps):
        order = sdks if rep % 2 == 0 else tuple(reversed(sdks))
        for sdk in order:
            sample = once(sdk)
            if rep >= warmup:
                samples[sdk].append(sample)
    return samples


def _median(samples: list[Sample], key: Callable[[Sample], float]) -> float:
    return statistics.median(key(s) for s in samples)


# -- scenarios ---------------------------------------------------------------------------


def replay(suite: Suite, n: int) -> None:
    workflows = sc.sequential_steps(n)
    log = sc.replay_log(n)

    def once(sdk: str) -> Sample:
        prepared = sc.prepare(sdk, workflows, log)
        return _timed(lambda: sc.invoke(prepared), lambda: prepared.client)

    samples = _alternate(suite, SDKS, once)
    memory = {}
    for sdk in SDKS:
        prepared = sc.prepare(sdk, workflows, log)
        memory[sdk] = _peak_memory(lambda p=prepared: sc.invoke(p)) / 1024
    name = f"replay N={n:,}"
    suite.add(
        name,
        "CPU µs per replayed operation",
        {sdk: _median(s, lambda x: x.cpu) / n * 1e6 for sdk, s in samples.items()},
    )
    suite.add(
        name,
        "wall ms per invocation",
        {sdk: _median(s, lambda x: x.wall) * 1e3 for sdk, s in samples.items()},
    )
    suite.add(name, "peak traced memory KiB", memory)
    suite.add(name, "checkpoint calls", {sdk: float(s[0].calls) for sdk, s in samples.items()})
    suite.figures[f"replay_cpu_{n}"] = _median(samples["durable"], lambda x: x.cpu) / n * 1e6
    suite.figures[f"replay_cpu_ref_{n}"] = _median(samples["reference"], lambda x: x.cpu) / n * 1e6
    suite.figures[f"replay_wall_{n}"] = _median(samples["durable"], lambda x: x.wall)
    suite.figures[f"replay_wall_ref_{n}"] = _median(samples["reference"], lambda x: x.wall)


def floor(suite: Suite, n: int) -> None:
    """The floor, measured alternately with durable's replay of the same log so
    both see the same conditions (GC state, caches); the target compares
    these paired medians."""
    log = sc.replay_log(n)
    workflows = sc.sequential_steps(n)
    event = sc.prepare("durable", workflows, log).event
    floors: list[float] = []
    replays: list[float] = []
    reps = 3 if suite.quick else 21
    for rep in range(reps + suite.warmup):
        prepared = sc.prepare("durable", workflows, log)
        gc.collect()
        cpu0 = time.process_time()
        result = sc.floor_replay(event, n)
        floor_cpu = time.process_time() - cpu0
        assert result == sc.result_of(n - 1)
        gc.collect()
        cpu0 = time.process_time()
        sc.invoke(prepared)
        replay_cpu = time.process_time() - cpu0
        if rep >= suite.warmup:
            floors.append(floor_cpu)
            replays.append(replay_cpu)
    per_op = statistics.median(floors) / n * 1e6
    paired = statistics.median(replays) / n * 1e6
    suite.figures[f"floor_{n}"] = per_op
    suite.figures[f"floor_paired_replay_{n}"] = paired
    suite.add(
        f"floor N={n:,}",
        "CPU µs per operation (durable: its replay, paired)",
        {"durable": paired, "durable-imperative": "", "reference": ""},
    )
    suite.add(
        f"floor N={n:,}",
        "CPU µs per operation (the floor)",
        {"durable": per_op, "durable-imperative": "", "reference": ""},
    )


def first_run(suite: Suite, n: int) -> None:
    workflows = sc.sequential_steps(n - 1)  # n steps in all

    def once(sdk: str) -> Sample:
        prepared = sc.prepare(sdk, workflows, [])
        return _timed(lambda: sc.invoke(prepared), lambda: prepared.client)

    samples = _alternate(suite, SDKS, once)
    name = f"first run N={n:,}"
    suite.add(
        name,
        "CPU µs per executed step",
        {sdk: _median(s, lambda x: x.cpu) / n * 1e6 for sdk, s in samples.items()},
    )
    suite.add(
        name,
        "wall ms per invocation",
        {sdk: _median(s, lambda x: x.wall) * 1e3 for sdk, s in samples.items()},
    )
    suite.add(
        name, "checkpoint calls per step", {sdk: s[0].calls / n for sdk, s in samples.items()}
    )
    suite.add(name, "bytes sent per step", {sdk: s[0].bytes_sent / n for sdk, s in samples.items()})
    suite.figures[f"first_cpu_{n}"] = _median(samples["durable"], lambda x: x.cpu) / n * 1e6
    suite.figures[f"first_cpu_ref_{n}"] = _median(samples["reference"], lambda x: x.cpu) / n * 1e6
    for sdk in SDKS:
        suite.figures[f"first_calls_{sdk}_{n}"] = samples[sdk][0].calls


def waits(suite: Suite, n: int) -> None:
    workflows = sc.steps_and_waits(n)
    log = sc.waits_log(n)

    def once(sdk: str) -> Sample:
        prepared = sc.prepare(sdk, workflows, log)
        return _timed(lambda: sc.invoke(prepared), lambda: prepared.client)

    samples = _alternate(suite, SDKS, once)
    suite.add(
        f"steps+waits replay, {2 * n} ops",
        "CPU µs per replayed operation",
        {sdk: _median(s, lambda x: x.cpu) / (2 * n) * 1e6 for sdk, s in samples.items()},
    )


def retries(suite: Suite) -> None:
    workflows = sc.flaky_step()
    clients: dict[str, Any] = {}

    def once(sdk: str) -> Sample:
        def run() -> None:
            clients[sdk] = sc.run_execution(sdk, workflows)

        return _timed(run, lambda: clients[sdk])

    samples = _alternate(suite, SDKS, once)
    name = "step failing twice, 3 invocations"
    suite.add(
        name,
        "CPU ms per execution",
        {sdk: _median(s, lambda x: x.cpu) * 1e3 for sdk, s in samples.items()},
    )
    suite.add(
        name,
        "wall ms per execution",
        {sdk: _median(s, lambda x: x.wall) * 1e3 for sdk, s in samples.items()},
    )
    suite.add(name, "checkpoint calls", {sdk: float(s[0].calls) for sdk, s in samples.items()})
    for sdk in SDKS:
        suite.figures[f"retry_calls_{sdk}"] = samples[sdk][0].calls


def nesting(suite: Suite, depth: int) -> None:
    workflows = sc.nested(depth)
    outcome: dict[str, str] = {}

    def once(sdk: str) -> Sample:
        prepared = sc.prepare(sdk, workflows, [])

        def run() -> None:
            try:
                sc.invoke(prepared)
                outcome[sdk] = "ok"
            except RuntimeError as exc:
                outcome[sdk] = "fails: " + (
                    "RecursionError" if "recursion" in str(exc) else str(exc)[:60]
                )

        return _timed(run, lambda: prepared.client)

    samples = _alternate(suite, SDKS, once)
    name = f"child contexts {depth:,} deep"
    values: dict[str, float | str] = {}
    for sdk, s in samples.items():
        values[sdk] = (
            _median(s, lambda x: x.wall) * 1e3
            if outcome.get(sdk) == "ok"
            else outcome.get(sdk, "?")
        )
    suite.add(name, "wall ms, first run", values)
    suite.figures[f"nesting_ok_{depth}"] = 1.0 if outcome.get("durable") == "ok" else 0.0
    suite.notes.append(
        f"child contexts {depth} deep: " + ", ".join(f"{sdk} {outcome.get(sdk)}" for sdk in SDKS)
    )


def _fanout_workflows(kind: str, n: int, max_concurrency: int | None) -> dict[str, Any]:
    if kind == "map":
        return sc.fanout_map(n, max_concurrency)
    return sc.fanout_parallel(n)


def _fanout_label(kind: str, n: int, max_concurrency: int | None) -> str:
    if kind == "map":
        concurrency = f"max_concurrency={max_concurrency}" if max_concurrency else "unlimited"
        return f"map N={n:,} ({concurrency}), first run"
    return f"parallel N={n:,} branches, first run"


def _rss_probe(kind: str, n: int, max_concurrency: int | None, sdk: str) -> None:
    """In a fresh interpreter (see ``_rss_growth``): print how much one
    execution raises the process's peak resident set size, in KiB."""
    logging.basicConfig(handlers=[logging.NullHandler()], force=True)
    sc.run_execution(sdk, _fanout_workflows(kind, 2, max_concurrency))  # imports, first calls
    before = _peak_rss_kib()
    sc.run_execution(sdk, _fanout_workflows(kind, n, max_concurrency))
    after = _peak_rss_kib()
    print(after - before)


def _peak_rss_kib() -> int:
    """This process's peak resident set size in KiB.  Linux's ``VmHWM``
    where there is one: ``ru_maxrss`` survives ``exec``, so a child started
    by a large parent inherits the parent's peak and shows no growth."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _rss_growth(kind: str, n: int, max_concurrency: int | None, sdk: str) -> float:
    """Peak RSS growth (KiB) of one execution, each in a fresh interpreter:
    the peak RSS after the run minus before it, after imports and a 2-item
    warm-up. Unlike tracemalloc it sees thread stacks and C allocations."""
    code = (
        "from benchmarks.__main__ import _rss_probe; "
        f"_rss_probe({kind!r}, {n!r}, {max_concurrency!r}, {sdk!r})"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE.parent,
        timeout=1800,
    ).stdout
    return float(out.strip().splitlines()[-1])


def _add_times_and_threads(
    suite: Suite, name: str, samples: dict[str, list[Sample]], *, per: str
) -> None:
    """The median wall and CPU milliseconds and threads started, one row each."""
    suite.add(
        name,
        f"wall ms per {per}",
        {sdk: _median(s, lambda x: x.wall) * 1e3 for sdk, s in samples.items()},
    )
    suite.add(
        name,
        f"CPU ms per {per}",
        {sdk: _median(s, lambda x: x.cpu) * 1e3 for sdk, s in samples.items()},
    )
    suite.add(
        name,
        "threads started",
        {sdk: _median(s, lambda x: x.threads) for sdk, s in samples.items()},
    )


def fanout(suite: Suite, kind: str, n: int, max_concurrency: int | None = None) -> None:
    """A map over ``n`` items (each one step) or a parallel of ``n`` branches
    (each one step), a whole execution through each SDK's own handler."""
    workflows = _fanout_workflows(kind, n, max_concurrency)
    expected = sc.fanout_expected(n)
    runs: dict[str, tuple[Any, str]] = {}

    def once(sdk: str) -> Sample:
        def run() -> None:
            runs[sdk] = sc.execute(sdk, workflows)

        sc.FANOUT_CALLS.update(branches=0, bodies=0)
        sample = _timed(run, lambda: runs[sdk][0])
        assert sc.FANOUT_CALLS["bodies"] == n, (sdk, sc.FANOUT_CALLS)
        client, arn = runs[sdk]
        result = client.service.execution(arn).result
        assert json.loads(result) == expected, (sdk, result)
        return sample

    # A 10,000-item execution takes seconds (the reference's tens of seconds):
    # fewer repetitions than the small scenarios.
    heavy = n >= 1_000 and not suite.quick
    reps = 3 if heavy else suite.reps
    samples = _alternate(suite, SDKS, once, reps=reps)
    memory = {}
    rss = {}
    for sdk in SDKS:
        memory[sdk] = _peak_memory(lambda sdk=sdk: sc.run_execution(sdk, workflows)) / 2**20
        rss[sdk] = _rss_growth(kind, n, max_concurrency, sdk) / 1024
    name = _fanout_label(kind, n, max_concurrency)
    _add_times_and_threads(suite, name, samples, per="execution")
    suite.add(
        name,
        "threads alive at once, peak",
        {sdk: _median(s, lambda x: x.peak_threads) for sdk, s in samples.items()},
    )
    suite.add(name, "peak traced memory MiB", memory)
    suite.add(name, "peak RSS growth MiB (fresh interpreter)", rss)
    suite.add(name, "checkpoint calls", {sdk: float(s[0].calls) for sdk, s in samples.items()})
    label = f"{kind}_{n}_{max_concurrency or 'all'}"
    for sdk in SDKS:
        suite.figures[f"fanout_calls_{sdk}_{label}"] = samples[sdk][0].calls
    if heavy:
        suite.notes.append(f"{name}: {reps} measured repetitions after 1 warm-up")


@attrs.define
class _Uncounted:
    """Stands for the client of a test runner's own service, whose calls are not counted."""

    calls: int = 0
    bytes_sent: int = 0


def fanout_runners(suite: Suite, n: int) -> None:
    """The same map on each SDK's own in-process test runner: durable's
    ``LocalRunner(workflow).run(event)``, the reference's
    ``DurableFunctionTestRunner(handler).run(...)`` (built and closed inside
    the measurement). One run each at full size: the reference's runner takes
    minutes at N = 10,000."""
    workflows = sc.fanout_map(n)
    expected = sc.fanout_expected(n)

    def once(sdk: str) -> Sample:
        def run() -> None:
            assert sc.run_on_local_runner(sdk, workflows) == expected

        return _timed(run, _Uncounted)

    reps, warmup = (1, 0) if not suite.quick and n >= 1_000 else (suite.reps, suite.warmup)
    samples = _alternate(suite, SDKS, once, reps=reps, warmup=warmup)
    name = f"map N={n:,} (unlimited), first run on each SDK's local test runner"
    _add_times_and_threads(suite, name, samples, per="execution")
    if reps == 1:
        suite.notes.append(f"{name}: one run each, no warm-up")


def fanout_replay(suite: Suite, n: int) -> None:
    """One invocation replaying the finished log of the ``n``-item map; no
    step body may run (the counters of ``sc.FANOUT_CALLS`` show it)."""
    workflows = sc.fanout_map(n)
    log = sc.completed_log(workflows)
    expected = sc.fanout_expected(n)
    branches: dict[str, int] = {}

    def once(sdk: str) -> Sample:
        prepared = sc.prepare(sdk, workflows, log)
        sc.FANOUT_CALLS.update(branches=0, bodies=0)
        output: dict[str, Any] = {}
        sample = _timed(lambda: output.update(sc.invoke(prepared)), lambda: prepared.client)
        assert sc.FANOUT_CALLS["bodies"] == 0, (sdk, "a step body ran during replay")
        assert json.loads(output["Result"]) == expected, (sdk, output)
        branches[sdk] = sc.FANOUT_CALLS["branches"]
        return sample

    samples = _alternate(suite, SDKS, once)
    memory = {}
    for sdk in SDKS:
        prepared = sc.prepare(sdk, workflows, log)
        memory[sdk] = _peak_memory(lambda p=prepared: sc.invoke(p)) / 2**20
    name = f"replay of the finished map N={n:,} ({len(log):,} operations)"
    _add_times_and_threads(suite, name, samples, per="invocation")
    suite.add(name, "peak traced memory MiB", memory)
    suite.add(name, "checkpoint calls", {sdk: float(s[0].calls) for sdk, s in samples.items()})
    suite.notes.append(
        f"{name}: no step body ran in any SDK; branch functions re-run: "
        + ", ".join(f"{sdk} {branches[sdk]:,}" for sdk in SDKS)
    )


def _import_time(statement: str, runs: int) -> float:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory() as cache:
        env["PYTHONPYCACHEPREFIX"] = cache
        code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
        times = []
        for i in range(runs + 2):  # two warm-ups write the byte-code cache
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
            ).stdout
            if i >= 2:
                times.append(float(out.strip()))
    return statistics.median(times) * 1e3


_FAKE_CLIENT = """
class FakeClient:
    # Answers checkpoints as the service would for a fresh execution: every
    # update's operation comes back STARTED or SUCCEEDED.
    def __init__(self):
        self.n = 0
    def checkpoint_durable_execution(self, DurableExecutionArn, CheckpointToken, Updates=(), **kw):
        self.n += 1
        ops = []
        for u in Updates:
            op = {k: u[k] for k in ("Id", "Type", "Name", "SubType") if k in u}
            op["StartTimestamp"] = 1735689600000
            if u["Action"] == "SUCCEED":
                op["Status"] = "SUCCEEDED"
                op["StepDetails"] = {"Attempt": 1, "Result": u.get("Payload")}
            else:
                op["Status"] = "STARTED"
            ops.append(op)
        return {"CheckpointToken": "token-%d" % self.n, "NewExecutionState": {"Operations": ops}}
CLIENT = FakeClient()
EVENT = {
    "DurableExecutionArn": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST"
    "/durable-execution/cold/00000000-0000-4000-8000-000000000000",
    "CheckpointToken": "token-0",
    "InitialExecutionState": {"Operations": [{
        "Id": "00000000-0000-4000-8000-000000000000", "Type": "EXECUTION", "Status": "STARTED",
        "StartTimestamp": 1735689600000, "ExecutionDetails": {"InputPayload": "{}"}}]},
}
"""

_COLD_DEFINE = {
    "durable": (
        "import durable\n"
        "@durable.workflow(boto3_client=CLIENT)\n"
        "def handler(event, ctx):\n"
        "    a = yield ctx.step(lambda _: {'n': 1}, name='a')\n"
        "    b = yield ctx.step(lambda _: {'n': 2}, name='b')\n"
        "    return [a, b]\n"
    ),
    "durable-imperative": (
        "from durable.compat import durable_execution\n"
        "@durable_execution(boto3_client=CLIENT)\n"
        "def handler(event, context):\n"
        "    a = context.step(lambda _: {'n': 1}, name='a')\n"
        "    b = context.step(lambda _: {'n': 2}, name='b')\n"
        "    return [a, b]\n"
    ),
    "reference": (
        "from aws_durable_execution_sdk_python import durable_execution\n"
        "def body(event, context):\n"
        "    a = context.step(lambda _: {'n': 1}, name='a')\n"
        "    b = context.step(lambda _: {'n': 2}, name='b')\n"
        "    return [a, b]\n"
        "handler = durable_execution(body, boto3_client=CLIENT)\n"
    ),
}

_BOTO_CLIENT = (
    "import boto3\n"
    "boto3.client('lambda', region_name='us-east-1', aws_access_key_id='x', "
    "aws_secret_access_key='x')\n"
)


def _cold_time(body: str, runs: int, setup: str = "") -> float:
    """Median wall ms of ``body`` in fresh interpreters (byte code cached)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory() as cache:
        env["PYTHONPYCACHEPREFIX"] = cache
        script = (
            setup
            + "\nimport time as _t\n_start = _t.perf_counter()\n"
            + body
            + "\nprint(_t.perf_counter() - _start)\n"
        )
        times = []
        for i in range(runs + 2):  # two warm-ups write the byte-code cache
            out = subprocess.run(
                [sys.executable, "-c", script],
                capture_output=True,
                text=True,
                check=True,
                env=env,
                cwd=HERE.parent,
            ).stdout
            if i >= 2:
                times.append(float(out.strip().splitlines()[-1]))
    return statistics.median(times) * 1e3


def cold_start(suite: Suite) -> None:
    runs = 3 if suite.quick else 20
    imports = {
        "durable": "import durable",
        "durable-imperative": "import durable.compat",
        "reference": "import aws_durable_execution_sdk_python",
    }
    plain = {sdk: _cold_time(stmt, runs) for sdk, stmt in imports.items()}
    suite.add("cold start", "import ms", dict(plain))
    first = {
        sdk: _cold_time(
            _COLD_DEFINE[sdk] + "assert handler(EVENT, None)['Status'] == 'SUCCEEDED'\n",
            runs,
            setup=_FAKE_CLIENT,
        )
        for sdk in SDKS
    }
    suite.add("cold start", "import + first invocation ms (2 steps)", dict(first))
    with_boto = {
        sdk: _cold_time(
            _COLD_DEFINE[sdk]
            + _BOTO_CLIENT
            + "assert handler(EVENT, None)['Status'] == 'SUCCEEDED'\n",
            runs,
            setup=_FAKE_CLIENT,
        )
        for sdk in SDKS
    }
    suite.add("cold start", "same + creating the boto3 client ms", dict(with_boto))
    suite.figures["import"] = plain["durable"]
    suite.figures["import_ref"] = plain["reference"]
    suite.figures["cold"] = first["durable"]
    suite.figures["cold_ref"] = first["reference"]


# -- report ------------------------------------------------------------------------------


def _fmt(value: float | str) -> str:
    if isinstance(value, str):
        return value or "—"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(reference: float | str, mine: float | str) -> str:
    if isinstance(reference, str) or isinstance(mine, str) or not mine:
        return "—"
    return f"{reference / mine:.1f}×"


def table(suite: Suite) -> str:
    header = (
        "| scenario | metric | durable | durable (imperative) | reference | "
        "ratio ref/durable | ratio ref/imperative |\n|---|---|---:|---:|---:|---:|---:|"
    )
    lines = [header]
    for row in suite.rows:
        v = row.values
        lines.append(
            f"| {row.scenario} | {row.metric} | {_fmt(v.get('durable', ''))} | "
            f"{_fmt(v.get('durable-imperative', ''))} | {_fmt(v.get('reference', ''))} | "
            f"{_ratio(v.get('reference', ''), v.get('durable', ''))} | "
            f"{_ratio(v.get('reference', ''), v.get('durable-imperative', ''))} |"
        )
    return "\n".join(lines)


def targets(suite: Suite) -> list[tuple[str, bool, str]]:
    f = suite.figures
    out: list[tuple[str, bool, str]] = []
    if "floor_1000" in f and "replay_cpu_1000" in f:
        multiple = f["floor_paired_replay_1000"] / f["floor_1000"]
        out.append(
            (
                "replay at N=1,000 within 2× of the floor",
                multiple <= 2.0,
                f"{multiple:.2f}× the floor "
                f"({f['floor_paired_replay_1000']:.2f} vs {f['floor_1000']:.2f} µs/op, "
                "measured alternately)",
            )
        )
        ratio = f["replay_cpu_ref_1000"] / f["replay_cpu_1000"]
        out.append(
            (
                "replay at N=1,000: at least 6× less CPU than the reference",
                ratio >= 6,
                f"{ratio:.1f}× less",
            )
        )
    if "replay_wall_10" in f:
        ratio = f["replay_wall_ref_10"] / f["replay_wall_10"]
        out.append(
            (
                "wall time replaying 10 steps at most 1/20 of the reference's",
                ratio >= 20,
                f"{ratio:.0f}× less "
                f"({f['replay_wall_10'] * 1e3:.2f} vs {f['replay_wall_ref_10'] * 1e3:.1f} ms)",
            )
        )
    sizes = sorted(
        int(k.split("_")[-1]) for k in f if k.startswith("replay_cpu_") and "ref" not in k
    )
    if len(sizes) >= 2:
        per_op = [f[f"replay_cpu_{n}"] for n in sizes]
        # Small N is dominated by the fixed cost of an invocation, so per-op
        # cost falls at first; super-linear growth would show at the top end.
        growth = per_op[-1] / per_op[-2]
        out.append(
            (
                "replay cost per operation flat in N (no super-linear growth)",
                growth <= 1.5,
                "µs/op at N="
                + ", ".join(f"{n:,}: {c:.2f}" for n, c in zip(sizes, per_op, strict=True)),
            )
        )
    first = sorted(
        int(k.split("_")[-1]) for k in f if k.startswith("first_cpu_") and "ref" not in k
    )
    if first:
        n = first[-1]
        ratio = f[f"first_cpu_ref_{n}"] / f[f"first_cpu_{n}"]
        out.append(
            (
                f"first run (N={n:,}): at most 1/3 of the reference's CPU per step",
                ratio >= 3,
                f"{ratio:.1f}× less",
            )
        )
        more = [
            k
            for k in f
            if k.startswith(("first_calls_durable_", "retry_calls_durable", "fanout_calls_durable"))
            and f[k]
            > f[k.replace("durable", "reference").replace("reference-imperative", "reference")]
        ]
        out.append(
            (
                "never more checkpoint calls than the reference",
                not more,
                "equal or fewer in every scenario" if not more else f"more in {more}",
            )
        )
    if "nesting_ok_1000" in f:
        out.append(
            (
                "child contexts nested 1,000 deep work",
                f["nesting_ok_1000"] == 1.0,
                "runs" if f["nesting_ok_1000"] == 1.0 else "fails",
            )
        )
    if "cold" in f:
        ratio = f["cold_ref"] / f["cold"]
        out.append(
            (
                "(context) import + first invocation, end to end",
                ratio >= 1,
                f"{f['cold']:.0f} vs {f['cold_ref']:.0f} ms ({ratio:.1f}× less)",
            )
        )
    if "import" in f:
        ratio = f["import_ref"] / f["import"]
        out.append(
            (
                "`import durable` at most 1/5 of the reference's import time",
                ratio >= 5,
                f"{f['import']:.0f} vs {f['import_ref']:.0f} ms ({ratio:.1f}× less)",
            )
        )
    return out


def report(suite: Suite) -> str:
    import aws_durable_execution_sdk_python as ref

    lines = [
        "# Benchmark results",
        "",
        "Regenerated by `python -m benchmarks`; do not edit by hand.",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()} ({platform.python_implementation()})",
        f"- durable {sc.durable.__version__}; "
        f"reference SDK aws-durable-execution-sdk-python {ref.__version__}",
        f"- repetitions: {suite.reps} measured after {suite.warmup} warm-up, "
        "alternating SDK order; medians; each scenario in a fresh interpreter",
        "",
        "Every invocation goes through each SDK's own Lambda handler (event JSON in, envelope out)",
        "against the same in-memory service, reached through a boto3-shaped client that counts",
        "checkpoint calls and bytes. CPU is process CPU time (all threads, so the reference's",
        "background checkpoint thread counts); memory is tracemalloc's peak for one invocation",
        "(fan-out: one execution), measured in a run of its own. Threads are counted by wrapping",
        "`threading.Thread.start` during the measured run: how many were started, and the most",
        "alive at once (`threading.active_count()` right after each start, less those alive",
        "before). Peak RSS growth is the peak RSS (`VmHWM`) after one execution minus before",
        "it, in a fresh interpreter after a 2-item warm-up; unlike tracemalloc it includes",
        "thread stacks.",
        "Ratios are reference / durable: above 1× durable is ahead.",
        "",
        table(suite),
        "",
        "## Targets (issue 5)",
        "",
        "| target | met | measured |",
        "|---|---|---|",
    ]
    for name, met, measured in targets(suite):
        lines.append(f"| {name} | {'yes' if met else '**no**'} | {measured} |")
    if suite.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in suite.notes]
    lines += [
        "",
        "## What limits the targets missed",
        "",
        "Profiled with cProfile and timeit (figures per replayed operation, N = 1,000):",
        "",
        "- **Replay vs the floor.** The floor reads the event's dictionaries and decodes",
        "  each payload. durable also builds a typed `Operation` (with its `StepDetails`)",
        "  from each dictionary (~1.8 µs), the workflow builds a descriptor per operation",
        "  (~0.6 µs), and the interpreter checks each operation's identity against the log",
        "  and tracks the replay status of protocol.md §6.2-6.3 (~1 µs). Decoding the",
        "  payload itself (~3 µs for the small record used here) is the same work in both.",
        "  The typed records and descriptors are the design; the checks are the protocol.",
        "- **Import time.** `import attrs` alone takes about 30 ms here, a sixth of the",
        "  reference's whole import; defining durable's attrs classes takes about 15 ms",
        "  more. What matters on Lambda is the import plus the first invocation, shown",
        "  above; it is dominated, for both SDKs, by importing boto3 and creating its",
        "  client (~200 ms).",
        "",
        "## Fan-out",
        "",
        '- **map, first run**: `ctx.map(items, f, name="fanout")` over `range(N)`, each item',
        "  one step returning `item * 2`, default config (no concurrency limit) and again with",
        "  `max_concurrency=8` (`MapConfig` of each SDK); the workflow returns the count and sum",
        "  of the results. A whole execution (one invocation) through each SDK's handler, as",
        "  above. durable runs step bodies on a pool of at most 16 threads (its default",
        "  `max_workers`); the imperative API runs each branch on a thread of its own; the",
        "  reference runs each branch on a `ThreadPoolExecutor` sized to the concurrency limit.",
        "- **local test runners**: the same map on durable's",
        "  `durable.testing.LocalRunner(workflow).run(event)` and on the reference's",
        "  `DurableFunctionTestRunner` (aws-durable-execution-sdk-python-testing): each SDK's own",
        "  in-process runner with its own in-memory service.",
        "- **replay**: one invocation over the finished map's log (every SDK writes the same log:",
        "  durable's is loaded for each); a counter in the step body shows that none runs.",
        "- **parallel**: `ctx.parallel` of N branches, each one step.",
    ]
    return "\n".join(lines) + "\n"


def _plan(quick: bool) -> list[tuple[str, Callable[[Suite], None]]]:
    """Every scenario, by name, in the order the report lists them."""
    plan: list[tuple[str, Callable[[Suite], None]]] = []
    for n in [10, 100] if quick else [10, 100, 1_000, 10_000]:
        plan.append((f"replay-{n}", lambda suite, n=n: replay(suite, n)))
    for n in [100] if quick else [1_000, 10_000]:
        plan.append((f"floor-{n}", lambda suite, n=n: floor(suite, n)))
    for n in [10] if quick else [10, 100, 1_000]:
        plan.append((f"first-run-{n}", lambda suite, n=n: first_run(suite, n)))
    plan.append(("waits", lambda suite: waits(suite, 5 if quick else 100)))
    plan.append(("retries", retries))
    for depth in [5] if quick else [10, 100, 1_000]:
        plan.append((f"nesting-{depth}", lambda suite, d=depth: nesting(suite, d)))
    items = 200 if quick else 10_000
    plan.append((f"fanout-map-{items}", lambda suite: fanout(suite, "map", items)))
    plan.append((f"fanout-map-{items}-c8", lambda suite: fanout(suite, "map", items, 8)))
    plan.append((f"fanout-runners-{items}", lambda suite: fanout_runners(suite, items)))
    plan.append((f"fanout-replay-{items}", lambda suite: fanout_replay(suite, items)))
    branches = 20 if quick else 100
    plan.append((f"fanout-parallel-{branches}", lambda suite: fanout(suite, "parallel", branches)))
    plan.append(("cold-start", cold_start))
    return plan


def _run_isolated(name: str, quick: bool) -> dict[str, Any]:
    """Run one scenario in a fresh interpreter, so no scenario inherits the
    heap (and garbage-collector work) of the one before it."""
    command = [sys.executable, "-m", "benchmarks", "--only", name]
    if quick:
        command.append("--quick")
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, cwd=HERE.parent, timeout=1800
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # one scenario, JSON out
    parser.add_argument(
        "--in-process", action="store_true", help="run every scenario in this process"
    )
    args = parser.parse_args(argv)
    # Both SDKs log (the reference logs every failed attempt with its
    # traceback); records are still made, only not printed.
    logging.basicConfig(handlers=[logging.NullHandler()], force=True)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    plan = _plan(args.quick)
    suite = Suite(quick=args.quick)
    if args.only:
        dict(plan)[args.only](suite)
        print(json.dumps(attrs.asdict(suite)))
        return 0
    for name, scenario in plan:
        if args.in_process:
            scenario(suite)
        else:
            part = _run_isolated(name, args.quick)
            suite.rows += [Row(**row) for row in part["rows"]]
            suite.notes += part["notes"]
            suite.figures.update(part["figures"])
        print(f"{name} done", file=sys.stderr)
    text = report(suite)
    print(text)
    if not args.quick or args.out != HERE / "RESULTS.md":
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
