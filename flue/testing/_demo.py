# The demo workflows `emit` and `fail`, matching the interop Flue app (tests/interop/app) so the
# same HTTP requests work against both. Input validation mirrors the app's valibot schemas and
# reports issues with valibot's wording; input omitted altogether counts as `{}`.

from __future__ import annotations

import json
from typing import Any

from ._store import MISSING
from ._workflows import InputValidationError, RunContext, Workflow, WorkflowError

__all__ = ["DEMO_WORKFLOWS"]


def _received(value: Any) -> str:
    if value is MISSING:
        return "undefined"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, int) else f"{value:g}"
    return "Array" if isinstance(value, list) else "Object"


def _object(value: Any) -> dict[str, Any]:
    if value is MISSING:
        return {}
    if isinstance(value, list):
        return {}  # valibot's object() accepts arrays (typeof [] === "object")
    if not isinstance(value, dict):
        raise InputValidationError(
            [{"message": f"Invalid type: Expected Object but received {_received(value)}"}]
        )
    return value


def _non_negative_int(
    data: dict[str, Any], key: str, default: int, issues: list[dict[str, Any]]
) -> int:
    value = data.get(key, MISSING)
    if value is MISSING:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        message = f"Invalid type: Expected number but received {_received(value)}"
    elif value != int(value):
        message = f"Invalid integer: Received {_received(value)}"
    elif value < 0:
        message = f"Invalid value: Expected >=0 but received {_received(value)}"
    else:
        return int(value)
    issues.append({"message": message, "path": [key]})
    return default


def _validate_emit(value: Any) -> dict[str, int]:
    data = _object(value)
    issues: list[dict[str, Any]] = []
    parsed = {
        key: _non_negative_int(data, key, default, issues)
        for key, default in (("count", 10), ("size", 0), ("delayMs", 0), ("startDelayMs", 0))
    }
    if issues:
        raise InputValidationError(issues)
    return parsed


async def _emit(run: RunContext, params: dict[str, int]) -> dict[str, int]:
    await run.sleep(params["startDelayMs"] / 1000)
    data = "x" * params["size"]
    for i in range(params["count"]):
        if i > 0:
            await run.sleep(params["delayMs"] / 1000)
        run.log("emit", {"i": i, "data": data})
    return {"emitted": params["count"], "size": params["size"]}


def _validate_fail(value: Any) -> dict[str, Any]:
    data = _object(value)
    issues: list[dict[str, Any]] = []
    message = data.get("message", MISSING)
    if message is MISSING:
        issues.append(
            {
                "message": 'Invalid key: Expected "message" but received undefined',
                "path": ["message"],
            }
        )
    elif not isinstance(message, str):
        issues.append(
            {
                "message": f"Invalid type: Expected string but received {_received(message)}",
                "path": ["message"],
            }
        )
    before = _non_negative_int(data, "before", 1, issues)
    if issues:
        raise InputValidationError(issues)
    return {"message": message, "before": before}


async def _fail(run: RunContext, params: dict[str, Any]) -> None:
    for i in range(params["before"]):
        run.log("before-fail", {"i": i})
    raise WorkflowError(params["message"])


DEMO_WORKFLOWS: dict[str, Workflow] = {
    "emit": Workflow(_emit, _validate_emit),
    "fail": Workflow(_fail, _validate_fail),
}
"""``emit`` and ``fail``, as the interop Flue app defines them."""
