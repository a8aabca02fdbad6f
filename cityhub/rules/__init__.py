"""Linkage rules (协同联动): conditions over indicators, alerts and readings; alerts, events and webhooks."""
