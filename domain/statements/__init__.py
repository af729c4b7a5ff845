"""The value of membership: what a member got from the co-op in a fiscal year, read across contexts."""
