"""Polymarket clients: Gamma (discovery: markets, events, tags) and the CLOB (prices).

Facts this module is built on (see the shared APIS.md, Polymarket section):

* Every Gamma field may be missing or null; `outcomes`, `outcomePrices`, `clobTokenIds` and
  `umaResolutionStatuses` are JSON arrays *encoded as strings*; market `volume`/`liquidity` are
  decimal strings (numbers on events). Rows are parsed by hand and tolerated: a row without an
  id or question is dropped and counted, a bad field becomes None.
* Listing omits closed markets unless `closed` is sent, so `closed` is always sent explicitly.
* Listing pages by keyset (`/markets/keyset`: `{markets, next_cursor}`, `after_cursor`), the
  offset list being legacy. When the keyset path is off (empty setting), missing (404/405/410),
  answers another shape, or ignores the cursor (the same page again: a reported bug), listing
  falls back to `limit`/`offset` on the legacy path.
* CLOB endpoints take the outcome's *token id* (from `clobTokenIds`), never the condition id;
  prices-history `t` is unix seconds and `p` a number or a string; the book's prices are
  strings, its best bid/ask the max/min (the order of levels is not relied on).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import httpx

from edgelab.core import error_codes as codes
from edgelab.core.errors import NotFoundError
from edgelab.core.http import make_http_client, retry_after_header
from edgelab.core.http.upstream import Refusal, Upstream, upstream_error, upstream_failure
from edgelab.core.settings import Settings
from edgelab.predictions import errors
from edgelab.predictions.sources.polymarket_parse import (
    Book,
    GammaMarket,
    GammaOutcome,
    MarketPages,
    json_list,
    number,
    parse_book,
    parse_history,
    parse_market,
    tag_slug,
    text,
)

__all__ = [
    "Book",
    "GammaMarket",
    "GammaOutcome",
    "MarketPages",
    "PolymarketClient",
    "json_list",
    "parse_market",
    "tag_slug",
]
log = logging.getLogger(__name__)
SERVICE = "Polymarket"
BATCH_HISTORY_MAX = 20  # token ids per POST /batch-prices-history


def _refused(refusal: Refusal, not_found: str | None = None) -> Exception:
    """A final failed answer in the shared `upstream_*` codes; a 404 is ours to name only
    where a missing thing is an answer (`not_found`), elsewhere it is a request we got wrong."""
    status = refusal.status
    if status == 404 and not_found is not None:
        return NotFoundError(not_found, code=errors.POLYMARKET_NOT_FOUND)
    if status == 429:
        return upstream_failure(
            SERVICE,
            codes.UPSTREAM_RATE_LIMITED,
            "Polymarket is rate limiting these requests; retry later.",
            retry_after=retry_after_header(refusal.response, 10),
            upstream_status=status,
        )
    if status >= 500:
        return upstream_failure(
            SERVICE,
            codes.UPSTREAM_UNAVAILABLE,
            f"Polymarket is unavailable (HTTP {status} after retries).",
            retry_after=30,
            upstream_status=status,
        )
    if status >= 400:
        return upstream_failure(
            SERVICE,
            codes.UPSTREAM_BAD_REQUEST,
            f"Polymarket refused the request (HTTP {status}).",
            upstream_status=status,
            upstream_message=refusal.text("error"),
        )
    return upstream_failure(
        SERVICE,
        codes.UPSTREAM_BAD_RESPONSE,
        f"Polymarket answered HTTP {status}.",
        upstream_status=status,
    )


# ---------------------------------------------------------------- the client


class PolymarketClient:
    """Gamma and CLOB over two pooled clients; one instance per app (or per CLI run)."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_initial_wait: float = 0.5,
    ) -> None:
        self._settings = settings
        self._gamma_base = settings.polymarket_gamma_url.rstrip("/")
        self._clob_base = settings.polymarket_clob_url.rstrip("/")
        self._gamma = make_http_client(settings, base_url=self._gamma_base, transport=transport)
        self._clob = make_http_client(settings, base_url=self._clob_base, transport=transport)
        self._upstream = Upstream(
            SERVICE, settings, refused=_refused, initial_wait=retry_initial_wait
        )

    async def aclose(self) -> None:
        await self._gamma.aclose()
        await self._clob.aclose()

    async def _get(self, client: httpx.AsyncClient, url: str, params: Any) -> httpx.Response:
        return await self._upstream.send(lambda: client.get(url, params=params))

    async def _json(
        self, client: httpx.AsyncClient, url: str, params: Any, *, not_found: str | None = None
    ) -> Any:
        return self._checked(await self._get(client, url, params), not_found)

    def _checked(self, response: httpx.Response, not_found: str | None = None) -> Any:
        """The JSON body of a 2xx answer; a final error answer mapped to our codes."""
        self._upstream.raise_for_status(response, refused=partial(_refused, not_found=not_found))
        return self._upstream.json(response)

    # -------------------------------------------------------- Gamma

    def _list_params(
        self, active: bool | None, closed: bool, order: str | None, ascending: bool
    ) -> dict[str, str]:
        params = {"closed": "true" if closed else "false"}  # always sent: the default hides
        if active is not None:
            params["active"] = "true" if active else "false"
        if order:
            params["order"], params["ascending"] = order, "true" if ascending else "false"
        return params

    async def iter_markets(
        self,
        *,
        limit: int | None = None,
        active: bool | None = True,
        closed: bool = False,
        order: str | None = None,
        ascending: bool = False,
        report: MarketPages | None = None,
    ) -> AsyncIterator[list[GammaMarket]]:
        """Pages of parsed markets until the listing ends or `limit` rows were received."""
        report = report if report is not None else MarketPages()
        base = self._list_params(active, closed, order, ascending)
        size = self._settings.polymarket_page_size
        seen = 0
        keyset = self._settings.polymarket_markets_keyset_path
        offset_from: int | None = None if keyset else 0
        if keyset:
            cursor: str | None = None
            cursors: set[str] = set()
            previous_first: Any = None
            while limit is None or seen < limit:
                page_size = size if limit is None else min(size, limit - seen)
                params = {**base, "limit": str(page_size)}
                if cursor:
                    params["after_cursor"] = cursor
                page = await self._keyset_page(self._gamma_base + keyset, params)
                if page is None:  # no keyset here: the legacy list from where we are
                    report.paging, offset_from = "offset", seen
                    break
                rows, cursor = page
                first = rows[0].get("id") if rows and isinstance(rows[0], dict) else None
                if first is not None and first == previous_first:
                    # the cursor was ignored (a reported bug): the same page again. Page on
                    # by offset from the rows already taken; this repeat is not used.
                    log.warning("Polymarket keyset cursor ignored; paging by offset")
                    report.paging, offset_from = "offset", seen
                    break
                previous_first = first
                report.pages += 1
                parsed = self._parse_rows(rows, report)
                seen += len(rows)
                if parsed:
                    yield parsed
                if not rows or not cursor:
                    return
                if cursor in cursors:  # a cursor loop: page on by offset instead
                    log.warning("Polymarket keyset cursor repeats; paging by offset")
                    report.paging, offset_from = "offset", seen
                    break
                cursors.add(cursor)
        if offset_from is None:
            return
        report.paging = "offset"
        offset = offset_from
        while limit is None or seen < limit:
            page_size = size if limit is None else min(size, limit - seen)
            params = {**base, "limit": str(page_size), "offset": str(offset)}
            url = self._gamma_base + self._settings.polymarket_markets_path
            rows = await self._json(self._gamma, url, params)
            if not isinstance(rows, list):
                upstream_error(SERVICE, codes.UPSTREAM_BAD_RESPONSE, "Gamma sent no market list.")
            report.pages += 1
            parsed = self._parse_rows(rows, report)
            seen += len(rows)
            offset += len(rows)
            if parsed:
                yield parsed
            if len(rows) < page_size:
                return

    async def _keyset_page(self, url: str, params: dict[str, str]) -> tuple[list[Any], str] | None:
        response = await self._get(self._gamma, url, params)
        if response.status_code in (404, 405, 410):
            return None
        body = self._checked(response)
        if not isinstance(body, dict) or not isinstance(body.get("markets"), list):
            log.warning("Gamma keyset answered another shape; paging by offset")
            return None
        cursor = body.get("next_cursor")
        return body["markets"], cursor if isinstance(cursor, str) and cursor else ""

    def _parse_rows(self, rows: list[Any], report: MarketPages) -> list[GammaMarket]:
        parsed = []
        for row in rows:
            market = parse_market(row)
            if market is None:
                report.dropped += 1
            else:
                parsed.append(market)
        return parsed

    async def reachable(self, timeout: float = 3.0) -> bool:  # noqa: ASYNC109 (one probe)
        """Whether Gamma answers a one-market listing within `timeout` seconds, asked once
        (no retries): the demo's check for connectivity before choosing live or recorded."""
        url = self._gamma_base + self._settings.polymarket_markets_path
        try:
            response = await self._gamma.get(
                url, params={"limit": "1", "closed": "false"}, timeout=timeout
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def get_market(self, market_id: str) -> GammaMarket:
        body = await self._json(
            self._gamma,
            f"{self._gamma_base}{self._settings.polymarket_markets_path}/{market_id}",
            None,
            not_found=f"Polymarket has no market {market_id!r}.",
        )
        market = parse_market(body)
        if market is None:
            upstream_error(SERVICE, codes.UPSTREAM_BAD_RESPONSE, "Gamma sent an unusable market.")
        return market

    async def list_events(self, *, limit: int = 100, closed: bool = False) -> list[Any]:
        params = {"limit": str(limit), "closed": "true" if closed else "false"}
        body = await self._json(self._gamma, f"{self._gamma_base}/events", params)
        if not isinstance(body, list):
            upstream_error(SERVICE, codes.UPSTREAM_BAD_RESPONSE, "Gamma sent no event list.")
        return [e for e in body if isinstance(e, dict)]

    async def list_tags(self, *, limit: int = 500) -> list[dict[str, str]]:
        body = await self._json(self._gamma, f"{self._gamma_base}/tags", {"limit": str(limit)})
        if not isinstance(body, list):
            upstream_error(SERVICE, codes.UPSTREAM_BAD_RESPONSE, "Gamma sent no tag list.")
        tags = []
        for tag in body:
            if isinstance(tag, dict) and (tid := text(tag.get("id"))):
                label = text(tag.get("label")) or text(tag.get("slug")) or tid
                tags.append({"id": tid, "label": label, "slug": text(tag.get("slug")) or ""})
        return tags

    # -------------------------------------------------------- CLOB

    async def prices_history(
        self,
        token_id: str,
        *,
        interval: str | None = "max",
        fidelity: int | None = None,
        start_ts: int | None = None,
        end_ts: int | None = None,
    ) -> list[tuple[int, float]]:
        """One outcome's price path; `interval` and `start_ts/end_ts` are alternatives."""
        params: dict[str, str] = {"market": token_id}
        if start_ts is not None or end_ts is not None:
            if start_ts is not None:
                params["startTs"] = str(start_ts)
            if end_ts is not None:
                params["endTs"] = str(end_ts)
        elif interval:
            params["interval"] = "max" if interval == "all" else interval
        if fidelity is not None:
            params["fidelity"] = str(fidelity)
        url = self._clob_base + self._settings.polymarket_prices_history_path
        return parse_history(await self._json(self._clob, url, params))

    async def batch_prices_history(
        self, token_ids: list[str], *, interval: str = "max", fidelity: int | None = None
    ) -> dict[str, list[tuple[int, float]]] | None:
        """Price paths of up to 20 tokens in one call (`POST /batch-prices-history`, its body
        in snake_case); None when the CLOB has no such endpoint (404/405), to go one by one."""
        if not 0 < len(token_ids) <= BATCH_HISTORY_MAX:
            raise ValueError(f"1..{BATCH_HISTORY_MAX} token ids per batch, got {len(token_ids)}")
        body: dict[str, Any] = {
            "markets": token_ids,
            "interval": "max" if interval == "all" else interval,
        }
        if fidelity is not None:
            body["fidelity"] = fidelity
        url = self._clob_base + self._settings.polymarket_batch_prices_history_path

        response = await self._upstream.send(lambda: self._clob.post(url, json=body))
        if response.status_code in (404, 405):
            return None
        answer = self._checked(response)
        history = answer.get("history") if isinstance(answer, dict) else None
        if not isinstance(history, dict):
            upstream_error(
                SERVICE, codes.UPSTREAM_BAD_RESPONSE, "Polymarket sent no batch history."
            )
        return {token: parse_history({"history": history.get(token) or []}) for token in token_ids}

    async def midpoint(self, token_id: str) -> float | None:
        body = await self._json(self._clob, f"{self._clob_base}/midpoint", {"token_id": token_id})
        return number(body.get("mid")) if isinstance(body, dict) else None

    async def book(self, token_id: str) -> Book:
        body = await self._json(
            self._clob,
            f"{self._clob_base}/book",
            {"token_id": token_id},
            not_found=f"Polymarket has no order book for token {token_id!r}.",
        )
        return parse_book(body, token_id)
