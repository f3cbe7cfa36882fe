"""One Settings object for the whole app, read from `EDGELAB_*` environment variables.

Every field here is listed in the README's configuration table with its default. The object
is built once (by the CLI or the test fixtures) and passed to `create_app(settings)`; nothing
reads the environment at import time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEVIG_METHODS = ("multiplicative", "additive", "power", "shin", "odds_ratio", "logarithmic")
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev-secret-change-me"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EDGELAB_", env_file=".env", extra="ignore", validate_default=True
    )

    env: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    database_url: str = "sqlite+aiosqlite:///./var/edgelab.db"
    database_echo: bool = False
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # value betting
    demo_date: dt.date | None = None
    devig_method: str = "multiplicative"
    default_tip_time: dt.time = dt.time(19, 30)
    tip_timezone: str = "America/New_York"
    markets_cache_ttl_seconds: float = Field(5.0, ge=0)

    # accounts: sign-in and sessions
    app_base_url: str = "http://127.0.0.1:8000"  # links in e-mails point here
    jwt_secret: SecretStr = SecretStr("dev-secret-change-me")
    jwt_audience: str = "edgelab"
    jwt_issuer: str = "edgelab"
    access_token_ttl_seconds: int = Field(900, ge=60, le=86_400)
    refresh_token_ttl_days: int = Field(30, ge=1, le=365)
    magic_link_ttl_minutes: int = Field(15, ge=1, le=1_440)

    # rate limits (`limits` syntax), in memory or shared through Redis (EDGELAB_REDIS_URL)
    rate_limits_enabled: bool = True
    rate_limit_anonymous: str = "60/minute"
    rate_limit_free: str = "120/minute"
    rate_limit_paid: str = "600/minute"
    rate_limit_auth_per_email: str = "5/minute;20/hour"
    rate_limit_auth_per_ip: str = "20/minute"
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # background jobs: in-process by default; with EDGELAB_REDIS_URL a Redis queue, whose worker
    # runs inside each app process unless this is off (then run workers separately)
    jobs_worker_in_process: bool = True

    # e-mail (Resend; without a key messages stay in the outbox table and the log)
    resend_api_key: SecretStr | None = None
    resend_url: str = "https://api.resend.com"
    email_from: str = "edgelab <onboarding@resend.dev>"

    # outbound HTTP (every external client)
    http_timeout_seconds: float = Field(10.0, gt=0)
    http_max_retries: int = Field(3, ge=0, le=10)
    http_user_agent: str = "edgelab/0.1 (+https://github.com/edgelab; ops@edgelab.invalid)"

    # The Odds API v4
    odds_api_url: str = "https://api.the-odds-api.com"
    odds_api_key: SecretStr | None = None
    odds_api_sport: str = "basketball_nba"
    odds_api_regions: str = "us"
    odds_api_markets: str = "h2h,spreads,totals"
    odds_api_bookmakers: str | None = None

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("devig_method")
    @classmethod
    def _known_devig(cls, value: str) -> str:
        if value not in DEVIG_METHODS:
            raise ValueError(f"must be one of {', '.join(DEVIG_METHODS)}")
        return value

    @field_validator("redis_url", "odds_api_bookmakers", "resend_api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        """Outside development a placeholder secret is a misconfiguration: refuse to start."""
        problems = []
        secret = self.jwt_secret.get_secret_value()
        if self.env != "development" and (secret in PLACEHOLDER_SECRETS or len(secret) < 32):
            problems.append(
                "EDGELAB_JWT_SECRET is a placeholder or shorter than 32 characters (make one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        key = self.odds_api_key
        if (
            self.env == "production"
            and key is not None
            and key.get_secret_value() in PLACEHOLDER_SECRETS
        ):
            problems.append("EDGELAB_ODDS_API_KEY is a placeholder")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The database file for a file-backed SQLite URL, so callers can create its folder."""
        if not self.is_sqlite:
            return None
        _, _, rest = self.database_url.partition(":///")
        if not rest or rest.startswith(":memory:"):
            return None
        return Path(rest)

    @property
    def cache_backend(self) -> str:
        return "redis" if self.redis_url else "memory"


def data_dir() -> Path:
    """Where the shipped real data sets live (inside the installed package)."""
    return Path(__file__).resolve().parent.parent / "data"
