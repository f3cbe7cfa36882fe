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

Nudges (`generate_nudge`, and the e-mail of a nudge intervention) are written the same way,
for the player: from `explain.nudge_facts` only (what stood out, the player's figures in plain
units, how they compare with other players), in the mentor style, short. The answer is checked
before anyone sees it: empty, longer than `NUDGE_MAX_CHARS`, a link, or a word that names or
suggests a diagnosis (`DIAGNOSIS_TERMS`) and the template nudge is sent instead. A nudge Claude
wrote is kept per (player, facts) for `NUDGE_CACHE_SECONDS` (the facts change only when the
player is rescored), so asking again costs no second call; a fallback is not kept.

Callers ask Claude outside any write transaction: on SQLite a request that may write holds the
database's one write lock from its first statement to its commit (`core.db.unit_bind`), and a
Claude call of seconds inside it would stall every other writer.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from edgelab.core import clock
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


NUDGE_MAX_TOKENS = 250
NUDGE_MAX_CHARS = 700  # a check-in of 2-4 sentences; more is not what was asked
NUDGE_CACHE_SECONDS = 24 * 3600.0
NUDGE_CACHE_SIZE = 2048
NUDGE_SYSTEM_PROMPT = (
    "You write short check-in messages from a sports betting site to one of its customers, in "
    "the style of personalised feedback: friendly, respectful, never judging. You get a JSON "
    "list of what stood out in this customer's own recent betting: 'noticed' describes the "
    "customer, 'figure' is their own figure where there is one, and "
    "'compared_with_other_players' says where they stand. Write 2 to 4 sentences of plain "
    "text addressed to the customer as 'you': mention one or two of the items, with their "
    "figures, in everyday words, and say that deposit limits, time reminders and time-outs are "
    "available in their account settings at any time. Use only the facts given: do not invent "
    "figures, amounts, dates or reasons. Do not mention scores, risk levels, categories, "
    "monitoring or analysts. Never name, suggest or hint at a diagnosis or a condition: do not "
    "use words such as addiction, addicted, gambling disorder, problem gambler, compulsive or "
    "pathological. No greeting, no sign-off, no links, no lists or markdown."
)
# words a message to a player must never use (whatever the prompt said): a nudge is feedback on
# behaviour, and naming a disorder is a clinician's call, not a betting site's
DIAGNOSIS_TERMS = re.compile(
    r"\b(?:addict\w*|disorder\w*|problem[- ]gambl\w*|gambling[- ]problems?|compulsi\w*|"
    r"patholog\w*|ludomania|diagnos\w*|mental[- ]illness\w*|dsm(?:-?5|-?iv)?|pgsi|"
    r"problem with gambling)\b",
    re.IGNORECASE,
)
LINK = re.compile(r"https?://|www\.|\b[\w-]+\.(?:com|net|org|io|co)\b", re.IGNORECASE)


def nudge_problem(text: str) -> str | None:
    """Why a written nudge must not be sent (a short reason), or None when it may."""
    if not text.strip() or len(text) > NUDGE_MAX_CHARS:
        return "bad_payload"
    if DIAGNOSIS_TERMS.search(text):
        return "diagnosis_named"
    if LINK.search(text):
        return "link_in_text"
    return None


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
    """One SDK client for the app's life (made in the lifespan, closed with it), and the nudges
    it wrote lately."""

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
        self._nudges: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def _ask(self, system: str, content: str, max_tokens: int) -> str:
        """Claude's text answer, or ExplanationUnavailable with a short reason."""
        from anthropic.types import TextBlock

        try:
            async with asyncio.timeout(self.timeout):
                message = await self._client.messages.create(
                    model=self.model,
                    max_tokens=max_tokens,
                    system=system,
                    messages=[{"role": "user", "content": content}],
                )
            if getattr(message, "stop_reason", None) == "refusal":
                raise ExplanationUnavailable("refusal")
            return " ".join(
                block.text.strip() for block in message.content if isinstance(block, TextBlock)
            ).strip()
        except ExplanationUnavailable:
            raise
        except Exception as exc:  # any failure means: the template answers
            raise ExplanationUnavailable(_reason(exc)) from exc

    async def explain(self, facts: dict[str, Any]) -> str:
        """Claude's explanation, or ExplanationUnavailable with a short reason."""
        text = await self._ask(
            SYSTEM_PROMPT,
            "Explain this risk score:\n" + json.dumps(facts, sort_keys=True),
            MAX_TOKENS,
        )
        if not text or len(text) > MAX_CHARS:
            raise ExplanationUnavailable("bad_payload")
        return text

    async def write_nudge(self, facts: list[dict[str, str]], *, player_id: str) -> str:
        """Claude's nudge for the player (checked by `nudge_problem`), from the cache when the
        same player's facts were written for lately; or ExplanationUnavailable."""
        key = hashlib.sha256(
            json.dumps([player_id, self.model, facts], sort_keys=True).encode()
        ).hexdigest()
        now = clock.monotonic()
        cached = self._nudges.get(key)
        if cached is not None and now - cached[0] < NUDGE_CACHE_SECONDS:
            self._nudges.move_to_end(key)
            return cached[1]
        text = await self._ask(
            NUDGE_SYSTEM_PROMPT,
            "Write the check-in message from what stood out:\n" + json.dumps(facts, sort_keys=True),
            NUDGE_MAX_TOKENS,
        )
        problem = nudge_problem(text)
        if problem is not None:
            raise ExplanationUnavailable(problem)
        self._nudges[key] = (now, text)
        self._nudges.move_to_end(key)
        while len(self._nudges) > NUDGE_CACHE_SIZE:
            self._nudges.popitem(last=False)
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


async def written_nudge(
    explainer: ClaudeExplainer | None,
    facts: list[dict[str, str]],
    template: str,
    *,
    player_id: str,
) -> Explanation:
    """The player's nudge by Claude when possible, else the template's; never raises. Without
    facts (no score yet, nothing stood out) there is nothing to ground a message in: the
    template's general check-in, and no call."""
    if explainer is None or not facts:
        return Explanation(template, "template")
    try:
        return Explanation(await explainer.write_nudge(facts, player_id=player_id), "claude")
    except ExplanationUnavailable as exc:
        log.warning("Claude nudge unavailable (%s): the template answers", exc.reason)
        return Explanation(template, "template", exc.reason)


async def get_explainer(request: Request) -> ClaudeExplainer | None:
    return resources_of(request).find(ClaudeExplainer)
