"""Supplier programmes: contracts with suppliers, purchase reports, rebates, fees, claims, pass-through."""
