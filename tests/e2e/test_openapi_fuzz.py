"""Schemathesis against our own OpenAPI schema, every operation, on a live server with the
real data: no 5xx, every response valid against its declared schema and status codes.

The operations are listed from the app itself, so a new route is fuzzed without touching this
file. (Schemathesis's pytest plugin does not load under pytest 9, so its Python API is used.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from edgelab.app import create_app

OPERATIONS = sorted(
    (path, method.upper())
    for path, item in create_app().openapi()["paths"].items()
    for method in item
)


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_every_operation_honours_its_schema(live_server: str, path: str, method: str):
    schema = schemathesis.openapi.from_url(f"{live_server}/openapi.json")
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=live_server)

    check()
