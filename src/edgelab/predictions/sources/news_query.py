"""From a market's question to a NewsAPI query, and articles to a clean, newest-first list.

Pure functions (no I/O). A question such as "Will the Los Angeles Lakers win the 2026 NBA
Finals?" is mostly scaffolding; what finds relevant news is its entities: runs of capitalised
words ("Los Angeles Lakers", "NBA Finals") quoted as phrases, joined with AND. Sentence
starters, months, days, "Yes/No/Up/Down" and time words are stop words even when capitalised.
With no entity the query is the question's significant words (AND), never stop words.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MAX_QUERY_CHARS = 500  # NewsAPI's limit on `q`
MAX_TERMS = 3
_STOP_TEXT = """
a about above after again against all am an and any are as at be been before being below
between both but by can could did do does doing down during each either end ends ever few
for from further had has have having he her here hers him his how i if in into is it its
itself just least less may me might more most much must my neither no nor not now of off on
once only or other our out over own per same shall she should so some such than that the
their them then there these they this those through to too under until up upon very via vs
was we were what when where which while who whom why will with within without won would yes
you your market markets price prices reach hit happen happens occur get gets win wins
winner beat beats lose loses next first last january february march april june july
august september october november december jan feb mar apr jun jul aug sep sept oct nov dec
monday tuesday wednesday thursday friday saturday sunday today tomorrow tonight week month
year day days et est edt pt pst pdt utc gmt pm q1 q2 q3 q4
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'&.-]*")
_NORMAL_TITLE = re.compile(r"[^0-9a-z]+")


def _is_entity_word(word: str) -> bool:
    return word[0].isupper() and word.lower().strip(".'") not in STOP_WORDS


def _clean(word: str) -> str:
    return word.strip(".'-")


def entities(question: str) -> list[str]:
    """Runs of capitalised non-stop words, in order, without repeats."""
    found: list[str] = []
    run: list[str] = []
    for match in _WORD.finditer(question):
        word = _clean(match.group())
        if word and _is_entity_word(word) and not word.isdigit():
            run.append(word)
            continue
        if run:
            found.append(" ".join(run))
            run = []
    if run:
        found.append(" ".join(run))
    out: list[str] = []
    for phrase in found:
        if phrase.lower() not in (p.lower() for p in out):
            out.append(phrase)
    return out


def significant_words(question: str) -> list[str]:
    out: list[str] = []
    for match in _WORD.finditer(question):
        word = _clean(match.group()).lower()
        if len(word) >= 3 and word not in STOP_WORDS and not word.isdigit() and word not in out:
            out.append(word)
    return out


def build_query(question: str, *, max_terms: int = MAX_TERMS) -> str | None:
    """A NewsAPI `q`: quoted entities joined with AND, else significant words; None if empty."""
    terms = entities(question)[:max_terms] or significant_words(question)[:max_terms]
    if not terms:
        return None
    parts = [f'"{t}"' if " " in t else t for t in terms]
    query = " AND ".join(parts)
    while len(query) > MAX_QUERY_CHARS and len(parts) > 1:
        parts.pop()
        query = " AND ".join(parts)
    return query[:MAX_QUERY_CHARS]


def normal_url(url: str) -> str:
    """Scheme, host (lowercase, no `www.`) and path without the trailing slash: the query and
    fragment (tracking parameters, mostly) do not make another article."""
    parts = urlsplit(url.strip())
    host = parts.netloc.lower().removeprefix("www.")
    return urlunsplit(("https", host, parts.path.rstrip("/"), "", ""))


def normal_title(title: str) -> str:
    return _NORMAL_TITLE.sub(" ", title.lower()).strip()


def dedupe_newest_first(articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Articles without a url or title, or removed ("[Removed]"), dropped; one per normalised
    URL and per normalised title (syndicated copies), the newest kept; newest first.

    `published_at` is an ISO 8601 string in UTC (as NewsAPI sends it), so it sorts as text.
    """
    ordered = sorted(articles, key=lambda a: a.get("published_at") or "", reverse=True)
    urls: set[str] = set()
    titles: set[str] = set()
    out = []
    for article in ordered:
        url, title = article.get("url"), article.get("title")
        if not url or not title or title.strip() == "[Removed]":
            continue
        u, t = normal_url(url), normal_title(title)
        if u in urls or t in titles:
            continue
        urls.add(u)
        titles.add(t)
        out.append(article)
    return out
