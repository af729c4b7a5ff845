"""HTTP transport: app factory, auth, routes and msgspec schemas."""
