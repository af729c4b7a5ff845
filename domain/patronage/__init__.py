"""Patronage: records of members' business with the co-op and the year-end allocation."""
