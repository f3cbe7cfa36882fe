"""Accounts: sign-up, sign-in and the email the app sends to its users."""
