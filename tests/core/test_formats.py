"""The shared wire formats: ISO 8601 text only for dates and times, JSON integers that are not
booleans, IANA zone names exactly as the schema lists them, text that is Unicode."""

from __future__ import annotations

import datetime as dt
from zoneinfo import available_timezones

import pytest
from pydantic import TypeAdapter, ValidationError

from edgelab.core.formats import AwareIsoDatetime, FreeJson, IsoDate, JsonInt, TimeZoneName


@pytest.mark.parametrize("value", [0, 0.5, "0", "0.5", "20240101", "2024-01-01T00:00:00", True])
def test_a_number_is_not_a_date(value: object) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(IsoDate).validate_python(value)


def test_an_iso_date_is_a_date() -> None:
    assert TypeAdapter(IsoDate).validate_python("2023-04-09") == dt.date(2023, 4, 9)
    assert TypeAdapter(IsoDate).validate_python(dt.date(2023, 4, 9)) == dt.date(2023, 4, 9)


@pytest.mark.parametrize(
    "value", [0, 0.5, "0.5", "1790000000", "2026-01-01", "2026-01-01T00:00:00", "yesterday"]
)
def test_a_number_or_a_naive_time_is_not_an_instant(value: object) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(AwareIsoDatetime).validate_python(value)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01"])
def test_a_time_with_no_utc_equivalent_is_refused(value: str) -> None:
    """It parsed, then overflowed where the database converts it to UTC: a 500."""
    with pytest.raises(ValidationError, match="out of range"):
        TypeAdapter(AwareIsoDatetime).validate_python(value)


@pytest.mark.parametrize(
    "value",
    ["2026-12-31T23:59:59Z", "2026-12-31T23:59:59.123456+01:00", "2026-12-31 23:59+0100"],
)
def test_iso_8601_with_an_offset_is_an_instant(value: str) -> None:
    parsed = TypeAdapter(AwareIsoDatetime).validate_python(value)
    assert parsed.tzinfo is not None and parsed.year == 2026


def test_a_json_integer_is_never_a_boolean_or_text_unless_asked_to_be_lax() -> None:
    adapter = TypeAdapter(JsonInt)
    assert adapter.validate_python(5) == 5
    assert adapter.validate_python(5.0) == 5  # JSON Schema's integer includes 5.0
    for wrong in (True, False, "5", 5.5):
        with pytest.raises(ValidationError):
            adapter.validate_python(wrong)
    assert adapter.validate_python("5", strict=False) == 5  # CSV cells


def test_the_zone_schema_lists_exactly_the_zones_accepted() -> None:
    adapter = TypeAdapter(TimeZoneName)
    assert set(adapter.json_schema()["enum"]) == available_timezones()
    assert adapter.validate_python("Europe/London") == "Europe/London"
    for wrong in ("Mars/Olympus", "europe/london", ""):
        with pytest.raises(ValidationError):
            adapter.validate_python(wrong)


def test_free_json_refuses_lone_surrogates_in_keys_and_values() -> None:
    adapter = TypeAdapter(FreeJson)
    assert adapter.validate_python({"email": False, "nested": ["é", {"k": "😀"}]})
    for wrong in ({"\ud800": 1}, {"k": "\udfff"}, {"k": [{"deep": "x\ud800"}]}):
        with pytest.raises(ValidationError):
            adapter.validate_python(wrong)
