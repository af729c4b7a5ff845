"""Idempotency-Key: the same POST twice gives the same answer and does the work once."""
