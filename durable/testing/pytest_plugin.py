"""pytest plugin of durable: one test file for local and deployed runs.

Installed with ``durable`` (the ``pytest11`` entry point ``durable``), it adds

* the marker ``@pytest.mark.durable_execution(handler=..., lambda_function_name=..., **options)``
  that says which workflow a test runs;
* the fixture ``durable_runner``, a ``durable.testing.DurableTestRunner``
  built from the marker: a ``DurableFunctionTestRunner`` (in-process,
  virtual time) in local mode, a ``DurableFunctionCloudTestRunner`` (the
  deployed function, through the Lambda API) in cloud mode;
* the option ``--runner-mode=local|cloud`` (``local`` by default).

::

    from durable.testing import InvocationStatus

    @pytest.mark.durable_execution(handler=process_order, lambda_function_name="process_order")
    def test_order(durable_runner):
        with durable_runner:
            result = durable_runner.run(input={"order_id": "o-1"}, timeout=30)
        assert result.status is InvocationStatus.SUCCEEDED
        assert result.get_step("charge").result == {"charged": 10}

``pytest`` runs it in-process; ``pytest --runner-mode=cloud`` runs the same
test against the deployed function.

Marker options: ``handler`` (required in local mode; it may also be the
only positional argument) and ``lambda_function_name`` (the deployed
function, see below).  Other keyword options go to the runner of the current
mode, and options of the other mode are ignored, so one marker serves both:
local ones are those of ``DurableFunctionTestRunner`` (``functions``,
``seed``, ``on_callback``, ``through_handler``, ``max_invocations``, ...),
cloud ones ``region``, ``endpoint_url`` and ``poll_interval``.  An unknown
option is an error.

Cloud mode reads the environment, with the names the AWS testing package's
examples use where there is one:

``QUALIFIED_FUNCTION_NAME``
    The deployed function to invoke, qualified with a version or alias
    (``orders:$LATEST``) or as an ARN.  Without it, the marker's
    ``lambda_function_name`` is the function invoked.
``LAMBDA_FUNCTION_TEST_NAME``
    With ``QUALIFIED_FUNCTION_NAME``: only tests whose marker has this
    ``lambda_function_name`` (compared case-insensitively) run; the others
    are skipped, so one deployed function can be tested at a time.
``PYTEST_FUNCTION_NAME_MAP``
    A JSON object from ``lambda_function_name`` values to deployed names,
    to test several functions in one session; it is consulted first.
``AWS_REGION`` / ``AWS_DEFAULT_REGION``
    The region (else boto3's configuration; the region of an ARN given as
    the function name is used when neither is set).
``AWS_ENDPOINT_URL_LAMBDA``
    Another Lambda endpoint, honoured by boto3 itself; ``LAMBDA_ENDPOINT``
    is accepted too.

Credentials come from boto3's usual chain.  A test whose deployed function
cannot be determined fails, naming these variables.

This module imports only pytest when it is loaded; the runners (and boto3,
in cloud mode) are imported when a test asks for ``durable_runner``.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from durable.testing._interface import DurableTestRunner

__all__ = ["durable_runner"]

MARKER = "durable_execution"
MODES = ("local", "cloud")
#: Marker options of the cloud runner (besides the function name).
CLOUD_OPTIONS = frozenset({"region", "endpoint_url", "poll_interval"})
#: Marker keys that are not runner options.
_MARKER_KEYS = frozenset({"handler", "lambda_function_name"})

ENV_QUALIFIED_NAME = "QUALIFIED_FUNCTION_NAME"
ENV_TEST_NAME = "LAMBDA_FUNCTION_TEST_NAME"
ENV_NAME_MAP = "PYTEST_FUNCTION_NAME_MAP"
ENV_ENDPOINT = "LAMBDA_ENDPOINT"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("durable", "durable functions")
    group.addoption(
        "--runner-mode",
        dest="durable_runner_mode",
        choices=MODES,
        default="local",
        help=(
            "where the durable_runner fixture runs durable functions: 'local' (in-process, "
            "virtual time; default) or 'cloud' (the deployed function, through the Lambda API)"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(handler=None, lambda_function_name=None, **options): the durable function "
        "the durable_runner fixture runs (handler locally, lambda_function_name in cloud mode)",
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    if config.getoption("durable_runner_mode", "local") == "cloud":
        return "durable: --runner-mode=cloud (durable_runner runs deployed functions)"
    return None


def _local_options() -> frozenset[str]:
    from durable.testing._interface import DurableFunctionTestRunner

    parameters = inspect.signature(DurableFunctionTestRunner.__init__).parameters
    return frozenset(
        name for name, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
    )


def _marker_arguments(request: pytest.FixtureRequest) -> tuple[Any, str | None, dict[str, Any]]:
    """``(handler, lambda_function_name, options)`` from the test's marker."""
    test = request.node.nodeid
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        pytest.fail(
            f"{test} uses the durable_runner fixture but has no @pytest.mark.{MARKER}"
            "(handler=..., lambda_function_name=...) marker saying what to run",
            pytrace=False,
        )
    kwargs = dict(marker.kwargs)
    if len(marker.args) > 1 or (marker.args and "handler" in kwargs):
        pytest.fail(
            f"@pytest.mark.{MARKER} of {test}: pass the handler once, as the only positional "
            f"argument or as handler=; got {len(marker.args)} positional argument(s)",
            pytrace=False,
        )
    handler = marker.args[0] if marker.args else kwargs.pop("handler", None)
    kwargs.pop("handler", None)
    name = kwargs.pop("lambda_function_name", None)
    if name is not None and (not isinstance(name, str) or not name):
        pytest.fail(
            f"@pytest.mark.{MARKER} of {test}: lambda_function_name must be a non-empty "
            f"string, got {name!r}",
            pytrace=False,
        )
    local = _local_options()
    unknown = sorted(set(kwargs) - local - CLOUD_OPTIONS)
    if unknown:
        valid = sorted(_MARKER_KEYS | local | CLOUD_OPTIONS)
        pytest.fail(
            f"@pytest.mark.{MARKER} of {test}: unknown option(s) {unknown}; "
            f"the marker accepts {valid}",
            pytrace=False,
        )
    return handler, name, kwargs


