"""A member leaves the co-op: membership's exit with what the member's other business does then."""
