"""A greeting workflow: one step, a durable wait, another step.

Run it:  python examples/greeting.py
"""

from __future__ import annotations

from typing import Any

import durable
from durable import Context, Duration, StepContext


@durable.step
def greet(step_ctx: StepContext, name: str) -> dict[str, str]:
    step_ctx.logger.info("greeting %s", name)
    return {"msg": f"Hello {name}"}


@durable.workflow
def greeting(event: dict[str, Any], ctx: Context) -> Any:
    hello = yield greet(event.get("name", "world"))
    yield ctx.wait(Duration.from_seconds(2), name="pause")
    count = yield ctx.step(lambda _: len(hello["msg"]), name="count-letters")
    return [hello, count]


def main() -> None:
    from durable.testing import run

    result = run(greeting, {"name": "Bob"})
    print(result.summary())


if __name__ == "__main__":
    main()
