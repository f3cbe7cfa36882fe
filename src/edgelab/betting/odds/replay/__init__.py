"""A local The Odds API v4 serving recorded payloads on a simulated clock
(`edgelab replay odds-api`), so the live loop can be run, and a strategy paper-traded, where the
real API cannot be reached.

* `recording`: the recorded answers (`edgelab import odds-api` files), indexed by time.
* `results`: final scores from a results CSV, joined to events by Eastern date and teams.
* `wire`: recorded events rendered as the API sends them (odds and date formats, filters).
* `params`: the query parameters, checked with the API's own error codes.
* `server`: the Starlette app: the documented endpoints, key check, errors and credits.
* `commands`: the CLI command that loads, prints where to point the app, and serves.
"""
