"""EDGELAB_EMAIL_BACKEND: production never runs without a way to deliver e-mail unless told to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgelab.app import create_app
from edgelab.core.email.backend import (
    EmailBackendRefused,
    check_email_backend,
    email_backend,
    email_backend_refusal,
)
from edgelab.core.settings import Settings
from tests.fixtures.database import make_settings


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return make_settings(f"sqlite+aiosqlite:///{tmp_path / 'mail.db'}", **overrides)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"env": "test"}, "log"),
        ({"env": "development"}, "log"),
        ({"env": "production", "resend_api_key": "re_live_key"}, "resend"),
        ({"env": "production", "email_backend": "log"}, "log"),
        ({"env": "production", "email_backend": "log", "resend_api_key": "re_k"}, "log"),
        ({"env": "test", "email_backend": "resend", "resend_api_key": "re_k"}, "resend"),
    ],
)
def test_configurations_that_may_start_and_the_backend_they_use(tmp_path, overrides, expected):
    settings = _settings(tmp_path, **overrides)
    assert email_backend_refusal(settings) is None
    check_email_backend(settings)
    assert email_backend(settings) == expected


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"env": "production"}, ("EDGELAB_RESEND_API_KEY", "EDGELAB_EMAIL_BACKEND=log")),
        ({"env": "test", "email_backend": "resend"}, ("EDGELAB_RESEND_API_KEY",)),
    ],
)
def test_configurations_that_cannot_deliver_are_refused_with_one_line(tmp_path, overrides, names):
    settings = _settings(tmp_path, **overrides)
    reason = email_backend_refusal(settings)
    assert reason is not None and "\n" not in reason
    assert all(name in reason for name in names)
    with pytest.raises(EmailBackendRefused, match="refusing to start"):
        check_email_backend(settings)


@pytest.mark.asyncio(loop_scope="session")
async def test_a_production_app_without_a_resend_key_refuses_to_start(tmp_path):
    app = create_app(_settings(tmp_path, env="production"))
    with pytest.raises(EmailBackendRefused, match="EDGELAB_RESEND_API_KEY"):
        async with app.router.lifespan_context(app):
            pass  # pragma: no cover - never reached
    allowed = create_app(_settings(tmp_path, env="production", email_backend="log"))
    async with allowed.router.lifespan_context(allowed):
        pass
