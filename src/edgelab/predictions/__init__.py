"""Prediction markets: Polymarket markets and price history, news, chart configs, value."""
