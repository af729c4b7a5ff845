"""Running the co-op: the local embedded stack and the `coop` command line."""
