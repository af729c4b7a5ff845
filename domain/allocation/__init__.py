"""Year-end patronage allocation runs: computed from patronage, approved once, posted to the ledger."""
