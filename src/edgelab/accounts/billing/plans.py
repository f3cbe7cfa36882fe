"""The plans on sale: names to Paddle price ids, from EDGELAB_PADDLE_PRICE_IDS and the older
EDGELAB_PADDLE_PRICE_ID (the default plan, named `default` unless it is one of the named)."""

from __future__ import annotations

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