def _name_map(test: str) -> dict[str, str]:
    text = os.environ.get(ENV_NAME_MAP)
    if not text:
        return {}
    try:
        mapping = json.loads(text)
    except ValueError as exc:
        pytest.fail(f"{ENV_NAME_MAP} is not valid JSON ({exc}); needed by {test}", pytrace=False)
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in mapping.items()
    ):
        pytest.fail(
            f"{ENV_NAME_MAP} must be a JSON object of lambda_function_name -> deployed "
            f"function name (strings); needed by {test}",
            pytrace=False,
        )
    return mapping


def deployed_function_name(test: str, marker_name: str | None) -> str:
    """The function a cloud-mode test invokes (see the module docstring);
    skips the test when ``LAMBDA_FUNCTION_TEST_NAME`` selects another one,
    fails it when no name can be found."""
    mapping = _name_map(test)
    if marker_name is not None and mapping:
        if marker_name in mapping:
            return mapping[marker_name]
        folded = {key.casefold(): value for key, value in mapping.items()}
        if marker_name.casefold() in folded:
            return folded[marker_name.casefold()]
    qualified = os.environ.get(ENV_QUALIFIED_NAME)
    if qualified:
        selected = os.environ.get(ENV_TEST_NAME)
        if selected and (marker_name is None or marker_name.casefold() != selected.casefold()):
            pytest.skip(
                f"{ENV_TEST_NAME}={selected!r} selects another function than this test's "
                f"lambda_function_name={marker_name!r}"
            )
        return qualified
    if marker_name is not None:
        return marker_name
    pytest.fail(
        f"{test} runs in --runner-mode=cloud but no deployed function is named for it: set "
        f"lambda_function_name= on its @pytest.mark.{MARKER} marker, or the environment "
        f"variable {ENV_QUALIFIED_NAME} (for example 'my-function:$LATEST'), or "
        f"{ENV_NAME_MAP} (a JSON object of lambda_function_name -> deployed name)",
        pytrace=False,
    )


def _region(function_name: str) -> str | None:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    parts = function_name.split(":")
    if len(parts) > 3 and parts[0] == "arn" and parts[2] == "lambda" and parts[3]:
        return parts[3]
    return None  # boto3's configuration decides


def build_runner(request: pytest.FixtureRequest) -> DurableTestRunner:
    """The runner the marker of ``request``'s test describes, for the session's mode."""
    test = request.node.nodeid
    handler, name, options = _marker_arguments(request)
    mode = request.config.getoption("durable_runner_mode", "local")
    if mode == "cloud":
        from durable.testing._cloud import DurableFunctionCloudTestRunner

        function_name = deployed_function_name(test, name)
        cloud = {key: value for key, value in options.items() if key in CLOUD_OPTIONS}
        cloud.setdefault("region", _region(function_name))
        cloud.setdefault("endpoint_url", os.environ.get(ENV_ENDPOINT) or None)
        return DurableFunctionCloudTestRunner(function_name, **cloud)
    from durable.testing._interface import DurableFunctionTestRunner

    if handler is None:
        pytest.fail(
            f"@pytest.mark.{MARKER} of {test} has no handler= (the workflow to run in "
            "--runner-mode=local)",
            pytrace=False,
        )
    if not callable(handler):
        pytest.fail(
            f"@pytest.mark.{MARKER} of {test}: handler must be a @durable.workflow, a "
            f"@durable_execution handler or an (event, ctx) function, got {handler!r}",
            pytrace=False,
        )
    local = {key: value for key, value in options.items() if key not in CLOUD_OPTIONS}
    return DurableFunctionTestRunner(handler, **local)


@pytest.fixture
def durable_runner(request: pytest.FixtureRequest) -> Iterator[DurableTestRunner]:
    """A ``DurableTestRunner`` for the function the test's ``durable_execution``
    marker names: in-process with ``--runner-mode=local`` (the default), the
    deployed function with ``--runner-mode=cloud``.  It is closed after the test."""
    runner = build_runner(request)
    try:
        yield runner
    finally:
        runner.close()
