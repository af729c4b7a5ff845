"""Catalog: suppliers, their products, and versioned prices (tiers and markup)."""
