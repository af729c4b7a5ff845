"""Money to and from members: payouts owed to them (and, later, card payments)."""
