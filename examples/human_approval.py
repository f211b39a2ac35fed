"""Human approval: pause until a person answers, or give up after a day.

An expense report above a threshold needs a manager's approval. The workflow
opens a callback, sends its id to the approver (a step: in real life an email
or a chat message with a link that calls SendDurableExecutionCallbackSuccess
or ...Failure), and waits. The answer decides; silence for 24 hours is a
timeout and the report is escalated.

Running this file plays three approvers on the local runner with virtual
time: one approves, one rejects, one never answers.

Run it:  python examples/human_approval.py
"""

from __future__ import annotations

import json
from typing import Any

import durable
from durable import (
    CallbackConfig,
    CallbackExternalError,
    CallbackTimeoutError,
    Context,
    Duration,
    StepContext,
)
from durable.errors import CallbackError

OUTBOX: list[dict[str, Any]] = []


@durable.step
def notify_approver(step_ctx: StepContext, report: dict[str, Any], callback_id: str) -> str:
    # Stands in for an email or chat message carrying the callback id.
    OUTBOX.append({"to": report["manager"], "report": report["id"], "callback_id": callback_id})
    return f"sent to {report['manager']}"


@durable.step
def record_decision(
    step_ctx: StepContext, report_id: str, decision: str, note: str
) -> dict[str, str]:
    return {"report": report_id, "decision": decision, "note": note}


@durable.workflow
def approve_expense(event: dict[str, Any], ctx: Context) -> Any:
    report = event["report"]
    if report["amount"] <= 100:
        return (yield record_decision(report["id"], "auto-approved", "under the threshold"))
    approval = yield ctx.create_callback(
        name="manager-approval",
        config=CallbackConfig(timeout=Duration.from_hours(24)),
    )
    yield notify_approver(report, approval.callback_id)
    try:
        answer = json.loads((yield approval.result()))
    except CallbackTimeoutError:
        return (yield record_decision(report["id"], "escalated", "no answer within 24 hours"))
    except CallbackExternalError as rejected:
        return (yield record_decision(report["id"], "rejected", rejected.message))
    except CallbackError as error:  # any other callback problem
        return (yield record_decision(report["id"], "error", error.message))
    return (yield record_decision(report["id"], "approved", answer.get("note", "")))


def main() -> None:
    from durable.testing import LocalRunner

    report = {"id": "exp-7", "amount": 420.0, "manager": "dana@example.com"}

    approver = LocalRunner(approve_expense)
    pending = approver.run({"report": report})
    callback_id = pending.get_callback("manager-approval").callback_id
    assert callback_id is not None
    print(f"waiting for {OUTBOX[-1]['to']} (callback {callback_id[:12]}...)")
    done = approver.send_callback_success(callback_id, json.dumps({"note": "fine by me"}))
    print("approved:", done.result)

    rejecter = LocalRunner(approve_expense)
    pending = rejecter.run({"report": report})
    callback_id = pending.get_callback("manager-approval").callback_id
    assert callback_id is not None
    done = rejecter.send_callback_failure(callback_id, ValueError("receipts missing"))
    print("rejected:", done.result)

    silent = LocalRunner(approve_expense, on_callback=lambda op: None)
    done = silent.run({"report": report})
    print("no answer:", done.result, f"after {done.invocations} invocations")
    print()
    print(done.summary())


if __name__ == "__main__":
    main()
