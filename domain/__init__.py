"""The co-op's business, below any transport."""
