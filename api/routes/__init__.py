"""Route handlers, one module per business context."""
