"""The pytest plugin: the durable_execution marker, the durable_runner fixture, --runner-mode.

Each test writes a small test file and runs pytest on it in-process
(pytester); the plugin is loaded through its pytest11 entry point, as in a
user's project.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.testing.sources import INNER_OPTIONS, ORDER_TESTS, WRONG_EXPECTATION

pytest_plugins = ["pytester"]

#: The environment cloud mode reads; cleared so that a developer's setup cannot leak in.
CLOUD_ENVIRONMENT = (
    "QUALIFIED_FUNCTION_NAME",
    "LAMBDA_FUNCTION_TEST_NAME",
    "PYTEST_FUNCTION_NAME_MAP",
    "LAMBDA_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_LAMBDA",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLOUD_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", "us-east-1")


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_generated=textwrap.dedent(source))
    return pytester.runpytest_inprocess(*INNER_OPTIONS, *args)


@pytest.mark.parametrize("mode", [(), ("--runner-mode=local",)])
def test_the_example_passes_in_local_mode(
    pytester: pytest.Pytester, clean_environment: None, mode: tuple[str, ...]
) -> None:
    result = run(pytester, ORDER_TESTS, *mode)
    result.assert_outcomes(passed=3)


def test_a_wrong_expectation_fails_and_shows_the_difference(
    pytester: pytest.Pytester, clean_environment: None
) -> None:
    result = run(pytester, WRONG_EXPECTATION)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert *'charged': 25* == *'charged': 99*"])


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess(*INNER_OPTIONS, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.durable_execution(handler=None, *"])


def test_runner_mode_accepts_only_local_and_cloud(pytester: pytest.Pytester) -> None:
    result = run(pytester, "def test_nothing(): pass\n", "--runner-mode=staging")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--runner-mode*invalid choice*'staging'*"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("", "*has no @pytest.mark.durable_execution(handler=..., lambda_function_name=...)*"),
        (
            "@pytest.mark.durable_execution(lambda_function_name='orders')",
            "*has no handler= (the workflow to run in --runner-mode=local)*",
        ),
        (
            "@pytest.mark.durable_execution(handler=process_order, retries=3)",
            "*unknown option(s) [[]'retries'[]]; the marker accepts "
            "[[]'endpoint_url', 'functions', 'handler', 'lambda_function_name',*'seed'*[]]",
        ),
        (
            "@pytest.mark.durable_execution(process_order, process_order)",
            "*pass the handler once*got 2 positional argument(s)*",
        ),
        (
            "@pytest.mark.durable_execution(handler='process_order')",
            "*handler must be a @durable.workflow*got 'process_order'*",
        ),
        (
            "@pytest.mark.durable_execution(handler=process_order, lambda_function_name=7)",
            "*lambda_function_name must be a non-empty string, got 7*",
        ),
    ],
    ids=["no-marker", "no-handler", "unknown-option", "two-handlers", "not-callable", "bad-name"],
)
def test_marker_mistakes_are_errors_that_say_what_is_wrong(
    pytester: pytest.Pytester, clean_environment: None, marker: str, message: str
) -> None:
    source = f"""
import pytest
from tests.testing.workflows import process_order

{marker}
def test_it(durable_runner):
    pass
"""
    result = run(pytester, source)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


def test_the_handler_may_be_positional_and_options_of_both_modes_may_be_mixed(
    pytester: pytest.Pytester, clean_environment: None
) -> None:
    source = """
import pytest
from tests.testing.workflows import process_order


@pytest.mark.durable_execution(process_order, seed=4, poll_interval=0.1, region="eu-west-1")
def test_it(durable_runner):
    assert durable_runner.mode == "local"
    assert durable_runner.run({"order_id": "o-2"}).result["receipt"] == "receipt-o-2"
"""
    run(pytester, source).assert_outcomes(passed=1)


CLOUD_CONFIGURATION = """
import pytest


@pytest.mark.durable_execution(lambda_function_name={name!r}, poll_interval=0.25)
def test_configuration(durable_runner):
    assert durable_runner.mode == "cloud"
    print("function", durable_runner.function_name)
    print("region", durable_runner.client.meta.region_name)
    print("endpoint", durable_runner.client.meta.endpoint_url)
    print("poll", durable_runner.poll_interval)
"""


def cloud_configuration(pytester: pytest.Pytester, name: str | None) -> pytest.RunResult:
    return run(pytester, CLOUD_CONFIGURATION.format(name=name), "--runner-mode=cloud", "-s")


def test_cloud_mode_invokes_the_function_the_marker_names(
    pytester: pytest.Pytester, clean_environment: None
) -> None:
    result = cloud_configuration(pytester, "orders:live")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*function orders:live", "region us-east-1", "endpoint https://lambda.*", "poll 0.25"]
    )


def test_cloud_mode_reads_the_function_and_endpoint_from_the_environment(
    pytester: pytest.Pytester, clean_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUALIFIED_FUNCTION_NAME", "orders-prod:$LATEST")
    monkeypatch.setenv("LAMBDA_FUNCTION_TEST_NAME", "Orders")
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:9")
    result = cloud_configuration(pytester, "orders")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*function orders-prod:$LATEST", "endpoint http://127.0.0.1:9"])


def test_cloud_mode_skips_the_tests_of_other_functions(
    pytester: pytest.Pytester, clean_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUALIFIED_FUNCTION_NAME", "orders-prod:$LATEST")
    monkeypatch.setenv("LAMBDA_FUNCTION_TEST_NAME", "payments")
    result = run(pytester, CLOUD_CONFIGURATION.format(name="orders"), "--runner-mode=cloud", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*LAMBDA_FUNCTION_TEST_NAME='payments' selects another*"])


def test_cloud_mode_maps_marker_names_to_deployed_functions(
    pytester: pytest.Pytester, clean_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_FUNCTION_NAME_MAP", '{"Orders": "orders-prod:7"}')
    monkeypatch.setenv("QUALIFIED_FUNCTION_NAME", "unused:1")
    monkeypatch.setenv("LAMBDA_ENDPOINT", "http://127.0.0.1:8")
    result = cloud_configuration(pytester, "orders")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*function orders-prod:7", "endpoint http://127.0.0.1:8"])


def test_cloud_mode_takes_the_region_of_an_arn_when_none_is_set(
    pytester: pytest.Pytester, clean_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    arn = "arn:aws:lambda:eu-central-1:123456789012:function:orders:live"
    result = cloud_configuration(pytester, arn)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*function {arn}", "region eu-central-1"])


def test_cloud_mode_without_a_function_name_says_what_to_set(
    pytester: pytest.Pytester, clean_environment: None
) -> None:
    result = cloud_configuration(pytester, None)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*runs in --runner-mode=cloud but no deployed function is named for it: set "
            "lambda_function_name= on its @pytest.mark.durable_execution marker, or the "
            "environment variable QUALIFIED_FUNCTION_NAME*PYTEST_FUNCTION_NAME_MAP*"
        ]
    )


def test_a_malformed_name_map_is_an_error(
    pytester: pytest.Pytester, clean_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_FUNCTION_NAME_MAP", '["orders"]')
    result = cloud_configuration(pytester, "orders")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*PYTEST_FUNCTION_NAME_MAP must be a JSON object*"])


def test_cloud_mode_is_reported_in_the_header(
    pytester: pytest.Pytester, clean_environment: None
) -> None:
    result = run(pytester, "def test_nothing(): pass\n", "--runner-mode=cloud")
    result.stdout.fnmatch_lines(["durable: --runner-mode=cloud*"])


def test_loading_the_plugin_imports_no_aws_sdk() -> None:
    code = (
        "import sys, durable.testing.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
