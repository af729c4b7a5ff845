"""Telling members, suppliers and staff what happened, through the outbox."""
