"""Alerts (预警): raised by thresholds, linkage rules, anomaly detection and device health; acknowledged,
cleared and escalated."""
