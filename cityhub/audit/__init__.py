"""The audit log: every state change (through one flush hook) and every read of personal data."""
