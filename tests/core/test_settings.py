"""Settings read from `EDGELAB_*` variables, with the defaults operators rely on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from edgelab.core.settings import DEVIG_METHODS, PLACEHOLDER_SECRETS, Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No EDGELAB_ variable of the machine running the tests leaks into these."""
    for name in list(os.environ):
        if name.upper().startswith("EDGELAB_"):
            monkeypatch.delenv(name)


def load() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_defaults_operators_rely_on() -> None:
    s = load()
    assert s.database_url == "sqlite+aiosqlite:///./var/edgelab.db"
    assert s.sqlite_path == Path("var/edgelab.db")
    assert s.host == "127.0.0.1"
    assert s.port == 8000
    assert s.redis_url is None
    assert s.cache_backend == "memory"
    assert s.devig_method == "multiplicative"
    assert s.odds_api_url == "https://api.the-odds-api.com"
    assert s.odds_api_key is None
    assert s.env == "development"
    assert s.cors_origins == []


def test_prefixed_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGELAB_HOST", "0.0.0.0")
    monkeypatch.setenv("EDGELAB_PORT", "9001")
    monkeypatch.setenv("EDGELAB_DATABASE_URL", "postgresql+asyncpg://u:p@db:5432/edgelab")
    monkeypatch.setenv("EDGELAB_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("EDGELAB_DEVIG_METHOD", "shin")
    monkeypatch.setenv("EDGELAB_HTTP_MAX_RETRIES", "5")
    monkeypatch.setenv("EDGELAB_DEMO_DATE", "2019-04-10")
    monkeypatch.setenv("EDGELAB_ODDS_API_KEY", "real-key-123")
    s = load()
    assert s.host == "0.0.0.0"
    assert s.port == 9001
    assert s.database_url == "postgresql+asyncpg://u:p@db:5432/edgelab"
    assert s.is_sqlite is False and s.sqlite_path is None
    assert s.redis_url == "redis://cache:6379/0"
    assert s.cache_backend == "redis"
    assert s.devig_method == "shin"
    assert s.http_max_retries == 5
    assert str(s.demo_date) == "2019-04-10"
    assert s.odds_api_key is not None and s.odds_api_key.get_secret_value() == "real-key-123"
    assert "real-key-123" not in repr(s), "the key is a secret, not shown in reprs"


def test_unprefixed_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "1234")
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere")
    s = load()
    assert s.port == 8000
    assert s.database_url.startswith("sqlite")
    assert s.redis_url is None


def test_empty_redis_url_means_memory_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGELAB_REDIS_URL", "")
    s = load()
    assert s.redis_url is None
    assert s.cache_backend == "memory"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a,b", ["a", "b"]),
        ("https://app.example", ["https://app.example"]),
        (" https://a.example , ,https://b.example ", ["https://a.example", "https://b.example"]),
        ("", []),
    ],
)
def test_cors_origins_from_comma_separated_env(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("EDGELAB_CORS_ORIGINS", raw)
    assert load().cors_origins == expected


def test_unknown_devig_method_is_rejected_naming_the_valid_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EDGELAB_DEVIG_METHOD", "proportional")
    with pytest.raises(ValidationError) as info:
        load()
    text = str(info.value)
    assert "devig_method" in text
    for method in DEVIG_METHODS:
        assert method in text


@pytest.mark.parametrize("method", DEVIG_METHODS)
def test_every_documented_devig_method_is_accepted(method: str) -> None:
    assert Settings(_env_file=None, devig_method=method).devig_method == method  # type: ignore[call-arg]


REAL_JWT_SECRET = "q7Vt2-real-looking-secret-for-tests-0123456789"


@pytest.mark.parametrize("placeholder", sorted(PLACEHOLDER_SECRETS))
def test_placeholder_odds_key_refused_in_production(
    monkeypatch: pytest.MonkeyPatch, placeholder: str
) -> None:
    monkeypatch.setenv("EDGELAB_ENV", "production")
    monkeypatch.setenv("EDGELAB_JWT_SECRET", REAL_JWT_SECRET)
    monkeypatch.setenv("EDGELAB_ODDS_API_KEY", placeholder)
    with pytest.raises(ValidationError, match="EDGELAB_ODDS_API_KEY"):
        load()


def test_placeholder_odds_key_tolerated_outside_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EDGELAB_ENV", "development")
    monkeypatch.setenv("EDGELAB_ODDS_API_KEY", "change-me")
    s = load()
    assert s.odds_api_key is not None


def test_production_accepts_a_real_key_or_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGELAB_ENV", "production")
    monkeypatch.setenv("EDGELAB_JWT_SECRET", REAL_JWT_SECRET)
    assert load().odds_api_key is None
    monkeypatch.setenv("EDGELAB_ODDS_API_KEY", "8f14e45fceea167a5a36dedd4bea2543")
    assert load().env == "production"


@pytest.mark.parametrize("env", ["test", "production"])
@pytest.mark.parametrize(
    "secret",
    [
        "dev-secret-change-me-development-only",
        "dev-secret-change-me",
        "change-me",
        "short-but-not-a-placeholder",
    ],
)
def test_a_placeholder_or_short_jwt_secret_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, env: str, secret: str
) -> None:
    monkeypatch.setenv("EDGELAB_ENV", env)
    monkeypatch.setenv("EDGELAB_JWT_SECRET", secret)
    with pytest.raises(ValidationError, match="EDGELAB_JWT_SECRET"):
        load()


def test_the_development_default_jwt_secret_is_allowed_only_in_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EDGELAB_ENV", "development")
    assert load().jwt_secret.get_secret_value() == "dev-secret-change-me-development-only"


@pytest.mark.parametrize("value", ["staging", "prod", ""])
def test_unknown_env_is_rejected(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("EDGELAB_ENV", value)
    with pytest.raises(ValidationError):
        load()


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_impossible_port_is_rejected(monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    monkeypatch.setenv("EDGELAB_PORT", port)
    with pytest.raises(ValidationError, match="port"):
        load()


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite+aiosqlite:///./var/edgelab.db", Path("var/edgelab.db")),
        ("sqlite+aiosqlite:///data/x.db", Path("data/x.db")),
        ("sqlite+aiosqlite:////srv/edgelab/prod.db", Path("/srv/edgelab/prod.db")),
        ("sqlite:///relative.db", Path("relative.db")),
        ("sqlite+aiosqlite:///:memory:", None),
        ("sqlite+aiosqlite://", None),
        ("postgresql+asyncpg://u@localhost/edgelab", None),
    ],
)
def test_sqlite_path_is_derived_from_the_url(url: str, path: Path | None) -> None:
    s = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    assert s.sqlite_path == path
    assert s.is_sqlite is url.startswith("sqlite")


def test_env_file_is_read_when_given(tmp_path: Path) -> None:
    env_file = tmp_path / "edgelab.env"
    env_file.write_text(
        "EDGELAB_PORT=8123\nEDGELAB_CORS_ORIGINS=https://x.example,https://y.example\n"
    )
    s = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert s.port == 8123
    assert s.cors_origins == ["https://x.example", "https://y.example"]
