"""Accounts' commands for operators and scripts: create users, print a token, read the outbox."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.commands import console, load_settings, run_in_session


def users_create(
    address: Annotated[str, typer.Argument(metavar="EMAIL")],
    role: Annotated[str, typer.Option(help="user, analyst or admin.")] = "user",
    tier: Annotated[str, typer.Option(help="free or paid.")] = "free",
) -> None:
    """Create a user (prints its id)."""
    from edgelab.accounts.models import ROLES, TIERS
    from edgelab.accounts.service import create_user
    from edgelab.core.errors import AppError

    if role not in ROLES or tier not in TIERS:
        console.print(f"[red]role must be one of {ROLES} and tier one of {TIERS}[/]")
        raise typer.Exit(2)

    async def work(session: AsyncSession) -> str:
        return (await create_user(session, address, role=role, tier=tier)).id

    try:
        typer.echo(run_in_session(load_settings(), work))
    except AppError as exc:
        console.print(f"[red]{exc.code}:[/] {exc.message}")
        raise typer.Exit(1) from exc


def users_token(address: Annotated[str, typer.Argument(metavar="EMAIL")]) -> None:
    """Print an access token for EMAIL (valid EDGELAB_ACCESS_TOKEN_TTL_SECONDS)."""
    from edgelab.accounts.service import user_by_email
    from edgelab.core.auth import issue_access_token

    settings = load_settings()

    async def work(session: AsyncSession) -> str | None:
        user = await user_by_email(session, address)
        return issue_access_token(settings, user.id) if user else None

    token = run_in_session(settings, work)
    if token is None:
        console.print(f"[red]no user with e-mail {address}[/]")
        raise typer.Exit(1)
    typer.echo(token)


def email_outbox(last: Annotated[int, typer.Option(min=1, max=1000)] = 10) -> None:
    """Show the newest e-mails of the outbox, newest first (read sign-in links locally)."""
    from edgelab.core.email.outbox import latest_outbox

    async def work(session: AsyncSession) -> list[tuple[str, ...]]:
        return [
            (
                str(m.id),
                m.created_at.isoformat(timespec="seconds"),
                m.to_address,
                m.template,
                m.status,
                m.text,
            )
            for m in await latest_outbox(session, last)
        ]

    for row in run_in_session(load_settings(), work):
        typer.echo(f"#{row[0]} {row[1]} to {row[2]} [{row[3]}, {row[4]}]\n{row[5]}\n")
