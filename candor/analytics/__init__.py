"""Aggregate usage analytics: what is counted, and nothing that identifies anyone (principle 5)."""
