"""Shared plumbing: settings, database, errors, time. No business rules live here."""
