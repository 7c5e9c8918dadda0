"""Benchmarks (`saycan bench ...`): each prints what it measured in one run, ratios included."""
