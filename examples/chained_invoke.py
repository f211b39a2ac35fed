"""Chained invokes: a workflow calls other Lambda functions and waits for them.

``checkout`` prices a cart by invoking ``price-quote``, a plain Lambda
function (one call, its JSON result), then has the invoice issued by
invoking ``issue-invoice``, which is itself a durable function: it runs as
an execution of its own, with its own steps and a one-hour review wait, and
its result becomes the result of the invoke.

``ctx.invoke`` is a durable operation (a ``CHAINED_INVOKE`` in the log):
while the target runs, the caller's invocation ends and costs nothing; when
the target finishes, the service invokes the caller again, which replays to
the invoke and gets its result from the log.  If the target fails, the
caller gets an ``InvokeError`` carrying the target's error: here an unknown
item makes ``price-quote`` raise, and checkout rejects the cart.

On the local runner, ``LocalRunner.register_function`` plays Lambda: it
makes a name reachable by invokes, runs a plain target as one call and a
``@durable.workflow`` target as a child execution on the same service and
virtual clock.

Run it:  python examples/chained_invoke.py
"""

from __future__ import annotations

from typing import Any

import durable
from durable import Context, Duration, InvokeError, StepContext

PRICES = {"book": 12.5, "pen": 1.25, "lamp": 30.0}


# -- a plain Lambda function ------------------------------------------------------


def price_quote(event: dict[str, Any]) -> dict[str, Any]:
    """Price the cart ``{"items": {name: quantity}}``; unknown items are an error."""
    unknown = sorted(set(event["items"]) - set(PRICES))
    if unknown:
        raise ValueError(f"no price for {', '.join(unknown)}")
    lines = {item: PRICES[item] * count for item, count in event["items"].items()}
    return {"lines": lines, "total": round(sum(lines.values()), 2)}


# -- a durable function -----------------------------------------------------------


@durable.step
def allocate_number(step_ctx: StepContext, customer: str) -> str:
    return f"INV-{customer.upper()}-0001"


@durable.step
def render_invoice(step_ctx: StepContext, number: str, total: float) -> dict[str, Any]:
    return {"number": number, "total": total, "pdf": f"s3://invoices/{number}.pdf"}


@durable.workflow
def issue_invoice(event: dict[str, Any], ctx: Context) -> Any:
    number = yield allocate_number(event["customer"])
    yield ctx.wait(Duration.from_hours(1), name="review")
    return (yield render_invoice(number, event["total"]))


# -- the caller -------------------------------------------------------------------


@durable.workflow
def checkout(event: dict[str, Any], ctx: Context) -> Any:
    try:
        quote = yield ctx.invoke("price-quote", {"items": event["items"]}, name="quote")
    except InvokeError as err:
        return {"status": "rejected", "reason": err.message}
    invoice = yield ctx.invoke(
        "issue-invoice",
        {"customer": event["customer"], "total": quote["total"]},
        name="invoice",
    )
    return {"status": "invoiced", "total": quote["total"], "invoice": invoice["number"]}


def make_runner() -> Any:
    """A local runner for ``checkout`` with both targets registered."""
    from durable.testing import LocalRunner

    runner = LocalRunner(checkout)
    runner.register_function("price-quote", price_quote)  # plain: one call
    runner.register_function("issue-invoice", issue_invoice)  # durable: a child execution
    return runner


def main() -> None:
    runner = make_runner()
    result = runner.run({"customer": "acme", "items": {"book": 2, "pen": 4}})
    print(result.summary())
    invoice = result.get_invoke("invoice")
    child_arn = runner.service.execution(result.arn).children[invoice.id]
    print()
    print(f"'invoice' ran as the child execution {child_arn.rsplit('/', 2)[-2]}:")
    print(runner.result(child_arn).summary())

    rejected = make_runner().run({"customer": "acme", "items": {"book": 1, "kettle": 1}})
    print()
    print(f"an unknown item: {rejected.result}")
    quote = rejected.get_invoke("quote")
    assert quote.error is not None
    print(f"'quote' {quote.status.value}: {quote.error.type}: {quote.error.message}")


if __name__ == "__main__":
    main()
