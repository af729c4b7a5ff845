"""The outbox: jobs recorded with the change that asks for them, relayed to arq after commit."""
