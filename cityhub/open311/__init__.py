"""Open311 GeoReport v2 for citizen-facing apps: services from the category taxonomy, requests from events."""
