"""One Settings object for the whole app, read from `EDGELAB_*` environment variables.

Every field here is listed in the README's configuration table with its default. The object
is built once (by the CLI or the test fixtures) and passed to `create_app(settings)`; nothing
reads the environment at import time.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEVIG_METHODS = ("multiplicative", "additive", "power", "shin", "odds_ratio", "logarithmic")
# development only (32+ bytes, so HS256 raises no key-length warning); refused elsewhere
DEV_JWT_SECRET = "dev-secret-change-me-development-only"
PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "secret", "dev-secret-change-me", DEV_JWT_SECRET}
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EDGELAB_", env_file=".env", extra="ignore", validate_default=True
    )

    env: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    # at start-up, collect and freeze what start-up made (a serving process's tail latency);
    # off where a process builds many apps over a large heap (the test suite): each collect
    # then walks the whole heap
    gc_freeze_on_startup: bool = True
    database_url: str = "sqlite+aiosqlite:///./var/edgelab.db"
    database_echo: bool = False
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # every request body is refused (413 `payload_too_large`) past this many bytes, counted as
    # it arrives; `POST /uploads` has its own larger cap (EDGELAB_UPLOAD_MAX_*_BYTES)
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    # `/metrics` wants `Authorization: Bearer <this>`; unset, it answers loopback clients only
    metrics_token: SecretStr | None = None

    # value betting
    demo_date: dt.date | None = None
    devig_method: str = "multiplicative"
    default_tip_time: dt.time = dt.time(19, 30)
    tip_timezone: str = "America/New_York"
    markets_cache_ttl_seconds: float = Field(5.0, ge=0)
    # while live odds are known, /markets lists the games tipping off within this many hours
    markets_window_hours: float = Field(36.0, gt=0, le=24 * 14)
    # free and anonymous callers see each market as of this many minutes ago (0 = real time)
    free_odds_delay_minutes: int = Field(15, ge=0, le=1440)
    # bettor tools on /bet: the stake suggestion is this fraction of full Kelly on algorithm B's
    # shrunk probability, capped at this share of bankroll; p_market is the de-vigged consensus
    # of these bookmakers (The Odds API keys, sharpest first) where they quote the market
    kelly_fraction: float = Field(0.25, gt=0, le=1)
    kelly_max_stake: float = Field(0.05, gt=0, le=1)
    sharp_books: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "pinnacle",
            "circasports",
            "betonlineag",
            "lowvig",
            "bovada",
            "bookmaker",
        ]
    )

    # A/B test of the value-score algorithms (betting.ab): share of clients in arm B, an arm
    # forced on everyone (unset = hash assignment), the experiment name salting the hash,
    # exposure log batching (seconds between flushes, rows kept while the DB is down), and how
    # long after an exposure a tracked bet is still attributed to it
    ab_split_b: float = Field(0.5, ge=0, le=1)
    ab_force_arm: Literal["a", "b"] | None = None
    ab_experiment: str = Field(
        "value-score-ab-1", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"
    )
    ab_exposure_flush_seconds: float = Field(2.0, gt=0, le=3600)
    ab_exposure_buffer_max_rows: int = Field(100_000, ge=1, le=10_000_000)
    ab_attribution_days: float = Field(7.0, gt=0, le=365)
    # recalibration (`POST /model/update`): the map p_true passes through; auto picks isotonic,
    # Platt or none by a held-out comparison on the latest season
    calibration_method: Literal["auto", "isotonic", "platt", "none"] = "auto"

    # accounts: sign-in and sessions
    app_base_url: str = "http://127.0.0.1:8000"  # links in e-mails point here
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_audience: str = "edgelab"
    jwt_issuer: str = "edgelab"
    access_token_ttl_seconds: int = Field(900, ge=60, le=86_400)
    refresh_token_ttl_days: int = Field(30, ge=1, le=365)
    magic_link_ttl_minutes: int = Field(15, ge=1, le=1_440)
    # the /app/ dashboard: where `make assets` put the npm packages (Lightweight Charts, htmx);
    # relative paths are from the working directory. Without them pages work, charts don't.
    web_assets_dir: Path = Path("node_modules")
    web_refresh_seconds: int = Field(60, ge=5, le=3_600)  # value-bets table self-refresh
    # a static operator token for admin routes (`Authorization: Bearer ...`) until accounts
    # with the admin role are the only way; unset = admin users only
    admin_token: SecretStr | None = None

    # rate limits (`limits` syntax), in memory or shared through Redis (EDGELAB_REDIS_URL)
    rate_limits_enabled: bool = True
    rate_limit_anonymous: str = "60/minute"
    rate_limit_free: str = "120/minute"
    rate_limit_paid: str = "600/minute"
    rate_limit_auth_per_email: str = "20/minute;100/hour"
    rate_limit_auth_per_ip: str = "20/minute"
    # issue 16: sign-in links per (address, requesting IP) under the looser per-address cap
    # above (one requester cannot spend it and lock the owner out); named limits replacing the
    # tier's on dear routes (`RateLimitPolicy`); failed-signature webhooks per client IP
    rate_limit_auth_per_email_ip: str = "5/minute;20/hour"
    rate_limit_render: str = "20/minute;200/hour"
    rate_limit_billing: str = "20/minute;200/hour"
    rate_limit_uploads: str = "10/minute;100/hour"
    rate_limit_sentinel: str = "120/minute"
    rate_limit_webhook_unsigned: str = "30/minute"
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # background jobs: in-process by default; with EDGELAB_REDIS_URL a Redis queue, whose worker
    # runs inside each app process unless this is off (then run workers separately)
    jobs_worker_in_process: bool = True
    jobs_queue: str = Field("edgelab", min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.:-]+$")
    # whether app processes (and `edgelab jobs worker`) fire the interval schedules; off when
    # `edgelab jobs scheduler` runs beside them (with Redis each firing is claimed once anyway)
    jobs_schedules_in_process: bool = True
    # a job a worker took but never acknowledged (the worker died mid-job) goes to another
    # worker after this long; longer than any job runs (a slower one would run twice)
    jobs_redeliver_after_seconds: float = Field(600.0, ge=1, le=86_400)

    # e-mail (Resend; without a key messages stay in the outbox table and the log)
    resend_api_key: SecretStr | None = None
    resend_url: str = "https://api.resend.com"
    email_from: str = "edgelab <onboarding@resend.dev>"
    # where e-mail goes: `resend` (needs EDGELAB_RESEND_API_KEY) or `log` (the outbox table
    # only: sign-in links never reach anyone); unset = `resend` with a key, else `log`, which
    # outside development/test refuses to start unless set explicitly (core.email.backend)
    email_backend: Literal["resend", "log"] | None = None

    # Resend's delivery webhooks (POST /webhooks/resend; unset: 503) are verified with this
    # signing secret (`whsec_...`); a hard bounce or complaint suppresses the address. An
    # address-change link (POST /me/email) is valid this long.
    resend_webhook_secret: SecretStr | None = None
    email_change_ttl_minutes: int = Field(60, ge=5, le=1_440)

    @field_validator("resend_webhook_secret", mode="before")
    @classmethod
    def _unset_resend_webhook_secret(cls, value: object) -> object:
        """Empty is unset. The format (`whsec_` + base64) is checked where it is used (503
        `webhook_not_configured`): a validation error here would print the secret."""
        return None if isinstance(value, str) and not value.strip() else value

    # alerts (paid): at most this many matches e-mailed per user per day (the user's local day,
    # users.time_zone); matches over the cap are not recorded and may go out on a later run
    alerts_daily_cap: int = Field(20, ge=1, le=1000)

    # billing (Paddle): without the webhook secret /webhooks/paddle answers 503, without the
    # price id /billing/checkout does; the client token is Paddle.js's (public, `test_`/`live_`)
    paddle_webhook_secret: SecretStr | None = None
    paddle_price_id: str | None = None
    paddle_client_token: SecretStr | None = None
    paddle_environment: Literal["sandbox", "production"] = "sandbox"
    paddle_webhook_tolerance_seconds: float = Field(5.0, ge=0, le=3600)
    # self-service (cancel, pause, plan change, payment method, portal, invoices) goes through
    # Paddle's API with this server-side key (`pdl_sdbx_apikey_...`/`pdl_live_apikey_...`;
    # unset: those routes answer 503); the API host follows EDGELAB_PADDLE_ENVIRONMENT unless
    # set. Plans are `name=pri_...` pairs; EDGELAB_PADDLE_PRICE_ID, when set, is the default
    # plan (named `default` unless it appears here). A plan change is billed this way.
    paddle_api_key: SecretStr | None = None
    paddle_api_url: str | None = None
    paddle_price_ids: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    paddle_proration_billing_mode: Literal[
        "prorated_immediately",
        "prorated_next_billing_period",
        "full_immediately",
        "full_next_billing_period",
        "do_not_bill",
    ] = "prorated_immediately"

    @field_validator("paddle_api_key", "paddle_api_url", mode="before")
    @classmethod
    def _paddle_api_empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("paddle_price_ids", mode="before")
    @classmethod
    def _plan_pairs(cls, value: object) -> object:
        """`monthly=pri_a,yearly=pri_b` (or a mapping) -> {"monthly": "pri_a", ...}."""
        if not isinstance(value, str):
            return value
        plans: dict[str, str] = {}
        for pair in (item.strip() for item in value.split(",")):
            if not pair:
                continue
            name, sep, price = (part.strip() for part in pair.partition("="))
            if not sep or not name or not price.startswith("pri_"):
                raise ValueError(f"{pair!r} is not `plan=pri_...`")
            plans[name] = price
        return plans

    # uploads: bet-history CSVs and avatars, in a local directory (default) or a private Vercel
    # Blob store; sizes in bytes; downloads through signed links valid for the TTL
    upload_store: Literal["local", "vercel_blob"] = "local"
    upload_dir: Path = Path("./var/uploads")
    upload_max_csv_bytes: int = Field(5 * 1024 * 1024, ge=1, le=100 * 1024 * 1024)
    upload_max_avatar_bytes: int = Field(2 * 1024 * 1024, ge=1, le=100 * 1024 * 1024)
    upload_url_ttl_seconds: int = Field(900, ge=10, le=7 * 86_400)
    upload_retention_days: int = Field(90, ge=1, le=3650)  # bet-history CSVs; avatars stay
    # bet-history import (`/me/bets/imports`): the largest CSV (under EDGELAB_MAX_BODY_BYTES,
    # which also caps the request), the most data rows, how long a preview is kept (seconds)
    bet_import_max_bytes: int = Field(2_000_000, ge=1024, le=100 * 1024 * 1024)
    bet_import_max_rows: int = Field(10_000, ge=1, le=1_000_000)
    bet_import_ttl_seconds: int = Field(86_400, ge=60, le=30 * 86_400)
    vercel_blob_url: str = "https://vercel.com/api/blob"
    vercel_blob_token: SecretStr | None = None

    # Run on a replay's simulated time: a URL answering `{"now": ISO, "speed": N}` (the
    # replay's `/replay/clock`); read once at start-up, the app's clock then runs N times real
    # time from that instant. Unset: the system clock.
    clock_url: str | None = None

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
    # the live loop (runs whenever a key is set): odds every EDGELAB_ODDS_POLL_SECONDS, every
    # EDGELAB_ODDS_POLL_NEAR_TIP_SECONDS inside the last hour before a known tip-off; player
    # props (the `player_*` keys of EDGELAB_ODDS_API_MARKETS) for games tipping within
    # EDGELAB_PROPS_HOURS_AHEAD (0 = none); results every EDGELAB_SCORES_POLL_SECONDS; no call
    # that would leave fewer than EDGELAB_ODDS_API_CREDIT_RESERVE credits
    odds_poll_seconds: int = Field(600, ge=10, le=86_400)
    odds_poll_near_tip_seconds: int = Field(120, ge=10, le=86_400)
    scores_poll_seconds: int = Field(1800, ge=10, le=86_400)
    props_hours_ahead: float = Field(24.0, ge=0, le=24 * 14)
    odds_api_credit_reserve: int = Field(50, ge=0, le=10_000_000)

    # Sentinel (responsible gambling): a player's local time when none is set (IANA), the
    # category cut-offs on the composite risk score (0-1), and Claude for explanations (without
    # a key, or on any error, explanations come from the template)
    sentinel_default_tz: str = "America/New_York"
    sentinel_cutoff_critical: float = Field(0.56, ge=0, le=1)
    sentinel_cutoff_high: float = Field(0.5, ge=0, le=1)
    sentinel_cutoff_medium: float = Field(0.39, ge=0, le=1)
    sentinel_reference_max_age_hours: float = Field(24.0, gt=0, le=24 * 365)
    sentinel_rescore_minute: int = Field(5, ge=0, le=59)  # the hourly rescore, on the app clock
    anthropic_api_key: SecretStr | None = None
    anthropic_url: str = "https://api.anthropic.com"
    anthropic_model: str = Field("claude-haiku-4-5", min_length=1, max_length=100)
    anthropic_timeout_seconds: float = Field(8.0, gt=0, le=60)  # the whole call; no retries

    # prediction markets: Polymarket (Gamma discovery, CLOB prices; no key) and NewsAPI
    polymarket_gamma_url: str = "https://gamma-api.polymarket.com"
    polymarket_clob_url: str = "https://clob.polymarket.com"
    polymarket_markets_path: str = "/markets"  # the legacy offset list (the fallback)
    polymarket_markets_keyset_path: str = "/markets/keyset"  # empty = offset paging only
    polymarket_prices_history_path: str = "/prices-history"
    polymarket_batch_prices_history_path: str = "/batch-prices-history"
    polymarket_page_size: int = Field(500, ge=1, le=1000)
    polymarket_ingest_minutes: float = Field(15.0, ge=0, le=1440)  # 0 = no scheduled ingest
    polymarket_ingest_max_markets: int = Field(5000, ge=1, le=1_000_000)
    polymarket_cache_ttl_seconds: float = Field(60.0, ge=0, le=86_400)
    # a failed on-demand CLOB backfill of a chart's window is not tried again for this long
    polymarket_backfill_retry_seconds: float = Field(600.0, ge=0, le=86_400)
    polymarket_fee_rate: float = Field(0.02, ge=0, le=0.5)
    predictions_value_threshold: float = Field(0.03, ge=0, le=1)
    predictions_cache_ttl_seconds: float = Field(5.0, ge=0, le=3600)
    newsapi_url: str = "https://newsapi.org/v2"
    newsapi_key: SecretStr | None = None
    newsapi_language: str = Field("en", pattern=r"^[a-z]{2}$")
    newsapi_page_size: int = Field(20, ge=1, le=100)
    newsapi_cache_ttl_seconds: float = Field(3600.0, ge=0, le=7 * 86_400)
    newsapi_daily_budget: int = Field(90, ge=0, le=1_000_000)

    # chess analyzer: Chess.com Published-Data API (no key; a User-Agent with contact details is
    # required, else 403), Stockfish for the engine review, per-username analyses allowed
    chesscom_url: str = "https://api.chess.com/pub"
    chesscom_user_agent: str = Field(
        "edgelab-chess/0.1 (contact: ops@edgelab.invalid)", min_length=8, max_length=300
    )
    stockfish_path: str | None = None  # unset = `stockfish` on PATH, else /usr/games/stockfish
    engine_depth: int = Field(12, ge=1, le=40)
    chess_rate_limit_per_username: str = "10/minute;60/hour"
    chess_review_max_games: int = Field(20, ge=1, le=200)
    # chess abuse bounds (issue 16): analyses and reviews per caller (user id, else client IP),
    # bytes of Chess.com answers kept in process memory, seconds one analysis may spend
    # fetching monthly archives, queued and running reviews per user
    chess_rate_limit_per_caller: str = "30/hour"
    chess_cache_max_bytes: int = Field(64 * 1024 * 1024, ge=0, le=16 * 1024**3)
    chess_analysis_deadline_seconds: float = Field(60.0, gt=0, le=3600)
    chess_reviews_per_user: int = Field(2, ge=1, le=100)
    # chess from a PGN file (issue 17): bytes and games one `POST /api/analyze/pgn` may send
    # (the default fits under EDGELAB_MAX_BODY_BYTES, the app-wide cap, which applies first)
    chess_pgn_max_bytes: int = Field(4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    chess_pgn_max_games: int = Field(3000, ge=1, le=100_000)
    # plies one game of such a file may have (a longer one is skipped and listed), and plies
    # read in all (else 413): bytes alone let a file of bare move text hold ~800,000 plies
    chess_pgn_max_plies: int = Field(1000, ge=10, le=100_000)
    chess_pgn_max_total_plies: int = Field(300_000, ge=1000, le=100_000_000)
    # review jobs left by a process that died (issue 16): seconds without a sign of life after
    # which a queued or running review is sent again, and the attempts before it fails
    chess_review_stale_seconds: float = Field(300.0, ge=10, le=86_400)
    chess_review_max_attempts: int = Field(3, ge=1, le=20)

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("sharp_books", mode="before")
    @classmethod
    def _split_books(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip().lower() for item in value.split(",") if item.strip()]
        return value

    @field_validator("devig_method")
    @classmethod
    def _known_devig(cls, value: str) -> str:
        if value not in DEVIG_METHODS:
            raise ValueError(f"must be one of {', '.join(DEVIG_METHODS)}")
        return value

    @field_validator(
        "redis_url",
        "odds_api_bookmakers",
        "resend_api_key",
        "paddle_webhook_secret",
        "paddle_price_id",
        "paddle_client_token",
        "vercel_blob_token",
        "anthropic_api_key",
        "admin_token",
        "metrics_token",
        "ab_force_arm",
        "newsapi_key",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("sentinel_default_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _ordered_sentinel_cutoffs(self) -> Settings:
        if not (
            self.sentinel_cutoff_medium
            <= self.sentinel_cutoff_high
            <= self.sentinel_cutoff_critical
        ):
            raise ValueError("EDGELAB_SENTINEL_CUTOFF_MEDIUM <= _HIGH <= _CRITICAL must hold")
        return self

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
        admin = self.admin_token
        if self.env != "development" and admin is not None:
            value = admin.get_secret_value()
            if value in PLACEHOLDER_SECRETS or len(value) < 32:
                problems.append(
                    "EDGELAB_ADMIN_TOKEN is a placeholder or shorter than 32 characters"
                )
        metrics = self.metrics_token
        if (
            self.env == "production"
            and metrics is not None
            and metrics.get_secret_value() in PLACEHOLDER_SECRETS
        ):
            problems.append("EDGELAB_METRICS_TOKEN is a placeholder")
        key = self.odds_api_key
        if (
            self.env == "production"
            and key is not None
            and key.get_secret_value() in PLACEHOLDER_SECRETS
        ):
            problems.append("EDGELAB_ODDS_API_KEY is a placeholder")
        paddle = self.paddle_webhook_secret
        if (
            self.env == "production"
            and paddle is not None
            and paddle.get_secret_value() in PLACEHOLDER_SECRETS
        ):
            problems.append("EDGELAB_PADDLE_WEBHOOK_SECRET is a placeholder")
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


def is_loopback_host(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, `localhost`)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def development_secret_refusal(settings: Settings, host: str | None = None) -> str | None:
    """Why a process reachable from other machines must not start, or None when it may.

    A process signs tokens with the public development JWT secret only when it binds to
    loopback (`host`, default EDGELAB_HOST) or EDGELAB_ENV=development is set explicitly: a
    production deployment that never set EDGELAB_ENV is otherwise `development` by default and
    anyone could forge its tokens. (Outside development the validator above already refuses a
    placeholder secret.)
    """
    secret = settings.jwt_secret.get_secret_value()
    if secret not in PLACEHOLDER_SECRETS and len(secret) >= 32:
        return None
    if "env" in settings.model_fields_set and settings.env == "development":
        return None
    bind = settings.host if host is None else host
    if is_loopback_host(bind):
        return None
    return (
        f"refusing to start on {bind!r} with the development (or a short) JWT secret: set "
        "EDGELAB_JWT_SECRET (`python -c 'import secrets; print(secrets.token_urlsafe(48))'`) "
        "and EDGELAB_ENV=production, or bind to 127.0.0.1, or set EDGELAB_ENV=development "
        "explicitly"
    )


def data_dir() -> Path:
    """Where the shipped real data sets live (inside the installed package)."""
    return Path(__file__).resolve().parent.parent / "data"
