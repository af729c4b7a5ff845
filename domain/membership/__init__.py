"""Members: the businesses that own the co-op, their lifecycle, shares, consent and accounts."""
