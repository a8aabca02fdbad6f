"""Telemetry: ingest (HTTP, MQTT, replay), checks and dead letters, time series, rollups and retention."""
