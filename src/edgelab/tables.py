"""Every table of every product, imported so `Base.metadata` knows them all.

Alembic's environment and the schema tests read the whole schema through this one module; the
app itself never needs it (each product imports its own tables).
"""

import edgelab.accounts.billing.models
import edgelab.accounts.models
import edgelab.accounts.uploads.models
import edgelab.betting.ab.models
import edgelab.betting.alerts.models
import edgelab.betting.bets.models
import edgelab.betting.evaluation.models
import edgelab.betting.live.models
import edgelab.betting.markets.models
import edgelab.betting.model.jobs
import edgelab.betting.model.models
import edgelab.betting.odds.models
import edgelab.chess.models
import edgelab.core.email.models
import edgelab.core.jobs.outbox
import edgelab.core.webhooks
import edgelab.predictions.models
import edgelab.sentinel.models  # noqa: F401
from edgelab.core.db import Base

metadata = Base.metadata
