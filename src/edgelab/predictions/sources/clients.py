"""The product's outbound clients, one pooled instance each per app (made in the lifespan)."""

from __future__ import annotations

from dataclasses import dataclass

from edgelab.core.settings import Settings
from edgelab.predictions.sources.newsapi import NewsApiClient
from edgelab.predictions.sources.polymarket import PolymarketClient


@dataclass
class PredictionClients:
    polymarket: PolymarketClient
    news: NewsApiClient

    @classmethod
    def create(cls, settings: Settings, *, retry_initial_wait: float = 0.5) -> PredictionClients:
        """No I/O: connections open on first use."""
        return cls(
            PolymarketClient(settings, retry_initial_wait=retry_initial_wait),
            NewsApiClient(settings, retry_initial_wait=retry_initial_wait),
        )

    async def aclose(self) -> None:
        await self.polymarket.aclose()
        await self.news.aclose()
