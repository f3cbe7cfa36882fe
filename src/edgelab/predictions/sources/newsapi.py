"""NewsAPI.org v2 `/everything`: articles about a market, on the free plan's terms.

The free plan allows 100 requests a day (50 per 12 h), so every answer is cached
(`EDGELAB_NEWSAPI_CACHE_TTL_SECONDS`) and calls are counted against a daily budget
(`EDGELAB_NEWSAPI_DAILY_BUDGET`, UTC days) kept in the app's cache (Redis when set, so every
instance shares it; get-then-set, so two instances racing may overshoot by one each). When the
budget is spent no call is made: the last good answer is served (`stale`), else 503
`upstream_rate_limited` with Retry-After until the next UTC midnight.

The key goes in the `X-Api-Key` header (NewsAPI's recommendation: not in URLs, so not in logs).
Errors arrive as `{"status": "error", "code", "message"}`; the code decides, never the text.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from edgelab.core import error_codes as codes
from edgelab.core.cache import Cache
from edgelab.core.clock import utcnow
from edgelab.core.http import Verdict, make_http_client, retry_after_header
from edgelab.core.http.upstream import Refusal, Upstream, upstream_error, upstream_failure
from edgelab.core.settings import Settings

log = logging.getLogger(__name__)
SERVICE = "NewsAPI"
SORT_BY = ("relevancy", "popularity", "publishedAt")
RATE_LIMIT_RETRY_AFTER = 3600  # its windows are 12 h: an hour is a polite first guess
_AUTH_CODES = frozenset({"apiKeyInvalid", "apiKeyMissing", "apiKeyDisabled"})
_SPENT_CODES = frozenset({"rateLimited", "apiKeyExhausted"})


@dataclass(frozen=True)
class NewsPage:
    total_results: int
    articles: list[dict[str, Any]]  # our shape: title, url, source, published_at, ...


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_article(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    url, title = _text(raw.get("url")), _text(raw.get("title"))
    if url is None or title is None:
        return None
    source = raw.get("source")
    source = source if isinstance(source, dict) else {}
    return {
        "title": title,
        "url": url,
        "source": _text(source.get("name")),
        "source_id": _text(source.get("id")),
        "author": _text(raw.get("author")),
        "description": _text(raw.get("description")),
        "image_url": _text(raw.get("urlToImage")),
        "published_at": _text(raw.get("publishedAt")),
    }


def seconds_to_utc_midnight(now: dt.datetime | None = None) -> int:
    now = now or utcnow()
    tomorrow = (now + dt.timedelta(days=1)).date()
    midnight = dt.datetime.combine(tomorrow, dt.time(0), tzinfo=dt.UTC)
    return max(1, int((midnight - now).total_seconds()))


def _daily_limit(response: httpx.Response) -> Verdict | None:
    """A 429 is the day's (or 12 h's) allowance spent: seconds of waiting will not help."""
    return "final" if response.status_code == 429 else None


def _refused(refusal: Refusal) -> Exception:
    """NewsAPI's `code` decides, never its text; the status where the code says nothing."""
    status = refusal.status
    code = refusal.field("code")
    extra = {
        "upstream_status": status,
        "upstream_code": code,
        "upstream_message": refusal.field("message"),
    }
    if code in _SPENT_CODES or status == 429:
        return upstream_failure(
            SERVICE,
            codes.UPSTREAM_RATE_LIMITED,
            "NewsAPI's request allowance is spent for now; news returns when it renews.",
            retry_after=retry_after_header(refusal.response, RATE_LIMIT_RETRY_AFTER),
            **extra,
        )
    if code in _AUTH_CODES or status == 401:
        return upstream_failure(
            SERVICE,
            codes.UPSTREAM_AUTH_FAILED,
            "NewsAPI rejected the API key; check EDGELAB_NEWSAPI_KEY.",
            **extra,
        )
    if status >= 500 or code == "unexpectedError":
        return upstream_failure(
            SERVICE,
            codes.UPSTREAM_UNAVAILABLE,
            f"NewsAPI is unavailable (HTTP {status}).",
            retry_after=60,
            **extra,
        )
    return upstream_failure(
        SERVICE, codes.UPSTREAM_BAD_REQUEST, f"NewsAPI refused the query (HTTP {status}).", **extra
    )


class NewsBudget:
    """Requests made today (UTC) against `limit`, in the shared cache."""

    def __init__(self, cache: Cache, limit: int) -> None:
        self._cache = cache
        self.limit = limit

    @staticmethod
    def _key(now: dt.datetime | None = None) -> str:
        return f"predictions:newsapi:budget:{(now or utcnow()).date()}"

    async def used(self) -> int:
        raw = await self._cache.get(self._key())
        try:
            return int(raw) if raw is not None else 0
        except ValueError:
            return 0

    async def take(self) -> bool:
        """Count one request if the budget allows it; False when spent (nothing counted)."""
        used = await self.used()
        if used >= self.limit:
            return False
        await self._cache.set(self._key(), str(used + 1).encode(), 2 * 86_400)
        return True


class NewsApiClient:
    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_initial_wait: float = 0.5,
    ) -> None:
        self._settings = settings
        self._base = settings.newsapi_url.rstrip("/")
        self._client = make_http_client(settings, base_url=self._base, transport=transport)
        self._upstream = Upstream(
            SERVICE,
            settings,
            refused=_refused,
            classify=_daily_limit,
            initial_wait=retry_initial_wait,
        )

    @property
    def configured(self) -> bool:
        key = self._settings.newsapi_key
        return key is not None and bool(key.get_secret_value().strip())

    async def aclose(self) -> None:
        await self._client.aclose()

    async def everything(
        self,
        query: str,
        *,
        language: str | None = None,
        sort_by: str = "publishedAt",
        page_size: int | None = None,
        from_date: dt.date | None = None,
    ) -> NewsPage:
        key = self._settings.newsapi_key
        if key is None or not key.get_secret_value().strip():
            upstream_error(SERVICE, codes.UPSTREAM_AUTH_FAILED, "No NewsAPI key is set.")
        params = {
            "q": query,
            "language": language or self._settings.newsapi_language,
            "sortBy": sort_by,
            "pageSize": str(page_size or self._settings.newsapi_page_size),
            "page": "1",  # the free plan stops at 100 results (426 beyond)
        }
        if from_date is not None:
            params["from"] = from_date.isoformat()

        url, headers = f"{self._base}/everything", {"X-Api-Key": key.get_secret_value().strip()}
        response = await self._upstream.request(
            lambda: self._client.get(url, params=params, headers=headers)
        )
        body = self._upstream.json(response)
        if isinstance(body, dict) and body.get("status") == "error":
            raise self._upstream.error_for(response, body=body)
        if not isinstance(body, dict) or not isinstance(body.get("articles"), list):
            upstream_error(SERVICE, codes.UPSTREAM_BAD_RESPONSE, "NewsAPI sent no article list.")
        articles = [a for a in map(parse_article, body["articles"]) if a is not None]
        total = body.get("totalResults")
        return NewsPage(total if isinstance(total, int) else len(articles), articles)
