"""Sentinel: responsible-gambling bet logs, risk features and scores, explanations."""
