"""Equity: capital accounts, revolving redemption, share redemption and member loans."""
