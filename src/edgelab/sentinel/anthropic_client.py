"""Claude explanations of a risk score, through the official Anthropic SDK, never required.

With `EDGELAB_ANTHROPIC_API_KEY` set (and the `anthropic` package installed: the `claude`
extra), analyze-player asks Claude (`EDGELAB_ANTHROPIC_MODEL`, Messages API at
`EDGELAB_ANTHROPIC_URL`) to write the analyst explanation. The call is bounded by
`EDGELAB_ANTHROPIC_TIMEOUT_SECONDS` for the whole exchange and is never retried (a retry
doubles the wait of a request that has a template answer ready). On any failure, whatever it
is (429 rate_limit_error, 529 overloaded_error, other 4xx/5xx, timeout, connection refused, an
answer without text, a refusal), the deterministic template answers instead: the request never
fails because of Claude, and `explanation_source` says `claude` or `template`.

What is sent: the category, the composite and component scores (0-1), the weights, the top
features (name, label, value, population score) and which components are absent. Nothing that
identifies the player: no player id, account, e-mail, name or raw bets. The key is sent only
in the `x-api-key` header by the SDK, never logged here, and dropped from a redirect to another
origin (`edgelab.core.http.redirects`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from edgelab.core.http.redirects import drop_credentials_off_origin
from edgelab.core.resources import resources_of
from edgelab.core.settings import Settings

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

log = logging.getLogger("edgelab.sentinel.claude")

MAX_TOKENS = 400
MAX_CHARS = 2500  # longer than any honest answer to the prompt; more is a bad payload
SYSTEM_PROMPT = (
    "You write short explanations of responsible-gambling risk scores for trained analysts. "
    "You get a JSON summary of one player's scores: components and features are 0-1, relative "
    "to the player's own history and to the population; 'score' of a feature maps to its "
    "population percentile. In at most 4 sentences, plain text, no lists or markdown: state "
    "the category and composite, name the 2-3 features that drive it and what each means for "
    "the player's behaviour, and say which components were not assessed. Do not diagnose, do "
    "not speculate beyond the data, and do not recommend an action (the analyst decides)."
)


class ExplanationUnavailable(Exception):
    """Claude did not give a usable explanation; `reason` is a short code for logs and notes."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Explanation:
    text: str
    source: str  # "claude" | "template"
    fallback_reason: str | None = None  # why the template answered although a key is set


def facts_for_prompt(
    *,
    category: str,
    composite: float,
    components: dict[str, float | None],
    weights: dict[str, float],
    top_features: list[dict[str, Any]],
    absent: list[str],
) -> dict[str, Any]:
    """The only data that leaves for Claude: scores and feature values, no identity."""
    return {
        "risk_category": category,
        "composite_risk_score": round(composite, 3),
        "component_scores": {k: None if v is None else round(v, 3) for k, v in components.items()},
        "weights": weights,
        "absent_components": absent,
        "top_features": [
            {
                "feature": f.get("feature"),
                "component": f.get("component"),
                "label": f.get("label"),
                "value": f.get("value"),
                "score": f.get("score"),
            }
            for f in top_features
        ],
    }


def _reason(exc: BaseException) -> str:
    import anthropic

    if isinstance(exc, anthropic.APITimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        kind = error.get("type") if isinstance(error, dict) else None
        return str(kind or f"http_{exc.status_code}")
    if isinstance(exc, anthropic.APIConnectionError):
        return "connection_error"
    return "bad_payload"


class ClaudeExplainer:
    """One SDK client for the app's life (made in the lifespan, closed with it)."""

    def __init__(self, settings: Settings) -> None:
        from anthropic import AsyncAnthropic, DefaultAsyncHttpxClient

        assert settings.anthropic_api_key is not None
        self.model = settings.anthropic_model
        self.timeout = settings.anthropic_timeout_seconds
        self._client: AsyncAnthropic = AsyncAnthropic(
            api_key=settings.anthropic_api_key.get_secret_value(),
            base_url=settings.anthropic_url,
            timeout=self.timeout,
            max_retries=0,
            # the SDK follows redirects with `x-api-key`: never to another origin
            http_client=DefaultAsyncHttpxClient(
                event_hooks={"request": [drop_credentials_off_origin]}
            ),
        )

    async def explain(self, facts: dict[str, Any]) -> str:
        """Claude's explanation, or ExplanationUnavailable with a short reason."""
        from anthropic.types import TextBlock

        try:
            async with asyncio.timeout(self.timeout):
                message = await self._client.messages.create(
                    model=self.model,
                    max_tokens=MAX_TOKENS,
                    system=SYSTEM_PROMPT,
                    messages=[
                        {
                            "role": "user",
                            "content": "Explain this risk score:\n"
                            + json.dumps(facts, sort_keys=True),
                        }
                    ],
                )
            if getattr(message, "stop_reason", None) == "refusal":
                raise ExplanationUnavailable("refusal")
            text = " ".join(
                block.text.strip() for block in message.content if isinstance(block, TextBlock)
            ).strip()
        except ExplanationUnavailable:
            raise
        except Exception as exc:  # any failure means: the template answers
            raise ExplanationUnavailable(_reason(exc)) from exc
        if not text or len(text) > MAX_CHARS:
            raise ExplanationUnavailable("bad_payload")
        return text

    async def aclose(self) -> None:
        await self._client.close()


def make_explainer(settings: Settings) -> ClaudeExplainer | None:
    """The Claude explainer when a key is set and the SDK is installed, else None (template)."""
    if settings.anthropic_api_key is None:
        return None
    try:
        return ClaudeExplainer(settings)
    except ImportError:
        log.warning(
            "EDGELAB_ANTHROPIC_API_KEY is set but the `anthropic` package is not installed "
            "(pip install 'edgelab[claude]'): explanations come from the template"
        )
        return None


async def explanation(
    explainer: ClaudeExplainer | None, facts: dict[str, Any], template: str
) -> Explanation:
    """Claude's text when possible, else the template's; never raises."""
    if explainer is None:
        return Explanation(template, "template")
    try:
        return Explanation(await explainer.explain(facts), "claude")
    except ExplanationUnavailable as exc:
        log.warning("Claude explanation unavailable (%s): the template answers", exc.reason)
        return Explanation(template, "template", exc.reason)


async def get_explainer(request: Request) -> ClaudeExplainer | None:
    return resources_of(request).find(ClaudeExplainer)
