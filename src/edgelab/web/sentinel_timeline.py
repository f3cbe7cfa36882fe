"""The Sentinel player's timeline for the dashboard: bets and transactions from
`GET /sentinel/players/{id}/activity` (a page at a time) among the scoring runs and
interventions, newest first, each event shown once on the page that covers its time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import AwareDatetime, TypeAdapter

from edgelab.web.api import ApiAnswer

_QUERY_TIME: TypeAdapter[dt.datetime] = TypeAdapter(AwareDatetime)


def _moment(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


# ISO 4217 minor-unit exponents other than 2 (the API gives money in minor units as stored)
_EXPONENTS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"), 0),
    **dict.fromkeys(("RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def money(minor: int | None, currency: str) -> str:
    """Minor units as the amount a person reads: 4750 USD -> '47.50 USD', 500 JPY -> '500 JPY'."""
    if minor is None:
        return "–"
    digits = _EXPONENTS.get(currency, 2)
    return f"{minor / 10**digits:,.{digits}f} {currency}"


TX_LABELS = {
    "deposit": "Deposit",
    "withdrawal": "Withdrawal",
    "withdrawal_reversal": "Withdrawal reversed",
}


def _activity_event(item: dict[str, Any]) -> dict[str, Any]:
    """One bet or transaction of `GET /sentinel/players/{id}/activity` as a timeline line."""
    if item["kind"] == "bet":
        live = " (live)" if item["is_live"] else ""
        text = (
            f"Bet {money(item['stake_minor'], item['currency'])} at "
            f"{item['odds_decimal']:.2f} on {item['sport']} {item['market_type']}{live}"
        )
        result = item["result"]
        if result in ("won", "void"):
            text += f": {result}, paid {money(item['payout_minor'], item['currency'])}"
        else:
            text += f": {result}"
        return {"at": item["at"], "kind": "bet", "badge": result, "text": text}
    label = TX_LABELS.get(item["type"], item["type"])
    text = f"{label} {money(item['amount_minor'], item['currency'])}"
    if item["status"] != "approved":
        text += f" ({item['status']})"
    badge = "declined" if item["status"] != "approved" else item["type"].replace("_", " ")
    return {"at": item["at"], "kind": "transaction", "badge": badge, "text": text}


def _decision_events(
    scores: list[dict[str, Any]], interventions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each scoring run that found new activity (with the category change it made), each
    intervention and its end or cancellation."""
    events: list[dict[str, Any]] = []
    previous: str | None = None
    for item in scores:
        category = item["risk_category"]
        change = f" (was {previous})" if previous and previous != category else ""
        events.append(
            {
                "at": item["scored_at"],
                "kind": "score",
                "badge": category,
                "text": f"Scored {item['composite_risk_score']:.2f}{change}; activity up to "
                f"{str(item['as_of'])[:16].replace('T', ' ')} UTC",
            }
        )
        previous = category
    for item in interventions:
        kind = item["intervention_type"]
        events.append(
            {
                "at": item["created_at"],
                "kind": "intervention",
                "badge": kind,
                "text": f"{kind.capitalize()} recorded by {item['analyst_id']}: {item['reason']}",
            }
        )
        if item.get("cancelled_at"):
            events.append(
                {
                    "at": item["cancelled_at"],
                    "kind": "intervention",
                    "badge": "cancelled",
                    "text": f"{kind.capitalize()} cancelled"
                    + (f": {item['cancel_reason']}" if item.get("cancel_reason") else ""),
                }
            )
        elif item.get("status") == "expired" and item.get("ends_at"):
            events.append(
                {
                    "at": item["ends_at"],
                    "kind": "intervention",
                    "badge": "expired",
                    "text": f"{kind.capitalize()} ended",
                }
            )
    return events


@dataclass(frozen=True)
class Timeline:
    """One page of the timeline, newest first, and where the next (older) one starts."""

    events: list[dict[str, Any]]
    older: dict[str, str] | None  # {"before", "before_id"} for the next page; None: the end
    activity_error: str | None = None


def timeline_page(
    player: dict[str, Any],
    scores: list[dict[str, Any]],
    interventions: list[dict[str, Any]],
    activity: ApiAnswer,
    before: str | None = None,
) -> Timeline:
    """One page of the player's activity (bets and transactions, as the API pages them)
    interleaved with scoring runs and interventions, newest first.

    The page covers the time from `before` (or now) down to its oldest bet or transaction;
    a scoring run or intervention is shown on the page whose window holds it, so paging on
    shows each event once and in order. On the last page everything older is shown.
    """
    decisions = _decision_events(scores, interventions)
    if not activity.ok:
        if player.get("last_activity_at") and before is None:
            decisions.append(
                {
                    "at": player["last_activity_at"],
                    "kind": "activity",
                    "badge": "activity",
                    "text": "Latest bet or transaction"
                    + (" (not scored yet)" if player.get("needs_rescore") else ""),
                }
            )
        decisions.sort(key=lambda e: _moment(e["at"]), reverse=True)
        return Timeline(decisions, None, activity.message)
    # `before` as the API read it (it answered, so it parsed): pydantic's formats, not only ISO
    upper = _QUERY_TIME.validate_python(before).astimezone(dt.UTC) if before else None
    next_before = activity.data.get("next_before")
    lower = _moment(next_before) if next_before else None
    events = [_activity_event(item) for item in activity.data["items"]]
    events += [
        e
        for e in decisions
        if (upper is None or _moment(e["at"]) < upper)
        and (lower is None or _moment(e["at"]) >= lower)
    ]
    # stable: the API's order of bets and transactions at the same instant is kept
    events.sort(key=lambda e: _moment(e["at"]), reverse=True)
    older = (
        {"before": next_before, "before_id": activity.data["next_before_id"]}
        if next_before
        else None
    )
    return Timeline(events, older)
