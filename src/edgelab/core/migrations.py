"""Running the Alembic history from code (CLI, tests, demo) against a settings' database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from edgelab.core.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def alembic_config(database_url: str) -> Config:
    ini = PROJECT_ROOT / "alembic.ini"
    if not ini.exists():
        raise FileNotFoundError(
            f"{ini} not found: migrations ship with the source tree "
            "(install with `pip install -e .`)"
        )
    cfg = Config(str(ini))
    cfg.attributes["url"] = database_url
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    if settings.sqlite_path is not None:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.database_url), revision)


def downgrade(settings: Settings, revision: str = "-1") -> None:
    command.downgrade(alembic_config(settings.database_url), revision)


def current(settings: Settings) -> None:
    command.current(alembic_config(settings.database_url), verbose=False)
