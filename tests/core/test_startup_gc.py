"""Start-up freezes what it made for the collector (serving), or not (the suite's many apps)."""

from __future__ import annotations

import gc

import pytest

from edgelab.app import create_app
from edgelab.core.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("freeze", [True, False])
async def test_start_up_freezes_the_heap_only_when_asked(settings: Settings, freeze: bool):
    app = create_app(settings.model_copy(update={"gc_freeze_on_startup": freeze}))
    assert gc.get_freeze_count() == 0
    async with app.router.lifespan_context(app):
        assert (gc.get_freeze_count() > 0) is freeze
    assert gc.get_freeze_count() == 0
