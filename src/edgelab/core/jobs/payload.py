"""What a job may be called and what it may carry: `product.event` names and JSON payloads.

Checked where the job is enqueued, not where it runs, so the mistake surfaces in the request
(or test) that made it rather than later in a worker's log.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

TASK_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
"""`product.event`: two snake_case words, e.g. `sentinel.rescore`, `betting.odds_refresh`."""


def check_task_name(name: str) -> str:
    if not isinstance(name, str) or not TASK_NAME.match(name):
        raise ValueError(
            f"job name {name!r} must look like 'product.event' (snake_case, one dot), "
            "e.g. 'sentinel.rescore'"
        )
    return name


def check_json(value: Any, where: str = "payload") -> None:
    """Refuse anything that would not survive a JSON round trip unchanged.

    Payloads are ids and plain values: an ORM object would be stale (or detached) by the time
    the job runs in another unit of work, and a datetime, tuple or set would silently change
    type. NaN and infinity are not JSON either.
    """
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{where} is {value!r}: JSON has no NaN or infinity")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_json(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"{where} has a {type(key).__name__} key {key!r}: JSON keys are str"
                )
            check_json(item, f"{where}[{key!r}]")
        return
    raise TypeError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}, not JSON: "
        "send ids and plain values (str, int, float, bool, None, list, dict), "
        "e.g. user_id=user.id rather than user=user"
    )


def check_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A checked deep copy: later changes to the caller's objects do not reach the job."""
    for key, value in payload.items():
        check_json(value, key)
    copied: dict[str, Any] = json.loads(json.dumps(payload, allow_nan=False))
    return copied
