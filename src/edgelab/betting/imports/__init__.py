"""Importing a bet history: a CSV from a sportsbook or a bet tracker, previewed, then confirmed.

`csvfile` reads the file (encoding, dialect, header) and suggests which column is which;
`rows` turns each row into a bet or into the reasons it cannot be one; both are pure. `service`
keeps the upload between preview and confirm (`bet_imports`) and writes the bets on confirm,
idempotently (`user_bets.import_key`).
"""
