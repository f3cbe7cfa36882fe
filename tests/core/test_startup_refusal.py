"""A deployment that never set EDGELAB_ENV (so `development`) and kept the development JWT secret
must not serve other machines: anyone could forge its tokens. Loopback and an explicit
EDGELAB_ENV=development still start, with one line saying what to set otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from edgelab.app import InsecureStartupError, create_app
from edgelab.cli import app as cli
from edgelab.core.settings import DEV_JWT_SECRET, Settings, development_secret_refusal


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No EDGELAB_ENV/JWT_SECRET/HOST/REDIS_URL from the caller, no .env file."""
    for name in ("EDGELAB_ENV", "EDGELAB_JWT_SECRET", "EDGELAB_HOST", "EDGELAB_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EDGELAB_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    return calls


def _output(result: Any) -> str:
    return str(result.output) + str(getattr(result, "stderr", "") or "")


def test_serve_refuses_a_public_bind_with_the_defaulted_environment(
    clean_env: pytest.MonkeyPatch, uvicorn_calls: list[dict[str, Any]]
) -> None:
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert uvicorn_calls == []
    said = " ".join(_output(result).split())
    assert "EDGELAB_JWT_SECRET" in said and "EDGELAB_ENV=production" in said


def test_serve_refuses_a_public_bind_from_edgelab_host(
    clean_env: pytest.MonkeyPatch, uvicorn_calls: list[dict[str, Any]]
) -> None:
    clean_env.setenv("EDGELAB_HOST", "0.0.0.0")
    assert CliRunner().invoke(cli, ["serve"]).exit_code == 2
    assert uvicorn_calls == []


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_serve_on_loopback_starts_with_the_development_secret(
    clean_env: pytest.MonkeyPatch, uvicorn_calls: list[dict[str, Any]], host: str
) -> None:
    result = CliRunner().invoke(cli, ["serve", "--host", host])
    assert result.exit_code == 0, _output(result)
    assert [call["host"] for call in uvicorn_calls] == [host]


def test_serve_anywhere_starts_when_development_is_explicit(
    clean_env: pytest.MonkeyPatch, uvicorn_calls: list[dict[str, Any]]
) -> None:
    clean_env.setenv("EDGELAB_ENV", "development")
    assert CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"]).exit_code == 0
    assert [call["host"] for call in uvicorn_calls] == ["0.0.0.0"]


def test_serve_anywhere_starts_with_a_real_secret_in_production(
    clean_env: pytest.MonkeyPatch, uvicorn_calls: list[dict[str, Any]]
) -> None:
    clean_env.setenv("EDGELAB_ENV", "production")
    clean_env.setenv("EDGELAB_JWT_SECRET", "a-real-secret-of-the-deployment-0123456789abcdef")
    clean_env.setenv("EDGELAB_EMAIL_BACKEND", "log")  # said explicitly: no Resend here
    assert CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"]).exit_code == 0
    assert len(uvicorn_calls) == 1


def test_production_without_an_email_backend_is_refused_in_one_line(
    clean_env: pytest.MonkeyPatch, uvicorn_calls: list[dict[str, Any]]
) -> None:
    clean_env.setenv("EDGELAB_ENV", "production")
    clean_env.setenv("EDGELAB_JWT_SECRET", "a-real-secret-of-the-deployment-0123456789abcdef")
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and not uvicorn_calls
    assert "EDGELAB_EMAIL_BACKEND" in " ".join(_output(result).split())


@pytest.mark.parametrize("command", [["jobs", "worker"], ["jobs", "scheduler"]])
def test_the_job_processes_refuse_too(clean_env: pytest.MonkeyPatch, command: list[str]) -> None:
    clean_env.setenv("EDGELAB_HOST", "0.0.0.0")
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2
    assert "EDGELAB_JWT_SECRET" in " ".join(_output(result).split())


async def test_the_app_itself_refuses_to_start_off_loopback(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Any other ASGI server (`uvicorn edgelab.app:create_app --factory`) hits the lifespan."""
    settings = Settings(_env_file=None, host="0.0.0.0")  # type: ignore[call-arg]
    assert settings.jwt_secret.get_secret_value() == DEV_JWT_SECRET
    app = create_app(settings)
    with pytest.raises(InsecureStartupError, match="EDGELAB_JWT_SECRET"):
        async with app.router.lifespan_context(app):
            pass


def test_the_refusal_reads_whether_the_environment_was_given() -> None:
    defaulted = Settings(_env_file=None, host="0.0.0.0")  # type: ignore[call-arg]
    explicit = Settings(_env_file=None, host="0.0.0.0", env="development")  # type: ignore[call-arg]
    assert development_secret_refusal(defaulted) is not None
    assert development_secret_refusal(defaulted, "127.0.0.1") is None
    assert development_secret_refusal(explicit) is None
