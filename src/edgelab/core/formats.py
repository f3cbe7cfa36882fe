"""The wire formats the API accepts for dates, times, time zones and free JSON, one definition
each so the OpenAPI schema and the server agree.

Pydantic's lax mode reads a number as a date or a datetime (`0` is 1970-01-01, `0.5` half a
second after the epoch): `IsoDate` and `IsoDatetime` take ISO 8601 text only (or a `date` /
`datetime` from Python callers), so `?date=0` is a 422, not the 1970 slate. `TimeZoneName`
accepts exactly the IANA names its schema lists. `FreeJson` refuses strings that cannot be
written as UTF-8 (lone surrogates such as `"\\ud800"`, legal in a JSON escape): stored, they
would fail when read back or answered.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    JsonValue,
    Strict,
    WithJsonSchema,
)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# RFC 3339 / ISO 8601 extended: date, `T` (or a space), hours and minutes, optional seconds
# and fraction, optional offset (naive values are refused where one is required: AwareDatetime)
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?"
)


def _iso_date(value: object) -> object:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("expected an ISO 8601 date, YYYY-MM-DD")
    return value


def _iso_datetime(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _DATETIME.fullmatch(value):
        raise ValueError("expected an ISO 8601 date and time, e.g. 2026-12-31T00:00:00Z")
    return value


def _in_utc_range(value: dt.datetime) -> dt.datetime:
    """Year 1 at +01:00 or year 9999 at -01:00 parse, but have no UTC time to store or compare
    in the database (an OverflowError there, a 500)."""
    if value.tzinfo is not None:
        try:
            value.astimezone(dt.UTC)
        except OverflowError:
            raise ValueError("out of range once converted to UTC") from None
    return value


ISO_DATE = BeforeValidator(_iso_date)
ISO_DATETIME = BeforeValidator(_iso_datetime)
UTC_RANGE = AfterValidator(_in_utc_range)

IsoDate = Annotated[dt.date, ISO_DATE]
"""A date as `YYYY-MM-DD` text (numbers are refused, not read as epoch seconds)."""

IsoDatetime = Annotated[dt.datetime, ISO_DATETIME, UTC_RANGE]
"""A date and time as ISO 8601 text; naive is accepted (the caller decides what it means)."""

AwareIsoDatetime = Annotated[AwareDatetime, ISO_DATETIME, UTC_RANGE]
"""A date and time as ISO 8601 text with an offset (`Z`, `+02:00`)."""


def _integral(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInt = Annotated[int, Strict(), BeforeValidator(_integral)]
"""An integer as JSON has it: `5` or `5.0` (JSON Schema's integer), never `true` or `"5"`, so
a wrong type is refused rather than stored as data (a flag as 1 minor unit). Text sources
(CSV cells) validate with `strict=False` to read `"5"`."""


@cache
def iana_zones() -> frozenset[str]:
    """The IANA zone names this server knows (the system's tz database or `tzdata`)."""
    return frozenset(available_timezones())


def _known_zone(value: str) -> str:
    if value not in iana_zones():
        raise ValueError("not an IANA time zone name (e.g. Europe/London)")
    return value


TimeZoneName = Annotated[
    str,
    AfterValidator(_known_zone),
    # the schema names every zone the server accepts, so clients (and fuzzers) can know
    WithJsonSchema(
        {
            "type": "string",
            "enum": sorted(iana_zones()),
            "description": "IANA time zone name.",
            "examples": ["Europe/London"],
        }
    ),
]


def utf8_safe(value: Any) -> Any:
    """`value` unchanged when every string in it (keys too) can be written as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            utf8_safe(key)
            utf8_safe(item)
    elif isinstance(value, list):
        for item in value:
            utf8_safe(item)
    return value


FreeJson = Annotated[dict[str, JsonValue], AfterValidator(utf8_safe)]
"""A JSON object of the client's own keys, storable and answerable as it came."""
