"""Democratic member control: ballots, voter rolls from the dated history, secret counts."""
