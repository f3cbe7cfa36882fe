"""The README is the operator's reference: it must list every setting and command."""

from __future__ import annotations

from pathlib import Path

from edgelab.core.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_documented_in_the_readme():
    missing = [
        f"EDGELAB_{name.upper()}"
        for name in Settings.model_fields
        if f"`EDGELAB_{name.upper()}`" not in README
    ]
    assert missing == []


def test_the_readme_shows_the_two_commands():
    assert "make demo" in README and "make test" in README
