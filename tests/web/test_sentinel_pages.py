"""The Sentinel console pages over ASGI: who may see them, what an analyst sees, and the
intervention form's errors next to the field they concern."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from edgelab.sentinel.models import SentinelPlayer
from edgelab.sentinel.rescore import run_rescore
from tests.sentinel.factories import bet_row, simulated_population, tx_row

pytestmark = pytest.mark.asyncio(loop_scope="session")

REASON = "Escalating stakes after losses, three nights running."


async def _cookie(session: AsyncSession, settings: Settings, email: str, role: str) -> dict:
    user = await create_user(session, email, role=role)
    await session.commit()
    return {"cookie": f"edgelab_access={issue_access_token(settings, user.id)}"}


def _error_after(html: str, field: str) -> str:
    """The text of the error paragraph tied to a form field (`<field>-error`)."""
    found = re.search(rf'id="{field}-error">([^<]*)<', html)
    assert found, f"no error shown next to {field}"
    return found.group(1)


async def _operator_player(session: AsyncSession, player_id: str = "PLR_5601_NJ") -> str:
    session.add(SentinelPlayer(player_id=player_id, source="operator", activity_version=0))
    await session.commit()
    return player_id


async def test_a_signed_out_visitor_is_asked_to_sign_in(client: httpx.AsyncClient) -> None:
    r = await client.get("/app/sentinel")
    assert r.status_code == 401
    assert "Sign in" in r.text and "/app/signin" in r.text and "unauthorized" in r.text


async def test_a_user_who_is_not_an_analyst_gets_the_apis_403(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    cookie = await _cookie(session, settings, "sp-user@example.com", "user")
    for path in ("/app/sentinel", "/app/sentinel/players/PLR_1001_NJ"):
        r = await client.get(path, headers=cookie)
        assert r.status_code == 403, path
        assert "role_required" in r.text and "analyst" in r.text
    r = await client.post(
        "/app/sentinel/players/PLR_1001_NJ/interventions",
        headers=cookie,
        data={"intervention_type": "nudge", "reason": REASON},
    )
    assert r.status_code == 403 and "role_required" in r.text


async def test_an_analyst_sees_players_ranked_and_filtered_by_category(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    cookie = await _cookie(session, settings, "sp-rank@example.com", "analyst")
    await simulated_population(session, players=40, seed=5)
    await run_rescore(session, settings, mode="full", trigger="cli")
    await session.commit()
    r = await client.get("/app/sentinel", headers=cookie)
    assert r.status_code == 200
    assert "40 players" in r.text
    scores = [float(s) for s in re.findall(r'data-score="([0-9.e-]+)"', r.text)]
    assert len(scores) == 40 and scores == sorted(scores, reverse=True)
    counts = dict(
        re.findall(r'data-testid="category-(\w+)"[^>]*>\s*\w+ <span class="count">(\d+)', r.text)
    )
    assert sum(int(n) for n in counts.values()) == 40
    category, count = next((c, int(n)) for c, n in counts.items() if int(n) > 0)
    r = await client.get(f"/app/sentinel?category={category}", headers=cookie)
    assert r.status_code == 200
    assert (
        re.findall(r'<span class="badge (\w+)">', r.text.split("players-table")[1])
        == [category.lower()] * count
    )
    # htmx asks for the table alone
    partial = await client.get(
        f"/app/sentinel?category={category}", headers={**cookie, "hx-request": "true"}
    )
    assert partial.text.lstrip().startswith('<section id="players"') and "<html" not in partial.text


async def test_a_player_page_shows_components_explanation_history_and_timeline(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    cookie = await _cookie(session, settings, "sp-player@example.com", "analyst")
    sim = await simulated_population(session, players=30, seed=6)
    await run_rescore(session, settings, mode="full", trigger="cli")
    await session.commit()
    player = sim.players[0].player_id
    r = await client.get(f"/app/sentinel/players/{player}", headers=cookie)
    assert r.status_code == 200, r.text
    assert 'data-testid="components"' in r.text and "Loss chasing" in r.text
    assert 'data-testid="score-history"' in r.text and '"type": "area"' in r.text
    assert 'data-testid="timeline"' in r.text and "Scored " in r.text
    assert 'data-testid="no-interventions"' in r.text
    # the explanation waits for the analyst to ask for it
    assert 'data-testid="explanation"' not in r.text and "Recommended action" not in r.text
    assert "Explain this score" in r.text
    assert f'action="/app/sentinel/players/{player}/explain"' in r.text

    # a plain form: the whole page, now with the explanation and the weights
    r = await client.post(f"/app/sentinel/players/{player}/explain", headers=cookie, data={})
    assert r.status_code == 200, r.text
    assert "<html" in r.text and 'data-testid="components"' in r.text
    assert 'data-testid="explanation"' in r.text and "Recommended action" in r.text
    assert re.search(r'data-testid="weights">Component weights: loss_chase 0\.\d\d', r.text)
    assert 'data-testid="rescored"' not in r.text

    # htmx: the explanation card alone
    r = await client.post(
        f"/app/sentinel/players/{player}/explain",
        headers={**cookie, "hx-request": "true"},
        data={"days": "90"},
    )
    assert r.status_code == 200, r.text
    assert r.text.lstrip().startswith('<section id="explanation"') and "<html" not in r.text
    assert 'data-testid="explanation"' in r.text and 'data-testid="weights"' in r.text
    assert 'data-testid="components"' not in r.text


async def test_an_unknown_player_is_the_apis_404(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    cookie = await _cookie(session, settings, "sp-404@example.com", "analyst")
    r = await client.get("/app/sentinel/players/PLR_9898_ZZ", headers=cookie)
    assert r.status_code == 404 and "player_not_found" in r.text


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"intervention_type": "watchlist", "reason": "too short"}, "reason"),
        ({"intervention_type": "timeout", "reason": REASON}, "duration_hours"),
        (
            {"intervention_type": "timeout", "reason": REASON, "duration_hours": "500"},
            "duration_hours",
        ),
        (
            {"intervention_type": "timeout", "reason": REASON, "duration_hours": "soon"},
            "duration_hours",
        ),
        ({"intervention_type": "nudge", "reason": REASON, "duration_hours": "4"}, "duration_hours"),
        ({"intervention_type": "ban", "reason": REASON}, "intervention_type"),
        ({"intervention_type": "nudge", "reason": REASON, "analyst_id": "two words"}, "analyst_id"),
    ],
)
async def test_the_apis_validation_errors_are_shown_next_to_their_field(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, form, field
) -> None:
    cookie = await _cookie(session, settings, f"sp-form-{field}@example.com", "analyst")
    player = await _operator_player(session)
    r = await client.post(
        f"/app/sentinel/players/{player}/interventions", headers=cookie, data=form
    )
    assert r.status_code == 422, r.text
    assert _error_after(r.text, field)
    assert f'id="{field}" ' in r.text and 'aria-invalid="true"' in r.text
    # what was typed is kept
    assert form["reason"] in r.text


async def test_a_recorded_intervention_redirects_to_the_player_page_that_shows_it(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    cookie = await _cookie(session, settings, "sp-create@example.com", "analyst")
    player = await _operator_player(session, "PLR_5602_NJ")
    r = await client.post(
        f"/app/sentinel/players/{player}/interventions",
        headers=cookie,
        data={"intervention_type": "watchlist", "reason": REASON, "duration_hours": "", "note": ""},
    )
    assert r.status_code == 303, r.text
    target = r.headers["location"]
    assert target.startswith(f"/app/sentinel/players/{player}?created=int_")
    page = await client.get(target, headers=cookie)
    assert page.status_code == 200
    assert 'data-testid="intervention-recorded"' in page.text and "Recorded: watchlist" in page.text
    assert "by the player's operator" in page.text
    assert REASON in page.text.split('data-testid="interventions"')[1]
    # and cancelling it from the table
    intervention_id = target.split("created=")[1].split("#")[0]
    r = await client.post(
        f"/app/sentinel/interventions/{intervention_id}/cancel",
        headers=cookie,
        data={"player_id": player, "reason": "short"},
    )
    assert r.status_code == 422 and _error_after(r.text, f"cancel-{intervention_id}")
    r = await client.post(
        f"/app/sentinel/interventions/{intervention_id}/cancel",
        headers=cookie,
        data={"player_id": player, "reason": "Recorded against the wrong player."},
    )
    assert r.status_code == 303
    page = await client.get(r.headers["location"], headers=cookie)
    assert "status-cancelled" in page.text


async def test_a_cross_site_post_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    cookie = await _cookie(session, settings, "sp-csrf@example.com", "analyst")
    player = await _operator_player(session, "PLR_5603_NJ")
    r = await client.post(
        f"/app/sentinel/players/{player}/interventions",
        headers={**cookie, "origin": "https://evil.example"},
        data={"intervention_type": "watchlist", "reason": REASON},
    )
    assert r.status_code == 403


async def test_the_explain_button_refuses_a_cross_site_post(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    cookie = await _cookie(session, settings, "sp-csrf-explain@example.com", "analyst")
    player = await _operator_player(session, "PLR_5604_NJ")
    r = await client.post(
        f"/app/sentinel/players/{player}/explain",
        headers={**cookie, "origin": "https://evil.example"},
        data={},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "cross_site_request"
    r = await client.post(
        f"/app/sentinel/players/{player}/explain",
        headers={**cookie, "sec-fetch-site": "cross-site", "hx-request": "true"},
        data={},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "cross_site_request"


async def test_explaining_a_player_with_nothing_to_score_says_so(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    cookie = await _cookie(session, settings, "sp-explain-none@example.com", "analyst")
    player = await _operator_player(session, "PLR_5605_NJ")
    r = await client.post(
        f"/app/sentinel/players/{player}/explain", headers={**cookie, "hx-request": "true"}
    )
    assert r.status_code == 200 and "<html" not in r.text
    assert 'data-testid="explanation-unavailable"' in r.text and "player_not_scored" in r.text
    assert "Try again" in r.text
    page = await client.post(f"/app/sentinel/players/{player}/explain", headers=cookie)
    assert page.status_code == 200 and 'data-testid="intervention-form"' in page.text
    assert "player_not_scored" in page.text


def _timeline(html: str) -> list[tuple[str, str]]:
    """(kind, time) of each timeline line, in page order."""
    return re.findall(r'<li class="ev-\w+" data-kind="(\w+)"><time datetime="([^"]+)">', html)


async def test_the_timeline_interleaves_bets_and_transactions_and_pages_older_activity(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("edgelab.web.sentinel.TIMELINE_PAGE", 3)
    user = await create_user(session, "sp-timeline@example.com", role="analyst")
    await session.commit()
    token = issue_access_token(settings, user.id)
    cookie = {"cookie": f"edgelab_access={token}"}
    bearer = {"Authorization": f"Bearer {token}"}
    player = "PLR_5610_NJ"
    bets = [
        bet_row("tl-b1", player, placed_at="2026-10-01T20:00:00+00:00"),
        bet_row(
            "tl-b2",
            player,
            placed_at="2026-10-02T20:00:00+00:00",
            settled_at="2026-10-02T22:00:00+00:00",
            status="lost",
            payout_minor=0,
            is_live=True,
        ),
        bet_row(
            "tl-b3",
            player,
            placed_at="2026-10-04T20:00:00+00:00",
            settled_at=None,
            status="open",
            payout_minor=None,
        ),
    ]
    txs = [
        tx_row("tl-t1", player, occurred_at="2026-09-30T10:00:00+00:00"),
        tx_row(
            "tl-t2",
            player,
            occurred_at="2026-10-03T10:00:00+00:00",
            kind="withdrawal",
            amount_minor=12_345,
        ),
    ]
    assert (await client.post("/sentinel/bets", headers=bearer, json={"bets": bets})).is_success
    r = await client.post("/sentinel/transactions", headers=bearer, json={"transactions": txs})
    assert r.is_success
    r = await client.post(
        "/api/interventions",
        headers=bearer,
        json={"player_id": player, "intervention_type": "watchlist", "reason": REASON},
    )
    assert r.status_code == 201, r.text

    runs_before = (await client.get("/sentinel/runs?limit=200", headers=bearer)).json()
    page = await client.get(f"/app/sentinel/players/{player}", headers=cookie)
    assert page.status_code == 200, page.text
    # the page asked no assessment: the new activity is still unscored, no scoring run was made
    assert (await client.get("/sentinel/runs?limit=200", headers=bearer)).json() == runs_before
    assert "new activity, not scored yet" in page.text and "not scored yet" in page.text
    player_data = (await client.get(f"/sentinel/players/{player}", headers=bearer)).json()
    assert player_data["needs_rescore"] is True and player_data["score"] is None
    lines = _timeline(page.text)
    kinds = [k for k, _ in lines]
    assert kinds[0] == "intervention"  # from just now
    assert kinds[1:] == ["bet", "transaction", "bet"]  # the newest 3 bets and transactions
    times = [t for _, t in lines]
    assert times == sorted(times, reverse=True)
    timeline = page.text.split('data-testid="timeline"')[1].split("</ol>")[0]
    assert "Bet 25.00 USD at 1.90 on basketball moneyline: open" in timeline
    assert "Withdrawal 123.45 USD" in timeline
    assert "(live): lost" in timeline
    older = re.search(r'hx-get="([^"]+)"', timeline)
    assert older is not None and 'data-testid="timeline-older"' in timeline
    more_url = older.group(1).replace("&amp;", "&")
    assert more_url.startswith(f"/app/sentinel/players/{player}/timeline?before=")

    # htmx: the next items alone, in place of the "older" link, and no more link after them
    more = await client.get(more_url, headers={**cookie, "hx-request": "true"})
    assert more.status_code == 200 and "<html" not in more.text
    assert [k for k, _ in _timeline(more.text)] == ["bet", "transaction"]
    assert "Bet 25.00 USD at 1.90 on basketball moneyline: won, paid 47.50 USD" in more.text
    assert "Deposit 100.00 USD" in more.text and "timeline-older" not in more.text
    assert max(t for _, t in _timeline(more.text)) < min(times[1:])

    # without htmx the link is the player page at that point of the timeline
    plain = await client.get(more_url, headers=cookie)
    assert plain.status_code == 303
    target = plain.headers["location"]
    assert target.startswith(f"/app/sentinel/players/{player}?") and "before_id=" in target
    page = await client.get(target, headers=cookie)
    assert page.status_code == 200
    assert 'data-testid="timeline-window"' in page.text
    assert [k for k, _ in _timeline(page.text)] == ["bet", "transaction"]
    assert (await client.get("/sentinel/runs?limit=200", headers=bearer)).json() == runs_before

    # explaining scores them (one run), and the page then shows that score in its timeline
    r = await client.post(f"/app/sentinel/players/{player}/explain", headers=cookie)
    assert r.status_code == 200 and 'data-testid="explanation"' in r.text
    runs_after = (await client.get("/sentinel/runs?limit=200", headers=bearer)).json()
    new_runs = [run for run in runs_after if run not in runs_before]
    assert len(new_runs) == 1 and new_runs[0]["trigger"] == "analyze"
    assert "new activity, not scored yet" not in r.text
    assert "score" in [k for k, _ in _timeline(r.text)][:2]


async def test_a_bad_timeline_cursor_is_the_apis_422_not_a_broken_page(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    cookie = await _cookie(session, settings, "sp-cursor@example.com", "analyst")
    player = await _operator_player(session, "PLR_5611_NJ")
    page = await client.get(f"/app/sentinel/players/{player}?before=yesterday", headers=cookie)
    assert page.status_code == 200
    assert 'data-testid="activity-unavailable"' in page.text and "before" in page.text
    more = await client.get(
        f"/app/sentinel/players/{player}/timeline?before=yesterday",
        headers={**cookie, "hx-request": "true"},
    )
    assert more.status_code == 422 and "validation_error" in more.text
