"""The plans on sale: names to Paddle price ids, from EDGELAB_PADDLE_PRICE_IDS and the older
EDGELAB_PADDLE_PRICE_ID (the default plan, named `default` unless it is one of the named)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from edgelab.core.settings import Settings

DEFAULT_PLAN = "default"


def plans(settings: Settings) -> dict[str, str]:
    """Plan name -> price id, in configuration order (the lone price id last)."""
    catalogue = dict(settings.paddle_price_ids)
    single = settings.paddle_price_id
    if single and single not in catalogue.values():
        catalogue.setdefault(DEFAULT_PLAN, single)
    return catalogue


def default_price_id(settings: Settings) -> str | None:
    """What checkout sells without a plan: EDGELAB_PADDLE_PRICE_ID, else the first named plan."""
    if settings.paddle_price_id:
        return settings.paddle_price_id
    return next(iter(settings.paddle_price_ids.values()), None)


def plan_of(settings: Settings, price_id: str | None) -> str | None:
    """The plan name of a price id; None for a price we do not sell (any more)."""
    return next((name for name, pid in plans(settings).items() if pid == price_id), None)


PLAN_BODIES = ("CheckoutRequest", "ChangePlanRequest")  # request bodies with a `plan` field


def document_plans(app: FastAPI, settings: Settings) -> None:
    """Name the configured plans as the `plan` field's `enum` in the OpenAPI document: which
    plans exist is configuration (EDGELAB_PADDLE_PRICE_IDS), so the schema a client reads
    says what the server accepts rather than any string (unset plans: no enum)."""
    names = list(plans(settings))
    if not names:
        return
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        components = document.get("components", {}).get("schemas", {})
        for body in PLAN_BODIES:
            field = components.get(body, {}).get("properties", {}).get("plan")
            if field is None:
                continue
            choices = [c for c in field.get("anyOf", [field]) if c.get("type") == "string"]
            for choice in choices:
                choice["enum"] = names
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
