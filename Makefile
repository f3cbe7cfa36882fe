# edgelab: `make demo` (install, load the real data, serve) and `make test` (lint + whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SRC := src tests benchmarks migrations

.PHONY: demo test lint bench serve replay install install-dev assets browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[postgres,redis]'

install-dev: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'

## The dashboard's browser assets from the npm registry (Lightweight Charts, htmx, Paddle.js's
## loader @paddle/paddle-js; not committed), served under /app/vendor/
assets:
	@command -v npm >/dev/null && npm ci --no-audit --no-fund --loglevel=error || echo "npm not found: the dashboard runs without charts, and checkout loads Paddle.js from its CDN (install Node.js, then make assets)"

## Debian's Chromium for the browser tests (best effort: without it they skip and say why)
browser:
	@[ -x /usr/bin/chromium ] || ([ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium) || echo "chromium not installed: browser tests skip (apt-get install chromium)"

## Migrate a SQLite file (EDGELAB_DATABASE_URL), import the shipped NBA data, fit, score, load
## Polymarket's shipped real recording when Polymarket cannot be reached (live markets otherwise), serve.
demo: install assets
	@command -v stockfish >/dev/null || [ -x /usr/games/stockfish ] || ([ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq stockfish) || echo "stockfish not installed: chess engine reviews answer 503 (apt-get install stockfish)"
	$(BIN)/edgelab demo

serve: install
	$(BIN)/edgelab serve

## Paper trading on a replay: The Odds API replayed from the shipped 2022-23 snapshots (the
## season's last month, a day a minute) in the background, and the app pointed at it, on a
## database of its own that knows only what was known before REPLAY_START (made afresh each
## time, ~30 s). Ctrl-C stops both.
REPLAY_PORT ?= 8765
REPLAY_SPEED ?= 1440
REPLAY_START ?= 2023-05-12T11:00:00Z
REPLAY_ODDS ?= src/edgelab/data/nba/odds_api/nba_odds_2022-23.jsonl.gz
REPLAY_RESULTS ?= src/edgelab/data/nba/kaggle/nba_2020-2023.csv
REPLAY_URL := http://127.0.0.1:$(REPLAY_PORT)
REPLAY_DB ?= var/replay.db

replay: install
	@rm -f $(REPLAY_DB) $(REPLAY_DB)-wal $(REPLAY_DB)-shm
	EDGELAB_DATABASE_URL=sqlite+aiosqlite:///$(REPLAY_DB) $(BIN)/edgelab replay prepare --before $(REPLAY_START)
	@$(BIN)/edgelab replay odds-api $(REPLAY_ODDS) --results $(REPLAY_RESULTS) \
		--start $(REPLAY_START) --speed $(REPLAY_SPEED) --port $(REPLAY_PORT) & replay=$$!; \
	trap 'kill $$replay 2>/dev/null' EXIT INT TERM; \
	for i in $$(seq 1 150); do \
		kill -0 $$replay 2>/dev/null || { echo "the replay did not start"; exit 1; }; \
		$(BIN)/python -c "import urllib.request as u; u.urlopen('$(REPLAY_URL)/replay/clock', timeout=1)" 2>/dev/null && break; \
		sleep 0.2; \
	done; \
	EDGELAB_DATABASE_URL=sqlite+aiosqlite:///$(REPLAY_DB) EDGELAB_ODDS_API_URL=$(REPLAY_URL) \
		EDGELAB_POLYMARKET_INGEST_MINUTES=0 \
		EDGELAB_ODDS_API_KEY=replay EDGELAB_CLOCK_URL=$(REPLAY_URL)/replay/clock $(BIN)/edgelab serve

## Lint, then the whole suite (PostgreSQL/Redis too when EDGELAB_TEST_* URLs are set).
test: install-dev assets browser lint
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy
	$(BIN)/lint-imports

## The suite with a line-coverage report of src/edgelab (slower than `make test`: run it apart).
coverage: install-dev assets browser
	$(BIN)/python -m pytest --cov=edgelab --cov-report=term:skip-covered --cov-report=xml:coverage.xml -q

bench: install-dev
	$(BIN)/python benchmarks/devig_accuracy.py
	$(BIN)/python benchmarks/bench_scoring.py
	$(BIN)/python benchmarks/bench_backtest.py
	$(BIN)/python benchmarks/bench_trends.py
	$(BIN)/python benchmarks/bench_recalibration.py
	$(BIN)/python benchmarks/sentinel_eval.py
	$(BIN)/python benchmarks/bench_sentinel.py
	$(BIN)/python benchmarks/bench_web.py
	$(BIN)/python benchmarks/bench_api.py --duration 30
	$(BIN)/python benchmarks/bench_live_loop.py

clean:
	rm -rf $(VENV) var benchmarks/out node_modules
