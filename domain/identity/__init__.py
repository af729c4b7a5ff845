"""Users, roles, credentials and access tokens."""
